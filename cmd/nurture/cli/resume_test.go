package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/sample"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// errDiskFull stands for whatever stops a tick half-way: a full disk, a
// lost connection, a kill between two statements.
var errDiskFull = errors.New("disk full")

// failing is the engine's store that fails every write after the first
// limit; count counts the writes tried.
type failing struct {
	engine.Store
	limit, count int
}

func (f *failing) write() error {
	f.count++
	if f.limit >= 0 && f.count > f.limit {
		return errDiskFull
	}
	return nil
}

func (f *failing) Rescore(ctx context.Context, prog *campaigns.Program, ids []int64, now time.Time) (int, error) {
	if err := f.write(); err != nil {
		return 0, err
	}
	return f.Store.Rescore(ctx, prog, ids, now)
}

func (f *failing) EnrollWhere(ctx context.Context, prog *campaigns.Program, p campaigns.Predicate, trigger *campaigns.EventCondition, sequence, step string, version int64, now time.Time) (int, error) {
	if err := f.write(); err != nil {
		return 0, err
	}
	return f.Store.EnrollWhere(ctx, prog, p, trigger, sequence, step, version, now)
}

func (f *failing) DecideAll(ctx context.Context, ds []runtime.Decision) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.DecideAll(ctx, ds)
}

// outcome is what a store holds after ticks, by email rather than by ID.
func outcome(t *testing.T, db *sql.DB) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT 'send', c.email, s.sequence, s.step, s.email, COALESCE(s.variant, ''), s.status FROM sends s JOIN contacts c ON c.id = s.contact_id`,
		`SELECT 'enrollment', c.email, e.sequence, e.state, COALESCE(e.step, ''), COALESCE(e.exit_reason, ''), COALESCE(e.waiting, ''),
			CAST(e.next_check_at AS TEXT), CAST(e.step_since AS TEXT), CAST(e.entered_at AS TEXT), CAST(e.exited_at AS TEXT) FROM enrollments e JOIN contacts c ON c.id = e.contact_id`,
		`SELECT 'handoff', c.email, h.handoff, h.reason, COALESCE(h.sequence, '') FROM handoffs h JOIN contacts c ON c.id = h.contact_id`,
		`SELECT 'stage', email, COALESCE(stage, '') FROM contacts`,
		`SELECT 'score', c.email, s.model, CAST(s.score AS TEXT) FROM scores s JOIN contacts c ON c.id = s.contact_id`,
		`SELECT 'suppressed', email, reason FROM suppressions`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			line := ""
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				line += fmt.Sprint(v) + " "
			}
			out = append(out, line)
		}
		rows.Close()
	}
	slices.Sort(out)
	return out
}

// TestInterruptedTickRunAgain stops the first and the second tick of
// b2b-saas on its sample data at every write the engine makes, as a
// full disk would, runs the tick again at the same --now, and compares
// what the store then holds — sends, enrollments and where each is,
// hand-offs, stages, scores, suppressions — with the same ticks run
// without interruption, on SQLite and PostgreSQL.
func TestInterruptedTickRunAgain(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("ticks a generated store dozens of times")
	}
	ctx := context.Background()
	// b2b-saas, and a triage that hands engineers on to a track whose
	// own rule then ends the journey of those on a trial before its
	// first step: a rule that only a contact a decision started, not
	// one an entry segment admitted, is checked for.
	prog := filepath.Join(t.TempDir(), "prog")
	if err := copyTree(benchDir, prog); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prog, "triage.cue"), []byte(`package nurture

sequences: triage: {
	entry: segment: "practitioners"
	priority: 30
	steps: [{name: "pause", wait: "1d"}]
	exit: [{when: persona: "engineer", reason: "handed_on", then: enroll: "engineers"}]
}

sequences: engineers: {
	entry: manual: true
	priority: 30
	steps: [{send: "emails/practitioners/02-dbt-semantic-layer.md"}]
	exit: [{when: plan: "trial", reason: "on_trial"}]
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	res := compiler.Compile(prog)
	if res.Program == nil {
		t.Fatalf("the test's programme does not compile: %v", res.Diagnostics)
	}
	dir := t.TempDir()
	contacts, events := filepath.Join(dir, "contacts.csv"), filepath.Join(dir, "events.jsonl")
	cf, err := os.Create(contacts)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := os.Create(events)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sample.Generate(res.Program, sample.Options{Contacts: 250, Seed: 7, Now: benchNow, Months: 1}, cf, ef); err != nil {
		t.Fatal(err)
	}
	cf.Close()
	ef.Close()
	first := benchNow.Add(15 * time.Hour)
	// The second tick a day later, after new pricing-page views.
	second := first.Add(24 * time.Hour)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			// Every interrupted tick starts from a copy of one store, the
			// sample imported and the programme applied.
			copies := storeCopies(t, kind, func(spec string) {
				for _, args := range [][]string{
					{"contacts", "import", contacts, "--dir", prog, "--rejects", filepath.Join(t.TempDir(), "r")},
					{"events", "import", events, "--dir", prog, "--rejects", filepath.Join(t.TempDir(), "r")},
					{"apply", prog, "--auto-approve", "--now", benchNow.Add(-7 * 24 * time.Hour).Format(time.RFC3339)},
				} {
					if out, errOut, code := run(t, append(args, "--store", spec)...); code != 0 {
						t.Fatalf("%s: %s%s", args[0], out, errOut)
					}
				}
			})
			fresh := func() (worker.Store, *sql.DB) {
				t.Helper()
				st := copies(t)
				es, err := openEngineStore(ctx, st.spec)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { es.Close() })
				return es, st.db
			}
			views := func(es worker.Store, db *sql.DB) {
				t.Helper()
				var news []runtime.Event
				rows, err := db.Query(`SELECT email FROM contacts WHERE id % 7 = 0`)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var email string
					rows.Scan(&email)
					for k := range 2 {
						news = append(news, runtime.Event{ID: fmt.Sprintf("resume-%s-%d", email, k), Email: email, Name: "page_view",
							At: first.Add(time.Duration(k+1) * time.Hour), Props: map[string]any{"path": "/pricing"}})
					}
				}
				rows.Close()
				if r, err := es.RecordEvents(ctx, news); err != nil || len(r.Rejected) > 0 {
					t.Fatal(err, r.Rejected)
				}
			}
			// tick runs one tick, failing after limit writes (-1: none),
			// and returns the writes it tried.
			tick := func(es worker.Store, now time.Time, limit int) (int, error) {
				f := &failing{limit: limit}
				w := &worker.Worker{Store: es, Name: "test", Configure: func(e *engine.Engine) {
					f.Store = e.Store
					e.Store = f
				}}
				_, err := w.Tick(ctx, now, false)
				return f.count, err
			}
			es, db := fresh()
			writes := map[time.Time]int{}
			want := map[time.Time][]string{}
			for _, now := range []time.Time{first, second} {
				if now.Equal(second) {
					views(es, db)
				}
				n, err := tick(es, now, -1)
				if err != nil {
					t.Fatal(err)
				}
				writes[now], want[now] = n, outcome(t, db)
			}
			if len(want[first]) == 0 || writes[first] < 5 || writes[second] < 3 {
				t.Fatalf("the ticks wrote %d and %d times: too few to interrupt", writes[first], writes[second])
			}
			t.Logf("the first tick writes %d times, the second %d", writes[first], writes[second])
			for _, now := range []time.Time{first, second} {
				for limit := range writes[now] {
					es, db := fresh()
					if now.Equal(second) {
						if _, err := tick(es, first, -1); err != nil {
							t.Fatal(err)
						}
						views(es, db)
					}
					if _, err := tick(es, now, limit); !errors.Is(err, errDiskFull) {
						t.Fatalf("the tick stopped after %d writes: %v; want it stopped by a full disk", limit, err)
					}
					if _, err := tick(es, now, -1); err != nil {
						t.Fatalf("the tick run again after %d writes: %v", limit, err)
					}
					if got := outcome(t, db); !slices.Equal(want[now], got) {
						which := "first"
						if now.Equal(second) {
							which = "second"
						}
						t.Errorf("the %s tick stopped after %d of %d writes and run again decided otherwise than uninterrupted: first differences %v",
							which, limit, writes[now], firstRowDiff(want[now], got))
					}
					// Done with this copy: sixty copies' connections held to
					// the end would pass the server's limit of clients.
					es.Close()
					db.Close()
				}
			}
		})
	}
}
