package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Triggers: an enrollment made on an event records the contact's latest
// event that meets the entry's condition; a decision carries it, or a
// newer one a wait_for was answered by, to the enrollment and to the
// send it plans; the claim and the ledger row read that event's
// properties, whatever events arrive later.
func testTriggers(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	ds, ok := f.s.(deliveryStore)
	if !ok {
		t.Skip("the store does not deliver")
	}
	h := time.Hour
	if _, err := f.s.RecordEvents(ctx, []runtime.Event{
		{ID: "old", Email: "ann@x.example", Name: "page_view", At: Now.Add(-3 * h), Props: map[string]any{"path": "/pricing", "seconds": 40}},
		{ID: "new", Email: "ann@x.example", Name: "page_view", At: Now.Add(-h), Props: map[string]any{"path": "/pricing", "seconds": 90}},
		{ID: "blog", Email: "ann@x.example", Name: "page_view", At: Now.Add(-h / 2), Props: map[string]any{"path": "/blog"}},
		{ID: "future", Email: "ann@x.example", Name: "page_view", At: Now.Add(h), Props: map[string]any{"path": "/pricing"}},
		{ID: "bob1", Email: "bob@x.example", Name: "page_view", At: Now.Add(-2 * h), Props: map[string]any{"path": "/pricing"}},
		{ID: "cara1", Email: "cara@x.example", Name: "demo_requested", At: Now.Add(-h)},
	}); err != nil {
		t.Fatal(err)
	}
	pricing := &campaigns.EventCondition{Name: "page_view", Where: []campaigns.Condition{{Field: "path", Cmp: campaigns.CmpEq, Value: "/pricing"}}, MinCount: 1}
	n, err := f.s.EnrollWhere(ctx, f.p, campaigns.Predicate{Op: campaigns.OpEvent, Event: pricing}, pricing, "welcome", "intro", 3, Now)
	if err != nil || n != 2 {
		t.Fatalf("EnrollWhere on the pricing page = %d, %v; want ann and bob (2)", n, err)
	}
	ann, bob := f.enrolled("ann", "welcome"), f.enrolled("bob", "welcome")
	// Ann's latest pricing view up to now: not the blog post after it,
	// nor the one dated after now.
	if ann.Trigger != "new" || bob.Trigger != "bob1" {
		t.Errorf("triggers = ann %q, bob %q; want new and bob1", ann.Trigger, bob.Trigger)
	}
	// Without a trigger, none is recorded.
	if _, err := f.s.EnrollWhere(ctx, f.p, campaigns.Contacts(f.ids("dan")), nil, "welcome", "intro", 3, Now); err != nil {
		t.Fatal(err)
	}
	if d := f.enrolled("dan", "welcome"); d.Trigger != "" {
		t.Errorf("dan, enrolled without a trigger, has %q", d.Trigger)
	}

	// A wait_for answered by another event makes that the trigger.
	id, err := f.s.LatestEvent(ctx, f.p, f.id["cara"], campaigns.EventCondition{Name: "demo_requested", MinCount: 1}, Now)
	if err != nil || id != "cara1" {
		t.Errorf("LatestEvent of cara's demo request = %q, %v; want cara1", id, err)
	}
	if id, err := f.s.LatestEvent(ctx, f.p, f.id["dan"], campaigns.EventCondition{Name: "demo_requested", MinCount: 1}, Now); err != nil || id != "" {
		t.Errorf("LatestEvent of a demo request dan never made = %q, %v; want none", id, err)
	}

	// Decisions carry the trigger to the enrollment and the ledger; on
	// PostgreSQL a page of them is written in bulk.
	send := func(a runtime.Active, trigger string) runtime.Decision {
		return runtime.Decision{Enrollment: a.ID, Contact: a.Contact, At: Now, Step: "second", StepSince: Now, NextCheck: Now.Add(h),
			Sequence: "welcome", Version: 3, Trigger: trigger,
			Send: &runtime.Send{Key: f.name[a.Contact], Sequence: "welcome", Step: "intro", Email: "emails/hello.md", Trigger: trigger}}
	}
	if err := f.s.DecideAll(ctx, []runtime.Decision{send(ann, ann.Trigger), send(bob, "cara1")}); err != nil {
		t.Fatal(err)
	}
	if got := f.enrolled("bob", "welcome").Trigger; got != "cara1" {
		t.Errorf("bob's trigger after the decision = %q; want cara1", got)
	}
	// Events after the decision change nothing: the send keeps its event.
	if _, err := f.s.RecordEvents(ctx, []runtime.Event{
		{ID: "later", Email: "ann@x.example", Name: "page_view", At: Now.Add(time.Minute), Props: map[string]any{"path": "/pricing", "seconds": 5}},
	}); err != nil {
		t.Fatal(err)
	}
	cs, err := ds.ClaimSends(ctx, "w1", Now.Add(time.Minute), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, c := range cs {
		got[c.Key] = c.TriggerProps
	}
	want := map[string]map[string]any{
		"ann": {"path": "/pricing", "seconds": float64(90)},
		"bob": nil, // cara's demo request has no properties
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claimed sends' trigger properties (-want +got):\n%s", diff)
	}
	for _, c := range cs {
		r, err := ds.Send(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want[c.Key], r.TriggerProps); diff != "" {
			t.Errorf("ledger row %s's trigger properties (-want +got):\n%s", c.Key, diff)
		}
	}
}

// Account conditions: how many contacts of a contact's account meet a
// condition, in one set-based query; a contact without an account meets
// none. The same answer per contact (Matches) as over the list.
func testAccountContacts(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	if _, err := f.s.RecordEvents(ctx, []runtime.Event{
		{ID: "p1", Email: "bob@x.example", Name: "page_view", At: Now.Add(-time.Hour), Props: map[string]any{"path": "/pricing"}},
		{ID: "p2", Email: "dan@x.example", Name: "page_view", At: Now.Add(-time.Hour), Props: map[string]any{"path": "/pricing"}},
	}); err != nil {
		t.Fatal(err)
	}
	two := 2
	zero := 0
	account := func(n campaigns.AccountCount, where campaigns.Predicate) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpAccount, Args: []campaigns.Predicate{where}, Account: &n}
	}
	pricing := campaigns.Predicate{Op: campaigns.OpEvent, Event: &campaigns.EventCondition{Name: "page_view", MinCount: 1,
		Where: []campaigns.Condition{{Field: "path", Cmp: campaigns.CmpEq, Value: "/pricing"}}}}
	saas := attr("industry", campaigns.CmpEq, "saas")
	fintech := attr("industry", campaigns.CmpEq, "fintech")
	for _, c := range []struct {
		name string
		p    campaigns.Predicate
		want []string
	}{
		{"any contact of the account saw pricing: all of acme, not dan, who has no account", account(campaigns.AccountCount{Min: 1}, pricing), []string{"ann", "bob"}},
		{"at least two contacts in saas or fintech", account(campaigns.AccountCount{Min: 2}, anyOf(saas, fintech)), []string{"ann", "bob"}},
		{"exactly two", account(campaigns.AccountCount{Min: 2, Max: &two}, anyOf(saas, fintech)), []string{"ann", "bob"}},
		{"every contact in saas", account(campaigns.AccountCount{Min: 1, All: true}, saas), []string{"cara"}},
		{"no contact in fintech", account(campaigns.AccountCount{Min: 0, Max: &zero}, fintech), []string{"cara"}},
		{"beside a condition on the contact itself", campaigns.All(saas, account(campaigns.AccountCount{Min: 1}, fintech)), []string{"ann"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ids, err := f.s.ContactsWhere(ctx, f.p, c.p, Now, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, f.names(ids)); diff != "" {
				t.Errorf("ContactsWhere (-want +got):\n%s", diff)
			}
			for _, who := range []string{"ann", "bob", "cara", "dan", "eve"} {
				met, err := f.s.Matches(ctx, f.p, f.id[who], []campaigns.Predicate{c.p}, Now)
				if err != nil {
					t.Fatal(err)
				}
				if want := slices.Contains(c.want, who); met[0] != want {
					t.Errorf("Matches(%s) = %v, want %v", who, met[0], want)
				}
			}
		})
	}
}
