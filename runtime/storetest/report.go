package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// reporter is what nurture report asks of a store.
type reporter interface {
	runtime.Store
	Report(ctx context.Context, f runtime.ReportFilter) (runtime.ReportData, error)
}

// ReportFixture seeds a store with the sends, events, enrollments and
// hand-offs whose report testReport computes by hand. The period it is
// made for is the week before Now.
func ReportFixture(t *testing.T, o Opener, s runtime.Store, p *campaigns.Program) {
	ctx := context.Background()
	day := 24 * time.Hour
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		rec(2, "a@x.example", "industry", "saas", "stage", "lead"),
		rec(3, "b@x.example", "industry", "saas", "stage", "mql"),
		rec(4, "c@x.example", "industry", "saas", "stage", "sql"),
		rec(5, "d@x.example", "industry", "saas", "stage", "customer"),
		rec(6, "e@x.example", "industry", "saas", "stage", "lead"),
		rec(7, "f@x.example", "industry", "saas", "stage", "mql"),
	}, "test"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	_ = s.Contacts(ctx, func(c runtime.Contact) error { ids[c.Email[:1]] = c.ID; return nil })
	n := 0
	send := func(who, seq, step, email string, variant any, status string, at time.Time) {
		n++
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, variant, status, planned_at, sent_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)`,
			fmt.Sprintf("%s/%s/%s/%d", who, seq, step, n), ids[who], seq, step, email, variant, status, at.Add(-time.Minute), at)
	}
	hello, cs := "emails/hello.md", "emails/case.md"
	send("a", "welcome", "hello", hello, "a", runtime.SendAccepted, Now.Add(-2*day))
	send("b", "welcome", "hello", hello, "a", runtime.SendAccepted, Now.Add(-2*day))
	send("c", "welcome", "hello", hello, "a", runtime.SendFailed, Now.Add(-2*day)) // refused for its recipient: a bounce
	send("d", "welcome", "hello", hello, "b", runtime.SendAccepted, Now.Add(-2*day))
	send("e", "welcome", "hello", hello, "b", runtime.SendUnknown, Now.Add(-2*day))
	send("f", "welcome", "hello", hello, "b", runtime.SendFailed, Now.Add(-2*day)) // deferred until it gave up
	send("a", "nurture", "case", cs, nil, runtime.SendAccepted, Now.Add(-day))
	// Outside the period, or never handed over.
	send("b", "welcome", "hello", hello, "a", runtime.SendAccepted, Now.Add(-10*day))
	send("d", "welcome", "hello", hello, "b", runtime.SendAccepted, Now)
	o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, variant, status, planned_at) VALUES ('planned', ?, 'welcome', 'hello', 1, ?, 'a', ?, ?)`,
		ids["a"], hello, runtime.SendPlanned, Now.Add(-day))

	ev := func(id, who, name, variant string, at time.Time, extra ...any) runtime.Event {
		props := map[string]any{"sequence": "welcome", "step": "hello", "email": hello}
		if variant != "" {
			props["variant"] = variant
		}
		for i := 0; i < len(extra); i += 2 {
			props[extra[i].(string)] = extra[i+1]
		}
		return runtime.Event{ID: id, Email: who + "@x.example", Name: name, At: at, Props: props}
	}
	at := Now.Add(-2*day + time.Hour)
	if _, err := s.RecordEvents(ctx, []runtime.Event{
		// As the engine records a refusal for the recipient.
		ev("bounce/c/welcome/hello/3", "c", campaigns.EventBounced, "a", Now.Add(-2*day), "kind", "hard"),
		// A bounce reported later, of a send that was accepted.
		ev("dsn-e", "e", campaigns.EventBounced, "b", Now.Add(-2*day+time.Hour), "kind", "hard"),
		ev("a-open", "a", campaigns.EventOpened, "a", at),
		ev("a-click1", "a", campaigns.EventClicked, "a", at, "url", "https://x.example/1"),
		ev("a-click2", "a", campaigns.EventClicked, "a", at.Add(time.Minute), "url", "https://x.example/2"),
		ev("b-proxy", "b", campaigns.EventOpened, "a", at, "unreliable", true),
		ev("b-click", "b", campaigns.EventClicked, "a", at, "url", "https://x.example/1"),
		ev("b-reply", "b", campaigns.EventReplied, "a", at),
		ev("d-open", "d", campaigns.EventOpened, "b", at),
		ev("d-unsub", "d", campaigns.EventUnsubscribed, "b", at),
		ev("d-spam", "d", campaigns.EventComplained, "b", at),
		ev("e-old-click", "e", campaigns.EventClicked, "b", Now.Add(-8*day)),
		{ID: "a-case", Email: "a@x.example", Name: campaigns.EventClicked, At: Now.Add(-day + time.Hour),
			Props: map[string]any{"sequence": "nurture", "step": "case", "email": cs, "url": "https://x.example/case"}},
		// Unsubscribed from no email in particular.
		{ID: "f-unsub", Email: "f@x.example", Name: campaigns.EventUnsubscribed, At: at},
	}); err != nil {
		t.Fatal(err)
	}

	enroll := func(who, seq string, entered time.Time, exited any, reason any) {
		state := "active"
		if exited != nil {
			state = "exited"
		}
		o.Exec(t, s, `INSERT INTO enrollments (contact_id, sequence, state, step, version, entered_at, exited_at, exit_reason) VALUES (?, ?, ?, 'hello', 1, ?, ?, ?)`,
			ids[who], seq, state, entered, exited, reason)
	}
	enroll("a", "welcome", Now.Add(-3*day), nil, nil)
	enroll("b", "welcome", Now.Add(-3*day), Now.Add(-day), "converted")
	enroll("c", "welcome", Now.Add(-20*day), Now.Add(-10*day), "timeout")
	enroll("d", "welcome", Now.Add(-3*day), Now.Add(-2*day), "unsubscribed")
	enroll("f", "welcome", Now.Add(-3*day), nil, nil)
	enroll("e", "welcome", Now.Add(time.Hour), nil, nil)
	enroll("a", "nurture", Now.Add(-day), nil, nil)
	handoff := func(who string, at time.Time) {
		o.Exec(t, s, `INSERT INTO handoffs (contact_id, handoff, reason, sequence, status, created_at) VALUES (?, 'sales', 'converted', 'welcome', 'done', ?)`,
			ids[who], at)
	}
	handoff("b", Now.Add(-day))
	handoff("c", Now.Add(-15*day))
	// A global exit rule's hand-off belongs to no sequence.
	o.Exec(t, s, `INSERT INTO handoffs (contact_id, handoff, reason, status, created_at) VALUES (?, 'sales', 'sales_ready', 'pending', ?)`,
		ids["e"], Now.Add(-day))
}

// The report's figures, counted by hand from ReportFixture.
func testReport(t *testing.T, o Opener) {
	ctx := context.Background()
	st, p := open(t, o)
	s, ok := st.(reporter)
	if !ok {
		t.Skip("the store does not report")
	}
	ReportFixture(t, o, s, p)
	week := runtime.ReportFilter{Since: Now.Add(-7 * 24 * time.Hour), Until: Now}

	helloA := runtime.EmailStats{Sequence: "welcome", Step: "hello", Email: "emails/hello.md", Variant: "a",
		Sent: 3, Bounced: 1, Opens: 1, MachineOpens: 1, Clicks: 2, OpenedOrClicked: 2, Replies: 1}
	helloB := runtime.EmailStats{Sequence: "welcome", Step: "hello", Email: "emails/hello.md", Variant: "b",
		Sent: 3, Failed: 1, Bounced: 1, Opens: 1, OpenedOrClicked: 1, Unsubscribes: 1, Complaints: 1}
	cs := runtime.EmailStats{Sequence: "nurture", Step: "case", Email: "emails/case.md", Sent: 1, Clicks: 1, OpenedOrClicked: 1}
	welcome := runtime.SequenceOutcome{Sequence: "welcome", Contacts: 4,
		Stages:   map[string]int{"lead": 1, "mql": 2, "customer": 1},
		Exits:    map[string]int{"converted": 1, "unsubscribed": 1},
		Handoffs: 1, HandoffReasons: map[string]int{"converted": 1}}
	nurture := runtime.SequenceOutcome{Sequence: "nurture", Contacts: 1, Stages: map[string]int{"lead": 1}, Exits: map[string]int{},
		HandoffReasons: map[string]int{}}
	// a clicked link 1 and link 2, b link 1; the old click of e is
	// outside the period.
	link1 := runtime.LinkClicks{Sequence: "welcome", Step: "hello", Variant: "a", URL: "https://x.example/1", Clicks: 2}
	link2 := runtime.LinkClicks{Sequence: "welcome", Step: "hello", Variant: "a", URL: "https://x.example/2", Clicks: 1}
	caseLink := runtime.LinkClicks{Sequence: "nurture", Step: "case", URL: "https://x.example/case", Clicks: 1}
	// a is in both sequences and counts once.
	programme := &runtime.SequenceOutcome{Contacts: 4, Stages: map[string]int{"lead": 1, "mql": 2, "customer": 1},
		Exits: map[string]int{}, Handoffs: 2, HandoffReasons: map[string]int{"converted": 1, "sales_ready": 1}}

	for _, c := range []struct {
		name string
		f    runtime.ReportFilter
		want runtime.ReportData
	}{
		{"a week of every sequence", week, runtime.ReportData{
			Emails:    []runtime.EmailStats{cs, helloA, helloB},
			Links:     []runtime.LinkClicks{caseLink, link1, link2},
			Outcomes:  []runtime.SequenceOutcome{nurture, welcome},
			Programme: programme,
			Weeks:     []runtime.WeekStats{{Sequence: "nurture", Sent: 1, Clicks: 1}, {Sequence: "welcome", Sent: 6, Clicks: 2}},
		}},
		// b converted two days after entering; d, at customer now, is
		// past the goal's stage; c is too but was not enrolled in the
		// week, and a is a lead.
		{"goals", runtime.ReportFilter{Since: week.Since, Until: week.Until, GoalExits: []string{"converted"}, GoalStages: []string{"sql", "customer"}}, runtime.ReportData{
			Emails:    []runtime.EmailStats{cs, helloA, helloB},
			Links:     []runtime.LinkClicks{caseLink, link1, link2},
			Outcomes:  []runtime.SequenceOutcome{nurture, withGoals(welcome, 2, 1, 2*24*3600)},
			Programme: ptr(withGoals(*programme, 2, 1, 2*24*3600)),
			Weeks:     []runtime.WeekStats{{Sequence: "nurture", Sent: 1, Clicks: 1}, {Sequence: "welcome", Sent: 6, Clicks: 2}},
		}},
		// An A/B step judged by the converted exit: b, sent arm a two
		// days ago, converted a day later; nobody sent b converted.
		{"an experiment judged by an exit", runtime.ReportFilter{Since: week.Since, Until: week.Until,
			ExperimentGoals: []runtime.ExperimentGoal{{Sequence: "welcome", Step: "hello", Exits: []string{"converted"}}}}, runtime.ReportData{
			Emails:    []runtime.EmailStats{cs, withArmGoals(helloA, 1), helloB},
			Links:     []runtime.LinkClicks{caseLink, link1, link2},
			Outcomes:  []runtime.SequenceOutcome{nurture, welcome},
			Programme: programme,
			Weeks:     []runtime.WeekStats{{Sequence: "nurture", Sent: 1, Clicks: 1}, {Sequence: "welcome", Sent: 6, Clicks: 2}},
		}},
		// Judged by reaching sql: d, sent arm b, is a customer now; c is
		// at sql but the server refused its email, which counts for no arm.
		{"an experiment judged by a stage", runtime.ReportFilter{Since: week.Since, Until: week.Until,
			ExperimentGoals: []runtime.ExperimentGoal{{Sequence: "welcome", Step: "hello", Stages: []string{"sql", "customer"}}}}, runtime.ReportData{
			Emails:    []runtime.EmailStats{cs, helloA, withArmGoals(helloB, 1)},
			Links:     []runtime.LinkClicks{caseLink, link1, link2},
			Outcomes:  []runtime.SequenceOutcome{nurture, welcome},
			Programme: programme,
			Weeks:     []runtime.WeekStats{{Sequence: "nurture", Sent: 1, Clicks: 1}, {Sequence: "welcome", Sent: 6, Clicks: 2}},
		}},
		{"one sequence", runtime.ReportFilter{Since: week.Since, Until: week.Until, Sequence: "nurture"}, runtime.ReportData{
			Emails:   []runtime.EmailStats{cs},
			Links:    []runtime.LinkClicks{caseLink},
			Outcomes: []runtime.SequenceOutcome{nurture},
			Weeks:    []runtime.WeekStats{{Sequence: "nurture", Sent: 1, Clicks: 1}},
		}},
		{"a period before anything", runtime.ReportFilter{Since: Now.Add(-100 * 24 * time.Hour), Until: Now.Add(-90 * 24 * time.Hour)}, runtime.ReportData{
			Outcomes:  []runtime.SequenceOutcome{},
			Programme: &runtime.SequenceOutcome{Stages: map[string]int{}, Exits: map[string]int{}, HandoffReasons: map[string]int{}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Report(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
	// Over two weeks, the first holds b's send ten days back and e's
	// click eight days back; the second what the one-week period holds.
	two, err := s.Report(ctx, runtime.ReportFilter{Since: Now.Add(-14 * 24 * time.Hour), Until: Now})
	if err != nil {
		t.Fatal(err)
	}
	wantWeeks := []runtime.WeekStats{{Sequence: "nurture", Week: 1, Sent: 1, Clicks: 1},
		{Sequence: "welcome", Week: 0, Sent: 1, Clicks: 1}, {Sequence: "welcome", Week: 1, Sent: 6, Clicks: 2}}
	if diff := cmp.Diff(wantWeeks, two.Weeks); diff != "" {
		t.Errorf("two weeks (-want +got):\n%s", diff)
	}
	if d := helloA.Delivered(); d != 2 {
		t.Errorf("variant a delivered %d, want 2 (3 sent, 1 bounced)", d)
	}
	if d := helloB.Delivered(); d != 1 {
		t.Errorf("variant b delivered %d, want 1 (3 sent, 1 refused, 1 bounced later)", d)
	}
}

func withGoals(o runtime.SequenceOutcome, goals, exits int, seconds float64) runtime.SequenceOutcome {
	o.Goals, o.GoalExits, o.GoalExitSeconds = goals, exits, seconds
	return o
}

func ptr[T any](v T) *T { return &v }

// HoldoutFixture seeds a store with enrollments in holdout arms whose
// counts testReportHoldouts computes by hand: in the week before Now,
// welcome treated t1–t6 (t1 and t2 converted, t3 a customer now) and
// held out k1–k4 (k1 converted); the programme held out g1 (in welcome)
// and g2 (converted in nurture, where t1 is treated too).
func HoldoutFixture(t *testing.T, o Opener, s runtime.Store, p *campaigns.Program) {
	ctx := context.Background()
	day := 24 * time.Hour
	var recs []runtime.ContactRecord
	for i, who := range []string{"t1", "t2", "t3", "t4", "t5", "t6", "k1", "k2", "k3", "k4", "g1", "g2", "n1", "late"} {
		stage := "lead"
		if who == "t3" {
			stage = "customer"
		}
		recs = append(recs, rec(i+2, who+"@x.example", "industry", "saas", "stage", stage))
	}
	if _, err := s.UpsertContacts(ctx, &p.Contact, recs, "test"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	_ = s.Contacts(ctx, func(c runtime.Contact) error { ids[strings.TrimSuffix(c.Email, "@x.example")] = c.ID; return nil })
	enroll := func(who, seq string, arm any, entered time.Time, reason any) {
		state, exited := "active", any(nil)
		if reason != nil {
			state, exited = "exited", Now.Add(-day)
		}
		o.Exec(t, s, `INSERT INTO enrollments (contact_id, sequence, state, step, version, entered_at, exited_at, exit_reason, arm) VALUES (?, ?, ?, 'hello', 1, ?, ?, ?, ?)`,
			ids[who], seq, state, entered, exited, reason, arm)
	}
	in := Now.Add(-3 * day)
	// welcome, treatment: t1 and t2 converted, t3 is a customer now.
	enroll("t1", "welcome", campaigns.ArmTreatment, in, "converted")
	enroll("t2", "welcome", campaigns.ArmTreatment, in, "converted")
	for _, who := range []string{"t3", "t4", "t5"} {
		enroll(who, "welcome", campaigns.ArmTreatment, in, nil)
	}
	enroll("t6", "welcome", campaigns.ArmTreatment, in, "timeout")
	// welcome, control: k1 converted.
	enroll("k1", "welcome", campaigns.ArmControl, in, "converted")
	for _, who := range []string{"k2", "k3", "k4"} {
		enroll(who, "welcome", campaigns.ArmControl, in, nil)
	}
	// The programme's control group: g1 in welcome, g2 converted in
	// nurture, where t1 is treated too.
	enroll("g1", "welcome", campaigns.ArmGlobalControl, in, nil)
	enroll("g2", "nurture", campaigns.ArmGlobalControl, in, "converted")
	enroll("t1", "nurture", campaigns.ArmTreatment, in, nil)
	// No arm (begun before any holdout), and after the period: left out.
	enroll("n1", "welcome", nil, in, "converted")
	enroll("late", "welcome", campaigns.ArmControl, Now.Add(time.Hour), nil)
}

// The holdout arms' contacts and goals, counted by hand: per sequence
// and arm, and for the programme's holdout each contact once.
func testReportHoldouts(t *testing.T, o Opener) {
	ctx := context.Background()
	st, p := open(t, o)
	s, ok := st.(reporter)
	if !ok {
		t.Skip("the store does not report")
	}
	HoldoutFixture(t, o, s, p)
	day := 24 * time.Hour
	f := runtime.ReportFilter{Since: Now.Add(-7 * day), Until: Now, GoalExits: []string{"converted"}, GoalStages: []string{"customer"}}
	got, err := s.Report(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.HoldoutStats{
		{Sequence: "", Arm: campaigns.ArmGlobalControl, Contacts: 2, Goals: 1},
		{Sequence: "", Arm: campaigns.ArmTreatment, Contacts: 10, Goals: 4},
		{Sequence: "nurture", Arm: campaigns.ArmGlobalControl, Contacts: 1, Goals: 1},
		{Sequence: "nurture", Arm: campaigns.ArmTreatment, Contacts: 1, Goals: 0},
		{Sequence: "welcome", Arm: campaigns.ArmControl, Contacts: 4, Goals: 1},
		{Sequence: "welcome", Arm: campaigns.ArmGlobalControl, Contacts: 1, Goals: 0},
		{Sequence: "welcome", Arm: campaigns.ArmTreatment, Contacts: 6, Goals: 3},
	}
	if diff := cmp.Diff(want, got.Holdouts); diff != "" {
		t.Errorf("holdouts (-want +got):\n%s", diff)
	}
	// One sequence: its arms alone, no programme rows.
	f.Sequence = "welcome"
	if got, err = s.Report(ctx, f); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[4:], got.Holdouts); diff != "" {
		t.Errorf("holdouts of welcome (-want +got):\n%s", diff)
	}
	// Without goals, the arms' sizes alone.
	f.Sequence, f.GoalExits, f.GoalStages = "", nil, nil
	if got, err = s.Report(ctx, f); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].Goals = 0
	}
	if diff := cmp.Diff(want, got.Holdouts); diff != "" {
		t.Errorf("holdouts without goals (-want +got):\n%s", diff)
	}
}

func withArmGoals(e runtime.EmailStats, goals int) runtime.EmailStats {
	e.Goals = goals
	return e
}
