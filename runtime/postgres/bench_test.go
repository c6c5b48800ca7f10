package postgres

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

// Run with a server:
//
//	NURTURE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	go test ./runtime/postgres -run XXX -bench . -benchtime 3x

const benchContacts = 100_000

// BenchmarkImportContacts imports 100k new contacts through
// UpsertContacts, 1000 a batch, each batch its own transaction: with
// COPY (the dialect's BulkInsert) and, for comparison, with the multi-row
// INSERT sqlstore falls back to. Compare rows/s with
// BenchmarkBareInsert.
func BenchmarkImportContacts(b *testing.B) {
	p := storetest.Program()
	cs := genContacts(benchContacts, 1)
	for _, mode := range []string{"copy", "insert"} {
		b.Run(mode, func(b *testing.B) {
			d := Dialect()
			if mode == "insert" {
				d.BulkInsert = nil
			}
			for range b.N {
				b.StopTimer()
				s, drop := emptyStore(b, d, p)
				b.StartTimer()
				importContacts(b, s, p, cs)
				b.StopTimer()
				s.Close()
				drop()
				b.StartTimer()
			}
			b.ReportMetric(float64(benchContacts*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkBareInsert copies the same 100k rows into the same table in
// one COPY, with no lookups, batches or consent records: the ceiling an
// import can approach.
func BenchmarkBareInsert(b *testing.B) {
	p := storetest.Program()
	cols, rows := contactRows(p, genContacts(benchContacts, 1))
	for range b.N {
		b.StopTimer()
		s, drop := emptyStore(b, Dialect(), p)
		conn, err := s.DB().Conn(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		err = conn.Raw(func(dc any) error {
			_, err := pgxConn(dc).CopyFrom(context.Background(), pgx.Identifier{"contacts"}, cols, pgx.CopyFromRows(rows))
			return err
		})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		conn.Close()
		s.Close()
		drop()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchContacts*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// emptyStore opens a store with dialect d in a schema of its own,
// synced to p; drop removes the schema.
func emptyStore(b *testing.B, d sqlstore.Dialect, p *campaigns.Program) (s *sqlstore.Store, drop func()) {
	u, drop := newSchema(b)
	db, _, err := connect(context.Background(), u)
	if err != nil {
		b.Fatal(err)
	}
	s, err = sqlstore.Open(context.Background(), db, d)
	if err != nil {
		b.Fatal(err)
	}
	s.Now = func() time.Time { return storetest.Now }
	if err := s.SyncSchema(context.Background(), &p.Contact); err != nil {
		b.Fatal(err)
	}
	return s, drop
}

// contactRows is what UpsertContacts writes for new contacts: the same
// columns and values, encoded alike.
func contactRows(p *campaigns.Program, cs []runtime.ContactRecord) ([]string, [][]any) {
	names := []string{campaigns.AttrStage, campaigns.AttrTimezone, campaigns.AttrAccount, campaigns.AttrAccountTier}
	var declared []string
	for n, a := range p.Contact.Attributes {
		if !a.Builtin {
			declared = append(declared, n)
		}
	}
	sort.Strings(declared)
	cols := []string{"email", "email_key", "role", "created_at", "updated_at"}
	cols = append(cols, names...)
	for _, n := range declared {
		cols = append(cols, "a_"+n)
	}
	names = append(names, declared...)
	rows := make([][]any, len(cs))
	for i, c := range cs {
		row := []any{c.Email, runtime.EmailKey(c.Email), c.Role, storetest.Now, storetest.Now}
		for _, n := range names {
			v := c.Values[n]
			if t, ok := v.(time.Time); ok {
				v = t.UTC()
			}
			row = append(row, v)
		}
		rows[i] = row
	}
	return cols, rows
}

// audienceCase is a segment as a programme writes it, and the query a
// person would write for it by hand.
type audienceCase struct {
	name string
	p    campaigns.Predicate
	sql  string
	args []any
}

func audienceCases() []audienceCase {
	d := campaigns.MustDuration
	attr := func(f, c string, v any) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: f, Cmp: c, Value: v}}
	}
	event := func(e campaigns.EventCondition) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpEvent, Event: &e}
	}
	all := func(ps ...campaigns.Predicate) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpAll, Args: ps}
	}
	not := func(p campaigns.Predicate) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpNot, Args: []campaigns.Predicate{p}}
	}
	ago := func(span string) time.Time { return storetest.Now.Add(-d(span).Std()) }
	return []audienceCase{
		{"saas from mql",
			all(attr("industry", campaigns.CmpEq, "saas"), attr("stage", campaigns.CmpGte, "mql")),
			`SELECT COUNT(*) FROM contacts WHERE a_industry = 'saas' AND stage IN ('mql', 'sql', 'customer')`, nil},
		{"pricing twice in 7d",
			event(campaigns.EventCondition{Name: "page_view", Within: d("7d"), MinCount: 2,
				Where: []campaigns.Condition{{Field: "path", Cmp: campaigns.CmpEq, Value: "/pricing"}}}),
			`SELECT COUNT(*) FROM (SELECT contact_id FROM events WHERE name = 'page_view' AND at >= $1
			 AND props->>'path' = '/pricing' GROUP BY contact_id HAVING COUNT(*) >= 2) x`, []any{ago("7d")}},
		{"opened in 30d, not customer",
			all(event(campaigns.EventCondition{Name: campaigns.EventOpened, Within: d("30d"), MinCount: 1}),
				not(attr("stage", campaigns.CmpEq, "customer"))),
			`SELECT COUNT(*) FROM contacts c WHERE stage IS DISTINCT FROM 'customer'
			 AND EXISTS (SELECT 1 FROM events e WHERE e.contact_id = c.id AND e.name = 'email.opened' AND e.at >= $1)`, []any{ago("30d")}},
		{"inactive 60d, 200+ employees",
			all(campaigns.Predicate{Op: campaigns.OpInactive, Inactive: d("60d")}, attr("employees", campaigns.CmpGte, 200.0)),
			`SELECT COUNT(*) FROM contacts WHERE COALESCE(last_engaged_at, created_at) < $1 AND a_employees >= 200`, []any{ago("60d")}},
		{"saas, never viewed a page",
			all(attr("industry", campaigns.CmpEq, "saas"), not(event(campaigns.EventCondition{Name: "page_view", MinCount: 1}))),
			`SELECT COUNT(*) FROM contacts c WHERE a_industry = 'saas'
			 AND NOT EXISTS (SELECT 1 FROM events e WHERE e.contact_id = c.id AND e.name = 'page_view')`, nil},
	}
}

// BenchmarkAudience counts segments of 100k contacts with 500k events
// through Store.Audience and through the hand-written query, and reports
// both and their ratio (store/sql; 1 is as good as by hand).
func BenchmarkAudience(b *testing.B) {
	s, _ := open(b)
	p := storetest.Program()
	if err := s.SyncSchema(context.Background(), &p.Contact); err != nil {
		b.Fatal(err)
	}
	cs := genContacts(benchContacts, 1)
	importContacts(b, s, p, cs)
	copyEvents(b, s, p, genEvents(cs, 5, 1))
	for _, c := range audienceCases() {
		b.Run(c.name, func(b *testing.B) {
			var store, hand time.Duration
			for range b.N {
				t0 := time.Now()
				n, _, err := s.Audience(context.Background(), p, c.p, storetest.Now, 0)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				var m int
				if err := s.DB().QueryRow(c.sql, c.args...).Scan(&m); err != nil {
					b.Fatal(err)
				}
				hand += time.Since(t1)
				store += t1.Sub(t0)
				if n != m {
					b.Fatalf("the store counts %d, the hand-written query %d", n, m)
				}
				b.ReportMetric(float64(n), "contacts")
			}
			b.ReportMetric(store.Seconds()*1e3/float64(b.N), "store-ms/op")
			b.ReportMetric(hand.Seconds()*1e3/float64(b.N), "sql-ms/op")
			b.ReportMetric(store.Seconds()/hand.Seconds(), "store/sql")
		})
	}
}
