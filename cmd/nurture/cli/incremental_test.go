package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/sqlite"
)

// TestIncrementalTicksMatchFull runs testdata/timed, a programme whose
// entries and exits turn with time alone — an attribute older than a
// span, an event window that empties, inactivity, time in a sequence,
// re-entry after a span, a score that decays below a threshold — over 90
// virtual days, twice from the same start: once with incremental ticks and
// once with every tick looking at every contact. Contacts arrive and act
// at random (seeded) times. Every decision must be the same: an
// incremental tick that misses a contact that time or new data moved
// across a condition shows here as a difference.
func TestIncrementalTicksMatchFull(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("90 virtual days, twice")
	}
	ctx := context.Background()
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	const days = 90
	end := start.AddDate(0, 0, days)

	// 150 contacts: a third there at the start, the rest arriving over the
	// first 60 days. Each visits in bursts with gaps of up to four weeks,
	// so that windows empty and contacts go quiet and come back; a few
	// request a demo.
	type arrival struct {
		at time.Time
		r  runtime.ContactRecord
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var arrivals []arrival
	var events []runtime.Event
	for i := range 150 {
		email := fmt.Sprintf("c%03d@example.com", i)
		at := start
		if i >= 50 {
			at = start.Add(time.Duration(rng.Int64N(int64(60 * 24 * time.Hour))))
		}
		signup := at.Add(-time.Duration(rng.Int64N(int64(15 * 24 * time.Hour))))
		arrivals = append(arrivals, arrival{at, runtime.ContactRecord{Email: email, Values: map[string]any{"company": "Acme", "signup_at": signup},
			Consent: &runtime.Consent{Email: email, At: signup, Source: "signup_form", Wording: "v1"}}})
		for t := at.Add(time.Duration(rng.Int64N(int64(10 * 24 * time.Hour)))); t.Before(end); t = t.Add(time.Duration(rng.Int64N(int64(28 * 24 * time.Hour)))) {
			for k := range 1 + rng.IntN(5) {
				events = append(events, runtime.Event{ID: fmt.Sprintf("%s-%d-%d", email, t.Unix(), k), Email: email, Name: "page_view",
					At: t.Add(time.Duration(k) * time.Hour), Props: map[string]any{"path": "/pricing"}})
			}
			if rng.IntN(8) == 0 {
				events = append(events, runtime.Event{ID: fmt.Sprintf("%s-%d-demo", email, t.Unix()), Email: email, Name: "demo_requested", At: t.Add(2 * time.Hour)})
			}
		}
	}
	slices.SortStableFunc(events, func(a, b runtime.Event) int { return a.At.Compare(b.At) })

	tmp := t.TempDir()
	base := filepath.Join(tmp, "base.db")
	if out, errOut, code := run(t, "apply", "testdata/timed", "--auto-approve", "--now", start.Format(time.RFC3339), "--store=sqlite:"+base); code != 0 {
		t.Fatalf("apply: %s%s", out, errOut)
	}
	raw, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}

	outcome := func(full bool) (string, float64) {
		path := filepath.Join(tmp, map[bool]string{true: "full.db", false: "incremental.db"}[full])
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		clock := start
		st.Now = func() time.Time { return clock }
		v, err := st.Applied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		prog := new(campaigns.Program)
		if err := json.Unmarshal(v.Program, prog); err != nil {
			t.Fatal(err)
		}
		eng := &engine.Engine{Store: st, Program: prog, Version: v.Serial, Since: start, Full: true}
		looked, ticks, nc, ne := 0, 0, 0, 0
		for now := start; now.Before(end); now = now.Add(3 * time.Hour) {
			clock = now
			var recs []runtime.ContactRecord
			for ; nc < len(arrivals) && !arrivals[nc].at.After(now); nc++ {
				recs = append(recs, arrivals[nc].r)
			}
			if _, err := st.UpsertContacts(ctx, &prog.Contact, recs, "test"); err != nil {
				t.Fatal(err)
			}
			var due []runtime.Event
			for ; ne < len(events) && !events[ne].At.After(now); ne++ {
				if arrived := slices.IndexFunc(arrivals[:nc], func(a arrival) bool { return a.r.Email == events[ne].Email }); arrived >= 0 {
					due = append(due, events[ne])
				}
			}
			if r, err := st.RecordEvents(ctx, due); err != nil || len(r.Rejected) > 0 {
				t.Fatalf("events at %s: %v %v", now, err, r.Rejected)
			}
			r, err := eng.Tick(ctx, now)
			if err != nil {
				t.Fatalf("tick at %s: %v", now, err)
			}
			if !r.Full {
				looked += r.Looked
				ticks++
			}
			eng.Since, eng.Full = now, full
		}
		var b strings.Builder
		for _, q := range []string{
			`SELECT c.email, s.sequence, s.step, s.planned_at FROM sends s JOIN contacts c ON c.id = s.contact_id ORDER BY 1, 4, 2, 3`,
			`SELECT c.email, e.sequence, e.state, COALESCE(e.step, ''), e.entered_at, COALESCE(e.exited_at, 0), COALESCE(e.exit_reason, '') FROM enrollments e JOIN contacts c ON c.id = e.contact_id ORDER BY 1, 5, 2`,
			`SELECT c.email, h.handoff, h.reason, h.created_at FROM handoffs h JOIN contacts c ON c.id = h.contact_id ORDER BY 1, 4`,
			`SELECT email_key, reason, at FROM suppressions ORDER BY 1, 2`,
			`SELECT email, COALESCE(stage, '') FROM contacts ORDER BY 1`,
		} {
			rows, err := st.DB().Query(q)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				line, _ := json.Marshal(vals)
				b.Write(line)
				b.WriteByte('\n')
			}
			rows.Close()
			b.WriteString("--\n")
		}
		return b.String(), float64(looked) / float64(max(ticks, 1))
	}
	full, _ := outcome(true)
	incr, looked := outcome(false)
	// Every kind of exit happened, so every kind of turn was tested.
	for _, reason := range []string{"cooled", "converted", "back", "done", "disengaged", "timeout"} {
		if !strings.Contains(full, `"`+reason+`"]`) {
			t.Errorf("no contact left a sequence as %s in 90 days: the test no longer tests that turn\n%s", reason, full)
		}
	}
	if diff := cmp.Diff(full, incr); diff != "" {
		t.Errorf("incremental ticks decided differently from full ones (-full +incremental):\n%s", diff)
	}
	t.Logf("incremental ticks looked at %.1f of 150 contacts on average", looked)
}
