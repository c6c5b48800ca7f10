package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
)

// TestExampleJourneys runs examples/b2b-saas on its sample data for 120
// virtual days, a tick every four hours, and checks every email the
// ledger holds against the programme's rules: the weekly and monthly
// caps, quiet hours, business days and blackout dates in each contact's
// time zone, no email to a suppressed address or after a contact left the
// sequence. The whole ledger, contact by contact, is kept as a golden file
// (testdata/journeys/b2b-saas.txt; NURTURE_UPDATE=1 rewrites it), so that
// a change in what the engine sends shows in review.
//
// It runs twice: with incremental ticks, as nurture run ticks, and with
// every tick looking at every contact. Both must send the same emails at
// the same times: an incremental tick that misses a contact time or new
// data moved across a condition shows here.
func TestExampleJourneys(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("120 virtual days")
	}
	for _, full := range []bool{false, true} {
		t.Run(map[bool]string{false: "incremental", true: "full"}[full], func(t *testing.T) {
			// Both write the golden file under NURTURE_UPDATE: one at a
			// time, then.
			if os.Getenv("NURTURE_UPDATE") == "" {
				t.Parallel()
			}
			exampleJourney(t, full)
		})
	}
}

// exampleStore is a SQLite store holding examples/b2b-saas applied at
// start, its sample contacts (and events, when asked) imported and dated
// start, the store's clock at *clock.
func exampleStore(t *testing.T, start time.Time, events bool) (*sqlstore.Store, *campaigns.Program, *runtime.Version, *time.Time) {
	t.Helper()
	dir := "../../../examples/b2b-saas"
	path := filepath.Join(t.TempDir(), "nurture.db")
	steps := [][]string{{"contacts", "import", filepath.Join(dir, "contacts.csv"), "--dir", dir, "--rejects", filepath.Join(t.TempDir(), "r.csv")}}
	if events {
		steps = append(steps, []string{"events", "import", filepath.Join(dir, "events.jsonl"), "--dir", dir, "--rejects", filepath.Join(t.TempDir(), "r.jsonl")})
	}
	steps = append(steps, []string{"apply", dir, "--auto-approve", "--now", start.Format(time.RFC3339)})
	for _, args := range steps {
		if out, errOut, code := run(t, append(args, "--store=sqlite:"+path)...); code != 0 {
			t.Fatalf("%s: %s%s", strings.Join(args[:2], " "), out, errOut)
		}
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The import stamped the contacts with today's date; inactivity counts
	// from it, so make it the run's start whatever day the test runs.
	if _, err := st.DB().Exec(`UPDATE contacts SET created_at = ?, updated_at = ?`, start.UnixMilli(), start.UnixMilli()); err != nil {
		t.Fatal(err)
	}
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
	return st, prog, v, &clock
}

func exampleJourney(t *testing.T, full bool) {
	ctx := context.Background()
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	st, prog, v, clock := exampleStore(t, start, true)
	// What the contacts do meanwhile: two analysts start trials (they
	// leave their nurture, and onboarding, entered by that event, begins),
	// a head of data requests a demo (converted: handed to sales).
	day := func(d int, hour int) time.Time { return start.AddDate(0, 0, d).Add(time.Duration(hour) * time.Hour) }
	events := []runtime.Event{
		{ID: "t1", Email: "wei.tanaka@maplewood.example", Name: "trial_started", At: day(5, 14), Props: map[string]any{"plan": "starter"}},
		{ID: "t2", Email: "agnieszka.nowak@cedar-retail.example", Name: "trial_started", At: day(9, 9), Props: map[string]any{"plan": "growth"}},
		{ID: "d1", Email: "acoleman@kestrel.example", Name: "demo_requested", At: day(12, 16), Props: map[string]any{"source": "email"}},
	}
	eng := &engine.Engine{Store: st, Program: prog, Version: v.Serial, Since: start, Full: true}
	var looked, ticks int
	for now := start; now.Before(start.AddDate(0, 0, 120)); now = now.Add(4 * time.Hour) {
		*clock = now
		var due []runtime.Event
		for _, e := range events {
			if !e.At.After(now) && e.At.After(now.Add(-4*time.Hour)) {
				due = append(due, e)
			}
		}
		if len(due) > 0 {
			if res, err := st.RecordEvents(ctx, due); err != nil || len(res.Rejected) > 0 {
				t.Fatalf("events at %s: %v %v", now, err, res.Rejected)
			}
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
	if !full {
		t.Logf("incremental ticks looked at %.1f contacts on average", float64(looked)/float64(ticks))
	}
	var handoffs int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM handoffs h JOIN contacts c ON c.id = h.contact_id WHERE c.email = 'acoleman@kestrel.example' AND h.reason = 'converted'`).Scan(&handoffs); err != nil || handoffs != 1 {
		t.Errorf("acoleman's demo request: %d hand-offs, %v; want 1", handoffs, err)
	}

	type send struct {
		email, tz, country, sequence, step string
		at                                 time.Time
	}
	rows, err := st.DB().Query(`SELECT c.email, COALESCE(c.timezone, ''), COALESCE(c.a_country, ''), s.sequence, s.step, s.planned_at FROM sends s JOIN contacts c ON c.id = s.contact_id ORDER BY c.email, s.planned_at, s.id`)
	if err != nil {
		t.Fatal(err)
	}
	var sends []send
	for rows.Next() {
		var s send
		var at int64
		if err := rows.Scan(&s.email, &s.tz, &s.country, &s.sequence, &s.step, &at); err != nil {
			t.Fatal(err)
		}
		s.at = time.UnixMilli(at).UTC()
		sends = append(sends, s)
	}
	rows.Close()
	if len(sends) < 300 {
		t.Fatalf("only %d emails in 120 days", len(sends))
	}

	byContact := map[string][]send{}
	var golden strings.Builder
	for _, s := range sends {
		seq := prog.Sequences[s.sequence]
		if seq.Transactional() {
			continue
		}
		byContact[s.email] = append(byContact[s.email], s)
		loc := engine.Location(s.tz, prog.Cadence.DefaultTimezone)
		w := engine.NewWindow(prog.Cadence, loc, s.country)
		if !w.Next(s.at).Equal(s.at) {
			t.Errorf("%s got %s/%s at %s local: outside the sending window or on a blackout date", s.email, s.sequence, s.step, s.at.In(loc).Format("Mon 15:04"))
		}
	}
	for email, ss := range byContact {
		for i := range ss {
			var times []time.Time
			for _, p := range ss[:i] {
				times = append(times, p.at)
			}
			if free := engine.CapFree(prog.Cadence.Limits, times, ss[i].at); !free.Equal(ss[i].at) {
				t.Errorf("%s got %s/%s at %s, over the cadence caps (free at %s)", email, ss[i].sequence, ss[i].step, ss[i].at, free)
			}
		}
	}
	for _, s := range sends {
		fmt.Fprintf(&golden, "%s  %s  %s/%s\n", s.at.Format("2006-01-02 15:04"), s.email, s.sequence, s.step)
	}
	// No email after the contact left the sequence, nor to a suppressed
	// address after its suppression.
	var late int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM sends s JOIN enrollments e ON e.contact_id = s.contact_id AND e.sequence = s.sequence
WHERE e.state = 'exited' AND s.planned_at > e.exited_at AND s.planned_at < COALESCE((SELECT MIN(e2.entered_at) FROM enrollments e2
WHERE e2.contact_id = e.contact_id AND e2.sequence = e.sequence AND e2.entered_at > e.exited_at), 9223372036854775807)`).Scan(&late); err != nil {
		t.Fatal(err)
	}
	if late > 0 {
		t.Errorf("%d emails went out after their contact left the sequence", late)
	}
	var suppressed int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM sends s JOIN contacts c ON c.id = s.contact_id JOIN suppressions x ON x.email_key = c.email_key WHERE s.planned_at >= x.at`).Scan(&suppressed); err != nil {
		t.Fatal(err)
	}
	if suppressed > 0 {
		t.Errorf("%d emails went to suppressed addresses", suppressed)
	}

	file := "testdata/journeys/b2b-saas.txt"
	if os.Getenv("NURTURE_UPDATE") != "" {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (NURTURE_UPDATE=1 writes it)", err)
	}
	if string(want) != golden.String() {
		t.Errorf("the emails of 120 days differ from %s; if the change is meant, NURTURE_UPDATE=1 rewrites it:\n%s", file, firstDiff(string(want), golden.String()))
	}
}

// firstDiff shows where two texts part, a few lines of each.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			end := func(ls []string) []string { return ls[i:min(i+5, len(ls))] }
			return fmt.Sprintf("line %d:\nwant:\n  %s\ngot:\n  %s", i+1, strings.Join(end(al), "\n  "), strings.Join(end(bl), "\n  "))
		}
	}
	return fmt.Sprintf("want %d lines, got %d", len(al), len(bl))
}
