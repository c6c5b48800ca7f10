package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
)

// Monday 1 March 2027, 10:00 in New York: pauses are tested on a clock
// that is not today's.
var march = time.Date(2027, 3, 1, 15, 0, 0, 0, time.UTC)

// pausedWorld is a world in March 2027 with ann, who paused marketing
// email until the 15th, and bob, who did not.
func pausedWorld(t *testing.T, until time.Time) *world {
	w := newWorld(t)
	w.clock = march.AddDate(0, 0, -1)
	w.contact("ann@acme.example", march.AddDate(0, 0, -1))
	w.contact("bob@acme.example", march.AddDate(0, 0, -1))
	if err := w.st.SetPreferences(context.Background(), w.ids["ann@acme.example"], runtime.Preferences{PausedUntil: until}, w.clock); err != nil {
		t.Fatal(err)
	}
	return w
}

// A contact who paused its marketing email gets none until the pause
// ends, held like any limit holds a send, with the reason and the date;
// then the email goes by itself, the caps and the window counted as ever.
func TestPauseHoldsMarketingUntilItEnds(t *testing.T) {
	until := time.Date(2027, 3, 15, 16, 30, 0, 0, time.UTC)
	w := pausedWorld(t, until)
	var traces []engine.Trace
	w.eng.Observe = func(tr engine.Trace) { traces = append(traces, tr) }
	r := w.tick(march)
	if r.Planned != 1 || r.Deferred != 1 {
		t.Errorf("first tick: %d planned, %d held; want bob's 1 and ann's 1", r.Planned, r.Deferred)
	}
	if got := w.sends("ann@acme.example"); len(got) != 0 {
		t.Errorf("ann, paused, was sent %v", got)
	}
	es := w.enrollments("ann@acme.example")
	if len(es) != 1 || es[0].Waiting != "paused by the contact until 2027-03-15T16:30:00Z" {
		t.Errorf("ann's enrollment: %+v; want waiting for the pause to end", es)
	}
	if !slices.ContainsFunc(traces, func(tr engine.Trace) bool {
		return tr.Contact == w.ids["ann@acme.example"] && tr.Held == engine.HeldPaused && tr.Until.Equal(until)
	}) {
		t.Errorf("no trace says the pause holds ann's email until %s: %+v", until, traces)
	}
	w.tick(march.AddDate(0, 0, 7))
	if got := w.sends("ann@acme.example"); len(got) != 0 {
		t.Errorf("ann, paused, was sent %v a week on", got)
	}
	w.tick(until)
	want := []string{"hello 2027-03-15T16:30:00Z"}
	if diff := cmp.Diff(want, w.sends("ann@acme.example")); diff != "" {
		t.Errorf("ann's sends once the pause ended (-want +got):\n%s", diff)
	}
}

// Resuming early, from the preference page, lets the email go at the
// next tick; transactional mail never waits for a pause.
func TestPauseResumedEarlyAndTransactional(t *testing.T) {
	ctx := context.Background()
	w := pausedWorld(t, time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC))
	w.tick(march)
	w.clock = march.Add(time.Hour)
	if err := w.st.SetPreferences(ctx, w.ids["ann@acme.example"], runtime.Preferences{}, w.clock); err != nil {
		t.Fatal(err)
	}
	w.tick(march.Add(2 * time.Hour))
	if diff := cmp.Diff([]string{"hello 2027-03-01T17:00:00Z"}, w.sends("ann@acme.example")); diff != "" {
		t.Errorf("ann's sends after resuming (-want +got):\n%s", diff)
	}

	w = pausedWorld(t, time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC))
	w.eng.Program.Sequences["welcome"].TransactionalReason = "account set-up"
	w.tick(march)
	if diff := cmp.Diff([]string{"hello 2027-03-01T15:00:00Z"}, w.sends("ann@acme.example")); diff != "" {
		t.Errorf("ann's transactional sends while paused (-want +got):\n%s", diff)
	}
}

// A declared frequency caps by its own limit, and explain names it; a
// choice the programme no longer offers is held to the strictest it
// offers.
func TestDeclaredFrequencies(t *testing.T) {
	for _, tc := range []struct {
		name, chose string
		want        string
	}{
		{"a declared frequency caps by its limit", "fortnightly", "fortnightly: at most 1 per 2w"},
		{"a choice no longer offered is held to the strictest", "weekly", "weekly, no longer offered: held to quarterly, at most 1 per 13w"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.eng.Program.Preferences = &campaigns.Preferences{Frequencies: []campaigns.Frequency{
				{Name: "fortnightly", Label: "Every two weeks", Limit: campaigns.Limit{Max: 1, Per: campaigns.Duration(14 * 24 * time.Hour)}},
				{Name: "quarterly", Label: "Every quarter", Limit: campaigns.Limit{Max: 1, Per: campaigns.Duration(91 * 24 * time.Hour)}},
			}}
			w.contact("ann@acme.example", monday.AddDate(0, 0, -1))
			if err := w.st.SetPreferences(context.Background(), w.ids["ann@acme.example"], runtime.Preferences{Frequency: tc.chose}, w.clock); err != nil {
				t.Fatal(err)
			}
			w.tick(monday)
			// The welcome waits 7 days, within the cadence's 1 per 7d:
			// only the contact's frequency holds the second email.
			w.tick(monday.AddDate(0, 0, 7))
			es := w.enrollments("ann@acme.example")
			if len(es) != 1 || !strings.HasSuffix(es[0].Waiting, "("+tc.want+")") {
				t.Errorf("ann's enrollment: %+v; want held by %q", es, tc.want)
			}
		})
	}
}

// A pause that commits while a contact's email is claimed and waiting
// for its connection stops it at the last check before the hand-over,
// as an unsubscribe would, but the message is not cancelled: it is
// planned again for the moment the pause ends.
func TestDeliveryHoldsAfterPauseInFlight(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for _, e := range []string{"ann@acme.example", "bob@acme.example"} {
		w.contact(e, monday.AddDate(0, 0, -1))
	}
	w.tick(monday)
	s := &lateGate{release: make(chan struct{})}
	type outcome struct {
		d   engine.Delivered
		err error
	}
	done := make(chan outcome)
	go func() {
		d, err := w.eng.Deliver(ctx, w.st, s, "w", monday.Add(time.Minute))
		done <- outcome{d, err}
	}()
	for s.inFlight() < 2 {
		time.Sleep(time.Millisecond)
	}
	until := time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)
	if err := w.st.SetPreferences(ctx, w.ids["ann@acme.example"], runtime.Preferences{PausedUntil: until}, monday); err != nil {
		t.Fatal(err)
	}
	close(s.release)
	got := <-done
	if got.err != nil || got.d.Accepted != 1 || got.d.Held != 1 || got.d.Withheld != 0 {
		t.Errorf("Deliver: %+v, %v; want 1 accepted, 1 held", got.d, got.err)
	}
	if diff := cmp.Diff([]string{"bob@acme.example"}, s.sent); diff != "" {
		t.Errorf("handed over (-want +got):\n%s", diff)
	}
	var status, why string
	var planned int64
	w.st.DB().QueryRow(`SELECT status, COALESCE(error, ''), planned_at FROM sends WHERE contact_id = ?`, w.ids["ann@acme.example"]).Scan(&status, &why, &planned)
	if want := "planned the contact paused marketing email until 2027-01-04T00:00:00Z"; status+" "+why != want {
		t.Errorf("ann's send: %s %s; want %s", status, why, want)
	}
	if at := time.UnixMilli(planned); !at.Equal(until) {
		t.Errorf("ann's send planned at %s; want %s, when the pause ends", at, until)
	}
}
