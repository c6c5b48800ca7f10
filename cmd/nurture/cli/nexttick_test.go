package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/ingest"
	"github.com/nurture-dev/nurture/runtime/scenario"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// firstTick is what one tick did, in the terms a plan predicts it.
type firstTick struct {
	Entered map[string]int
	Emails  map[string]int // "sequence email" → contacts
}

// tally counts a tick's emails from the engine's traces.
func (f *firstTick) tally(t engine.Trace) {
	if d := t.Decision; !t.Deferred && d.Send != nil {
		f.Emails[d.Send.Sequence+" "+d.Send.Email]++
	}
}

func newFirstTick() *firstTick {
	return &firstTick{Entered: map[string]int{}, Emails: map[string]int{}}
}

func predicted(n *campaigns.NextTick) *firstTick {
	f := newFirstTick()
	if n == nil {
		return f
	}
	for s, k := range n.Entered {
		f.Entered[s] = k
	}
	for _, e := range n.Emails {
		f.Emails[e.Sequence+" "+e.Email] = e.Contacts
	}
	return f
}

// planJSON plans dir against the store and reads the plan.
func planJSON(t *testing.T, dir, store string, now time.Time) *campaigns.Plan {
	t.Helper()
	out, errOut, code := run(t, "plan", dir, store, "--now", now.Format(time.RFC3339), "--format", "json")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	var p campaigns.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// realTick applies dir and runs the real worker once at now.
func realTick(t *testing.T, dir, path string, now time.Time) *firstTick {
	t.Helper()
	if out, errOut, code := run(t, "apply", dir, "--store=sqlite:"+path, "--auto-approve"); code != 0 {
		t.Fatalf("apply: %s%s", out, errOut)
	}
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := newFirstTick()
	w := &worker.Worker{Store: st, Name: "test", Configure: func(e *engine.Engine) { e.Observe = got.tally }}
	res, err := w.Tick(context.Background(), now, false)
	if err != nil {
		t.Fatal(err)
	}
	for s, k := range res.Report.Enrolled {
		if k > 0 {
			got.Entered[s] = k
		}
	}
	return got
}

func importSample(t *testing.T, dir, store string) {
	t.Helper()
	for _, args := range [][]string{
		{"contacts", "import", filepath.Join(dir, "contacts.csv"), "--dir", dir, "--rejects", filepath.Join(t.TempDir(), "r.csv")},
		{"events", "import", filepath.Join(dir, "events.jsonl"), "--dir", dir, "--rejects", filepath.Join(t.TempDir(), "r.jsonl")},
	} {
		if out, errOut, code := run(t, append(args, store)...); code != 0 {
			t.Fatalf("%s: %s%s", strings.Join(args[:2], " "), out, errOut)
		}
	}
}

// The plan's prediction of the next tick, simulate's first tick and a
// real first tick agree, per sequence entered and per email, on each
// example's sample data: all three are the one worker deciding.
func TestNextTickAgrees(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) // Monday, 10:00 in New York
	for _, ex := range []string{"b2b-saas", "abm"} {
		t.Run(ex, func(t *testing.T) {
			dir := "../../../examples/" + ex
			path := filepath.Join(t.TempDir(), "nurture.db")
			store := "--store=sqlite:" + path
			importSample(t, dir, store)
			plan := predicted(planJSON(t, dir, store, now).Next)
			if len(plan.Emails) == 0 {
				t.Fatal("the plan predicts no email: the comparison would prove nothing")
			}
			real := realTick(t, dir, path, now)
			if diff := cmp.Diff(plan, real); diff != "" {
				t.Errorf("the plan's next tick and the real one differ (-plan +real):\n%s", diff)
			}

			prog := compiler.Compile(dir).Program
			cs, err := os.Open(filepath.Join(dir, "contacts.csv"))
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			es, err := os.Open(filepath.Join(dir, "events.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer es.Close()
			sim := newFirstTick()
			opt := scenario.SimOptions{Program: prog, Start: now, Days: 1, Every: 24 * time.Hour, Location: time.UTC, Observe: sim.tally}
			if opt.Contacts, err = ingest.NewContactReader(cs, "contacts.csv", ingest.CSV, &prog.Contact, ingest.Options{}); err != nil {
				t.Fatal(err)
			}
			if opt.Events, err = ingest.NewEventReader(es, "events.jsonl", ingest.JSONL, prog.Events, ingest.Options{}); err != nil {
				t.Fatal(err)
			}
			rep, err := scenario.Simulate(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Ticks != 1 {
				t.Fatalf("the simulation ran %d ticks; want the first alone", rep.Ticks)
			}
			for _, s := range rep.Sequences {
				if s.Enrolled > 0 {
					sim.Entered[s.Name] = s.Enrolled
				}
			}
			if diff := cmp.Diff(real, sim); diff != "" {
				t.Errorf("the real first tick and simulate's differ (-real +simulate):\n%s", diff)
			}
		})
	}
}

// Once a programme runs, a change's plan predicts the tick after it
// from the last tick on: the events since then enter the event-entered
// sequences (onboarding on a trial started), in the prediction as in the
// real tick.
func TestNextTickAfterAChange(t *testing.T) {
	t.Parallel()
	friday := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "b2b-saas")
	if err := copyTree("../../../examples/b2b-saas", dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nurture.db")
	store := "--store=sqlite:" + path
	importSample(t, dir, store)
	if out, errOut, code := run(t, "apply", dir, store, "--auto-approve"); code != 0 {
		t.Fatalf("apply: %s%s", out, errOut)
	}
	if out, errOut, code := run(t, "tick", store, "--now", friday.Format(time.RFC3339)); code != 0 {
		t.Fatalf("tick: %s%s", out, errOut)
	}
	onboarding := filepath.Join(dir, "sequences_onboarding.cue")
	b, err := os.ReadFile(onboarding)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "Four emails over two weeks", "Four emails in two weeks", 1))
	if err := os.WriteFile(onboarding, b, 0o644); err != nil {
		t.Fatal(err)
	}
	plan := predicted(planJSON(t, dir, store, now).Next)
	if plan.Entered["onboarding"] == 0 {
		t.Fatalf("the plan predicts no one entering onboarding from the trials started since Friday: %v", plan.Entered)
	}
	if diff := cmp.Diff(plan, realTick(t, dir, path, now)); diff != "" {
		t.Errorf("the plan's next tick and the real one differ (-plan +real):\n%s", diff)
	}
}
