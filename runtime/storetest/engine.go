package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// engineStore is what a tick asks of a store — the worker's whole
// contract — and what a scenario's virtual clock asks besides.
type engineStore interface {
	worker.Store
	NextCheck(ctx context.Context) (time.Time, error)
}

// fixture is a store holding contacts known by name, the part of their
// address before the @: the engine's cases speak of people, not of the
// IDs a store happened to give them.
type fixture struct {
	t    *testing.T
	o    Opener
	s    engineStore
	p    *campaigns.Program
	id   map[string]int64
	name map[int64]string
}

// person is a contact of the fixture: name@x.example, in industry, of
// account when one is given.
type person struct {
	name, industry, account string
	more                    []any
}

func newFixture(t *testing.T, o Opener, people ...person) *fixture {
	t.Helper()
	st, p := open(t, o)
	s, ok := st.(engineStore)
	if !ok {
		t.Fatalf("%T does not have everything a tick asks of a store", st)
	}
	var batch []runtime.ContactRecord
	for i, x := range people {
		kv := append([]any{"industry", x.industry}, x.more...)
		if x.account != "" {
			kv = append(kv, "account", x.account)
		}
		batch = append(batch, rec(i+2, x.name+"@x.example", kv...))
	}
	if res, err := s.UpsertContacts(context.Background(), &p.Contact, batch, "test"); err != nil || res.Inserted != len(people) {
		t.Fatalf("UpsertContacts = %+v, %v", res, err)
	}
	f := &fixture{t: t, o: o, s: s, p: p, id: map[string]int64{}, name: map[int64]string{}}
	err := s.Contacts(context.Background(), func(c runtime.Contact) error {
		n, _, _ := strings.Cut(c.Email, "@")
		f.id[n], f.name[c.ID] = c.ID, n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// team is the fixture's usual cast: ann, cara and dan in SaaS; ann and
// bob at acme, cara at beta, dan and eve at no account.
func team() []person {
	return []person{
		{name: "ann", industry: "saas", account: "acme", more: []any{"signup_at", Now.Add(-10 * 24 * time.Hour)}},
		{name: "bob", industry: "fintech", account: "acme"},
		{name: "cara", industry: "saas", account: "beta"},
		{name: "dan", industry: "saas"},
		{name: "eve", industry: "other"},
	}
}

// ids are the IDs of the named contacts, in that order.
func (f *fixture) ids(names ...string) []int64 {
	out := make([]int64, len(names))
	for i, n := range names {
		out[i] = f.id[n]
	}
	return out
}

// names are the names of contacts given by ID, in that order.
func (f *fixture) names(ids []int64) []string {
	var out []string
	for _, id := range ids {
		out = append(out, f.name[id])
	}
	return out
}

// enrollment is an enrollment as a tick would have left it, seeded
// directly: no store method writes one in a chosen state. Zero times are
// stored as none.
type enrollment struct {
	who, sequence, state, step string
	entered, next, exited      time.Time
	waiting                    string
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func (f *fixture) enroll(es ...enrollment) {
	f.t.Helper()
	for _, e := range es {
		var reason, waiting any
		if e.state == "exited" {
			reason = "test"
		}
		if e.waiting != "" {
			waiting = e.waiting
		}
		f.o.Exec(f.t, f.s, `INSERT INTO enrollments (contact_id, sequence, state, step, step_since, next_check_at, waiting, version, entered_at, exited_at, exit_reason) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
			f.id[e.who], e.sequence, e.state, e.step, e.entered, nullTime(e.next), waiting, e.entered, nullTime(e.exited), reason)
	}
}

// act is an active enrollment by its contact's name: enrollment IDs are
// the store's to give, and a store may skip some.
type act struct {
	Who, Sequence, Step  string
	StepSince, EnteredAt time.Time
	Version              int64
}

func (f *fixture) acts(as []runtime.Active) []act {
	var out []act
	for _, a := range as {
		out = append(out, act{f.name[a.Contact], a.Sequence, a.Step, a.StepSince, a.EnteredAt, a.Version})
	}
	return out
}

// active lists every active enrollment, by ID.
func (f *fixture) active() []runtime.Active {
	f.t.Helper()
	as, err := f.s.Active(context.Background(), 0, 1000)
	if err != nil {
		f.t.Fatalf("Active: %v", err)
	}
	return as
}

// enrolled is the active enrollment of who in sequence.
func (f *fixture) enrolled(who, sequence string) runtime.Active {
	f.t.Helper()
	for _, a := range f.active() {
		if a.Contact == f.id[who] && a.Sequence == sequence {
			return a
		}
	}
	f.t.Fatalf("%s is not active in %s", who, sequence)
	return runtime.Active{}
}

// EnrollWhere starts everyone who meets the condition, due at once, and
// skips those already active in the sequence — but not those who left it.
func testEnrollWhere(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	day := 24 * time.Hour
	f.enroll(
		enrollment{who: "cara", sequence: "welcome", state: "active", step: "second", entered: Now.Add(-2 * day), next: Now.Add(day)},
		enrollment{who: "dan", sequence: "welcome", state: "exited", step: "intro", entered: Now.Add(-3 * day), exited: Now.Add(-day)},
		enrollment{who: "ann", sequence: "other", state: "active", step: "one", entered: Now.Add(-time.Hour), next: Now.Add(time.Hour)},
	)
	saas := attr("industry", campaigns.CmpEq, "saas")
	n, err := f.s.EnrollWhere(ctx, f.p, saas, nil, "welcome", "intro", 3, Now)
	if err != nil || n != 2 {
		t.Fatalf("EnrollWhere = %d, %v; want ann and dan (2)", n, err)
	}
	got := f.acts(f.active())
	slices.SortFunc(got, func(a, b act) int { return strings.Compare(a.Who+a.Sequence, b.Who+b.Sequence) })
	want := []act{
		{"ann", "other", "one", Now.Add(-time.Hour), Now.Add(-time.Hour), 1},
		{"ann", "welcome", "intro", Now, Now, 3},
		{"cara", "welcome", "second", Now.Add(-2 * day), Now.Add(-2 * day), 1},
		{"dan", "welcome", "intro", Now, Now, 3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("active after EnrollWhere (-want +got):\n%s", diff)
	}
	due, err := f.s.Due(ctx, Now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ann", "dan"}, slices.Sorted(slices.Values(namesOf(f, due)))); diff != "" {
		t.Errorf("due at once after EnrollWhere (-want +got):\n%s", diff)
	}
	// The enrollment it made says, until its first decision, that an
	// entry segment admitted it.
	for _, a := range due {
		if a.Contact == f.id["dan"] && a.Waiting != runtime.WaitingEntry {
			t.Errorf("dan's new enrollment, due, waits for %q; want %q", a.Waiting, runtime.WaitingEntry)
		}
	}
	es, err := f.s.Enrollments(ctx, f.id["dan"])
	wantDan := []runtime.Enrollment{
		{Sequence: "welcome", State: "active", Step: "intro", StepSince: Now, NextCheckAt: Now, Waiting: runtime.WaitingEntry, Version: 3, EnteredAt: Now},
		{Sequence: "welcome", State: "exited", Step: "intro", StepSince: Now.Add(-3 * day), Version: 1, EnteredAt: Now.Add(-3 * day), ExitedAt: Now.Add(-day), ExitReason: "test"},
	}
	if diff := cmp.Diff(wantDan, es); err != nil || diff != "" {
		t.Errorf("dan's enrollments: %v (-want +got):\n%s", err, diff)
	}
	// Again: everyone who meets it is active already.
	if n, err := f.s.EnrollWhere(ctx, f.p, saas, nil, "welcome", "intro", 3, Now.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("EnrollWhere again = %d, %v; want 0", n, err)
	}
	// The engine narrows the condition to a tick's contacts.
	if n, err := f.s.EnrollWhere(ctx, f.p, campaigns.All(campaigns.Contacts(f.ids("bob", "eve")), anyOf(saas, attr("industry", campaigns.CmpEq, "other"))), nil, "welcome", "intro", 3, Now); err != nil || n != 1 {
		t.Errorf("EnrollWhere of bob and eve, where eve meets it = %d, %v; want 1", n, err)
	}
}

// Active pages through active enrollments by ID; Due lists those whose
// next check has come, earliest first and ties by ID, up to a limit.
func testActiveDue(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, append(team(), person{name: "fay", industry: "saas"})...)
	h := time.Hour
	// Seeded so that ID order and due order differ.
	f.enroll(
		enrollment{who: "cara", sequence: "welcome", state: "active", step: "a", entered: Now.Add(-5 * h), next: Now},
		enrollment{who: "bob", sequence: "welcome", state: "active", step: "b", entered: Now.Add(-5 * h), next: Now.Add(-h)},
		enrollment{who: "dan", sequence: "welcome", state: "active", step: "c", entered: Now.Add(-5 * h), next: Now.Add(time.Minute)},
		enrollment{who: "eve", sequence: "welcome", state: "active", step: "d", entered: Now.Add(-5 * h), waiting: "an event"},
		enrollment{who: "ann", sequence: "welcome", state: "active", step: "e", entered: Now.Add(-5 * h), next: Now.Add(-2 * h)},
		enrollment{who: "fay", sequence: "welcome", state: "active", step: "f", entered: Now.Add(-5 * h), next: Now.Add(-h)},
		enrollment{who: "ann", sequence: "other", state: "exited", step: "g", entered: Now.Add(-9 * h), next: Now.Add(-3 * h), exited: Now.Add(-4 * h)},
	)
	all := f.active()
	if diff := cmp.Diff([]string{"cara", "bob", "dan", "eve", "ann", "fay"}, namesOf(f, all)); diff != "" {
		t.Fatalf("Active, by ID, without the exited (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(act{"cara", "welcome", "a", Now.Add(-5 * h), Now.Add(-5 * h), 1}, f.acts(all)[0]); diff != "" {
		t.Errorf("cara's enrollment (-want +got):\n%s", diff)
	}
	var paged []runtime.Active
	for after := int64(0); ; {
		as, err := f.s.Active(ctx, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) > 4 {
			t.Fatalf("Active(limit 4) returned %d", len(as))
		}
		if len(as) == 0 {
			break
		}
		paged, after = append(paged, as...), as[len(as)-1].ID
	}
	if diff := cmp.Diff(all, paged); diff != "" {
		t.Errorf("Active in pages of 4 (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"earliest first, ties by ID, at now included", Now, 10, []string{"ann", "bob", "fay", "cara"}},
		{"limited", Now, 2, []string{"ann", "bob"}},
		{"a minute on", Now.Add(time.Minute), 10, []string{"ann", "bob", "fay", "cara", "dan"}},
		{"before any", Now.Add(-3 * h), 10, nil},
	} {
		due, err := f.s.Due(ctx, c.now, c.limit)
		if diff := cmp.Diff(c.want, namesOf(f, due)); err != nil || diff != "" {
			t.Errorf("Due, %s: %v (-want +got):\n%s", c.name, err, diff)
		}
	}
}

func namesOf(f *fixture, as []runtime.Active) []string {
	var out []string
	for _, a := range as {
		out = append(out, f.name[a.Contact])
	}
	return out
}

// ActiveWhere finds the active enrollments of one sequence whose contact
// meets a condition, narrowed by step and entry time, paged by ID.
func testActiveWhere(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	day := 24 * time.Hour
	f.enroll(
		enrollment{who: "ann", sequence: "welcome", state: "active", step: "intro", entered: Now.Add(-3 * day), next: Now.Add(day)},
		enrollment{who: "bob", sequence: "welcome", state: "active", step: "intro", entered: Now.Add(-3 * day), next: Now.Add(day)},
		enrollment{who: "cara", sequence: "welcome", state: "active", step: "later", entered: Now.Add(-time.Hour), next: Now.Add(day)},
		enrollment{who: "dan", sequence: "welcome", state: "exited", step: "intro", entered: Now.Add(-3 * day), exited: Now.Add(-day)},
		enrollment{who: "dan", sequence: "other", state: "active", step: "intro", entered: Now.Add(-3 * day), next: Now.Add(day)},
	)
	ann := f.enrolled("ann", "welcome")
	saas := attr("industry", campaigns.CmpEq, "saas")
	for _, c := range []struct {
		name      string
		step      string
		enteredBy time.Time
		p         campaigns.Predicate
		now       time.Time
		after     int64
		limit     int
		want      []string
	}{
		{"meeting the condition, active only", "", time.Time{}, saas, Now, 0, 10, []string{"ann", "cara"}},
		{"at a step", "intro", time.Time{}, saas, Now, 0, 10, []string{"ann"}},
		{"entered by a time", "", Now.Add(-day), saas, Now, 0, 10, []string{"ann"}},
		{"entered at the time itself", "", Now.Add(-time.Hour), saas, Now, 0, 10, []string{"ann", "cara"}},
		{"above an enrollment", "", time.Time{}, saas, Now, ann.ID, 10, []string{"cara"}},
		{"limited", "", time.Time{}, saas, Now, 0, 1, []string{"ann"}},
		{"among named contacts", "", time.Time{}, campaigns.Contacts(f.ids("bob", "cara", "dan")), Now, 0, 10, []string{"bob", "cara"}},
		{"a condition on time, at now", "", time.Time{}, attr("signup_at", campaigns.CmpWithin, campaigns.MustDuration("30d")), Now, 0, 10, []string{"ann"}},
		{"the same condition later", "", time.Time{}, attr("signup_at", campaigns.CmpWithin, campaigns.MustDuration("30d")), Now.Add(30 * day), 0, 10, nil},
	} {
		as, err := f.s.ActiveWhere(ctx, f.p, "welcome", c.step, c.enteredBy, c.p, c.now, c.after, c.limit)
		if diff := cmp.Diff(c.want, namesOf(f, as)); err != nil || diff != "" {
			t.Errorf("ActiveWhere, %s: %v (-want +got):\n%s", c.name, err, diff)
		}
	}
	as, err := f.s.ActiveWhere(ctx, f.p, "welcome", "intro", time.Time{}, saas, Now, 0, 10)
	if diff := cmp.Diff([]act{{"ann", "welcome", "intro", Now.Add(-3 * day), Now.Add(-3 * day), 1}}, f.acts(as)); err != nil || diff != "" {
		t.Errorf("ActiveWhere's enrollment: %v (-want +got):\n%s", err, diff)
	}
}

// ContactsWhere lists the contacts meeting a condition at now, by ID,
// paged.
func testContactsWhere(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	saas := attr("industry", campaigns.CmpEq, "saas")
	within30d := attr("signup_at", campaigns.CmpWithin, campaigns.MustDuration("30d"))
	for _, c := range []struct {
		name  string
		p     campaigns.Predicate
		now   time.Time
		after int64
		limit int
		want  []string
	}{
		{"by ID", saas, Now, 0, 10, []string{"ann", "cara", "dan"}},
		{"limited", saas, Now, 0, 2, []string{"ann", "cara"}},
		{"above a contact", saas, Now, f.id["cara"], 10, []string{"dan"}},
		{"past the last", saas, Now, f.id["dan"], 10, nil},
		{"among named contacts", campaigns.All(campaigns.Contacts(f.ids("bob", "dan", "eve")), saas), Now, 0, 10, []string{"dan"}},
		{"a condition on time, at now", within30d, Now, 0, 10, []string{"ann"}},
		{"the same condition later", within30d, Now.Add(30 * 24 * time.Hour), 0, 10, nil},
	} {
		ids, err := f.s.ContactsWhere(ctx, f.p, c.p, c.now, c.after, c.limit)
		if diff := cmp.Diff(c.want, f.names(ids)); err != nil || diff != "" {
			t.Errorf("ContactsWhere, %s: %v (-want +got):\n%s", c.name, err, diff)
		}
	}
}

// snapshot is everything DecideAll may write.
type snapshot struct {
	Enrollments  map[string][]runtime.Enrollment
	Sends        map[int64][]runtime.Sent
	Handoffs     []runtime.HandoffRecord
	Suppressions []runtime.Suppression
	Contacts     map[string]map[string]any
	Changed      []int64
}

func (f *fixture) snapshot() snapshot {
	f.t.Helper()
	ctx := context.Background()
	var ids []int64
	sn := snapshot{Enrollments: map[string][]runtime.Enrollment{}, Contacts: contacts(f.t, f.s)}
	for name, id := range f.id {
		es, err := f.s.Enrollments(ctx, id)
		if err != nil {
			f.t.Fatal(err)
		}
		sn.Enrollments[name] = es
		ids = append(ids, id)
	}
	var err error
	if sn.Sends, err = f.s.SendsOf(ctx, ids, time.Time{}); err != nil {
		f.t.Fatal(err)
	}
	if sn.Handoffs, err = f.s.Handoffs(ctx, runtime.HandoffFilter{}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.Suppressions(ctx, func(x runtime.Suppression) error { sn.Suppressions = append(sn.Suppressions, x); return nil }); err != nil {
		f.t.Fatal(err)
	}
	if sn.Changed, err = f.s.Changed(ctx, Now.Add(time.Minute), 0, 100); err != nil {
		f.t.Fatal(err)
	}
	return sn
}

// DecideAll writes each decision with all it brings — a planned send, an
// exit, a hand-off, attributes, an enrollment elsewhere, a suppression —
// leaves each enrollment where its last decision put it, and writes all
// of a batch or none of it. A batch of one and a batch of many are
// written differently by some stores: both are here.
func testDecideAll(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	h := time.Hour
	for _, who := range []string{"ann", "bob", "cara", "dan"} {
		f.enroll(enrollment{who: who, sequence: "welcome", state: "active", step: "step_" + who, entered: Now.Add(-h), next: Now})
	}
	at := Now.Add(h)
	// decision is the engine's: the enrollment where it is, at at.
	decision := func(a runtime.Active) runtime.Decision {
		return runtime.Decision{Enrollment: a.ID, Contact: a.Contact, At: at, Step: a.Step, StepSince: a.StepSince, Sequence: a.Sequence, Version: 2}
	}
	if err := f.s.DecideAll(ctx, nil); err != nil {
		t.Errorf("DecideAll(nothing) = %v", err)
	}

	ann1 := decision(f.enrolled("ann", "welcome"))
	ann1.Send = &runtime.Send{Key: "ann/welcome/hello/2", Sequence: "welcome", Step: "step_ann", Email: "emails/hello.md", Variant: "b"}
	ann1.Step, ann1.StepSince, ann1.NextCheck = "pause", at, at
	ann2 := ann1
	ann2.Send = nil
	ann2.NextCheck, ann2.Waiting = at.Add(48*h), "wait 2d"
	bob := decision(f.enrolled("bob", "welcome"))
	bob.Exit, bob.Handoff, bob.Set = "converted", "sales", map[string]any{campaigns.AttrStage: "sql"}
	cara := decision(f.enrolled("cara", "welcome"))
	cara.Exit, cara.Enroll = "completed", []runtime.Start{{Sequence: "onboarding", Step: "first"}}
	dan := decision(f.enrolled("dan", "welcome"))
	dan.Suppress, dan.Exit = runtime.ReasonUnsubscribed, runtime.ReasonUnsubscribed
	// Imported long ago, so that what the decisions stamp stands out.
	old := Now.Add(-100 * 24 * h)
	for _, who := range []string{"ann", "bob", "cara", "dan", "eve"} {
		f.setTimes(who, old, old, time.Time{}, time.Time{})
	}
	if err := f.s.DecideAll(ctx, []runtime.Decision{ann1, ann2, bob, cara, dan}); err != nil {
		t.Fatalf("DecideAll: %v", err)
	}

	exited := func(who, reason string) runtime.Enrollment {
		return runtime.Enrollment{Sequence: "welcome", State: "exited", Step: "step_" + who, StepSince: Now.Add(-h), Version: 1,
			EnteredAt: Now.Add(-h), ExitedAt: at, ExitReason: reason}
	}
	want := snapshot{
		Enrollments: map[string][]runtime.Enrollment{
			"ann": {{Sequence: "welcome", State: "active", Step: "pause", StepSince: at, NextCheckAt: at.Add(48 * h), Waiting: "wait 2d", Version: 1, EnteredAt: Now.Add(-h)}},
			"bob": {exited("bob", "converted")},
			"cara": {
				{Sequence: "onboarding", State: "active", Step: "first", StepSince: at, NextCheckAt: at, Waiting: runtime.WaitingStart, Version: 2, EnteredAt: at},
				exited("cara", "completed"),
			},
			"dan": {exited("dan", runtime.ReasonUnsubscribed)},
			"eve": nil,
		},
		Sends: map[int64][]runtime.Sent{f.id["ann"]: {{Sequence: "welcome", At: at}}},
		Handoffs: []runtime.HandoffRecord{{Contact: f.id["bob"], Email: "bob@x.example", Handoff: "sales", Reason: "converted", Sequence: "welcome",
			Status: runtime.HandoffPending, CreatedAt: at, NextAt: at}},
		Suppressions: []runtime.Suppression{{Email: "dan@x.example", Reason: runtime.ReasonUnsubscribed, Source: "sequence:welcome", At: at}},
	}
	got := f.snapshot()
	// Attributes set and a suppression mark the contact changed, by the
	// store's clock (Now) rather than the decisions' time (an hour
	// later): the next incremental tick, which counts changes by the
	// store's clock, looks at it again.
	if ids, err := f.s.Changed(ctx, Now.Add(-time.Minute), 0, 100); err != nil || !slices.Equal(ids, f.ids("bob", "dan")) {
		t.Errorf("changed after DecideAll: %v, %v; want %v", f.names(ids), err, []string{"bob", "dan"})
	}
	want.Contacts = got.Contacts
	noIDs := cmpopts.IgnoreFields(runtime.HandoffRecord{}, "ID")
	if diff := cmp.Diff(want, got, noIDs, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("after DecideAll (-want +got):\n%s", diff)
	}
	if s := got.Contacts["bob@x.example"][campaigns.AttrStage]; s != "sql" {
		t.Errorf("bob's stage = %v; want sql", s)
	}
	if ds, ok := f.s.(deliveryStore); ok {
		r, err := ds.Send(ctx, sendID(t, f.o, ds, "ann/welcome/hello/2"))
		wantSend := &runtime.SendRecord{Key: "ann/welcome/hello/2", Contact: f.id["ann"], Sequence: "welcome", Step: "step_ann",
			Email: "emails/hello.md", Variant: "b", Status: runtime.SendPlanned, Version: 2}
		if diff := cmp.Diff(wantSend, r, cmpopts.IgnoreFields(runtime.SendRecord{}, "ID")); err != nil || diff != "" {
			t.Errorf("the planned send: %v (-want +got):\n%s", err, diff)
		}
	}

	// Deciding again plans the same send once, and a decision about an
	// enrollment that has ended changes nothing — alone or in a batch.
	annAgain := decision(f.enrolled("ann", "welcome"))
	annAgain.Send, annAgain.NextCheck, annAgain.Waiting = ann1.Send, at.Add(48*h), "wait 2d"
	bobAgain := bob
	bobAgain.Exit, bobAgain.Handoff, bobAgain.Set, bobAgain.Step, bobAgain.NextCheck = "", "", nil, "elsewhere", at
	for _, batch := range [][]runtime.Decision{{annAgain}, {bobAgain}, {annAgain, bobAgain}} {
		if err := f.s.DecideAll(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, f.snapshot(), noIDs, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("after deciding %d again (-want +got):\n%s", len(batch), diff)
		}
	}

	// A batch whose last decision fails leaves nothing of the batch.
	onboarding := decision(f.enrolled("cara", "onboarding"))
	onboarding.Handoff, onboarding.Exit = "sales", "converted"
	onboarding.Enroll = []runtime.Start{{Sequence: "welcome", Step: "again"}}
	annNext := decision(f.enrolled("ann", "welcome"))
	annNext.Step, annNext.StepSince, annNext.NextCheck = "next", at, at
	annNext.Send = &runtime.Send{Key: "ann/welcome/next/2", Sequence: "welcome", Step: "next", Email: "emails/next.md"}
	annNext.Set = map[string]any{"first_name": "Ann"}
	broken := decision(f.enrolled("ann", "welcome"))
	broken.Set = map[string]any{"no_such_attribute": "x"}
	lone := annNext
	lone.Set = map[string]any{"first_name": "Ann", "no_such_attribute": "x"}
	caraOut := decision(f.enrolled("cara", "onboarding"))
	caraOut.Suppress, caraOut.Exit = runtime.ReasonUnsubscribed, runtime.ReasonUnsubscribed
	for _, batch := range [][]runtime.Decision{{annNext, onboarding, caraOut, broken}, {lone}} {
		if err := f.s.DecideAll(ctx, batch); err == nil {
			t.Errorf("a batch of %d setting an attribute the store has no column for was written", len(batch))
		}
		if diff := cmp.Diff(want, f.snapshot(), noIDs, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("after a failed batch of %d (-want +got):\n%s", len(batch), diff)
		}
	}

	// A step planned twice in one batch — a loop back to it — is planned
	// once.
	loop := decision(f.enrolled("ann", "welcome"))
	loop.NextCheck, loop.Waiting = at.Add(48*h), "wait 2d"
	loop.Send = &runtime.Send{Key: "ann/welcome/loop/2", Sequence: "welcome", Step: "loop", Email: "emails/loop.md"}
	if err := f.s.DecideAll(ctx, []runtime.Decision{loop, loop}); err != nil {
		t.Fatalf("DecideAll with one send twice: %v", err)
	}
	want.Sends[f.id["ann"]] = append(want.Sends[f.id["ann"]], runtime.Sent{Sequence: "welcome", At: at})
	if diff := cmp.Diff(want, f.snapshot(), noIDs, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("after planning one send twice in a batch (-want +got):\n%s", diff)
	}
}

// SendsOf lists each contact's emails planned or sent since a time,
// oldest first; AccountSends the same grouped by the account attribute.
// A failed send never reached anyone and counts for neither.
func testSendsOf(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	h := time.Hour
	since := Now.Add(-72 * h)
	n := 0
	send := func(who, sequence, status string, at time.Time) {
		n++
		f.o.Exec(t, f.s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at) VALUES (?, ?, ?, 'x', 1, 'emails/x.md', ?, ?)`,
			fmt.Sprintf("%s/%d", who, n), f.id[who], sequence, status, at)
	}
	send("ann", "welcome", runtime.SendAccepted, since.Add(-h)) // before since
	send("ann", "welcome", runtime.SendPlanned, Now.Add(h))     // planned ahead
	send("ann", "news", runtime.SendFailed, Now.Add(-2*h))
	send("ann", "receipts", runtime.SendAccepted, Now.Add(-h))
	send("ann", "welcome", runtime.SendAccepted, since) // at since itself
	send("bob", "news", runtime.SendClaimed, Now.Add(-h))
	send("cara", "welcome", runtime.SendAccepted, Now.Add(-24*h))
	send("dan", "welcome", runtime.SendPlanned, Now.Add(-h))

	got, err := f.s.SendsOf(ctx, f.ids("ann", "bob", "dan", "eve"), since)
	want := map[int64][]runtime.Sent{
		f.id["ann"]: {{Sequence: "welcome", At: since}, {Sequence: "receipts", At: Now.Add(-h)}, {Sequence: "welcome", At: Now.Add(h)}},
		f.id["bob"]: {{Sequence: "news", At: Now.Add(-h)}},
		f.id["dan"]: {{Sequence: "welcome", At: Now.Add(-h)}},
	}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("SendsOf: %v (-want +got):\n%s", err, diff)
	}
	if got, err := f.s.SendsOf(ctx, nil, since); err != nil || len(got) != 0 {
		t.Errorf("SendsOf(no one) = %v, %v", got, err)
	}

	accts, err := f.s.AccountSends(ctx, []string{"acme", "beta", "gamma"}, since)
	if err != nil {
		t.Fatal(err)
	}
	// The engine counts an account's sends in a window: their order is
	// the store's.
	for _, s := range accts {
		slices.SortFunc(s, func(a, b runtime.Sent) int { return cmpSent(a, b) })
	}
	wantAccts := map[string][]runtime.Sent{
		"acme": {{Sequence: "welcome", At: since}, {Sequence: "news", At: Now.Add(-h)}, {Sequence: "receipts", At: Now.Add(-h)}, {Sequence: "welcome", At: Now.Add(h)}},
		"beta": {{Sequence: "welcome", At: Now.Add(-24 * h)}},
	}
	if diff := cmp.Diff(wantAccts, accts); diff != "" {
		t.Errorf("AccountSends (-want +got):\n%s", diff)
	}
	if got, err := f.s.AccountSends(ctx, []string{"beta"}, Now.Add(-h)); err != nil || len(got) != 0 {
		t.Errorf("AccountSends(beta, the last hour) = %v, %v; want none", got, err)
	}
}

func cmpSent(a, b runtime.Sent) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return strings.Compare(a.Sequence, b.Sequence)
}

// ContactByID reads one contact as ContactsByID does, with the
// preferences a hand-off's notice and the engine read; an unknown ID is
// no contact and no error.
func testContactByID(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	ann := f.id["ann"]
	if ds, ok := f.s.(deliveryStore); ok {
		if err := ds.SetPreferences(ctx, ann, runtime.Preferences{Frequency: runtime.FrequencyMonthly, TopicsOut: []string{"events"}}, Now); err != nil {
			t.Fatal(err)
		}
	}
	c, err := f.s.ContactByID(ctx, ann)
	if err != nil || c == nil {
		t.Fatalf("ContactByID(ann) = %v, %v", c, err)
	}
	want := map[string]any{"email": "ann@x.example", "industry": "saas", "account": "acme", "signup_at": Now.Add(-10 * 24 * time.Hour)}
	if diff := cmp.Diff(want, c.Values); c.ID != ann || c.Email != "ann@x.example" || diff != "" {
		t.Errorf("ContactByID(ann) = %d %s (-want +got):\n%s", c.ID, c.Email, diff)
	}
	byID, err := f.s.ContactsByID(ctx, []int64{ann})
	if err != nil || byID[ann] == nil {
		t.Fatalf("ContactsByID(ann) = %v, %v", byID, err)
	}
	if diff := cmp.Diff(byID[ann], c); diff != "" {
		t.Errorf("ContactByID and ContactsByID disagree (-ContactsByID +ContactByID):\n%s", diff)
	}
	if _, ok := f.s.(deliveryStore); ok && c.Prefs.Frequency != runtime.FrequencyMonthly {
		t.Errorf("ContactByID's preferences = %+v; want monthly", c.Prefs)
	}
	if c, err := f.s.ContactByID(ctx, f.id["eve"]+1000); c != nil || err != nil {
		t.Errorf("ContactByID(unknown) = %+v, %v; want nil, nil", c, err)
	}
}

// RecordHandoff records each attempt: tried again later, delivered, or
// failed for good — and only a pending one is due.
func testRecordHandoff(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	for _, who := range []string{"ann", "bob"} {
		f.o.Exec(t, f.s, `INSERT INTO handoffs (contact_id, handoff, reason, sequence, status, created_at, next_at) VALUES (?, 'sales', 'converted', 'welcome', 'pending', ?, ?)`,
			f.id[who], Now, Now)
	}
	due := func(at time.Time) []string {
		t.Helper()
		hs, err := f.s.DueHandoffs(ctx, at, 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			out = append(out, f.name[h.Contact])
		}
		return out
	}
	record := func(who string) runtime.HandoffRecord {
		t.Helper()
		hs, err := f.s.Handoffs(ctx, runtime.HandoffFilter{Contact: f.id[who]})
		if err != nil || len(hs) != 1 {
			t.Fatalf("Handoffs(%s) = %+v, %v", who, hs, err)
		}
		return hs[0]
	}
	if diff := cmp.Diff([]string{"ann", "bob"}, due(Now)); diff != "" {
		t.Fatalf("due before any attempt (-want +got):\n%s", diff)
	}
	annID, bobID := record("ann").ID, record("bob").ID
	base := runtime.HandoffRecord{Handoff: "sales", Reason: "converted", Sequence: "welcome", CreatedAt: Now}
	check := func(name, who string, want runtime.HandoffRecord) {
		t.Helper()
		want.ID, want.Contact, want.Email = record(who).ID, f.id[who], who+"@x.example"
		if diff := cmp.Diff(want, record(who)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}

	later := Now.Add(time.Minute)
	if err := f.s.RecordHandoff(ctx, annID, runtime.HandoffPending, 1, later, "POST https://crm.example: 500", Now); err != nil {
		t.Fatal(err)
	}
	want := base
	want.Status, want.Attempts, want.NextAt, want.LastError = runtime.HandoffPending, 1, later, "POST https://crm.example: 500"
	check("a failed attempt, tried again later", "ann", want)
	if diff := cmp.Diff([]string{"bob"}, due(Now)); diff != "" {
		t.Errorf("due while ann waits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"bob", "ann"}, due(later)); diff != "" {
		t.Errorf("due once ann's wait is over, by when each came due (-want +got):\n%s", diff)
	}

	if err := f.s.RecordHandoff(ctx, annID, runtime.HandoffDone, 2, time.Time{}, "", later); err != nil {
		t.Fatal(err)
	}
	want = base
	want.Status, want.Attempts, want.DoneAt = runtime.HandoffDone, 2, later
	check("delivered at the second attempt", "ann", want)

	if err := f.s.RecordHandoff(ctx, bobID, runtime.HandoffFailed, 6, time.Time{}, "gave up: 410 Gone", later); err != nil {
		t.Fatal(err)
	}
	want = base
	want.Status, want.Attempts, want.DoneAt, want.LastError = runtime.HandoffFailed, 6, later, "gave up: 410 Gone"
	check("failed for good", "bob", want)
	if got := due(Now.Add(24 * time.Hour)); len(got) != 0 {
		t.Errorf("due after both ended: %v; want none", got)
	}
}

// DecideAll writes a batch in order: a decision that enrolls a contact in
// a sequence meets the enrollments as the decisions before it left them.
// Enrolling someone still active in the sequence changes nothing, even
// when a later decision of the batch ends that enrollment; enrolling
// someone an earlier decision took out of it starts them again. Both
// happen when a contact is due in two sequences and one enrolls in the
// other. And a decision about an enrollment an earlier one ended changes
// nothing of it.
func testDecideAllInOrder(t *testing.T, o Opener) {
	h := time.Hour
	at := Now.Add(h)
	welcome := runtime.Enrollment{Sequence: "welcome", State: "active", Step: "after", StepSince: at, NextCheckAt: at.Add(24 * h), Version: 1, EnteredAt: Now.Add(-2 * h)}
	done := runtime.Enrollment{Sequence: "onboarding", State: "exited", Step: "last", StepSince: Now.Add(-h), Version: 1, EnteredAt: Now.Add(-h), ExitedAt: at, ExitReason: "completed"}
	again := runtime.Enrollment{Sequence: "onboarding", State: "active", Step: "first", StepSince: at, NextCheckAt: at, Waiting: runtime.WaitingStart, Version: 2, EnteredAt: at}
	converted := runtime.Enrollment{Sequence: "welcome", State: "exited", Step: "handover", StepSince: Now.Add(-2 * h), Version: 1, EnteredAt: Now.Add(-2 * h), ExitedAt: at, ExitReason: "converted"}
	onboarding := runtime.Enrollment{Sequence: "onboarding", State: "active", Step: "last", StepSince: Now.Add(-h), NextCheckAt: Now, Version: 1, EnteredAt: Now.Add(-h)}
	want := map[string][]runtime.Enrollment{
		"ann":  {done, welcome},
		"bob":  {again, done, welcome},
		"cara": {onboarding, converted},
	}
	// In one batch as the engine writes a page, and one decision at a
	// time: a store may write a batch of one and of many differently.
	for _, oneByOne := range []bool{false, true} {
		name := map[bool]string{false: "in one batch", true: "one by one"}[oneByOne]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, o, team()...)
			for _, who := range []string{"ann", "bob", "cara"} {
				f.enroll(
					enrollment{who: who, sequence: "welcome", state: "active", step: "handover", entered: Now.Add(-2 * h), next: Now},
					enrollment{who: who, sequence: "onboarding", state: "active", step: "last", entered: Now.Add(-h), next: Now},
				)
			}
			decision := func(who, sequence string) runtime.Decision {
				a := f.enrolled(who, sequence)
				return runtime.Decision{Enrollment: a.ID, Contact: a.Contact, At: at, Step: a.Step, StepSince: a.StepSince, Sequence: a.Sequence, Version: 2}
			}
			enrolls := func(who string) runtime.Decision {
				d := decision(who, "welcome")
				d.Step, d.StepSince, d.NextCheck = "after", at, at.Add(24*h)
				d.Enroll = []runtime.Start{{Sequence: "onboarding", Step: "first"}}
				return d
			}
			completes := func(who string) runtime.Decision {
				d := decision(who, "onboarding")
				d.Exit = "completed"
				return d
			}
			converts := decision("cara", "welcome")
			converts.Exit = "converted"
			movesOn := decision("cara", "welcome")
			movesOn.Step, movesOn.StepSince, movesOn.NextCheck = "after", at, at.Add(24*h)
			ds := []runtime.Decision{enrolls("ann"), completes("ann"), completes("bob"), enrolls("bob"), converts, movesOn}
			batches := [][]runtime.Decision{ds}
			if oneByOne {
				batches = nil
				for i := range ds {
					batches = append(batches, ds[i:i+1])
				}
			}
			for _, b := range batches {
				if err := f.s.DecideAll(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string][]runtime.Enrollment{}
			for _, who := range []string{"ann", "bob", "cara"} {
				es, err := f.s.Enrollments(ctx, f.id[who])
				if err != nil {
					t.Fatal(err)
				}
				got[who] = es
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("enrollments (-want +got):\n%s", diff)
			}
		})
	}
}
