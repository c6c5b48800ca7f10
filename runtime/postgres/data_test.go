package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

// This file makes seeded, roughly B2B-shaped data for the plan test and
// the benchmarks: the suite's programme (storetest.Program), skewed
// engagement, 90 days of events before storetest.Now. It is deliberately
// simple; runtime/sample is the realistic generator.

// genContacts makes n new contacts of the suite's programme.
func genContacts(n int, seed uint64) []runtime.ContactRecord {
	r := rand.New(rand.NewPCG(seed, 1))
	pick := func(weights ...int) int {
		x := r.IntN(100)
		for i, w := range weights {
			if x < w {
				return i
			}
			x -= w
		}
		return len(weights) - 1
	}
	industries := []string{"saas", "fintech", "other"}
	stages := []string{"lead", "mql", "sql", "customer"}
	zones := []string{"Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Singapore"}
	out := make([]runtime.ContactRecord, n)
	for i := range out {
		account := fmt.Sprintf("c%05d", i/20)
		v := map[string]any{
			"industry":  industries[pick(50, 30, 20)],
			"stage":     stages[pick(60, 20, 12, 8)],
			"timezone":  zones[r.IntN(len(zones))],
			"account":   account,
			"employees": int64(1 + r.ExpFloat64()*300),
			"signup_at": storetest.Now.Add(-time.Duration(r.IntN(365*24)) * time.Hour),
		}
		if r.IntN(10) < 7 {
			v["first_name"] = fmt.Sprintf("Name%d", r.IntN(500))
		}
		if r.IntN(10) < 4 {
			v["revenue"] = float64(r.IntN(50_000_000))
		}
		if x := r.IntN(10); x < 6 {
			v["trial"] = x < 3
		}
		out[i] = runtime.ContactRecord{Line: i + 2, Email: fmt.Sprintf("p%07d@%s.example", i, account), Values: v}
	}
	return out
}

// genEvents makes about perContact events a contact, skewed so that a
// few contacts are busy and most are quiet.
func genEvents(contacts []runtime.ContactRecord, perContact int, seed uint64) []runtime.Event {
	r := rand.New(rand.NewPCG(seed, 2))
	paths := []string{"/", "/pricing", "/docs/api", "/blog/cold-email", "/features", "/customers"}
	out := make([]runtime.Event, len(contacts)*perContact)
	for i := range out {
		u := r.Float64()
		c := contacts[int(u*u*float64(len(contacts)))]
		e := runtime.Event{ID: fmt.Sprintf("e%08d", i), Email: c.Email,
			At: storetest.Now.Add(-time.Duration(r.IntN(90*24*60)) * time.Minute)}
		switch x := r.IntN(100); {
		case x < 50:
			e.Name = "page_view"
			e.Props = map[string]any{"path": paths[r.IntN(len(paths))], "seconds": int64(r.IntN(300))}
		case x < 75:
			e.Name = campaigns.EventSent
			e.Props = map[string]any{"sequence": "welcome", "step": fmt.Sprintf("s%d", r.IntN(5))}
		case x < 92:
			e.Name = campaigns.EventOpened
			e.Props = map[string]any{"sequence": "welcome", "step": fmt.Sprintf("s%d", r.IntN(5))}
		case x < 99:
			e.Name = campaigns.EventClicked
			e.Props = map[string]any{"sequence": "welcome", "step": fmt.Sprintf("s%d", r.IntN(5))}
		default:
			e.Name = "demo_requested"
		}
		out[i] = e
	}
	return out
}

// importContacts stores contacts through the store, 1000 a batch.
func importContacts(tb testing.TB, s *sqlstore.Store, p *campaigns.Program, cs []runtime.ContactRecord) {
	tb.Helper()
	for i := 0; i < len(cs); i += 1000 {
		res, err := s.UpsertContacts(context.Background(), &p.Contact, cs[i:min(i+1000, len(cs))], "bench")
		if err != nil {
			tb.Fatal(err)
		}
		if len(res.Rejected) > 0 {
			tb.Fatalf("rejected: %v", res.Rejected[0])
		}
	}
}

// copyEvents loads events with COPY and then sets last_engaged_at as
// RecordEvents would, in one statement: RecordEvents takes minutes for
// the hundreds of thousands of events a plan needs, and it is the
// queries over them that these tests measure.
func copyEvents(tb testing.TB, s *sqlstore.Store, p *campaigns.Program, evs []runtime.Event) {
	tb.Helper()
	ctx := context.Background()
	ids := map[string]int64{}
	rows, err := s.DB().QueryContext(ctx, `SELECT id, email_key FROM contacts`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			tb.Fatal(err)
		}
		ids[key] = id
	}
	rows.Close()
	var engaged []string
	for name := range p.Events {
		if campaigns.IsEngagement(name) {
			engaged = append(engaged, "'"+name+"'")
		}
	}
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := pgxConn(dc)
		i := 0
		_, err := pc.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"id", "contact_id", "name", "at", "props"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == len(evs) {
					return nil, nil
				}
				e := evs[i]
				i++
				props := []byte("{}")
				if e.Props != nil {
					var err error
					if props, err = json.Marshal(e.Props); err != nil {
						return nil, err
					}
				}
				return []any{e.ID, ids[runtime.EmailKey(e.Email)], e.Name, e.At.UTC(), string(props)}, nil
			}))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE contacts c SET last_engaged_at = m.at
FROM (SELECT contact_id, MAX(at) AS at FROM events WHERE name IN (`+strings.Join(engaged, ", ")+`) GROUP BY contact_id) m
WHERE c.id = m.contact_id`); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `ANALYZE contacts, events`); err != nil {
		tb.Fatal(err)
	}
}

// rebind numbers the ? of a query that sqlstore.Store.Where wrote, as
// the store does before running it.
func rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pgxConn is the pgx connection under a database/sql one.
func pgxConn(dc any) *pgx.Conn { return dc.(*stdlib.Conn).Conn() }
