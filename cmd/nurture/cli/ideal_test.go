package cli

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
)

// idealTables are the rows a cold tick writes, by table, with the columns
// the ideal tick writes them by; each table's rows are read in this
// order. Scores are not here: the ideal computes them as the tick does.
var idealTables = []struct {
	table, cols, order string
}{
	{"enrollments", "contact_id, sequence, state, step, step_since, next_check_at, version, entered_at, exited_at, exit_reason, waiting", "id"},
	{"sends", "key, contact_id, sequence, step, version, email, variant, status, planned_at", "id"},
	{"handoffs", "contact_id, handoff, reason, sequence, status, created_at, attempts, next_at", "id"},
	{"suppressions", "email_key, email, reason, source, at", "email_key, reason"},
}

// idealWrites are the rows a cold tick wrote, read from its store.
type idealWrites struct {
	rows map[string][][]any
	// contacts are the contacts the tick decided about: those it
	// enrolled, each read once by the ideal tick.
	contacts []int64
	// changed are the contacts the tick marked changed.
	changed []int64
}

// readWrites reads what the cold tick that began at started wrote.
func readWrites(b *testing.B, db *sql.DB, dialect string, started time.Time) idealWrites {
	b.Helper()
	w := idealWrites{rows: map[string][][]any{}}
	for _, t := range idealTables {
		rows, err := db.Query(`SELECT ` + t.cols + ` FROM ` + t.table + ` ORDER BY ` + t.order)
		if err != nil {
			b.Fatal(err)
		}
		n := len(strings.Split(t.cols, ","))
		for rows.Next() {
			r := make([]any, n)
			ptrs := make([]any, n)
			for i := range r {
				ptrs[i] = &r[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
			w.rows[t.table] = append(w.rows[t.table], r)
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
	}
	seen := map[int64]bool{}
	for _, r := range w.rows["enrollments"] {
		if id := r[0].(int64); !seen[id] {
			seen[id] = true
			w.contacts = append(w.contacts, id)
		}
	}
	var since any = started
	if dialect == "sqlite" {
		since = started.UnixMilli()
	}
	rows, err := db.Query(bindFor(dialect, `SELECT id FROM contacts WHERE changed_at >= ? ORDER BY id`), since)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		w.changed = append(w.changed, id)
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	return w
}

// idealTick makes on st, a copy of the store the cold tick ran on as it
// was before, the same writes with hand-written set-based SQL: the
// yardstick of the design's performance model. It scores every contact
// with the scoring statement (one INSERT … SELECT per model, which the
// tick also runs), evaluates each entry segment once over the whole list,
// reads each contact it decides about once, a page at a time, and writes
// each page's enrollments, at the step their first decision left them,
// and its planned email in one multi-row INSERT each, with the few
// hand-offs, suppressions and changed marks in one statement each. It
// keeps no engine rule: what to write is known. It returns the scores
// written.
func idealTick(b *testing.B, ctx context.Context, st *sqlstore.Store, prog *campaigns.Program, w idealWrites, at time.Time) int {
	b.Helper()
	db, dialect := st.DB(), st.Dialect()
	scored, err := st.Rescore(ctx, prog, nil, at)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(prog.Sequences)) {
		seq := prog.Sequences[name]
		if seq.Entry.Segment == "" {
			continue
		}
		if _, err := st.ContactsWhere(ctx, prog, campaigns.Predicate{Op: campaigns.OpSegment, Segment: seq.Entry.Segment}, at, 0, 1<<40); err != nil {
			b.Fatal(err)
		}
	}
	const page = 1000
	// Each table's rows in pages, a page of enrollments with its email.
	for i := 0; i < len(w.contacts); i += page {
		ids := w.contacts[i:min(i+page, len(w.contacts))]
		q := `SELECT * FROM contacts WHERE id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + `)`
		args := make([]any, len(ids))
		for j, id := range ids {
			args[j] = id
		}
		rows, err := db.QueryContext(ctx, bindFor(dialect, q), args...)
		if err != nil {
			b.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
	}
	for _, t := range idealTables {
		all := w.rows[t.table]
		for i := 0; i < len(all); i += page {
			insertPage(b, ctx, db, dialect, t.table, t.cols, all[i:min(i+page, len(all))])
		}
	}
	if len(w.changed) > 0 {
		q := `UPDATE contacts SET changed_at = ? WHERE id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(w.changed)), ", ") + `)`
		var now any = at
		if dialect == "sqlite" {
			now = at.UnixMilli()
		}
		args := []any{now}
		for _, id := range w.changed {
			args = append(args, id)
		}
		if _, err := db.ExecContext(ctx, bindFor(dialect, q), args...); err != nil {
			b.Fatal(err)
		}
	}
	return scored
}

// insertPage writes rows in one multi-row INSERT.
func insertPage(b *testing.B, ctx context.Context, db *sql.DB, dialect, table, cols string, rows [][]any) {
	b.Helper()
	if len(rows) == 0 {
		return
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(rows[0])), ", ") + ")"
	var q strings.Builder
	q.WriteString(`INSERT INTO ` + table + ` (` + cols + `) VALUES `)
	var args []any
	for i, r := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(one)
		args = append(args, r...)
	}
	if _, err := db.ExecContext(ctx, bindFor(dialect, q.String()), args...); err != nil {
		b.Fatalf("writing %d rows of %s: %v", len(rows), table, err)
	}
}

// bindFor numbers ? placeholders for PostgreSQL.
func bindFor(dialect, q string) string {
	if dialect != "postgres" {
		return q
	}
	var out strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			out.WriteString("$" + strconv.Itoa(n))
			continue
		}
		out.WriteRune(r)
	}
	return out.String()
}

// countRows counts each table's rows, to check that the ideal tick wrote
// what the cold tick did.
func countRows(b *testing.B, db *sql.DB) string {
	b.Helper()
	var out []string
	for _, t := range append([]string{"scores"}, "enrollments", "sends", "handoffs", "suppressions") {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM ` + t).Scan(&n); err != nil {
			b.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d", t, n))
	}
	return strings.Join(out, ", ")
}
