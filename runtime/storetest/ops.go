package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/runtime"
)

// opsStore is what the operator's daily commands (queue, explain's
// timeline, pause and resume) ask of a store.
type opsStore interface {
	runtime.Store
	Queued(ctx context.Context, steps []runtime.StepRef, limit int) ([]runtime.Queued, error)
	ContactEvents(ctx context.Context, id int64) ([]runtime.ContactEvent, error)
	Pause(ctx context.Context, p runtime.Pause) (bool, error)
	Resume(ctx context.Context, sequence string) (*runtime.Pause, error)
	Pauses(ctx context.Context) ([]runtime.Pause, error)
	Due(ctx context.Context, now time.Time, limit int) ([]runtime.Active, error)
	NextCheck(ctx context.Context) (time.Time, error)
	ClaimSends(ctx context.Context, worker string, now time.Time, limit int, messageID func(string) string) ([]runtime.Claim, error)
}

// seedOps stores three contacts, each active in one sequence, with one
// email planned in each sequence.
func seedOps(t *testing.T, o Opener) (opsStore, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	st, p := open(t, o)
	s, ok := st.(opsStore)
	if !ok {
		t.Skip("the store keeps no queue")
	}
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		rec(2, "ann@acme.example", "industry", "saas"), rec(3, "bo@acme.example", "industry", "saas"), rec(4, "cy@acme.example", "industry", "saas"),
	}, "test"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	_ = s.Contacts(ctx, func(c runtime.Contact) error { ids[c.Email] = c.ID; return nil })
	for _, e := range []struct {
		email, seq, step string
		next             any
		waiting          string
	}{
		{"ann@acme.example", "welcome", "guide", Now.Add(2 * time.Hour), "held back by the cadence caps"},
		{"bo@acme.example", "nurture", "case", Now.Add(-time.Minute), ""},
		{"cy@acme.example", "welcome", "hello", Now.Add(time.Hour), "outside the sending window in UTC"},
	} {
		o.Exec(t, s, `INSERT INTO enrollments (contact_id, sequence, state, step, step_since, next_check_at, version, entered_at, waiting) VALUES (?, ?, 'active', ?, ?, ?, 1, ?, ?)`,
			ids[e.email], e.seq, e.step, Now.Add(-time.Hour), e.next, Now.Add(-time.Hour), e.waiting)
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at) VALUES (?, ?, ?, 'first', 1, 'emails/first.md', 'planned', ?)`,
			e.email+"/"+e.seq, ids[e.email], e.seq, Now.Add(-time.Minute))
	}
	return s, ids
}

// The queue lists the enrollments standing at the steps asked for, the
// earliest next check first.
func testQueued(t *testing.T, o Opener) {
	ctx := context.Background()
	s, ids := seedOps(t, o)
	got, err := s.Queued(ctx, []runtime.StepRef{{Sequence: "welcome", Step: "guide"}, {Sequence: "welcome", Step: "hello"}, {Sequence: "nurture", Step: "other"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].Enrollment = 0
	}
	want := []runtime.Queued{
		{Contact: ids["cy@acme.example"], Address: "cy@acme.example", Sequence: "welcome", Step: "hello", NextCheckAt: Now.Add(time.Hour), Waiting: "outside the sending window in UTC"},
		{Contact: ids["ann@acme.example"], Address: "ann@acme.example", Sequence: "welcome", Step: "guide", NextCheckAt: Now.Add(2 * time.Hour), Waiting: "held back by the cadence caps"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Queued (-want +got):\n%s", diff)
	}
	if got, err := s.Queued(ctx, []runtime.StepRef{{Sequence: "welcome", Step: "guide"}, {Sequence: "welcome", Step: "hello"}}, 1); err != nil || len(got) != 1 || got[0].Step != "hello" {
		t.Errorf("Queued with a limit of 1: %+v, %v", got, err)
	}
	if got, err := s.Queued(ctx, nil, 0); err != nil || len(got) != 0 {
		t.Errorf("Queued of no steps: %+v, %v", got, err)
	}
}

// A contact's events come oldest first, with their properties.
func testContactEvents(t *testing.T, o Opener) {
	ctx := context.Background()
	s, ids := seedOps(t, o)
	if _, err := s.RecordEvents(ctx, []runtime.Event{
		{ID: "e2", Email: "ann@acme.example", Name: "email.clicked", At: Now.Add(-time.Minute)},
		{ID: "e1", Email: "ann@acme.example", Name: "page_view", At: Now.Add(-time.Hour), Props: map[string]any{"path": "/pricing"}},
		{ID: "e3", Email: "bo@acme.example", Name: "demo_requested", At: Now},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ContactEvents(ctx, ids["ann@acme.example"])
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.ContactEvent{
		{ID: "e1", Name: "page_view", At: Now.Add(-time.Hour), Props: map[string]any{"path": "/pricing"}},
		{ID: "e2", Name: "email.clicked", At: Now.Add(-time.Minute)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ContactEvents (-want +got):\n%s", diff)
	}
}

// A paused sequence's enrollments are not due and its planned email is
// not claimed; a pause of all sending holds every sequence; resuming
// lets them carry on where they were.
func testPauses(t *testing.T, o Opener) {
	ctx := context.Background()
	s, _ := seedOps(t, o)
	due := func() []string {
		t.Helper()
		as, err := s.Due(ctx, Now.Add(3*time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range as {
			out = append(out, a.Sequence+"/"+a.Step)
		}
		return out
	}
	if diff := cmp.Diff([]string{"nurture/case", "welcome/hello", "welcome/guide"}, due()); diff != "" {
		t.Errorf("due before any pause (-want +got):\n%s", diff)
	}
	if ok, err := s.Pause(ctx, runtime.Pause{Sequence: "welcome", By: "ops", Reason: "typo in the guide", At: Now}); err != nil || !ok {
		t.Fatalf("Pause: %v, %v", ok, err)
	}
	if ok, err := s.Pause(ctx, runtime.Pause{Sequence: "welcome", By: "other", Reason: "again", At: Now.Add(time.Minute)}); err != nil || ok {
		t.Errorf("a second pause of the same sequence: %v, %v; want it kept as first recorded", ok, err)
	}
	if diff := cmp.Diff([]string{"nurture/case"}, due()); diff != "" {
		t.Errorf("due with welcome paused (-want +got):\n%s", diff)
	}
	if next, err := s.NextCheck(ctx); err != nil || !next.Equal(Now.Add(-time.Minute)) {
		t.Errorf("NextCheck with welcome paused: %v, %v", next, err)
	}
	cs, err := s.ClaimSends(ctx, "w1", Now, 10, nil)
	if err != nil || len(cs) != 1 || cs[0].Sequence != "nurture" {
		t.Fatalf("claim with welcome paused: %+v, %v", cs, err)
	}
	if _, err := s.Pause(ctx, runtime.Pause{Sequence: runtime.AllSending, By: "ops", Reason: "incident", At: Now}); err != nil {
		t.Fatal(err)
	}
	if got := due(); len(got) != 0 {
		t.Errorf("due with all sending paused: %v", got)
	}
	if next, err := s.NextCheck(ctx); err != nil || !next.IsZero() {
		t.Errorf("NextCheck with all sending paused: %v, %v; want none", next, err)
	}
	ps, err := s.Pauses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.Pause{{Sequence: "", By: "ops", Reason: "incident", At: Now}, {Sequence: "welcome", By: "ops", Reason: "typo in the guide", At: Now}}
	if diff := cmp.Diff(want, ps); diff != "" {
		t.Errorf("Pauses (-want +got):\n%s", diff)
	}
	// Resuming all sending leaves the pause of welcome in force.
	if p, err := s.Resume(ctx, runtime.AllSending); err != nil || p == nil || p.Reason != "incident" {
		t.Fatalf("Resume all: %+v, %v", p, err)
	}
	if diff := cmp.Diff([]string{"nurture/case"}, due()); diff != "" {
		t.Errorf("due after resuming all sending (-want +got):\n%s", diff)
	}
	if p, err := s.Resume(ctx, "welcome"); err != nil || p == nil || p.By != "ops" || !p.At.Equal(Now) {
		t.Fatalf("Resume welcome: %+v, %v", p, err)
	}
	if p, err := s.Resume(ctx, "welcome"); err != nil || p != nil {
		t.Errorf("Resume of a sequence not paused: %+v, %v; want nil", p, err)
	}
	if diff := cmp.Diff([]string{"nurture/case", "welcome/hello", "welcome/guide"}, due()); diff != "" {
		t.Errorf("due after resuming (-want +got):\n%s", diff)
	}
	cs, err = s.ClaimSends(ctx, "w1", Now, 10, nil)
	if err != nil || len(cs) != 2 || cs[0].Sequence != "welcome" || cs[1].Sequence != "welcome" {
		t.Fatalf("claim after resuming: %+v, %v", cs, err)
	}
}

type eraseStore interface {
	opsStore
	Erase(ctx context.Context, e runtime.Erasure) (runtime.Erased, error)
	Handoffs(ctx context.Context, f runtime.HandoffFilter) ([]runtime.HandoffRecord, error)
	Ledger(ctx context.Context, f runtime.SendFilter) ([]runtime.LedgerRow, error)
}

// Erasing a contact removes everything the store holds about it and
// leaves only a suppression of its address; the other contacts keep
// theirs.
func testErase(t *testing.T, o Opener) {
	ctx := context.Background()
	seeded, ids := seedOps(t, o)
	s, ok := seeded.(eraseStore)
	if !ok {
		t.Skip("the store cannot erase")
	}
	p := Program()
	ann := ids["ann@acme.example"]
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{{Email: "ann@acme.example", Values: map[string]any{"industry": "saas"},
		Consent: &runtime.Consent{Email: "ann@acme.example", At: Now, Source: "form", Wording: "v1", Who: "test"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"ann@acme.example", "bo@acme.example"} {
		if _, err := s.RecordEvents(ctx, []runtime.Event{{ID: "ev-" + email, Email: email, Name: "page_view", At: Now, Props: map[string]any{"path": "/"}}}); err != nil {
			t.Fatal(err)
		}
	}
	o.Exec(t, s, `INSERT INTO handoffs (contact_id, handoff, reason, sequence, status, created_at) VALUES (?, 'sales', 'converted', 'welcome', 'done', ?)`, ann, Now)
	o.Exec(t, s, `INSERT INTO preferences (contact_id, frequency, topics_out, updated_at) VALUES (?, 'monthly', '', ?)`, ann, Now)
	o.Exec(t, s, `INSERT INTO scores (contact_id, model, score, computed_at) VALUES (?, 'lead', 40, ?)`, ann, Now)
	if _, err := s.Suppress(ctx, []runtime.Suppression{{Email: "ann@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "test", At: Now}}); err != nil {
		t.Fatal(err)
	}

	got, err := s.Erase(ctx, runtime.Erasure{Email: "ANN@acme.example", By: "dpo", Reason: "request 42", At: Now})
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.Erased{Found: true, Removed: map[string]int{"contacts": 1, "events": 1, "scores": 1, "enrollments": 1, "sends": 1, "handoffs": 1, "preferences": 1, "consents": 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Erase (-want +got):\n%s", diff)
	}
	if c, err := s.Contact(ctx, "ann@acme.example"); err != nil || c != nil {
		t.Errorf("the erased contact: %+v, %v", c, err)
	}
	if evs, err := s.ContactEvents(ctx, ann); err != nil || len(evs) != 0 {
		t.Errorf("the erased contact's events: %+v, %v", evs, err)
	}
	if rows, err := s.Ledger(ctx, runtime.SendFilter{Email: "ann@acme.example"}); err != nil || len(rows) != 0 {
		t.Errorf("the erased contact's sends: %+v, %v", rows, err)
	}
	if hs, err := s.Handoffs(ctx, runtime.HandoffFilter{Contact: ann}); err != nil || len(hs) != 0 {
		t.Errorf("the erased contact's hand-offs: %+v, %v", hs, err)
	}
	if cs, err := s.Consents(ctx, "ann@acme.example"); err != nil || len(cs) != 0 {
		t.Errorf("the erased contact's consents: %+v, %v", cs, err)
	}
	if qs, err := s.Queued(ctx, []runtime.StepRef{{Sequence: "welcome", Step: "guide"}}, 0); err != nil || len(qs) != 0 {
		t.Errorf("the erased contact's enrollment: %+v, %v", qs, err)
	}
	var sup []string
	_ = s.Suppressions(ctx, func(x runtime.Suppression) error { sup = append(sup, x.Email+" "+x.Reason); return nil })
	if diff := cmp.Diff([]string{"ann@acme.example erased", "ann@acme.example unsubscribed"}, sup); diff != "" {
		t.Errorf("suppressions after the erasure (-want +got):\n%s", diff)
	}
	// The others keep everything.
	if c, err := s.Contact(ctx, "bo@acme.example"); err != nil || c == nil {
		t.Fatalf("bo after ann's erasure: %+v, %v", c, err)
	} else if evs, _ := s.ContactEvents(ctx, c.ID); len(evs) != 1 {
		t.Errorf("bo's events after ann's erasure: %+v", evs)
	}
	// An address the store never held is suppressed all the same.
	got, err = s.Erase(ctx, runtime.Erasure{Email: "nobody@acme.example", By: "dpo", Reason: "request 43", At: Now})
	if err != nil || got.Found || len(got.Removed) != 0 {
		t.Errorf("erasing an unknown address: %+v, %v", got, err)
	}
	sup = nil
	_ = s.Suppressions(ctx, func(x runtime.Suppression) error { sup = append(sup, x.Email+" "+x.Reason); return nil })
	if !slices.Contains(sup, "nobody@acme.example erased") {
		t.Errorf("the unknown address is not suppressed: %v", sup)
	}
}
