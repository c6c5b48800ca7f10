package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/report"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

// BenchmarkReport reports a month of a generated store — by default
// 100,000 sends to 25,000 contacts over two sequences with A/B arms, and
// the opens, clicks, replies, bounces and unsubscribes they drew — beside
// a bare aggregate over the same tables: the sends grouped by sequence,
// step, email and arm, the events by name, the enrollments and hand-offs
// by sequence, in the same period. The report does that and more (event
// properties, distinct contacts, the refused sends' bounces, stages, exit
// reasons, the statistics and the JSON); x-bare is its time over the
// bare queries'. Run with
//
//	NURTURE_BENCH_SENDS=100000 \
//	NURTURE_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	go test ./cmd/nurture/cli -run XXX -bench Report -benchtime 5x
//
// NURTURE_BENCH_CONTACTS sets the list's size apart (by default a
// quarter of the sends): a list larger than that gets the sends in full
// and holds the rest unmailed, a smaller one gets them in rounds of 4 a
// contact. A million contacts and ten million sends and events is
//
//	NURTURE_BENCH_CONTACTS=1000000 NURTURE_BENCH_SENDS=8000000
//
// report-peak-MB is the peak resident memory of nurture report --format
// json run as a process of its own over the same store (see
// benchPeakEnv). The report reads a row per email, arm and week, never a
// row per send: on PostgreSQL the figure stays flat as the list grows,
// while SQLite, which aggregates inside the process, grows its page
// cache and its sorts' memory up to the bounds its cache_size sets.
func BenchmarkReport(b *testing.B) {
	sends := 100_000
	if s := os.Getenv("NURTURE_BENCH_SENDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 4 {
			b.Fatalf("NURTURE_BENCH_SENDS=%q: want a number of sends", s)
		}
		sends = v
	}
	contacts := sends / 4
	if os.Getenv("NURTURE_BENCH_CONTACTS") != "" {
		contacts = benchContacts(b)
	}
	ctx := context.Background()
	for _, mk := range benchStores(b) {
		bs := mk()
		s := bs.open()
		f := seedReport(b, s, contacts, sends)
		b.Run(bs.dialect, func(b *testing.B) {
			bare := func() {
				for _, q := range []struct {
					sql  string
					cols int
				}{
					{`SELECT sequence, step, email, COALESCE(variant, ''), COUNT(*) FROM sends WHERE sent_at >= ? AND sent_at < ? GROUP BY sequence, step, email, COALESCE(variant, '')`, 5},
					{`SELECT name, COUNT(*) FROM events WHERE at >= ? AND at < ? GROUP BY name`, 2},
					{`SELECT sequence, COUNT(*) FROM enrollments WHERE (exited_at IS NULL OR exited_at >= ?) AND entered_at < ? GROUP BY sequence`, 2},
					{`SELECT sequence, COUNT(*) FROM handoffs WHERE created_at >= ? AND created_at < ? GROUP BY sequence`, 2},
				} {
					rows, err := s.DB().QueryContext(ctx, rebindFor(s, q.sql), timeArg(s, f.Since), timeArg(s, f.Until))
					if err != nil {
						b.Fatal(err)
					}
					dst := make([]any, q.cols)
					for i := range dst {
						dst[i] = new(any)
					}
					for rows.Next() {
						if err := rows.Scan(dst...); err != nil {
							b.Fatal(err)
						}
					}
					if err := rows.Close(); err != nil {
						b.Fatal(err)
					}
				}
			}
			full := func() {
				data, err := s.Report(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				if err := report.JSON(io.Discard, report.Build(data, f, storetest.Program())); err != nil {
					b.Fatal(err)
				}
			}
			// Once each before timing, so that both read warm pages.
			bare()
			full()
			var tBare, tFull time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				bare()
				t1 := time.Now()
				full()
				tBare += t1.Sub(t0)
				tFull += time.Since(t1)
			}
			b.ReportMetric(float64(tFull.Milliseconds())/float64(b.N), "report-ms")
			b.ReportMetric(float64(tBare.Milliseconds())/float64(b.N), "bare-ms")
			b.ReportMetric(float64(tFull)/float64(tBare), "x-bare")
			b.ReportMetric(float64(reportPeakKiB(b, bs.spec, f))/1024, "report-peak-MB")
		})
		s.Close()
		bs.drop()
	}
}

// reportPeakKiB runs nurture report over the store spec for f's period
// as a process of its own and returns its peak resident memory in KiB.
func reportPeakKiB(b *testing.B, spec string, f runtime.ReportFilter) int64 {
	b.Helper()
	peak := filepath.Join(b.TempDir(), "peak")
	cmd := exec.Command("nurture", "report", "--store", spec, "--format", "json",
		"--since", f.Since.Format(time.RFC3339), "--until", f.Until.Format(time.RFC3339))
	cmd.Env = append(os.Environ(), benchPeakEnv+"="+peak)
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("nurture report: %v\n%s", err, stderr.String())
	}
	kib := peakKiB(peak)
	b.Logf("nurture report: %v, peak %d MB", time.Since(t0).Round(time.Millisecond), kib/1024)
	return kib
}

// seedReportBench fills s with sends/4 contacts as seedReport does.
func seedReportBench(b testing.TB, s *sqlstore.Store, sends int) runtime.ReportFilter {
	b.Helper()
	return seedReport(b, s, sends/4, sends)
}

// seedReport fills s with a list of contacts, the first of whom get
// sends — 4 each (2 sequences of 2 steps) but the one in nine welcome
// holds out (who gets 2), in rounds of 4 when there are more sends than
// contacts can take at 4 — and what their recipients did, all in the 30
// days before benchNow; it returns that period. Each table is filled by
// INSERT … SELECT over a series of contact numbers, a chunk of contacts
// a statement: every value is a function of the contact's number i (its
// id is i+1), the sequence k, the step j and the round r, as the
// row-by-row seeding it replaces computed them, so that the default
// store is the one that seeding made.
func seedReport(b testing.TB, s *sqlstore.Store, contacts, sends int) runtime.ReportFilter {
	b.Helper()
	ctx := context.Background()
	p := storetest.Program()
	if err := s.SyncSchema(ctx, &p.Contact); err != nil {
		b.Fatal(err)
	}
	mailed := min(contacts, sends/4)
	rounds := max(1, sends/(4*contacts))
	start := benchNow.Add(-30 * 24 * time.Hour)
	pg := s.Dialect() != "sqlite"
	// series is the contact numbers lo ≤ i < hi as the table n(i).
	series := func(lo, hi int) string {
		if pg {
			return fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT generate_series(CAST(%d AS BIGINT), %d))", lo, hi-1)
		}
		return fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM n WHERE i < %d)", lo, hi-1)
	}
	// at is the time ms milliseconds after the period's start.
	at := func(ms string) string {
		if pg {
			return "(TIMESTAMPTZ '" + start.Format(time.RFC3339) + "' + (" + ms + ") * INTERVAL '1 millisecond')"
		}
		return "(" + strconv.FormatInt(start.UnixMilli(), 10) + " + " + ms + ")"
	}
	json := func(v string) string {
		if pg {
			return "CAST(" + v + " AS JSONB)"
		}
		return v
	}
	overriding := ""
	if pg {
		overriding = " OVERRIDING SYSTEM VALUE"
	}
	q := func(v string) string { return "'" + v + "'" }
	const hour = "3600000"
	entered := "(n.i % 600) * " + hour
	held := "n.i % 9 = 0"
	converted := "(n.i % 5 = 0 AND (n.i % 9 <> 0 OR n.i % 10 = 0))"
	stages := p.Contact.Stages
	var stage strings.Builder
	stage.WriteString("CASE n.i % 7 % " + strconv.Itoa(len(stages)))
	for x, st := range stages {
		fmt.Fprintf(&stage, " WHEN %d THEN %s", x, q(st))
	}
	stage.WriteString(" END")
	var rs []string
	for r := range rounds {
		rs = append(rs, fmt.Sprintf("(%d)", r))
	}
	// The sends of contact i: sequence k, step j; the first step's arm
	// alternates with i, the second has one; round r > 0 repeats the
	// steps under names of their own, 4 hours later each round.
	sendRows := `, r(r) AS (VALUES ` + strings.Join(rs, ", ") + `),
p(k, j, par, seq, step, email, variant) AS (VALUES
  (0, 0, 0, 'welcome', 'hello', 'emails/hello.md', 'a'), (0, 0, 1, 'welcome', 'hello', 'emails/hello-b.md', 'b'),
  (0, 1, -1, 'welcome', 'tips', 'emails/tips.md', NULL), (1, 0, 0, 'nurture', 'case', 'emails/case.md', 'a'),
  (1, 0, 1, 'nurture', 'case', 'emails/case-b.md', 'b'), (1, 1, -1, 'nurture', 'demo', 'emails/demo.md', NULL)),
x AS (SELECT n.i, n.i + 1 AS id, p.seq, CASE WHEN r.r = 0 THEN p.step ELSE p.step || '-' || CAST(r.r AS TEXT) END AS step,
    p.email, p.variant, ` + at(entered+" + (24 * (1 + p.j) + 4 * r.r) * "+hour) + ` AS at,
    (n.i * 7 + p.j * 13 + p.k * 29 + r.r * 31) % 100 AS h
  FROM n CROSS JOIN p CROSS JOIN r
  WHERE (p.par < 0 OR p.par = n.i % 2) AND NOT (p.k = 0 AND ` + held + `)),
s AS (SELECT x.*, CAST(x.id AS TEXT) || '/' || x.seq || '/' || x.step AS key,
    '{"sequence":"' || x.seq || '","step":"' || x.step || '","email":"' || x.email || '"' ||
    COALESCE(',"variant":"' || x.variant || '"', '') AS props FROM x)`
	ev := func(kind, name, after, extra, cond string) string {
		return `SELECT ` + q(kind+"/") + ` || s.key, s.id, ` + q(name) + `, s.at + ` + after + `, ` +
			json(`s.props || `+extra+` || '}'`) + ` FROM s WHERE ` + cond
	}
	var after func(string) string
	if pg {
		after = func(ms string) string { return "INTERVAL '" + ms + " milliseconds'" }
	} else {
		after = func(ms string) string { return ms }
	}
	const bounced = "s.i % 97 = 0"
	stmts := []struct{ table, sql string }{
		{"contacts", ` INSERT INTO contacts (id, email, email_key, stage, a_industry, created_at, updated_at)` + overriding + `
SELECT n.i + 1, 'c' || CAST(n.i AS TEXT) || '@bench.example', 'c' || CAST(n.i AS TEXT) || '@bench.example', ` + stage.String() + `, 'saas', ` + at("0") + `, ` + at("0") + ` FROM n`},
		{"enrollments", ` INSERT INTO enrollments (contact_id, sequence, state, entered_at, exited_at, exit_reason, arm, version)
SELECT n.i + 1, q.seq, 'active', ` + at(entered) + `,
  CASE WHEN ` + converted + ` THEN ` + at(entered+" + 72 * "+hour) + ` END, CASE WHEN ` + converted + ` THEN 'converted' END,
  CASE WHEN q.seq = 'nurture' THEN NULL WHEN ` + held + ` THEN ` + q(campaigns.ArmControl) + ` ELSE ` + q(campaigns.ArmTreatment) + ` END, 1
FROM n CROSS JOIN (SELECT 'welcome' AS seq UNION ALL SELECT 'nurture') q`},
		{"handoffs", ` INSERT INTO handoffs (contact_id, handoff, reason, sequence, status, created_at)
SELECT n.i + 1, 'sales', 'converted', 'welcome', 'done', ` + at(entered+" + 72 * "+hour) + ` FROM n WHERE ` + converted},
		{"sends", sendRows + ` INSERT INTO sends (key, contact_id, sequence, step, email, variant, status, planned_at, sent_at, version)
SELECT s.key, s.id, s.seq, s.step, s.email, s.variant, CASE WHEN ` + bounced + ` THEN ` + q(runtime.SendFailed) + ` ELSE ` + q(runtime.SendAccepted) + ` END, s.at, s.at, 1 FROM s`},
		{"events", sendRows + ` INSERT INTO events (id, contact_id, name, at, props)
` + ev("bounce", campaigns.EventBounced, after("60000"), `',"kind":"hard"'`, bounced) + `
UNION ALL ` + ev("open", campaigns.EventOpened, after(hour), `',"unreliable":' || CASE WHEN s.h < 10 THEN 'true' ELSE 'false' END`, "NOT "+bounced+" AND s.h < 40") + `
UNION ALL ` + ev("click", campaigns.EventClicked, after("7200000"), `',"url":"https://bench.example/"'`, "NOT "+bounced+" AND s.h < 4 + s.i % 2") + `
UNION ALL ` + ev("reply", campaigns.EventReplied, after("10800000"), `''`, "NOT "+bounced+" AND s.h = 20") + `
UNION ALL ` + ev("unsub", campaigns.EventUnsubscribed, after(hour), `''`, "NOT "+bounced+" AND s.h = 99 AND s.i % 3 = 0")},
	}
	// A table's indexes are dropped while it fills and made again after:
	// a sort each, where keeping them would insert every row into each
	// (the sends of a million contacts took minutes so). The indexes of
	// primary keys and UNIQUE constraints stay.
	indexes := `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`
	if pg {
		indexes = `SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = current_schema() AND tablename = $1
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = CAST(quote_ident(i.schemaname) || '.' || quote_ident(i.indexname) AS REGCLASS))`
	}
	// Nor are the foreign keys checked row by row (on PostgreSQL a
	// trigger a row): every id is made to match. The connection is the
	// store's, so both are put back after.
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	checks := [2]string{"PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON"}
	if pg {
		checks = [2]string{"SET session_replication_role = replica", "RESET session_replication_role"}
	}
	if _, err := conn.ExecContext(ctx, checks[0]); err != nil {
		b.Logf("%s: %v: the foreign keys are checked", checks[0], err)
	}
	defer conn.ExecContext(ctx, checks[1])
	const chunk = 50_000
	for _, st := range stmts {
		t0 := time.Now()
		var names, defs []string
		rows, err := conn.QueryContext(ctx, indexes, st.table)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var name, def string
			if err := rows.Scan(&name, &def); err != nil {
				b.Fatal(err)
			}
			names, defs = append(names, name), append(defs, def)
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
		for _, name := range names {
			if _, err := conn.ExecContext(ctx, "DROP INDEX "+name); err != nil {
				b.Fatal(err)
			}
		}
		n := contacts
		if st.table != "contacts" {
			n = mailed
		}
		for lo := 0; lo < n; lo += chunk {
			if _, err := conn.ExecContext(ctx, series(lo, min(lo+chunk, n))+st.sql); err != nil {
				b.Fatalf("seeding %s: %v", st.table, err)
			}
		}
		for _, def := range defs {
			if _, err := conn.ExecContext(ctx, def); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("%s: %s seeded in %v", s.Dialect(), st.table, time.Since(t0).Round(time.Millisecond))
	}
	if pg {
		// The contacts were given their ids; the next one the store
		// adds takes the one after. And the planner learns the tables'
		// sizes now, as autovacuum would a minute later.
		for _, q := range []string{`SELECT setval(pg_get_serial_sequence('contacts', 'id'), (SELECT MAX(id) FROM contacts))`, `ANALYZE`} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	}
	var counts []string
	for _, t := range []string{"contacts", "sends", "events", "enrollments", "handoffs"} {
		var c int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t).Scan(&c); err != nil {
			b.Fatal(err)
		}
		counts = append(counts, fmt.Sprintf("%d %s", c, t))
	}
	b.Logf("%s: %s", s.Dialect(), strings.Join(counts, ", "))
	return runtime.ReportFilter{Since: start, Until: benchNow}
}

// timeArg is a time as the store keeps it.
func timeArg(s *sqlstore.Store, t time.Time) any {
	if s.Dialect() == "sqlite" {
		return t.UnixMilli()
	}
	return t.UTC()
}

// rebindFor turns ? placeholders into the store's.
func rebindFor(s *sqlstore.Store, q string) string {
	if s.Dialect() == "sqlite" {
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
