// Package storetest is the conformance suite every contact store runs:
// the SQLite and PostgreSQL adapters must behave alike, down to which
// contacts a segment holds. It is a test helper and holds no store code.
package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Opener opens a new, empty store for one test, its clock set to Now;
// Reopen opens the same store again, as a second process would.
type Opener struct {
	Open   func(t *testing.T) runtime.Store
	Reopen func(t *testing.T, s runtime.Store) (runtime.Store, error)
	// SetSchemaVersion sets the store's recorded schema version, to act out
	// a store that a newer nurture migrated.
	SetSchemaVersion func(t *testing.T, s runtime.Store, v int)
	// Exec runs SQL written with ? placeholders, times given as
	// time.Time, in the store's dialect: the suite seeds what no store
	// method writes yet (enrollments) through it.
	Exec func(t *testing.T, s runtime.Store, query string, args ...any)
}

// Now is the suite's clock: every time in it is relative to this.
var Now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// Run runs the suite.
func Run(t *testing.T, o Opener) {
	t.Run("Migrations", func(t *testing.T) { testMigrations(t, o) })
	t.Run("Schema", func(t *testing.T) { testSchema(t, o) })
	t.Run("Upsert", func(t *testing.T) { testUpsert(t, o) })
	t.Run("Events", func(t *testing.T) { testEvents(t, o) })
	t.Run("PendingEvents", func(t *testing.T) { testPendingEvents(t, o) })
	t.Run("Suppressions", func(t *testing.T) { testSuppressions(t, o) })
	t.Run("Consents", func(t *testing.T) { testConsents(t, o) })
	t.Run("ScoreShift", func(t *testing.T) { testScoreShift(t, o) })
	t.Run("Rescore", func(t *testing.T) { testRescore(t, o) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, o) })
	t.Run("Locks", func(t *testing.T) { testLocks(t, o) })
	t.Run("EnrollmentMigrations", func(t *testing.T) { testEnrollmentMigrations(t, o) })
	t.Run("Audience", func(t *testing.T) { testAudience(t, o) })
	t.Run("Delivery", func(t *testing.T) { testDelivery(t, o) })
	t.Run("Rehearse", func(t *testing.T) { testRehearse(t, o) })
	t.Run("Handoffs", func(t *testing.T) { testHandoffs(t, o) })
	t.Run("AccountHandoffs", func(t *testing.T) { testAccountHandoffs(t, o) })
	t.Run("OptOutsAndLedger", func(t *testing.T) { testOptOutsAndLedger(t, o) })
	t.Run("Recovery", func(t *testing.T) { testRecovery(t, o) })
	t.Run("ClaimMessageIDs", func(t *testing.T) { testClaimMessageIDs(t, o) })
	t.Run("Release", func(t *testing.T) { testRelease(t, o) })
	t.Run("Hold", func(t *testing.T) { testHold(t, o) })
	t.Run("EnrollWhere", func(t *testing.T) { testEnrollWhere(t, o) })
	t.Run("Triggers", func(t *testing.T) { testTriggers(t, o) })
	t.Run("AccountContacts", func(t *testing.T) { testAccountContacts(t, o) })
	t.Run("AccountUpsert", func(t *testing.T) { testAccountUpsert(t, o) })
	t.Run("AccountConditions", func(t *testing.T) { testAccountConditions(t, o) })
	t.Run("ActiveDue", func(t *testing.T) { testActiveDue(t, o) })
	t.Run("ActiveWhere", func(t *testing.T) { testActiveWhere(t, o) })
	t.Run("ContactsWhere", func(t *testing.T) { testContactsWhere(t, o) })
	t.Run("DecideAll", func(t *testing.T) { testDecideAll(t, o) })
	t.Run("DecideAllInOrder", func(t *testing.T) { testDecideAllInOrder(t, o) })
	t.Run("SendsOf", func(t *testing.T) { testSendsOf(t, o) })
	t.Run("ContactByID", func(t *testing.T) { testContactByID(t, o) })
	t.Run("RecordHandoff", func(t *testing.T) { testRecordHandoff(t, o) })
	t.Run("Changed", func(t *testing.T) { testChanged(t, o) })
	t.Run("Candidates", func(t *testing.T) { testCandidates(t, o) })
	t.Run("Ticks", func(t *testing.T) { testTicks(t, o) })
	t.Run("TickMarks", func(t *testing.T) { testTickMarks(t, o) })
	t.Run("NextCheck", func(t *testing.T) { testNextCheck(t, o) })
	t.Run("Milliseconds", func(t *testing.T) { testMilliseconds(t, o) })
	t.Run("Queued", func(t *testing.T) { testQueued(t, o) })
	t.Run("ContactEvents", func(t *testing.T) { testContactEvents(t, o) })
	t.Run("Pauses", func(t *testing.T) { testPauses(t, o) })
	t.Run("Erase", func(t *testing.T) { testErase(t, o) })
	t.Run("Report", func(t *testing.T) { testReport(t, o) })
	t.Run("ReportHoldouts", func(t *testing.T) { testReportHoldouts(t, o) })
	t.Run("ReportStageTimes", func(t *testing.T) { testReportStageTimes(t, o) })
	t.Run("StageChanges", func(t *testing.T) { testStageChanges(t, o) })
	t.Run("ReportSubjects", func(t *testing.T) { testReportSubjects(t, o) })
}

// Program is the programme the suite's contacts follow.
func Program() *campaigns.Program {
	attrs := map[string]*campaigns.Attribute{
		campaigns.AttrEmail:    {Type: campaigns.TypeString, Required: true, Builtin: true},
		campaigns.AttrStage:    {Type: campaigns.TypeEnum, Values: []string{"lead", "mql", "sql", "customer"}, Builtin: true},
		campaigns.AttrTimezone: {Type: campaigns.TypeString, Builtin: true},
		campaigns.AttrAccount:  {Type: campaigns.TypeString, Builtin: true},
		"first_name":           {Type: campaigns.TypeString},
		"industry":             {Type: campaigns.TypeEnum, Values: []string{"saas", "fintech", "other"}, Required: true},
		"employees":            {Type: campaigns.TypeInt},
		"revenue":              {Type: campaigns.TypeNumber},
		"trial":                {Type: campaigns.TypeBool},
		"signup_at":            {Type: campaigns.TypeTime},
	}
	events := campaigns.BuiltinEvents()
	events["page_view"] = &campaigns.EventType{Properties: map[string]*campaigns.Attribute{
		"path":    {Type: campaigns.TypeString, Required: true},
		"seconds": {Type: campaigns.TypeInt},
	}}
	events["demo_requested"] = &campaigns.EventType{Properties: map[string]*campaigns.Attribute{}}
	return &campaigns.Program{
		Contact: campaigns.ContactSchema{Stages: []string{"lead", "mql", "sql", "customer"}, Attributes: attrs},
		Events:  events,
		Segments: map[string]*campaigns.Segment{
			"saas": {When: attr("industry", campaigns.CmpEq, "saas")},
		},
	}
}

func attr(field, cmp string, v any) campaigns.Predicate {
	c := &campaigns.Condition{Field: field, Cmp: cmp}
	switch v := v.(type) {
	case []any:
		c.Values = v
	case campaigns.Duration:
		c.Span = v
	default:
		c.Value = v
	}
	return campaigns.Predicate{Op: campaigns.OpAttr, Cond: c}
}

func rec(line int, email string, kv ...any) runtime.ContactRecord {
	r := runtime.ContactRecord{Line: line, Email: email, Values: map[string]any{}}
	for i := 0; i < len(kv); i += 2 {
		r.Values[kv[i].(string)] = kv[i+1]
	}
	return r
}

func open(t *testing.T, o Opener) (runtime.Store, *campaigns.Program) {
	t.Helper()
	s := o.Open(t)
	t.Cleanup(func() { s.Close() })
	p := Program()
	if err := s.SyncSchema(context.Background(), &p.Contact); err != nil {
		t.Fatalf("SyncSchema: %v", err)
	}
	return s, p
}

func contacts(t *testing.T, s runtime.Store) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	err := s.Contacts(context.Background(), func(c runtime.Contact) error {
		out[c.Email] = c.Values
		return nil
	})
	if err != nil {
		t.Fatalf("Contacts: %v", err)
	}
	return out
}

func testMigrations(t *testing.T, o Opener) {
	s, _ := open(t, o)
	s2, err := o.Reopen(t, s)
	if err != nil {
		t.Fatalf("reopening a migrated store: %v", err)
	}
	s2.Close()
	o.SetSchemaVersion(t, s, 999)
	_, err = o.Reopen(t, s)
	if err == nil {
		t.Fatal("a store migrated by a newer nurture opened without complaint")
	}
	for _, want := range []string{"version 999", "upgrade nurture"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func testSchema(t *testing.T, o Opener) {
	ctx := context.Background()
	s, p := open(t, o)
	// Syncing again changes nothing; a new attribute gets a column.
	p.Contact.Attributes["country"] = &campaigns.Attribute{Type: campaigns.TypeString}
	if err := s.SyncSchema(ctx, &p.Contact); err != nil {
		t.Fatalf("adding an attribute: %v", err)
	}
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{rec(2, "a@x.example", "industry", "saas", "country", "DE")}, "test"); err != nil {
		t.Fatal(err)
	}
	// An attribute dropped from the programme keeps its data.
	delete(p.Contact.Attributes, "country")
	if err := s.SyncSchema(ctx, &p.Contact); err != nil {
		t.Fatalf("dropping an attribute: %v", err)
	}
	if got := contacts(t, s)["a@x.example"]["country"]; got != "DE" {
		t.Errorf("country after the programme dropped it = %v, want DE", got)
	}
	// A changed type is refused, naming the attribute.
	p.Contact.Attributes["employees"] = &campaigns.Attribute{Type: campaigns.TypeString}
	err := s.SyncSchema(ctx, &p.Contact)
	if err == nil || !strings.Contains(err.Error(), "employees is string in the programme but the store holds int values") {
		t.Errorf("changing employees from int to string: err = %v", err)
	}
}

func testUpsert(t *testing.T, o Opener) {
	ctx := context.Background()
	s, p := open(t, o)
	signup := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	res, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		rec(2, "Ann@acme.example", "industry", "saas", "first_name", "Ann", "employees", int64(120), "revenue", 2.5e6,
			"trial", true, "signup_at", signup, "stage", "lead", "timezone", "Europe/Berlin", "account", "acme"),
		rec(3, "bob@acme.example", "industry", "fintech"),
		rec(4, "carl@beta.example", "first_name", "Carl"), // new, without the required industry
		rec(5, "ann@acme.example", "industry", "other"),   // the same key as line 2
	}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.UpsertResult{Inserted: 2, Rejected: []runtime.Rejected{
		{Line: 4, Email: "carl@beta.example", Reason: "a new contact needs industry, which is required"},
		{Line: 5, Email: "ann@acme.example", Reason: "the same address as line 2"},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("first import (-want +got):\n%s", diff)
	}
	wantAnn := map[string]any{"email": "Ann@acme.example", "industry": "saas", "first_name": "Ann", "employees": int64(120),
		"revenue": 2.5e6, "trial": true, "signup_at": signup, "stage": "lead", "timezone": "Europe/Berlin", "account": "acme"}
	if diff := cmp.Diff(wantAnn, contacts(t, s)["Ann@acme.example"]); diff != "" {
		t.Errorf("Ann as stored (-want +got):\n%s", diff)
	}

	// Again: a changed value updates, a missing column keeps, nil clears,
	// the same values are unchanged, a required value is never cleared.
	res, err = s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		rec(2, "ann@acme.example", "employees", int64(150), "trial", nil, "industry", nil),
		rec(3, "bob@acme.example", "industry", "fintech"),
	}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(runtime.UpsertResult{Updated: 1, Unchanged: 1}, res); diff != "" {
		t.Errorf("second import (-want +got):\n%s", diff)
	}
	wantAnn["email"], wantAnn["employees"] = "ann@acme.example", int64(150)
	delete(wantAnn, "trial")
	if diff := cmp.Diff(wantAnn, contacts(t, s)["ann@acme.example"]); diff != "" {
		t.Errorf("Ann after the update (-want +got):\n%s", diff)
	}
	if n := len(contacts(t, s)); n != 2 {
		t.Errorf("%d contacts, want 2", n)
	}

	// Stored and new contacts in one batch: a stored contact needs no
	// required value on its line, a time finer than the store keeps is
	// no change, and a new contact still needs the required ones.
	res, err = s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		rec(6, "bob@acme.example", "first_name", "Bob"),
		rec(7, "dee@gamma.example", "industry", "saas"),
		rec(8, "ann@acme.example", "industry", nil, "signup_at", signup.Add(300*time.Microsecond)),
		rec(9, "eve@gamma.example", "first_name", "Eve"),
	}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	want = runtime.UpsertResult{Inserted: 1, Updated: 1, Unchanged: 1, Rejected: []runtime.Rejected{
		{Line: 9, Email: "eve@gamma.example", Reason: "a new contact needs industry, which is required"},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("mixed import (-want +got):\n%s", diff)
	}
	wantBob := map[string]any{"email": "bob@acme.example", "industry": "fintech", "first_name": "Bob"}
	if diff := cmp.Diff(wantBob, contacts(t, s)["bob@acme.example"]); diff != "" {
		t.Errorf("Bob after the mixed import (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAnn, contacts(t, s)["ann@acme.example"]); diff != "" {
		t.Errorf("Ann after the mixed import (-want +got):\n%s", diff)
	}
}

func testEvents(t *testing.T, o Opener) {
	ctx := context.Background()
	s, p := open(t, o)
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{rec(2, "ann@acme.example", "industry", "saas")}, "t"); err != nil {
		t.Fatal(err)
	}
	batch := []runtime.Event{
		{Line: 1, ID: "e1", Email: "ANN@acme.example", Name: "page_view", At: Now.Add(-time.Hour), Props: map[string]any{"path": "/pricing"}},
		{Line: 2, ID: "e2", Email: "ann@acme.example", Name: "demo_requested", At: Now.Add(-time.Minute)},
		{Line: 3, ID: "e3", Email: "nobody@acme.example", Name: "page_view", At: Now, Props: map[string]any{"path": "/"}},
	}
	res, err := s.RecordEvents(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.EventResult{Inserted: 2, Rejected: []runtime.Rejected{
		{Line: 3, Email: "nobody@acme.example", Reason: "no contact has this address: import the contact first"}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	res, err = s.RecordEvents(ctx, batch[:2])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(runtime.EventResult{Duplicate: 2}, res); diff != "" {
		t.Errorf("the same events again (-want +got):\n%s", diff)
	}
}

// pendingRecorder keeps the events of addresses not yet imported.
type pendingRecorder interface {
	RecordEventsPending(ctx context.Context, batch []runtime.Event, keepUntil time.Time) (runtime.EventResult, error)
}

// An event of an address not yet imported waits until its time is up and
// joins the contact's events when the contact is imported; one whose time
// is up by then does not.
func testPendingEvents(t *testing.T, o Opener) {
	ctx := context.Background()
	s, p := open(t, o)
	pr, ok := s.(pendingRecorder)
	if !ok {
		t.Fatalf("%T cannot keep events of addresses not yet imported", s)
	}
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{rec(1, "ann@acme.example", "industry", "saas")}, "t"); err != nil {
		t.Fatal(err)
	}
	kept := []runtime.Event{
		{Line: 1, ID: "v1", Email: "Visitor@acme.example", Name: "page_view", At: Now.Add(-2 * time.Hour), Props: map[string]any{"path": "/pricing"}},
		{Line: 2, ID: "v2", Email: "visitor@acme.example", Name: "email.clicked", At: Now.Add(-time.Hour)},
		{Line: 3, ID: "a1", Email: "ann@acme.example", Name: "demo_requested", At: Now.Add(-time.Hour)},
	}
	res, err := pr.RecordEventsPending(ctx, kept, Now.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(runtime.EventResult{Inserted: 1, Pending: 2}, res); diff != "" {
		t.Errorf("events of a known and an unknown address (-want +got):\n%s", diff)
	}
	// Given again while they wait, they are duplicates.
	if res, err = pr.RecordEventsPending(ctx, kept[:2], Now.Add(30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(runtime.EventResult{Duplicate: 2}, res); diff != "" {
		t.Errorf("the kept events again (-want +got):\n%s", diff)
	}
	// An event whose time is already up is kept no longer than that.
	late := []runtime.Event{{Line: 1, ID: "l1", Email: "late@acme.example", Name: "page_view", At: Now.Add(-time.Hour), Props: map[string]any{"path": "/"}}}
	if _, err := pr.RecordEventsPending(ctx, late, Now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}

	up, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		rec(1, "visitor@acme.example", "industry", "saas"),
		rec(2, "late@acme.example", "industry", "saas"),
	}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if up.Inserted != 2 {
		t.Fatalf("upsert: %+v", up)
	}
	// The visitor's events are the contact's now: recording them again
	// finds them stored. The late one's time was up: it was never attached.
	res, err = s.RecordEvents(ctx, append(kept[:2:2], late...))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(runtime.EventResult{Inserted: 1, Duplicate: 2}, res); diff != "" {
		t.Errorf("after the import (-want +got):\n%s", diff)
	}
	// Plain RecordEvents still rejects an unknown address.
	res, err = s.RecordEvents(ctx, []runtime.Event{{Line: 7, ID: "n1", Email: "nobody@acme.example", Name: "page_view", At: Now, Props: map[string]any{"path": "/"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) != 1 || res.Pending != 0 {
		t.Errorf("RecordEvents of an unknown address: %+v", res)
	}
}

func testSuppressions(t *testing.T, o Opener) {
	ctx := context.Background()
	s, _ := open(t, o)
	first := Now.Add(-48 * time.Hour)
	n, err := s.Suppress(ctx, []runtime.Suppression{
		{Email: "Ann@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "old-esp.csv", At: first},
		{Email: "bob@acme.example", Reason: runtime.ReasonBounced, Source: "old-esp.csv", At: first},
	})
	if err != nil || n != 2 {
		t.Fatalf("Suppress = %d, %v; want 2 new", n, err)
	}
	n, err = s.Suppress(ctx, []runtime.Suppression{
		{Email: "ann@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "again.csv", At: Now},
		{Email: "ann@acme.example", Reason: runtime.ReasonComplained, Source: "again.csv", At: Now},
	})
	if err != nil || n != 1 {
		t.Fatalf("Suppress again = %d, %v; want 1 new", n, err)
	}
	var got []runtime.Suppression
	if err := s.Suppressions(ctx, func(x runtime.Suppression) error { got = append(got, x); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []runtime.Suppression{
		{Email: "ann@acme.example", Reason: runtime.ReasonComplained, Source: "again.csv", At: Now},
		{Email: "Ann@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "old-esp.csv", At: first},
		{Email: "bob@acme.example", Reason: runtime.ReasonBounced, Source: "old-esp.csv", At: first},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("suppressions (-want +got):\n%s", diff)
	}

	// An unsubscribe made on the tracking server's page can be undone
	// there; one imported, a bounce or a complaint cannot.
	us, ok := s.(interface {
		Unsubscribed(ctx context.Context, email string) (bool, error)
		Resubscribe(ctx context.Context, email, source string) (bool, error)
	})
	if !ok {
		return
	}
	if _, err := s.Suppress(ctx, []runtime.Suppression{{Email: "cy@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "tracking", At: Now}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		email      string
		unsub      bool
		lifted     bool
		unsubAfter bool
	}{
		{"CY@acme.example", true, true, false},
		{"cy@acme.example", false, false, false},
		{"ann@acme.example", true, false, true},
		{"bob@acme.example", false, false, false},
		{"nobody@acme.example", false, false, false},
	} {
		if got, err := us.Unsubscribed(ctx, c.email); err != nil || got != c.unsub {
			t.Errorf("Unsubscribed(%s) = %v, %v; want %v", c.email, got, err, c.unsub)
		}
		if got, err := us.Resubscribe(ctx, c.email, "tracking"); err != nil || got != c.lifted {
			t.Errorf("Resubscribe(%s) = %v, %v; want %v", c.email, got, err, c.lifted)
		}
		if got, err := us.Unsubscribed(ctx, c.email); err != nil || got != c.unsubAfter {
			t.Errorf("after Resubscribe, Unsubscribed(%s) = %v, %v; want %v", c.email, got, err, c.unsubAfter)
		}
	}
	got = nil
	if err := s.Suppressions(ctx, func(x runtime.Suppression) error { got = append(got, x); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("suppressions after undoing Cy's unsubscribe (-want +got):\n%s", diff)
	}
}

func testConsents(t *testing.T, o Opener) {
	ctx := context.Background()
	s, p := open(t, o)
	given := Now.Add(-72 * time.Hour)
	withConsent := func(r runtime.ContactRecord, at time.Time, wording, who string) runtime.ContactRecord {
		r.Consent = &runtime.Consent{Email: r.Email, At: at, Source: "webinar_form", Wording: wording, Who: who}
		return r
	}
	upsert := func(batch ...runtime.ContactRecord) {
		t.Helper()
		if _, err := s.UpsertContacts(ctx, &p.Contact, batch, "ops@nurture.example"); err != nil {
			t.Fatalf("UpsertContacts: %v", err)
		}
	}
	upsert(
		withConsent(rec(2, "ann@acme.example", "industry", "saas"), given, "v1", ""),
		// The same address again: only the first line is stored, and so
		// only its consent.
		withConsent(rec(3, "ANN@acme.example", "industry", "saas"), given, "v9", ""),
		// A new contact without its required industry stores nothing.
		withConsent(rec(4, "bob@acme.example"), given, "v1", ""),
		rec(5, "cy@acme.example", "industry", "other"),
	)
	// Importing the file again records nothing new; a new wording and a
	// form's own recorder are kept beside the first.
	upsert(withConsent(rec(2, "ann@acme.example", "industry", "saas"), given, "v1", ""))
	upsert(withConsent(rec(2, "Ann@acme.example", "industry", "saas"), Now, "v2", "form:pricing"))

	got, err := s.Consents(ctx, "ANN@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.Consent{
		{Email: "ANN@acme.example", At: given, Source: "webinar_form", Wording: "v1", Who: "ops@nurture.example"},
		{Email: "ANN@acme.example", At: Now, Source: "webinar_form", Wording: "v2", Who: "form:pricing"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("consents (-want +got):\n%s", diff)
	}
	for _, email := range []string{"bob@acme.example", "cy@acme.example"} {
		if got, err := s.Consents(ctx, email); err != nil || len(got) != 0 {
			t.Errorf("Consents(%s) = %v, %v; want none", email, got, err)
		}
	}
	// The engine's consent condition, pushed down: whoever has a record,
	// whatever the case of the address.
	_, sample, err := s.Audience(ctx, p, campaigns.Predicate{Op: campaigns.OpConsented}, Now, 10)
	if err != nil {
		t.Fatal(err)
	}
	var consented []string
	for _, c := range sample {
		consented = append(consented, runtime.EmailKey(c.Email))
	}
	if diff := cmp.Diff([]string{"ann@acme.example"}, consented); diff != "" {
		t.Errorf("consented (-want +got):\n%s", diff)
	}
}
