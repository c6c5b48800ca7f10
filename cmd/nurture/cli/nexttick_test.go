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
	"github.com/google/go-cmp/cmp/cmpopts"

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
	HeldOut map[string]int // sequence → emails a holdout kept
	Control map[string]int // sequence → enrollments assigned a control arm
	seen    map[int64]bool
}

// tally counts a tick's emails from the engine's traces.
func (f *firstTick) tally(t engine.Trace) {
	if d := t.Decision; !t.Deferred && d.Send != nil {
		f.Emails[d.Send.Sequence+" "+d.Send.Email]++
	}
	if t.HeldOut != "" {
		f.HeldOut[t.Sequence]++
	}
	if d := t.Decision; campaigns.HeldOut(d.Arm) && !f.seen[d.Enrollment] {
		f.seen[d.Enrollment] = true
		f.Control[d.Sequence]++
	}
}

// ignoreSeen leaves out of a comparison what tally remembers to count
// each control enrollment once.
var ignoreSeen = cmpopts.IgnoreUnexported(firstTick{})

func newFirstTick() *firstTick {
	return &firstTick{Entered: map[string]int{}, Emails: map[string]int{}, HeldOut: map[string]int{}, Control: map[string]int{}, seen: map[int64]bool{}}
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
	for s, k := range n.HeldOut {
		f.HeldOut[s] = k
	}
	for s, k := range n.Control {
		f.Control[s] = k
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
	imports := [][]string{
		{"contacts", "import", filepath.Join(dir, "contacts.csv"), "--dir", dir, "--rejects", filepath.Join(t.TempDir(), "r.csv")},
		{"events", "import", filepath.Join(dir, "events.jsonl"), "--dir", dir, "--rejects", filepath.Join(t.TempDir(), "r.jsonl")},
	}
	if _, err := os.Stat(filepath.Join(dir, "accounts.csv")); err == nil {
		imports = append(imports, []string{"accounts", "import", filepath.Join(dir, "accounts.csv"), "--dir", dir, "--rejects", filepath.Join(t.TempDir(), "a.csv")})
	}
	for _, args := range imports {
		if out, errOut, code := run(t, append(args, store)...); code != 0 {
			t.Fatalf("%s: %s%s", strings.Join(args[:2], " "), out, errOut)
		}
	}
}

// The plan's prediction of the next tick, simulate's first tick and a
// real first tick agree, per sequence entered, per email and per email
// a holdout keeps from its control group, on each example's sample data
// (b2b-saas once more with holdouts): all three are the one worker
// deciding.
func TestNextTickAgrees(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) // Monday, 10:00 in New York
	for _, ex := range []string{"b2b-saas", "abm", "b2b-saas+holdouts"} {
		t.Run(ex, func(t *testing.T) {
			dir := "../../../examples/" + ex
			holdouts := strings.HasSuffix(ex, "+holdouts")
			if holdouts {
				dir = filepath.Join(t.TempDir(), "b2b-saas")
				if err := os.CopyFS(dir, os.DirFS("../../../examples/b2b-saas")); err != nil {
					t.Fatal(err)
				}
				src := "package nurture\n\nholdout: \"10%\"\n\nsequences: nurture_leaders: holdout: \"30%\"\n"
				if err := os.WriteFile(filepath.Join(dir, "holdout.cue"), []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "nurture.db")
			store := "--store=sqlite:" + path
			importSample(t, dir, store)
			plan := predicted(planJSON(t, dir, store, now).Next)
			if len(plan.Emails) == 0 {
				t.Fatal("the plan predicts no email: the comparison would prove nothing")
			}
			if holdouts && (plan.HeldOut["nurture_leaders"] == 0 || len(plan.HeldOut) < 2 || plan.Control["nurture_leaders"] == 0) {
				t.Fatalf("the plan predicts emails held out of %v, control enrollments %v: the comparison would prove little", plan.HeldOut, plan.Control)
			}
			real := realTick(t, dir, path, now)
			if diff := cmp.Diff(plan, real, ignoreSeen); diff != "" {
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
			if as, err := os.Open(filepath.Join(dir, "accounts.csv")); err == nil {
				defer as.Close()
				if opt.Accounts, err = ingest.NewAccountReader(as, "accounts.csv", ingest.CSV, prog.Accounts.Attributes, ingest.Options{}); err != nil {
					t.Fatal(err)
				}
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
				if s.HeldOut > 0 && sim.HeldOut[s.Name] != s.HeldOut {
					t.Errorf("simulate counts %d emails held out of %s, its traces %d", s.HeldOut, s.Name, sim.HeldOut[s.Name])
				}
				if s.Control != sim.Control[s.Name] {
					t.Errorf("simulate counts %d control enrollments of %s, its traces %d", s.Control, s.Name, sim.Control[s.Name])
				}
			}
			if diff := cmp.Diff(real, sim, ignoreSeen); diff != "" {
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
	if diff := cmp.Diff(plan, realTick(t, dir, path, now), ignoreSeen); diff != "" {
		t.Errorf("the plan's next tick and the real one differ (-plan +real):\n%s", diff)
	}
}
