package cli

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// storeCopies builds a store of kind once, with build, and returns a
// function that hands out copies of it, each a store of its own: a test
// that needs the same imported and applied store dozens of times pays for
// the imports and the compiles once. A SQLite copy is the store's file; a
// PostgreSQL copy is a schema the store's own migrations made, filled
// with the rows of the built one and its identities' counters, so that
// the next row of each table gets the ID it would have got in the
// original.
func storeCopies(t *testing.T, kind string, build func(spec string)) func(t *testing.T) crashStore {
	t.Helper()
	orig := newCrashStore(t, kind)
	build(orig.spec)
	switch kind {
	case "sqlite":
		path := strings.TrimPrefix(orig.spec, "sqlite:")
		orig.db.Close()
		// Every command closed the store, so the write-ahead log was
		// checkpointed into the file: the file alone is the store.
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
			t.Fatalf("%s-wal holds %d bytes after the store was closed: the file alone is not the store", path, fi.Size())
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return func(t *testing.T) crashStore {
			t.Helper()
			c := newCrashStore(t, kind)
			if err := os.WriteFile(strings.TrimPrefix(c.spec, "sqlite:"), raw, 0o644); err != nil {
				t.Fatal(err)
			}
			return c
		}
	case "postgres":
		from := schemaOf(t, orig.spec)
		return func(t *testing.T) crashStore {
			t.Helper()
			c := newCrashStore(t, kind)
			// The migrations make the tables, their constraints,
			// identities and triggers, exactly as a new store has them.
			st, err := openStore(context.Background(), c.spec)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			if err := copyRows(c.db, from, schemaOf(t, c.spec)); err != nil {
				t.Fatalf("copying the store of schema %s: %v", from, err)
			}
			return c
		}
	}
	t.Fatalf("no store kind %q", kind)
	return nil
}

// schemaOf is the schema a PostgreSQL store URL of pgSchema works in.
func schemaOf(t *testing.T, spec string) string {
	t.Helper()
	u, err := url.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := u.Query().Get("search_path")
	if s == "" {
		t.Fatalf("%s names no schema", spec)
	}
	return s
}

// copyRows replaces every row of schema to's tables with those of the
// same tables in schema from, in one transaction, and sets to's identity
// counters to from's. Referenced tables are filled before the tables that
// refer to them; the tables' own triggers are off while their rows go in,
// so that counters the triggers keep are copied, not bumped.
func copyRows(db *sql.DB, from, to string) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	strs := func(q string, args ...any) ([][]string, error) {
		rows, err := tx.Query(q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]string
		for rows.Next() {
			row := make([]string, len(cols))
			ptrs := make([]any, len(cols))
			for i := range row {
				ptrs[i] = &row[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return nil, err
			}
			out = append(out, row)
		}
		return out, rows.Err()
	}
	tables, err := strs(`SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r' ORDER BY relname`, from)
	if err != nil {
		return err
	}
	refs, err := strs(`SELECT f.relname, r.relname FROM pg_constraint k JOIN pg_class f ON f.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
WHERE k.contype = 'f' AND k.connamespace = $1::regnamespace AND f.oid <> r.oid`, from)
	if err != nil {
		return err
	}
	// Depth-first: each table after the tables it refers to.
	var order []string
	state := map[string]int{} // 1 visiting, 2 placed
	var place func(name string) error
	place = func(name string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("the foreign keys of %s go round in a cycle", name)
		case 2:
			return nil
		}
		state[name] = 1
		for _, r := range refs {
			if r[0] == name {
				if err := place(r[1]); err != nil {
					return err
				}
			}
		}
		state[name] = 2
		order = append(order, name)
		return nil
	}
	for _, tb := range tables {
		if err := place(tb[0]); err != nil {
			return err
		}
	}
	q := func(schema, name string) string { return fmt.Sprintf("%q.%q", schema, name) }
	// The columns of each table: apply adds a column to contacts for
	// each attribute the programme declares, which the migrations alone
	// do not make.
	const columns = `SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum`
	want, err := strs(columns, from)
	if err != nil {
		return err
	}
	have, err := strs(columns, to)
	if err != nil {
		return err
	}
	made := map[[2]string]bool{}
	for _, c := range have {
		made[[2]string{c[0], c[1]}] = true
	}
	names := map[string][]string{}
	for _, c := range want {
		if !made[[2]string{c[0], c[1]}] {
			if _, err := tx.Exec(fmt.Sprintf("ALTER TABLE %s ADD COLUMN %q %s", q(to, c[0]), c[1], c[2])); err != nil {
				return err
			}
		}
		names[c[0]] = append(names[c[0]], fmt.Sprintf("%q", c[1]))
	}
	for i := len(order) - 1; i >= 0; i-- {
		if _, err := tx.Exec("DELETE FROM " + q(to, order[i])); err != nil {
			return err
		}
	}
	for _, name := range order {
		cols := strings.Join(names[name], ", ")
		for _, stmt := range []string{
			"ALTER TABLE " + q(to, name) + " DISABLE TRIGGER USER",
			"INSERT INTO " + q(to, name) + " (" + cols + ") OVERRIDING SYSTEM VALUE SELECT " + cols + " FROM " + q(from, name),
			"ALTER TABLE " + q(to, name) + " ENABLE TRIGGER USER",
		} {
			if _, err := tx.Exec(stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
	}
	ids, err := strs(`SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' AND a.attidentity <> '' AND NOT a.attisdropped`, from)
	if err != nil {
		return err
	}
	for _, id := range ids {
		var seq string
		if err := tx.QueryRow(`SELECT pg_get_serial_sequence($1, $2)`, q(from, id[0]), id[1]).Scan(&seq); err != nil {
			return err
		}
		if _, err := tx.Exec(`SELECT setval(pg_get_serial_sequence($1, $2), s.last_value, s.is_called) FROM `+seq+` s`, q(to, id[0]), id[1]); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// TestStoreCopies checks the copies the slow tests start from: each
// holds the built store's rows, and takes its next rows with the IDs the
// built store would have given them.
func TestStoreCopies(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			contacts := signups(t, 3)
			var orig string
			copies := storeCopies(t, kind, func(spec string) {
				orig = spec
				for _, args := range [][]string{
					{"contacts", "import", contacts, "--dir", "testdata/base", "--rejects", filepath.Join(t.TempDir(), "r.csv")},
					{"apply", "testdata/base", "--auto-approve", "--now", "2026-11-23T14:00:00Z"},
				} {
					if out, errOut, code := run(t, append(args, "--store", spec)...); code != 0 {
						t.Fatalf("%s: %s%s", args[0], out, errOut)
					}
				}
			})
			a, b := copies(t), copies(t)
			if a.spec == b.spec || a.spec == orig {
				t.Fatalf("copies share a store: %s, %s of %s", a.spec, b.spec, orig)
			}
			const rows = `SELECT id, email FROM contacts ORDER BY id`
			want := []string{"1 c0000@acme.example", "2 c0001@acme.example", "3 c0002@acme.example"}
			for _, c := range []crashStore{a, b} {
				if got := c.query(t, rows); !slices.Equal(want, got) {
					t.Errorf("%s holds %v; want %v", c.spec, got, want)
				}
				if got := c.count(t, `SELECT COUNT(*) FROM programme_versions`); got != 1 {
					t.Errorf("%s holds %d applied versions; want 1", c.spec, got)
				}
			}
			// A contact imported into one copy takes the next ID, and the
			// other copy does not see it.
			more := signups(t, 4)
			if out, errOut, code := run(t, "contacts", "import", more, "--dir", "testdata/base", "--rejects", filepath.Join(t.TempDir(), "r.csv"), "--store", a.spec); code != 0 {
				t.Fatalf("import into a copy: %s%s", out, errOut)
			}
			if got, want := a.query(t, rows), append(want, "4 c0003@acme.example"); !slices.Equal(want, got) {
				t.Errorf("after an import the copy holds %v; want %v", got, want)
			}
			if got := b.count(t, `SELECT COUNT(*) FROM contacts`); got != 3 {
				t.Errorf("an import into one copy left %d contacts in the other; want 3", got)
			}
		})
	}
}
