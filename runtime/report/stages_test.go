package report

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// subjectData is an email of a step whose subject lines a and b got
// clicks of delivered as given: clicks, sent, clicks, sent.
func subjectData(xn ...int) runtime.ReportData {
	var d runtime.ReportData
	for i := 0; i < len(xn); i += 2 {
		d.Subjects = append(d.Subjects, runtime.SubjectStats{Sequence: "welcome", Step: "hello", Email: "emails/hello.md",
			SubjectVariant: string(rune('a' + i/2)), Sent: xn[i+1], Clicks: xn[i]})
	}
	return d
}

func subjectProgram() *campaigns.Program {
	return &campaigns.Program{Emails: map[string]*campaigns.Email{"emails/hello.md": {Subjects: []campaigns.SubjectVariant{
		{Name: "a", Subject: campaigns.Template{{Text: "Welcome, "}, {Field: "first_name"}}, Weight: 50},
		{Name: "b", Subject: campaigns.Template{{Text: "Your first week"}}, Weight: 50},
	}}}}
}

// Subject lines are judged as A/B arms are, on clicks of delivered,
// with the same statistics: the verdicts are TestVerdicts' figures.
func TestSubjectTests(t *testing.T) {
	for _, c := range []struct {
		name    string
		data    runtime.ReportData
		winner  string
		verdict string
	}{
		{"b clicked twice as often", subjectData(60, 1000, 120, 1000), "b", "b wins: 12% against 6% for a (p = < 0.001)"},
		{"too few to tell", subjectData(2, 40, 4, 40), "", "not enough data yet: need ~400 more sends per arm (p = 0.396)"},
		{"as good as each other", subjectData(900, 30000, 910, 30000), "", "no difference: a lift of 20% on 3% would most likely have shown by now (p = 0.811)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Build(c.data, runtime.ReportFilter{}, subjectProgram())
			if len(r.Experiments) != 0 || len(r.SubjectTests) != 1 {
				t.Fatalf("%d experiments and %d subject tests, want 0 and 1", len(r.Experiments), len(r.SubjectTests))
			}
			ex := r.SubjectTests[0]
			if ex.Winner != c.winner || ex.Verdict != c.verdict || ex.Email != "emails/hello.md" || ex.Metric != "clicks" {
				t.Errorf("winner %q, %q, of %s by %s; want %q, %q, of emails/hello.md by clicks", ex.Winner, ex.Verdict, ex.Email, ex.Metric, c.winner, c.verdict)
			}
			if got := []string{ex.Arms[0].Subject, ex.Arms[1].Subject}; !cmp.Equal(got, []string{"Welcome, {{ first_name }}", "Your first week"}) {
				t.Errorf("lines %q", got)
			}
		})
	}
	// Bounces and refusals leave the sends delivered: 60 of 1000 less
	// 100 bounced is 60 of 900.
	d := subjectData(60, 1000, 120, 1000)
	d.Subjects[0].Bounced, d.Subjects[0].Failed = 80, 20
	if a := Build(d, runtime.ReportFilter{}, nil).SubjectTests[0].Arms[0].Rate; a.Count != 60 || a.Of != 900 {
		t.Errorf("line a: %d of %d, want 60 of 900", a.Count, a.Of)
	}
	if r := Build(subjectData(5, 100), runtime.ReportFilter{}, nil); len(r.SubjectTests) != 0 {
		t.Errorf("an email sent with one line is a test: %+v", r.SubjectTests)
	}
}

// The stage times the store counted go to their sequence's outcome and
// the programme's in days, and every format shows them.
func TestStageTimes(t *testing.T) {
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dist := func(n int, median, p75 float64) runtime.Distribution {
		return runtime.Distribution{N: n, Median: median * 86400, P75: p75 * 86400}
	}
	data := runtime.ReportData{
		Outcomes:  []runtime.SequenceOutcome{{Sequence: "welcome", Contacts: 4, Stages: map[string]int{"lead": 1, "mql": 2, "sql": 1}}},
		Programme: &runtime.SequenceOutcome{Contacts: 4, Stages: map[string]int{"lead": 1, "mql": 2, "sql": 1}},
		StageTimes: []runtime.StageTimes{
			{Sequence: "", Stage: "mql", FromEntry: dist(3, 1, 1.5), FromCreated: dist(4, 7.5, 9.75)},
			{Sequence: "welcome", Stage: "lead", FromCreated: dist(4, 0, 0)},
			{Sequence: "welcome", Stage: "mql", FromEntry: dist(2, 1.5, 1.75), FromCreated: dist(3, 8, 11.5)},
			{Sequence: "welcome", Stage: "sql", FromEntry: dist(1, 12, 12), FromCreated: dist(1, 18, 18)},
		},
		StageTimesSince: since,
	}
	prog := &campaigns.Program{Contact: campaigns.ContactSchema{Stages: []string{"lead", "mql", "sql"}}}
	r := Build(data, runtime.ReportFilter{Since: since, Until: since.Add(28 * 24 * time.Hour)}, prog)
	nan := Number(math.NaN())
	want := []StageTime{
		{Stage: "lead", FromEntry: Days{Median: nan, P75: nan}, FromCreated: Days{Contacts: 4}},
		{Stage: "mql", FromEntry: Days{Contacts: 2, Median: 1.5, P75: 1.75}, FromCreated: Days{Contacts: 3, Median: 8, P75: 11.5}},
		{Stage: "sql", FromEntry: Days{Contacts: 1, Median: 12, P75: 12}, FromCreated: Days{Contacts: 1, Median: 18, P75: 18}},
	}
	if diff := cmp.Diff(want, r.Sequences[0].Outcome.StageTimes, cmp.Comparer(func(a, b Number) bool { return a == b || math.IsNaN(float64(a)) && math.IsNaN(float64(b)) })); diff != "" {
		t.Errorf("welcome's stage times (-want +got):\n%s", diff)
	}
	if r.Programme == nil || len(r.Programme.StageTimes) != 1 || r.Programme.StageTimes[0].FromEntry.Contacts != 3 {
		t.Errorf("the programme's stage times: %+v", r.Programme)
	}
	if r.StageTimesSince == nil || !r.StageTimesSince.Equal(since) {
		t.Errorf("stage times since %v, want %v", r.StageTimesSince, since)
	}

	var text, md, html, js bytes.Buffer
	for _, f := range []func() error{
		func() error { return Text(&text, r) }, func() error { return Markdown(&md, r) },
		func() error { return HTML(&html, r) }, func() error { return JSON(&js, r) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		format string
		out    string
		want   []string
	}{
		{"text", text.String(), []string{
			"  STAGE  FROM ENTRY: MEDIAN, P75 (CONTACTS)  FROM CREATION: MEDIAN, P75 (CONTACTS)\n" +
				"  lead   –                                   0 days, p75 0 days (4)\n" +
				"  mql    1.5 days, p75 1.8 days (2)          8 days, p75 12 days (3)\n" +
				"  sql    12 days, p75 12 days (1)            18 days, p75 18 days (1)\n",
			"Stage times since 2026-11-01: stages reached before then were not recorded",
		}},
		{"markdown", md.String(), []string{
			"| mql | 1.5 days, p75 1.8 days (2) | 8 days, p75 12 days (3) |",
			"Stage times since 2026-11-01",
		}},
		{"html", html.String(), []string{`<table class="stages">`, "<td>mql</td><td class=\"n\">1 day, p75 1.5 days (3)</td>"}},
		{"json", js.String(), []string{`"stage_times_since": "2026-11-01T00:00:00Z"`, `"median_days": 1.5`, `"p75_days": 11.5`}},
	} {
		for _, w := range c.want {
			if !strings.Contains(c.out, w) {
				t.Errorf("%s lacks %q:\n%s", c.format, w, c.out)
			}
		}
	}
}

// Every format shows a subject test with its lines and its verdict.
func TestSubjectTestFormats(t *testing.T) {
	d := subjectData(60, 1000, 120, 1000)
	d.Emails = []runtime.EmailStats{{Sequence: "welcome", Step: "hello", Email: "emails/hello.md", Sent: 2000, Clicks: 180, OpenedOrClicked: 600}}
	r := Build(d, runtime.ReportFilter{}, subjectProgram())
	var text, md, html, js bytes.Buffer
	_ = Text(&text, r)
	_ = Markdown(&md, r)
	_ = HTML(&html, r)
	_ = JSON(&js, r)
	for _, c := range []struct {
		format, out string
		want        []string
	}{
		{"text", text.String(), []string{"Subject-line tests (clicks of delivered, 95% intervals):\n  welcome › hello › emails/hello.md\n",
			`a  "Welcome, {{ first_name }}"  60 of 1000`, "→ b wins: 12% against 6% for a (p = < 0.001)"}},
		{"markdown", md.String(), []string{"### Subject-line tests", "| welcome › hello › emails/hello.md | a | Welcome, {{ first_name }} | 60 of 1000 |"}},
		{"html", html.String(), []string{`<section id="subject-tests">`, "<b>b</b>: Your first week", "b wins"}},
		{"json", js.String(), []string{`"subject_tests": [`, `"subject": "Your first week"`, `"email": "emails/hello.md"`}},
	} {
		for _, w := range c.want {
			if !strings.Contains(c.out, w) {
				t.Errorf("%s lacks %q:\n%s", c.format, w, c.out)
			}
		}
	}
}

// An email that says metric: reply has its lines judged on replies of
// delivered.
func TestSubjectTestByReplies(t *testing.T) {
	d := subjectData(0, 1000, 0, 1000)
	d.Subjects[0].Replies, d.Subjects[1].Replies = 60, 120
	prog := subjectProgram()
	prog.Emails["emails/hello.md"].Metric = campaigns.MetricReply
	ex := Build(d, runtime.ReportFilter{}, prog).SubjectTests[0]
	if ex.Metric != "replies" || ex.Winner != "b" || ex.Arms[1].Rate.Count != 120 {
		t.Errorf("judged by %s, winner %q, line b %d; want replies, b, 120", ex.Metric, ex.Winner, ex.Arms[1].Rate.Count)
	}
	if w := subjectWhere(ex); w != "welcome › hello › emails/hello.md (replies of delivered)" {
		t.Errorf("named %q", w)
	}
}
