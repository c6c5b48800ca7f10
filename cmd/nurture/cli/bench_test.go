package cli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	rtmetrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/cmd/nurture/backend"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/ingest"
	"github.com/nurture-dev/nurture/runtime/postgres"
	"github.com/nurture-dev/nurture/runtime/sample"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
)

// The benchmarks here measure the store as a user meets it: the example
// programme b2b-saas, its sample data made by the generator at scale,
// imported through the command, and its segments counted. Run them with
//
//	NURTURE_BENCH_CONTACTS=100000 \
//	NURTURE_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	go test ./cmd/nurture/cli -run XXX -bench . -benchtime 1x
//
// NURTURE_BENCH_CONTACTS is the number of contacts (default 100,000);
// without NURTURE_TEST_POSTGRES only SQLite is measured. The generated
// files are kept in the system's temporary directory between runs.

const benchDir = "../../../examples/b2b-saas"

var benchNow = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func benchContacts(b *testing.B) int {
	n := 100_000
	if s := os.Getenv("NURTURE_BENCH_CONTACTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("NURTURE_BENCH_CONTACTS=%q: want a number of contacts", s)
		}
		n = v
	}
	return n
}

// benchData generates (once) the sample data of n contacts and a month of
// events for b2b-saas and returns the programme and the two files.
func benchData(b *testing.B, n int) (*campaigns.Program, string, string) {
	b.Helper()
	res := compiler.Compile(benchDir)
	if res.Program == nil {
		b.Fatal("the example does not compile")
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("nurture-bench-b2b-saas-%d", n))
	contacts, events := filepath.Join(dir, "contacts.csv"), filepath.Join(dir, "events.jsonl")
	if _, err := os.Stat(events); err == nil {
		return res.Program, contacts, events
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	cf, err := os.Create(contacts)
	if err != nil {
		b.Fatal(err)
	}
	ef, err := os.Create(events + ".tmp")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sample.Generate(res.Program, sample.Options{Contacts: n, Seed: 1, Now: benchNow, Months: 1}, cf, ef); err != nil {
		b.Fatal(err)
	}
	if err := cf.Close(); err != nil {
		b.Fatal(err)
	}
	if err := ef.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(events+".tmp", events); err != nil {
		b.Fatal(err)
	}
	return res.Program, contacts, events
}

// benchStore is an empty store of one dialect: a SQLite file, or a fresh
// schema on the PostgreSQL server.
type benchStore struct {
	dialect string
	spec    string // the --store value
	open    func() *sqlstore.Store
	drop    func()
}

func benchStores(b *testing.B) []func() benchStore {
	ctx := context.Background()
	stores := []func() benchStore{func() benchStore {
		path := filepath.Join(b.TempDir(), "nurture.db")
		return benchStore{"sqlite", "sqlite:" + path, func() *sqlstore.Store {
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}, func() { os.Remove(path); os.Remove(path + "-wal"); os.Remove(path + "-shm") }}
	}}
	base := os.Getenv("NURTURE_TEST_POSTGRES")
	if base == "" {
		b.Log("SKIPPED PostgreSQL: set NURTURE_TEST_POSTGRES to measure it too")
		return stores
	}
	return append(stores, func() benchStore {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			b.Fatal(err)
		}
		schema := "nurture_bench_" + strings.ToLower(rand.Text()[:10])
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			b.Fatal(err)
		}
		u, _ := url.Parse(base)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		spec := u.String()
		return benchStore{"postgres", spec, func() *sqlstore.Store {
			s, err := postgres.Open(ctx, spec)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}, func() {
			admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			admin.Close()
		}}
	})
}

// BenchmarkImportContacts imports the sample contacts with nurture
// contacts import into an empty store, beside a bare bulk insert of the
// same rows into the same table: one transaction of multi-row INSERTs on
// SQLite, one COPY on PostgreSQL, with no parsing, checks, lookups or
// consent records. import/bare is the share of the ceiling the import
// reaches.
//
// The import runs as a process of its own, the command as a person runs
// it, so that its peak resident memory is the import's alone and nothing
// the benchmark holds: import-peak-MB is the kernel's high-water mark of
// that process (VmHWM; see benchPeakEnv), compiling the programme included.
func BenchmarkImportContacts(b *testing.B) {
	n := benchContacts(b)
	prog, contacts := benchContactsFile(b, n)
	for _, mk := range benchStores(b) {
		var bare, imp time.Duration
		var peak int64
		name := mk().dialect
		b.Run(name, func(b *testing.B) {
			cols, rows := bareRows(b, prog, contacts, name == "sqlite")
			for range b.N {
				st := mk()
				s := st.open()
				if err := s.SyncSchema(context.Background(), &prog.Contact); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				bareInsert(b, s, cols, rows)
				bare += time.Since(t0)
				s.Close()
				st.drop()

				st = mk()
				tmp := b.TempDir()
				cmd := exec.Command("nurture", "contacts", "import", contacts, "--dir", benchDir, "--store", st.spec, "--rejects", filepath.Join(tmp, "rejects.csv"))
				cmd.Env = append(os.Environ(), benchPeakEnv+"="+filepath.Join(tmp, "peak"))
				t0 = time.Now()
				out, err := cmd.CombinedOutput()
				imp += time.Since(t0)
				if err != nil {
					b.Fatalf("import: %v\n%s", err, out)
				}
				peak = max(peak, peakKiB(filepath.Join(tmp, "peak")))
				st.drop()
			}
			b.ReportMetric(float64(n*b.N)/imp.Seconds(), "import-rows/s")
			b.ReportMetric(float64(n*b.N)/bare.Seconds(), "bare-rows/s")
			b.ReportMetric(bare.Seconds()/imp.Seconds(), "import/bare")
			b.ReportMetric(float64(peak)/1024, "import-peak-MB")
		})
	}
}

// benchContactsFile generates (once) the sample contacts of n people for
// b2b-saas, without the events file benchData writes beside them: at a
// million contacts that would take longer than the import measured.
func benchContactsFile(b *testing.B, n int) (*campaigns.Program, string) {
	b.Helper()
	res := compiler.Compile(benchDir)
	if res.Program == nil {
		b.Fatal("the example does not compile")
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("nurture-bench-b2b-saas-%d", n))
	contacts := filepath.Join(dir, "contacts.csv")
	if _, err := os.Stat(filepath.Join(dir, "events.jsonl")); err == nil {
		return res.Program, contacts // benchData's, the same bytes
	}
	dir += "-contacts"
	contacts = filepath.Join(dir, "contacts.csv")
	if _, err := os.Stat(contacts); err == nil {
		return res.Program, contacts
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	cf, err := os.Create(contacts + ".tmp")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sample.Generate(res.Program, sample.Options{Contacts: n, Seed: 1, Now: benchNow, Months: 1}, cf, io.Discard); err != nil {
		b.Fatal(err)
	}
	if err := cf.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(contacts+".tmp", contacts); err != nil {
		b.Fatal(err)
	}
	return res.Program, contacts
}

// bareRows reads the contacts file into the rows a bare insert writes:
// the contacts table's columns, the values encoded as the store keeps
// them (SQLite's times as Unix milliseconds).
func bareRows(b *testing.B, prog *campaigns.Program, path string, intTimes bool) ([]string, [][]any) {
	attrs := slices.Sorted(func(yield func(string) bool) {
		for n := range prog.Contact.Attributes {
			if n != campaigns.AttrEmail && !yield(n) {
				return
			}
		}
	})
	cols := []string{"email", "email_key", "role", "created_at", "updated_at"}
	for _, n := range attrs {
		if prog.Contact.Attributes[n].Builtin {
			cols = append(cols, n)
		} else {
			cols = append(cols, "a_"+n)
		}
	}
	tv := func(t time.Time) any {
		if intTimes {
			return t.UnixMilli()
		}
		return t.UTC()
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := ingest.NewContactReader(f, path, ingest.CSV, &prog.Contact, ingest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var rows [][]any
	for {
		rec, rej, err := r.Next()
		if err == io.EOF {
			return cols, rows
		}
		if err != nil {
			b.Fatal(err)
		}
		if rej != nil {
			b.Fatalf("sample data rejected: %s", rej.Reason)
		}
		row := make([]any, 0, len(cols))
		row = append(row, rec.Email, runtime.EmailKey(rec.Email), rec.Role, tv(benchNow), tv(benchNow))
		for _, n := range attrs {
			v := rec.Values[n]
			if t, ok := v.(time.Time); ok {
				v = tv(t)
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
}

// bareInsert writes the rows as they are, the fastest way the store's
// database takes them: one COPY on PostgreSQL, one transaction of
// prepared multi-row INSERTs on SQLite.
func bareInsert(b *testing.B, s *sqlstore.Store, cols []string, rows [][]any) {
	ctx := context.Background()
	if s.Dialect() == "postgres" {
		conn, err := s.DB().Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := postgres.Dialect().BulkInsert(ctx, conn, "contacts", cols, rows); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		return
	}
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	// One statement of as many rows as the parameter limit allows,
	// prepared once; the last, shorter part on its own.
	per := 30_000 / len(cols)
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	insert := func(k int) string {
		return "INSERT INTO contacts (" + strings.Join(cols, ", ") + ") VALUES " + strings.TrimSuffix(strings.Repeat(tuple+", ", k), ", ")
	}
	full, err := tx.PrepareContext(ctx, insert(per))
	if err != nil {
		b.Fatal(err)
	}
	defer full.Close()
	for i := 0; i < len(rows); i += per {
		part := rows[i:min(i+per, len(rows))]
		args := make([]any, 0, len(part)*len(cols))
		for _, r := range part {
			args = append(args, r...)
		}
		if len(part) == per {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insert(len(part)), args...)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// handSegments are the b2b-saas segments as a person would write them in
// SQL for each store, with the event windows as parameters.
var handSegments = map[string]map[string]string{
	"sqlite": {
		"in_nurture":       `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial')`,
		"data_leaders":     `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND a_persona IN ('data_leader', 'executive')`,
		"practitioners":    `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND a_persona IN ('analyst', 'engineer')`,
		"sales_ready":      `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND id IN (SELECT contact_id FROM scores WHERE model = 'lead' AND score >= 80)`,
		"hot_pricing":      `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND id IN (SELECT contact_id FROM events WHERE name = 'page_view' AND at >= $7d AND json_extract(props, '$.path') = '/pricing' GROUP BY contact_id HAVING COUNT(*) >= 2)`,
		"webinar_no_shows": `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND id IN (SELECT contact_id FROM events WHERE name = 'webinar_registered' AND at >= $14d) AND id NOT IN (SELECT contact_id FROM events WHERE name = 'webinar_attended' AND at >= $14d)`,
		"dormant":          `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND COALESCE(last_engaged_at, created_at) < $60d`,
	},
	"postgres": {
		"in_nurture":       `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial')`,
		"data_leaders":     `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND a_persona IN ('data_leader', 'executive')`,
		"practitioners":    `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND a_persona IN ('analyst', 'engineer')`,
		"sales_ready":      `SELECT COUNT(*) FROM contacts c WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND EXISTS (SELECT 1 FROM scores s WHERE s.contact_id = c.id AND s.model = 'lead' AND s.score >= 80)`,
		"hot_pricing":      `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND id IN (SELECT contact_id FROM events WHERE name = 'page_view' AND at >= $7d AND props->>'path' = '/pricing' GROUP BY contact_id HAVING COUNT(*) >= 2)`,
		"webinar_no_shows": `SELECT COUNT(*) FROM contacts c WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND EXISTS (SELECT 1 FROM events e WHERE e.contact_id = c.id AND e.name = 'webinar_registered' AND e.at >= $14d) AND NOT EXISTS (SELECT 1 FROM events e WHERE e.contact_id = c.id AND e.name = 'webinar_attended' AND e.at >= $14d)`,
		"dormant":          `SELECT COUNT(*) FROM contacts WHERE stage IN ('subscriber', 'lead', 'mql') AND a_plan IN ('none', 'trial') AND COALESCE(last_engaged_at, created_at) < $60d`,
	},
}

// BenchmarkSegments counts each b2b-saas segment over the imported sample
// contacts and events, through the store (as nurture segments does) and
// through the hand-written query, checks they agree, and reports both
// and their ratio (store/sql; 1 is as fast as by hand).
func BenchmarkSegments(b *testing.B) {
	n := benchContacts(b)
	prog, contacts, events := benchData(b, n)
	for _, mk := range benchStores(b) {
		st := mk()
		b.Cleanup(st.drop)
		for _, args := range [][]string{
			{"contacts", "import", contacts},
			{"events", "import", events, "--batch", "5000"},
		} {
			args = append(args, "--dir", benchDir, "--store", st.spec, "--rejects", filepath.Join(b.TempDir(), "rejects"))
			if out, errOut, code := run(b, args...); code != 0 {
				b.Fatalf("%s: %s%s", strings.Join(args[:3], " "), out, errOut)
			}
		}
		s := st.open()
		b.Cleanup(func() { s.Close() })
		// Measure the steady state, with the planner's statistics gathered
		// (autovacuum on PostgreSQL; PRAGMA optimize on SQLite).
		if _, err := s.DB().Exec("ANALYZE"); err != nil {
			b.Fatal(err)
		}
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for n := range prog.Segments {
				if !yield(n) {
					return
				}
			}
		}) {
			hand, args := bindWindows(handSegments[st.dialect][name], st.dialect)
			if hand == "" {
				b.Fatalf("no hand-written query for %s", name)
			}
			b.Run(st.dialect+"/"+name, func(b *testing.B) {
				var store, sqlTime time.Duration
				for range b.N {
					t0 := time.Now()
					got, _, err := s.Audience(context.Background(), prog, prog.Segments[name].When, benchNow, 0)
					if err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					var want int
					if err := s.DB().QueryRow(hand, args...).Scan(&want); err != nil {
						b.Fatalf("%s: %v", hand, err)
					}
					sqlTime += time.Since(t1)
					store += t1.Sub(t0)
					if got != want {
						b.Fatalf("the store counts %d, the hand-written query %d", got, want)
					}
					b.ReportMetric(float64(got), "contacts")
				}
				b.ReportMetric(store.Seconds()*1e3/float64(b.N), "store-ms")
				b.ReportMetric(sqlTime.Seconds()*1e3/float64(b.N), "sql-ms")
				b.ReportMetric(store.Seconds()/sqlTime.Seconds(), "store/sql")
			})
		}
	}
}

// bindWindows replaces $7d, $14d and $60d in q with parameters for the
// time that long before benchNow.
func bindWindows(q, dialect string) (string, []any) {
	var args []any
	for _, w := range []struct {
		name string
		days int
	}{{"$14d", 14}, {"$60d", 60}, {"$7d", 7}} {
		for strings.Contains(q, w.name) {
			at := benchNow.AddDate(0, 0, -w.days)
			ph := "?"
			if dialect == "postgres" {
				ph = "$" + strconv.Itoa(len(args)+1)
			}
			q = strings.Replace(q, w.name, ph, 1)
			if dialect == "sqlite" {
				args = append(args, at.UnixMilli())
			} else {
				args = append(args, at)
			}
		}
	}
	return q, args
}

// planBenchProgramme writes b2b-saas with 42 more sequences (50 in all),
// each entered from a segment of its own, and returns its directory; a
// programme with changed > 0 widens the first changed of those segments.
func planBenchProgramme(b *testing.B, changed int) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), fmt.Sprintf("prog-%d", changed))
	if err := copyTree(benchDir, dir); err != nil {
		b.Fatal(err)
	}
	var cue strings.Builder
	cue.WriteString("package nurture\n\n")
	for i := 1; i <= 42; i++ {
		min := 10 * i
		if i <= changed {
			min-- // a segment a little wider than the applied one
		}
		fmt.Fprintf(&cue, `segments: bench_%02d: {segment: "in_nurture", employees: gte: %d}
sequences: bench_%02d: {
	entry: segment: "bench_%02d"
	priority: %d
	steps: [
		{send: "emails/leaders/01-the-monday-report.md"},
		{wait: "10d"},
		{send: "emails/leaders/02-how-ledgerly-did-it.md"},
		{name: "cool_down", wait: "10d"},
	]
	exit: [{after: "30d", reason: "completed"}]
}
`, i, min, i, i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.cue"), []byte(cue.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkPlan plans a 50-sequence programme against the sample contacts
// after it was applied: unchanged (the whole command, compile included),
// with 1 and 10 segments changed, where the plan counts each changed
// segment's audience and each changed sequence's entries in the store,
// and with the scoring model changed, where it scores every contact twice.
// Events are imported too, so that behaviour rules have something to score.
func BenchmarkPlan(b *testing.B) {
	ctx := context.Background()
	n := benchContacts(b)
	_, contacts, events := benchData(b, n)
	applied := planBenchProgramme(b, 0)
	progs := map[int]*campaigns.Program{}
	for _, k := range []int{0, 1, 10} {
		dir := planBenchProgramme(b, k)
		res := compiler.Compile(dir)
		if res.Program == nil {
			b.Fatalf("the plan benchmark's programme does not compile: %v", res.Diagnostics)
		}
		progs[k] = res.Program
	}
	// A changed scoring model: every contact is scored under both.
	scored := planBenchProgramme(b, 0)
	sc := filepath.Join(scored, "scoring.cue")
	body, err := os.ReadFile(sc)
	if err != nil {
		b.Fatal(err)
	}
	body = []byte(strings.Replace(string(body), `points: 10, max: 20, within: "30d"`, `points: 15, max: 30, within: "30d"`, 1))
	if err := os.WriteFile(sc, body, 0o644); err != nil {
		b.Fatal(err)
	}
	if res := compiler.Compile(scored); res.Program != nil {
		progs[-1] = res.Program
	} else {
		b.Fatalf("the changed scoring model does not compile: %v", res.Diagnostics)
	}
	if got := len(progs[0].Sequences); got != 50 {
		b.Fatalf("%d sequences, want 50", got)
	}
	for _, mk := range benchStores(b) {
		st := mk()
		b.Cleanup(st.drop)
		for _, args := range [][]string{
			{"contacts", "import", contacts, "--dir", applied, "--rejects", filepath.Join(b.TempDir(), "rejects")},
			{"events", "import", events, "--dir", applied, "--batch", "5000", "--rejects", filepath.Join(b.TempDir(), "rejects")},
			{"apply", applied, "--auto-approve"},
		} {
			if out, errOut, code := run(b, append(args, "--store", st.spec)...); code != 0 {
				b.Fatalf("%s: %s%s", strings.Join(args[:2], " "), out, errOut)
			}
		}
		s := st.open()
		b.Cleanup(func() { s.Close() })
		if _, err := s.DB().Exec("ANALYZE"); err != nil {
			b.Fatal(err)
		}
		b.Run(st.dialect+"/unchanged-command", func(b *testing.B) {
			for range b.N {
				out, errOut, code := run(b, "plan", applied, "--store", st.spec, "--detailed-exitcode")
				if code != 0 || !strings.HasPrefix(out, "No changes.") {
					b.Fatalf("plan: exit %d: %s%s", code, out, errOut)
				}
			}
		})
		for _, k := range []int{0, 1, 10} {
			b.Run(fmt.Sprintf("%s/changed-%d", st.dialect, k), func(b *testing.B) {
				for range b.N {
					p, err := backend.Plan(ctx, s, progs[k], applied, benchNow, 3, true)
					if err != nil {
						b.Fatal(err)
					}
					if p.Summary.Change != k {
						b.Fatalf("%d changes, want %d", p.Summary.Change, k)
					}
				}
			})
		}
		b.Run(st.dialect+"/scoring-changed", func(b *testing.B) {
			for range b.N {
				p, err := backend.Plan(ctx, s, progs[-1], applied, benchNow, 3, true)
				if err != nil {
					b.Fatal(err)
				}
				if p.Summary.Change != 1 || len(p.Impact.Scores) != 1 {
					b.Fatalf("%d changes, %d score impacts; want 1 and 1", p.Summary.Change, len(p.Impact.Scores))
				}
			}
		})
	}
}

// BenchmarkTick runs examples/b2b-saas on its sample data at scale: the
// first tick after apply (cold: every contact scored, the entry segments
// enrolled, every first email planned), a tick five minutes later with
// nothing new (next), one five minutes after that when 1% of the contacts
// have new events — two pricing-page views each, which put many into
// hot_pricing (incr) — and beside them a bare scan of the contacts and
// events tables.
func BenchmarkTick(b *testing.B) {
	ctx := context.Background()
	n := benchContacts(b)
	prog, contacts, events := benchData(b, n)
	for _, mk := range benchStores(b) {
		name := mk().dialect
		b.Run(name, func(b *testing.B) {
			var cold, warm, incr, bare, ideal time.Duration
			var peak, heap int64
			var incrFull int
			for range b.N {
				// st is ticked; its copy, made by the same commands, is
				// written by the ideal tick.
				st, cp := mk(), mk()
				for _, s := range []benchStore{st, cp} {
					for _, args := range [][]string{
						{"contacts", "import", contacts, "--dir", benchDir, "--rejects", filepath.Join(b.TempDir(), "r")},
						{"events", "import", events, "--dir", benchDir, "--batch", "5000", "--rejects", filepath.Join(b.TempDir(), "r")},
						{"apply", benchDir, "--auto-approve"},
					} {
						if out, errOut, code := run(b, append(args, "--store", s.spec)...); code != 0 {
							b.Fatalf("%s: %s%s", args[0], out, errOut)
						}
					}
				}
				es, err := openEngineStore(ctx, st.spec)
				if err != nil {
					b.Fatal(err)
				}
				db := es.(interface{ DB() *sql.DB }).DB()
				if _, err := db.Exec("ANALYZE"); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				var c, e int
				if err := db.QueryRow(`SELECT COUNT(*), SUM(LENGTH(email)) FROM contacts`).Scan(&c, new(int64)); err != nil {
					b.Fatal(err)
				}
				if err := db.QueryRow(`SELECT COUNT(*), SUM(LENGTH(name)) FROM events`).Scan(&e, new(int64)); err != nil {
					b.Fatal(err)
				}
				bare += time.Since(t0)
				at := benchNow.Add(15 * time.Hour)
				resetPeakRSS()
				stop := watchHeap(&heap)
				started := es.Clock()
				t0 = time.Now()
				res, err := tickOnce(ctx, es, nil, "bench", at, false)
				stop()
				if err != nil {
					b.Fatal(err)
				}
				cold += time.Since(t0)
				peak = max(peak, peakRSS())
				if res.Report.Planned == 0 {
					b.Fatalf("the cold tick planned nothing: %+v", res.Report)
				}
				// The ideal tick on the copy, as the cold tick left its
				// store: the same writes, set-based.
				wrote := readWrites(b, db, st.dialect, started)
				ideals := cp.open()
				if _, err := ideals.DB().Exec("ANALYZE"); err != nil {
					b.Fatal(err)
				}
				t0 = time.Now()
				idealTick(b, ctx, ideals, prog, wrote, at)
				ideal += time.Since(t0)
				if got, want := countRows(b, ideals.DB()), countRows(b, db); got != want {
					b.Fatalf("the ideal tick wrote %s; the cold tick %s", got, want)
				}
				ideals.Close()
				cp.drop()
				t0 = time.Now()
				if _, err := tickOnce(ctx, es, nil, "bench", at.Add(5*time.Minute), false); err != nil {
					b.Fatal(err)
				}
				warm += time.Since(t0)
				var news []runtime.Event
				rows, err := db.Query(`SELECT email FROM contacts WHERE id % 100 = 0`)
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
					var email string
					if err := rows.Scan(&email); err != nil {
						b.Fatal(err)
					}
					for k := range 2 {
						news = append(news, runtime.Event{ID: fmt.Sprintf("bench-%s-%d", email, k), Email: email, Name: "page_view",
							At: at.Add(time.Duration(k+6) * time.Minute), Props: map[string]any{"path": "/pricing"}})
					}
				}
				rows.Close()
				// The events arrive now, stamped by the store's clock, by
				// which the tick counts changes.
				if r, err := es.RecordEvents(ctx, news); err != nil || len(r.Rejected) > 0 {
					b.Fatal(err, r.Rejected)
				}
				t0 = time.Now()
				res, err = tickOnce(ctx, es, nil, "bench", at.Add(10*time.Minute), false)
				if err != nil {
					b.Fatal(err)
				}
				incr += time.Since(t0)
				// A scope of most of the list is looked at as a full tick.
				if !res.Report.Full && res.Report.Looked < n/100 || res.Report.Enrolled["pricing_intent"] == 0 {
					b.Fatalf("the tick after 1%% changed looked at %d contacts (full %v) and enrolled %v", res.Report.Looked, res.Report.Full, res.Report.Enrolled)
				}
				if res.Report.Full {
					incrFull++
				}
				es.Close()
				st.drop()
			}
			b.ReportMetric(cold.Seconds()/float64(b.N), "cold-s")
			b.ReportMetric(ideal.Seconds()/float64(b.N), "ideal-s")
			b.ReportMetric(cold.Seconds()/ideal.Seconds(), "cold/ideal")
			b.ReportMetric(warm.Seconds()/float64(b.N), "next-s")
			b.ReportMetric(incr.Seconds()/float64(b.N), "incr-s")
			b.ReportMetric(incr.Seconds()/cold.Seconds(), "incr/cold")
			// The share of incremental ticks whose scope was so large that
			// they looked at every contact.
			b.ReportMetric(float64(incrFull)/float64(b.N), "incr-full")
			if peak > 0 {
				b.ReportMetric(float64(peak)/(1<<20), "cold-peak-MB")
			}
			b.ReportMetric(float64(heap)/(1<<20), "cold-heap-MB")
			b.ReportMetric(bare.Seconds()/float64(b.N), "scan-s")
		})
	}
}

// resetPeakRSS resets the process's peak resident set size, where Linux
// allows it; peakRSS reads it, in bytes, or 0. The figure is the
// process's: with SQLite it includes the database's page cache.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// watchHeap samples the Go heap's live objects every 10ms, keeping the
// largest figure in *peak, until stop is called.
func watchHeap(peak *int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			rtmetrics.Read(sample)
			*peak = max(*peak, int64(sample[0].Value.Uint64()))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
