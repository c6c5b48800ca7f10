package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// The times to each stage, counted by hand. The contacts are written
// with SQL at chosen times, so what records their stage changes is the
// store's own: a contact stored with a stage, and every later change of
// it, whoever writes the row. Days before Now:
//
//	p created 20 lead;  welcome 6; mql 5; sql 2; nurture 2
//	q created 10 lead;  welcome 4; mql 2; customer 1 (sql skipped)
//	r created 30 mql;   welcome 5; sql 3.5
//	s created 8 lead;   welcome 2; nothing since
//	u created 9 lead;   nurture 3; mql 2
//
// A contact's time to a stage is its first change to that stage or a
// later one; from entry, only contacts who got there after entering
// count (r was at mql before it entered welcome, p at sql as it entered
// nurture).
//
// StageFixture seeds a store with the contacts, enrollments and stage
// changes whose times testReportStageTimes computes by hand, and dates
// the start of the store's record of stage changes 40 days before Now.
func StageFixture(t *testing.T, o Opener, s runtime.Store, _ *campaigns.Program) {
	ctx := context.Background()
	day := 24 * time.Hour
	ago := func(d float64) time.Time { return Now.Add(-time.Duration(d * float64(day))) }
	o.Exec(t, s, `UPDATE schema_migrations SET applied_at = ? WHERE version = 20`, ago(40).Format(time.RFC3339))
	contact := func(who, stage string, created float64) {
		o.Exec(t, s, `INSERT INTO contacts (email, email_key, stage, a_industry, created_at, updated_at) VALUES (?, ?, ?, 'saas', ?, ?)`,
			who+"@x.example", who+"@x.example", stage, ago(created), ago(created))
	}
	move := func(who, stage string, at float64) {
		o.Exec(t, s, `UPDATE contacts SET stage = ?, updated_at = ? WHERE email_key = ?`, stage, ago(at), who+"@x.example")
	}
	contact("p", "lead", 20)
	contact("q", "lead", 10)
	contact("r", "mql", 30)
	contact("s", "lead", 8)
	contact("u", "lead", 9)
	ids := map[string]int64{}
	_ = s.Contacts(ctx, func(c runtime.Contact) error { ids[c.Email[:1]] = c.ID; return nil })
	enroll := func(who, seq string, at float64) {
		o.Exec(t, s, `INSERT INTO enrollments (contact_id, sequence, state, step, version, entered_at) VALUES (?, ?, 'active', 'hello', 1, ?)`,
			ids[who], seq, ago(at))
	}
	enroll("p", "welcome", 6)
	enroll("q", "welcome", 4)
	enroll("r", "welcome", 5)
	enroll("s", "welcome", 2)
	enroll("p", "nurture", 2)
	enroll("u", "nurture", 3)
	move("p", "mql", 5)
	move("p", "mql", 4.5) // the same stage again: no change
	move("p", "sql", 2)
	move("q", "mql", 2)
	move("q", "customer", 1)
	move("r", "sql", 3.5)
	move("u", "mql", 2)
	// After the period: not counted.
	move("s", "mql", -1)
}

// testReportStageTimes checks the report of StageFixture against the
// times computed by hand.
func testReportStageTimes(t *testing.T, o Opener) {
	ctx := context.Background()
	st, p := open(t, o)
	s, ok := st.(reporter)
	if !ok {
		t.Skip("the store does not report")
	}
	StageFixture(t, o, s, p)
	ago := func(d float64) time.Time { return Now.Add(-time.Duration(d * float64(24*time.Hour))) }
	d := func(n int, median, p75 float64) runtime.Distribution {
		return runtime.Distribution{N: n, Median: median * 86400, P75: p75 * 86400}
	}
	none := runtime.Distribution{}
	want := []runtime.StageTimes{
		// The programme: each contact from its first entry of the period.
		{Sequence: "", Stage: "lead", FromEntry: none, FromCreated: d(5, 0, 0)},
		// p 1, u 1, q 2 | r 0, u 7, q 8, p 15
		{Sequence: "", Stage: "mql", FromEntry: d(3, 1, 1.5), FromCreated: d(4, 7.5, 9.75)},
		// r 1.5, q 3, p 4 | q 9, p 18, r 26.5
		{Sequence: "", Stage: "sql", FromEntry: d(3, 3, 3.5), FromCreated: d(3, 18, 22.25)},
		{Sequence: "", Stage: "customer", FromEntry: d(1, 3, 3), FromCreated: d(1, 9, 9)},
		// p reached mql before it entered nurture, and sql as it did:
		// not after.
		{Sequence: "nurture", Stage: "lead", FromEntry: none, FromCreated: d(2, 0, 0)},
		{Sequence: "nurture", Stage: "mql", FromEntry: d(1, 1, 1), FromCreated: d(2, 11, 13)},
		{Sequence: "nurture", Stage: "sql", FromEntry: none, FromCreated: d(1, 18, 18)},
		{Sequence: "welcome", Stage: "lead", FromEntry: none, FromCreated: d(4, 0, 0)},
		// p 1, q 2 | r 0, q 8, p 15
		{Sequence: "welcome", Stage: "mql", FromEntry: d(2, 1.5, 1.75), FromCreated: d(3, 8, 11.5)},
		{Sequence: "welcome", Stage: "sql", FromEntry: d(3, 3, 3.5), FromCreated: d(3, 18, 22.25)},
		{Sequence: "welcome", Stage: "customer", FromEntry: d(1, 3, 3), FromCreated: d(1, 9, 9)},
	}
	f := runtime.ReportFilter{Since: ago(7), Until: Now, Stages: []string{"lead", "mql", "sql", "customer"}}
	got, err := s.Report(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got.StageTimes, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
		t.Errorf("stage times (-want +got):\n%s", diff)
	}
	if !got.StageTimesSince.Equal(ago(40)) {
		t.Errorf("stage changes recorded since %v, want %v", got.StageTimesSince, ago(40))
	}
	f.Sequence = "nurture"
	got, err = s.Report(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[4:7], got.StageTimes, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
		t.Errorf("stage times of nurture (-want +got):\n%s", diff)
	}
	// A store on a virtual clock records changes dated before its
	// migration ran: the record began with the first, r's at creation.
	o.Exec(t, s, `UPDATE schema_migrations SET applied_at = ? WHERE version = 20`, Now.Format(time.RFC3339))
	if got, err = s.Report(ctx, f); err != nil {
		t.Fatal(err)
	} else if !got.StageTimesSince.Equal(ago(30)) {
		t.Errorf("stage changes recorded since %v, want the first change, %v", got.StageTimesSince, ago(30))
	}
	// Without the programme's stages there is nothing to time.
	got, err = s.Report(ctx, runtime.ReportFilter{Since: ago(7), Until: Now})
	if err != nil {
		t.Fatal(err)
	}
	if got.StageTimes != nil || !got.StageTimesSince.IsZero() {
		t.Errorf("stage times without stages: %v since %v", got.StageTimes, got.StageTimesSince)
	}
}

// Every way the store writes a stage records when it changed: an
// import that inserts a contact with one, an import that changes it,
// and a decision that sets it.
func testStageChanges(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	s, ok := f.s.(reporter)
	if !ok {
		t.Skip("the store does not report")
	}
	if _, err := f.s.UpsertContacts(ctx, &f.p.Contact, []runtime.ContactRecord{
		rec(2, "ann@x.example", "industry", "saas", "stage", "lead"),
		rec(3, "bob@x.example", "industry", "fintech", "stage", "mql"),
		rec(4, "zed@x.example", "industry", "saas", "stage", "customer"),
	}, "test"); err != nil {
		t.Fatal(err)
	}
	// The same stage again changes nothing.
	if _, err := f.s.UpsertContacts(ctx, &f.p.Contact, []runtime.ContactRecord{
		rec(2, "bob@x.example", "industry", "saas", "stage", "mql"),
	}, "test"); err != nil {
		t.Fatal(err)
	}
	h := time.Hour
	f.id["zed"] = 0
	_ = f.s.Contacts(ctx, func(c runtime.Contact) error {
		if c.Email == "zed@x.example" {
			f.id["zed"] = c.ID
		}
		return nil
	})
	for _, who := range []string{"ann", "bob", "zed"} {
		f.enroll(enrollment{who: who, sequence: "welcome", state: "active", step: "hello", entered: Now.Add(-2 * h), next: Now})
	}
	a := f.enrolled("ann", "welcome")
	if err := f.s.DecideAll(ctx, []runtime.Decision{{Enrollment: a.ID, Contact: a.Contact, At: Now, Step: a.Step, StepSince: a.StepSince,
		Sequence: a.Sequence, Version: 1, Set: map[string]any{campaigns.AttrStage: "sql"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Report(ctx, runtime.ReportFilter{Since: Now.Add(-24 * h), Until: Now.Add(h), Sequence: "welcome",
		Stages: []string{"lead", "mql", "sql", "customer"}})
	if err != nil {
		t.Fatal(err)
	}
	two := 2 * h.Seconds()
	d := func(n int) runtime.Distribution { return runtime.Distribution{N: n, Median: two, P75: two} }
	created := func(n int) runtime.Distribution { return runtime.Distribution{N: n} }
	want := []runtime.StageTimes{
		{Sequence: "welcome", Stage: "lead", FromEntry: d(3), FromCreated: created(3)},
		{Sequence: "welcome", Stage: "mql", FromEntry: d(3), FromCreated: created(3)},
		{Sequence: "welcome", Stage: "sql", FromEntry: d(2), FromCreated: created(2)},
		{Sequence: "welcome", Stage: "customer", FromEntry: d(1), FromCreated: created(1)},
	}
	if diff := cmp.Diff(want, got.StageTimes, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
		t.Errorf("stage times (-want +got):\n%s", diff)
	}
}

// The sends of a subject test by the line each got, counted by hand:
//
//	ann  a  clicked
//	bob  a  clicked twice (once)
//	cara b  replied; clicked before the send and on another step
//	dan  b  refused for its address (a bounce)
//	eve  b  bounced later
func testReportSubjects(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	s, ok := f.s.(reporter)
	if !ok {
		t.Skip("the store does not report")
	}
	day := 24 * time.Hour
	sent := Now.Add(-2 * day)
	send := func(who, step, subject, status string, at time.Time) {
		var sv any
		if subject != "" {
			sv = subject
		}
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at, sent_at, subject_variant) VALUES (?, ?, 'welcome', ?, 1, 'emails/sub.md', ?, ?, ?, ?)`,
			who+"/"+step+"/"+at.Format(time.RFC3339), f.id[who], step, status, at, at, sv)
	}
	send("ann", "intro", "a", runtime.SendAccepted, sent)
	send("bob", "intro", "a", runtime.SendAccepted, sent)
	send("cara", "intro", "b", runtime.SendAccepted, sent)
	send("dan", "intro", "b", runtime.SendFailed, sent)
	send("eve", "intro", "b", runtime.SendAccepted, sent)
	// Outside the period, not handed over, or with one subject.
	send("ann", "intro", "b", runtime.SendAccepted, Now.Add(-10*day))
	send("bob", "later", "b", runtime.SendPlanned, sent)
	send("cara", "plain", "", runtime.SendAccepted, sent)
	ev := func(id, who, name, step string, at time.Time) runtime.Event {
		return runtime.Event{ID: id, Email: who + "@x.example", Name: name, At: at,
			Props: map[string]any{"sequence": "welcome", "step": step, "email": "emails/sub.md"}}
	}
	if _, err := f.s.RecordEvents(ctx, []runtime.Event{
		ev("c1", "ann", campaigns.EventClicked, "intro", sent.Add(time.Hour)),
		ev("c2", "bob", campaigns.EventClicked, "intro", sent.Add(time.Hour)),
		ev("c3", "bob", campaigns.EventClicked, "intro", sent.Add(2*time.Hour)),
		ev("r1", "cara", campaigns.EventReplied, "intro", sent.Add(day)),
		ev("c4", "cara", campaigns.EventClicked, "intro", sent.Add(-day)),
		ev("c5", "cara", campaigns.EventClicked, "plain", sent.Add(time.Hour)),
		ev("bounce/dan/intro/"+sent.Format(time.RFC3339), "dan", campaigns.EventBounced, "intro", sent),
		ev("dsn", "eve", campaigns.EventBounced, "intro", sent.Add(day)),
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Report(ctx, runtime.ReportFilter{Since: Now.Add(-7 * day), Until: Now})
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.SubjectStats{
		{Sequence: "welcome", Step: "intro", Email: "emails/sub.md", SubjectVariant: "a", Sent: 2, Clicks: 2},
		{Sequence: "welcome", Step: "intro", Email: "emails/sub.md", SubjectVariant: "b", Sent: 3, Bounced: 2, Replies: 1},
	}
	if diff := cmp.Diff(want, got.Subjects); diff != "" {
		t.Errorf("subject lines (-want +got):\n%s", diff)
	}
	if d := got.Subjects[1].Delivered(); d != 1 {
		t.Errorf("line b delivered %d, want 1 (3 sent, 2 bounced)", d)
	}
	got, err = s.Report(ctx, runtime.ReportFilter{Since: Now.Add(-7 * day), Until: Now, Sequence: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Subjects != nil {
		t.Errorf("subject lines of another sequence: %v", got.Subjects)
	}
}
