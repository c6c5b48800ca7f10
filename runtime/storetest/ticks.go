package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/runtime"
)

// setTimes sets the times a store keeps about a contact, which imports
// and events stamp by the store's clock; zero ones are stored as none.
func (f *fixture) setTimes(who string, created, updated, changed, engaged time.Time) {
	f.t.Helper()
	f.o.Exec(f.t, f.s, `UPDATE contacts SET created_at = ?, updated_at = ?, changed_at = ?, last_engaged_at = ? WHERE id = ?`,
		created, updated, nullTime(changed), nullTime(engaged), f.id[who])
}

// Changed pages, by ID above after, through the contacts whose
// attributes changed or who got events at or after a time.
func testChanged(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	h := time.Hour
	old := Now.Add(-100 * 24 * h)
	f.setTimes("ann", old, Now.Add(-2*h), time.Time{}, time.Time{})
	f.setTimes("bob", old, Now.Add(-2*h), Now.Add(-30*time.Minute), time.Time{}) // got events
	f.setTimes("cara", old, Now.Add(-h), time.Time{}, time.Time{})               // changed at since itself
	f.setTimes("dan", old, Now.Add(-10*time.Minute), time.Time{}, time.Time{})
	f.setTimes("eve", old, Now.Add(-3*h), Now.Add(-3*h), time.Time{})
	since := Now.Add(-h)
	for _, c := range []struct {
		name  string
		after int64
		limit int
		want  []string
	}{
		{"by ID", 0, 10, []string{"bob", "cara", "dan"}},
		{"a first page", 0, 2, []string{"bob", "cara"}},
		{"the next page", f.id["cara"], 2, []string{"dan"}},
		{"past the last", f.id["dan"], 2, nil},
	} {
		ids, err := f.s.Changed(ctx, since, c.after, c.limit)
		if diff := cmp.Diff(c.want, f.names(ids)); err != nil || diff != "" {
			t.Errorf("Changed, %s: %v (-want +got):\n%s", c.name, err, diff)
		}
	}
	// An event recorded now, whenever it happened, marks its contact.
	if _, err := f.s.RecordEvents(ctx, []runtime.Event{{ID: "e1", Email: "eve@x.example", Name: "demo_requested", At: Now.Add(-48 * h)}}); err != nil {
		t.Fatal(err)
	}
	ids, err := f.s.Changed(ctx, since, 0, 10)
	if diff := cmp.Diff([]string{"bob", "cara", "dan", "eve"}, f.names(ids)); err != nil || diff != "" {
		t.Errorf("Changed after eve's event: %v (-want +got):\n%s", err, diff)
	}
}

// Candidates finds the contacts an incremental tick must look at: those
// changed since w.Since, and those whose stored time plus a watched span
// fell between w.Since and w.Now, both ends included, each once, by ID.
func testCandidates(t *testing.T, o Opener) {
	ctx := context.Background()
	h, day := time.Hour, 24*time.Hour
	var people []person
	for _, n := range []string{"ann", "bob", "cara", "dan", "eve", "fay", "gus", "hal", "ivy", "jo", "kim", "lee", "mo", "ned", "oz"} {
		people = append(people, person{name: n, industry: "saas"})
	}
	people[3].more = []any{"signup_at", Now.Add(-7*day - 10*time.Minute)} // dan: 7 days ago during the window
	people[4].more = []any{"signup_at", Now.Add(-7*day + 10*time.Minute)} // eve: not 7 days yet
	f := newFixture(t, o, people...)
	view := func(id, who, name string, at time.Time) runtime.Event {
		return runtime.Event{ID: id, Email: who + "@x.example", Name: name, At: at, Props: map[string]any{"path": "/"}}
	}
	w := runtime.Watch{
		Since:    Now.Add(-h),
		Now:      Now,
		Events:   []runtime.EventSpan{{Event: "page_view", Span: day}},
		Attrs:    []runtime.AttrSpan{{Field: "signup_at", Span: 7 * day}},
		Inactive: []time.Duration{30 * day},
		Entered:  []runtime.SequenceSpan{{Sequence: "welcome", Span: 2 * day}},
		Exited:   []runtime.SequenceSpan{{Sequence: "welcome", Span: day}},
	}
	if _, err := f.s.RecordEvents(ctx, []runtime.Event{
		view("b1", "bob", "page_view", Now.Add(-day-30*time.Minute)),
		view("c1", "cara", "page_view", Now.Add(-23*h)),                                                 // turns later
		{ID: "c2", Email: "cara@x.example", Name: "demo_requested", At: Now.Add(-day - 30*time.Minute)}, // not watched
		view("m1", "mo", "page_view", Now.Add(-day)),                                                    // w.Now - span
		view("n1", "ned", "page_view", Now.Add(-day-h)),                                                 // w.Since - span
		view("o1", "oz", "page_view", Now.Add(-day-h-time.Millisecond)),                                 // turned before the last tick
	}); err != nil {
		t.Fatal(err)
	}
	f.enroll(
		enrollment{who: "hal", sequence: "welcome", state: "active", step: "a", entered: Now.Add(-2*day - 30*time.Minute), next: Now.Add(day)},
		enrollment{who: "ivy", sequence: "welcome", state: "exited", step: "a", entered: Now.Add(-9 * day), exited: Now.Add(-day - 30*time.Minute)},
		enrollment{who: "jo", sequence: "other", state: "exited", step: "a", entered: Now.Add(-9 * day), exited: Now.Add(-10 * time.Minute)},
		enrollment{who: "kim", sequence: "welcome", state: "exited", step: "a", entered: Now.Add(-2*day - 30*time.Minute), exited: Now.Add(-5 * day)},
		enrollment{who: "kim", sequence: "other", state: "active", step: "a", entered: Now.Add(-2*day - 30*time.Minute), next: Now.Add(day)},
	)
	o.Exec(t, f.s, `INSERT INTO scores (contact_id, model, score, computed_at, changed_at) VALUES (?, 'lead', 60, ?, ?), (?, 'lead', 10, ?, ?)`,
		f.id["lee"], Now.Add(-20*time.Minute), Now.Add(-20*time.Minute), f.id["mo"], Now.Add(-20*time.Minute), Now.Add(-2*h))
	// Everyone was imported and engaged long ago, unless said otherwise.
	old := Now.Add(-100 * day)
	for _, p := range people {
		f.setTimes(p.name, old, old, time.Time{}, time.Time{})
	}
	f.setTimes("ann", old, old, Now.Add(-30*time.Minute), time.Time{})                // changed
	f.setTimes("fay", old, old, time.Time{}, Now.Add(-30*day-30*time.Minute))         // inactive 30 days during the window
	f.setTimes("gus", Now.Add(-30*day-30*time.Minute), old, time.Time{}, time.Time{}) // never engaged: since import
	f.setTimes("hal", old, Now.Add(-5*time.Minute), time.Time{}, time.Time{})         // changed too, listed once

	got, err := f.s.Candidates(ctx, w)
	want := []string{"ann", "bob", "dan", "fay", "gus", "hal", "ivy", "jo", "lee", "mo", "ned"}
	if diff := cmp.Diff(want, f.names(got)); err != nil || diff != "" {
		t.Errorf("Candidates: %v (-want +got):\n%s", err, diff)
	}
	// Without watched spans, only what changed.
	got, err = f.s.Candidates(ctx, runtime.Watch{Since: w.Since, Now: w.Now})
	if diff := cmp.Diff([]string{"ann", "hal", "jo", "lee"}, f.names(got)); err != nil || diff != "" {
		t.Errorf("Candidates without spans: %v (-want +got):\n%s", err, diff)
	}
	// Changes stamped by the store's clock count from w.Changed; an
	// exit, dated by its tick, from w.Since.
	got, err = f.s.Candidates(ctx, runtime.Watch{Since: w.Since, Now: w.Now, Changed: Now.Add(-20 * time.Minute)})
	if diff := cmp.Diff([]string{"hal", "jo", "lee"}, f.names(got)); err != nil || diff != "" {
		t.Errorf("Candidates changed since 20 minutes ago: %v (-want +got):\n%s", err, diff)
	}
	if _, err := f.s.Candidates(ctx, runtime.Watch{Since: w.Since, Now: w.Now, Attrs: []runtime.AttrSpan{{Field: "no_such", Span: h}}}); err == nil {
		t.Error("Candidates watching an attribute the store has no column for: no error")
	}
}

// LastTick is zero on a store never ticked, and returns the latest tick
// by the time it ran — with when it began by the store's clock and its
// version — whatever order ticks were recorded in.
func testTicks(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o)
	type tick struct {
		At, Started time.Time
		Version     int64
	}
	last := func() tick {
		t.Helper()
		at, started, v, err := f.s.LastTick(ctx)
		if err != nil {
			t.Fatalf("LastTick: %v", err)
		}
		return tick{at, started, v}
	}
	if diff := cmp.Diff(tick{}, last()); diff != "" {
		t.Errorf("LastTick on an empty store (-want +got):\n%s", diff)
	}
	ms := time.Millisecond
	for _, c := range []struct {
		name string
		rec  tick
		want tick
	}{
		{"the first", tick{Now, Now.Add(-5*time.Second - 250*ms), 1}, tick{Now, Now.Add(-5*time.Second - 250*ms), 1}},
		{"a later one", tick{Now.Add(time.Minute), Now.Add(55*time.Second + 7*ms), 2}, tick{Now.Add(time.Minute), Now.Add(55*time.Second + 7*ms), 2}},
		{"one that ran at an earlier --now, recorded after", tick{Now.Add(-time.Hour), Now.Add(2 * time.Minute), 2}, tick{Now.Add(time.Minute), Now.Add(55*time.Second + 7*ms), 2}},
		{"one that ran at the same time, recorded after", tick{Now.Add(time.Minute), Now.Add(3 * time.Minute), 3}, tick{Now.Add(time.Minute), Now.Add(3 * time.Minute), 3}},
	} {
		if err := f.s.RecordTick(ctx, c.rec.At, c.rec.Started, "w1", c.rec.Version, `{"version":1}`); err != nil {
			t.Fatalf("RecordTick, %s: %v", c.name, err)
		}
		if diff := cmp.Diff(c.want, last()); diff != "" {
			t.Errorf("LastTick after %s (-want +got):\n%s", c.name, diff)
		}
	}
	// A tick recorded before stores kept when ticks began has no start:
	// the worker then counts changes from when it ran.
	f.o.Exec(t, f.s, `INSERT INTO ticks (at, worker, version, finished_at, report) VALUES (?, 'old', 3, ?, '{}')`, Now.Add(time.Hour), Now.Add(time.Hour))
	if diff := cmp.Diff(tick{At: Now.Add(time.Hour), Version: 3}, last()); diff != "" {
		t.Errorf("LastTick of a tick without a start (-want +got):\n%s", diff)
	}
}

// A tick that has not finished leaves marks of the phases it completed:
// TickMark returns the latest, LastTick ignores them, and recording a
// finished tick removes them.
func testTickMarks(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o)
	mark := func() *runtime.TickMark {
		t.Helper()
		m, err := f.s.TickMark(ctx)
		if err != nil {
			t.Fatalf("TickMark: %v", err)
		}
		return m
	}
	if m := mark(); m != nil {
		t.Errorf("TickMark on a store never ticked = %+v; want none", m)
	}
	if err := f.s.RecordTick(ctx, Now, Now.Add(-time.Second), "w1", 1, `{"version":1}`); err != nil {
		t.Fatal(err)
	}
	later := Now.Add(time.Minute)
	for _, m := range []runtime.TickMark{
		{At: later, Started: later.Add(-2 * time.Second), Worker: "w2", Version: 2, Reached: "scored", Full: true},
		{At: later, Started: later.Add(-2 * time.Second), Worker: "w2", Version: 2, Reached: "exited", Full: true},
	} {
		if err := f.s.MarkTick(ctx, m); err != nil {
			t.Fatalf("MarkTick %s: %v", m.Reached, err)
		}
	}
	want := &runtime.TickMark{At: later, Started: later.Add(-2 * time.Second), Worker: "w2", Version: 2, Reached: "exited", Full: true}
	if diff := cmp.Diff(want, mark()); diff != "" {
		t.Errorf("TickMark after two marks (-want +got):\n%s", diff)
	}
	at, started, v, err := f.s.LastTick(ctx)
	if err != nil || !at.Equal(Now) || !started.Equal(Now.Add(-time.Second)) || v != 1 {
		t.Errorf("LastTick with an unfinished tick marked = %v, %v, %d, %v; want the tick recorded at %v", at, started, v, err, Now)
	}
	if err := f.s.RecordTick(ctx, later, later.Add(-2*time.Second), "w2", 2, `{"version":2}`); err != nil {
		t.Fatal(err)
	}
	if m := mark(); m != nil {
		t.Errorf("TickMark after the tick was recorded = %+v; want none", m)
	}
	if at, _, v, err := f.s.LastTick(ctx); err != nil || !at.Equal(later) || v != 2 {
		t.Errorf("LastTick after the marked tick was recorded = %v, %d, %v; want it", at, v, err)
	}
}

// NextCheck is the earliest next check of an active enrollment, which a
// virtual clock jumps to, or zero when nothing is scheduled.
func testNextCheck(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	next := func() time.Time {
		t.Helper()
		at, err := f.s.NextCheck(ctx)
		if err != nil {
			t.Fatalf("NextCheck: %v", err)
		}
		return at
	}
	if at := next(); !at.IsZero() {
		t.Errorf("NextCheck without enrollments = %v; want zero", at)
	}
	h := time.Hour
	f.enroll(
		enrollment{who: "ann", sequence: "welcome", state: "active", step: "a", entered: Now, waiting: "an event"},
		enrollment{who: "bob", sequence: "welcome", state: "exited", step: "a", entered: Now.Add(-9 * h), next: Now.Add(-5 * h), exited: Now.Add(-h)},
	)
	if at := next(); !at.IsZero() {
		t.Errorf("NextCheck with nothing scheduled = %v; want zero", at)
	}
	f.enroll(
		enrollment{who: "cara", sequence: "welcome", state: "active", step: "a", entered: Now, next: Now.Add(2 * h)},
		enrollment{who: "dan", sequence: "welcome", state: "active", step: "a", entered: Now, next: Now.Add(h)},
	)
	if at := next(); !at.Equal(Now.Add(h)) {
		t.Errorf("NextCheck = %v; want dan's, %v", at, Now.Add(h))
	}
	// Dan's enrollment moves on: the next is cara's.
	a := f.enrolled("dan", "welcome")
	d := runtime.Decision{Enrollment: a.ID, Contact: a.Contact, At: Now.Add(h), Step: "b", StepSince: Now.Add(h), NextCheck: Now.Add(3 * h), Sequence: "welcome", Version: 1}
	if err := f.s.DecideAll(ctx, []runtime.Decision{d}); err != nil {
		t.Fatal(err)
	}
	if at := next(); !at.Equal(Now.Add(2 * h)) {
		t.Errorf("NextCheck after dan moved on = %v; want cara's, %v", at, Now.Add(2*h))
	}
}

// A store keeps times to the millisecond, whatever finer time it is
// given: the engine's event windows leave out the first millisecond
// after the last tick as the last tick's to see, and an import of the
// same file again must find the same times unchanged.
func testMilliseconds(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	fine := Now.Add(-time.Hour + 123456789*time.Nanosecond) // 123.456789ms past
	kept := Now.Add(-time.Hour + 123*time.Millisecond)

	if err := f.s.RecordTick(ctx, fine, fine.Add(time.Second), "w1", 1, `{}`); err != nil {
		t.Fatal(err)
	}
	at, started, _, err := f.s.LastTick(ctx)
	if err != nil || !at.Equal(kept) || !started.Equal(kept.Add(time.Second)) {
		t.Errorf("LastTick = %v, %v, %v; want %v and a second later", at, started, err, kept)
	}

	f.enroll(enrollment{who: "ann", sequence: "welcome", state: "active", step: "a", entered: Now.Add(-2 * time.Hour), next: Now.Add(-2 * time.Hour)})
	e := f.enrolled("ann", "welcome")
	d := runtime.Decision{Enrollment: e.ID, Contact: e.Contact, At: fine, Step: "b", StepSince: fine, NextCheck: fine, Sequence: "welcome", Version: 1}
	if err := f.s.DecideAll(ctx, []runtime.Decision{d}); err != nil {
		t.Fatal(err)
	}
	if next, err := f.s.NextCheck(ctx); err != nil || !next.Equal(kept) {
		t.Errorf("NextCheck = %v, %v; want %v", next, err, kept)
	}

	ann := rec(2, "ann@x.example", "industry", "saas", "signup_at", fine)
	if _, err := f.s.UpsertContacts(ctx, &f.p.Contact, []runtime.ContactRecord{ann}, "test"); err != nil {
		t.Fatal(err)
	}
	if got := contacts(t, f.s)["ann@x.example"]["signup_at"]; got == nil || !got.(time.Time).Equal(kept) {
		t.Errorf("signup_at as stored = %v; want %v", got, kept)
	}
	res, err := f.s.UpsertContacts(ctx, &f.p.Contact, []runtime.ContactRecord{ann}, "test")
	if diff := cmp.Diff(runtime.UpsertResult{Unchanged: 1}, res); err != nil || diff != "" {
		t.Errorf("importing the same time again: %v (-want +got):\n%s", err, diff)
	}
}
