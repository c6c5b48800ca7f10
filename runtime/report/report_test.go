package report

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Wilson score intervals at 95%, as published tables and R's
// prop.test(correct = FALSE) give them.
func TestWilson(t *testing.T) {
	for _, c := range []struct {
		name          string
		count, of     int
		low, high     float64
		value, margin float64
	}{
		{"2 of 10", 2, 10, 0.0567, 0.5098, 0.2, 1e-4},
		{"none of 10 still leaves room above", 0, 10, 0, 0.2775, 0, 1e-4},
		{"all of 10", 10, 10, 0.7225, 1, 1, 1e-4},
		{"30 of 1000", 30, 1000, 0.0211, 0.0425, 0.03, 1e-4},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := NewRate(c.count, c.of)
			if math.Abs(float64(r.Low)-c.low) > c.margin || math.Abs(float64(r.High)-c.high) > c.margin || float64(r.Value) != c.value {
				t.Errorf("NewRate(%d, %d) = %v [%v, %v], want %v [%v, %v]", c.count, c.of, r.Value, r.Low, r.High, c.value, c.low, c.high)
			}
		})
	}
	if r := NewRate(0, 0); !math.IsNaN(float64(r.Value)) || !math.IsNaN(float64(r.Low)) {
		t.Errorf("a rate of nothing is %v [%v, …], want no rate", r.Value, r.Low)
	}
}

func TestPercent(t *testing.T) {
	got := []string{}
	for _, f := range []float64{0, 0.02, 0.125, 0.003, 0.0005, 1.0 / 3, math.NaN()} {
		got = append(got, Percent(f))
	}
	if diff := cmp.Diff([]string{"0%", "2%", "12.5%", "0.3%", "0.05%", "33.3%", "–"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A rate is flagged low only when its whole interval is under half the
// benchmark's bottom; unsubscribes, bounces and complaints at their
// limit are flagged on the rate itself.
func TestFlags(t *testing.T) {
	flagged := func(e runtime.EmailStats) []string {
		r := Build(runtime.ReportData{Emails: []runtime.EmailStats{e}}, runtime.ReportFilter{}, nil)
		var out []string
		for _, f := range r.Flags {
			out = append(out, f.Metric)
		}
		return out
	}
	for _, c := range []struct {
		name string
		e    runtime.EmailStats
		want []string
	}{
		{"no clicks of 20 is too few to judge", runtime.EmailStats{Sent: 20}, nil},
		{"3 clicks of 1000 is far below 2%", runtime.EmailStats{Sent: 1000, Clicks: 3, OpenedOrClicked: 300}, []string{"ctr", "ctor"}},
		{"30 clicks of 1000 is in line", runtime.EmailStats{Sent: 1000, Clicks: 30, OpenedOrClicked: 250}, nil},
		{"3 unsubscribes of 1000 is at the limit", runtime.EmailStats{Sent: 1000, Clicks: 30, OpenedOrClicked: 250, Unsubscribes: 3}, []string{"unsubscribe"}},
		{"2 unsubscribes of 1000 is under it", runtime.EmailStats{Sent: 1000, Clicks: 30, OpenedOrClicked: 250, Unsubscribes: 2}, nil},
		{"replies are judged once some were recorded", runtime.EmailStats{Sent: 5000, Clicks: 150, OpenedOrClicked: 1250, Replies: 1}, []string{"reply"}},
		{"a bounce in 50 is 2%", runtime.EmailStats{Sent: 50, Bounced: 1, Clicks: 2, OpenedOrClicked: 10}, []string{"bounce"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, flagged(c.e)); diff != "" {
				t.Errorf("flags (-want +got):\n%s", diff)
			}
		})
	}
}

// The funnel follows the schema's stages: a contact at a later stage
// passed the earlier ones.
func TestFunnel(t *testing.T) {
	prog := &campaigns.Program{Contact: campaigns.ContactSchema{Stages: []string{"subscriber", "mql", "sql", "won"}}}
	r := Build(runtime.ReportData{Outcomes: []runtime.SequenceOutcome{{Sequence: "welcome", Contacts: 10,
		Stages: map[string]int{"subscriber": 5, "mql": 3, "won": 1, "": 1}, Handoffs: 2}}}, runtime.ReportFilter{}, prog)
	want := []Stage{{"subscriber", 9}, {"mql", 4}, {"sql", 1}, {"won", 1}}
	if diff := cmp.Diff(want, r.Sequences[0].Outcome.Funnel); diff != "" {
		t.Errorf("funnel (-want +got):\n%s", diff)
	}
	if hr := r.Sequences[0].Outcome.HandoffRate; hr.Count != 2 || hr.Of != 10 {
		t.Errorf("hand-off rate %d of %d, want 2 of 10", hr.Count, hr.Of)
	}
}

// The test and the power calculation against published values: R's
// prop.test(c(120, 90), c(1000, 1000), correct = FALSE) gives
// X-squared = 4.7878 (z = 2.188), p = 0.02867; telling 10% from 12% at
// 5% with 80% power takes 3841 per arm (Fleiss, uncorrected).
func TestStatistics(t *testing.T) {
	z, p := TwoProportionZ(120, 1000, 90, 1000)
	if math.Abs(z*z-4.7878) > 1e-3 || math.Abs(p-0.02867) > 1e-4 {
		t.Errorf("z = %v (z² %v), p = %v; want z² 4.7878, p 0.02867", z, z*z, p)
	}
	if n := SampleSize(0.10, 0.12, 0.05, 0.8); n != 3841 {
		t.Errorf("sample size %d, want 3841", n)
	}
}

func TestVerdicts(t *testing.T) {
	arms := func(xn ...int) runtime.ReportData {
		var d runtime.ReportData
		for i := 0; i < len(xn); i += 2 {
			d.Emails = append(d.Emails, runtime.EmailStats{Sequence: "welcome", Step: "hello", Email: "emails/hello.md",
				Variant: string(rune('a' + i/2)), Sent: xn[i+1], Clicks: xn[i], OpenedOrClicked: xn[i+1] / 2})
		}
		return d
	}
	for _, c := range []struct {
		name    string
		data    runtime.ReportData
		winner  string
		more    int
		verdict string
	}{
		{"b clicked twice as often", arms(60, 1000, 120, 1000), "b", 0, "b wins: 12% against 6% for a (p = < 0.001)"},
		// 5% against 10%: 435 per arm would tell them apart, 395 more.
		{"too few to tell", arms(2, 40, 4, 40), "", 400, "not enough data yet: need ~400 more sends per arm (p = 0.396)"},
		// 2 of 2 against 0 of 2 gives p = 0.046, but the test means
		// nothing before each arm expects 5 clicks and 5 misses: 10 here.
		{"four sends are no evidence", arms(2, 2, 0, 2), "", 8, "not enough data yet: need ~8 more sends per arm (p = 0.046)"},
		{"nothing clicked yet", arms(0, 40, 0, 40), "", 0, "not enough data yet: no arm has a click"},
		{"an arm never delivered", arms(3, 40, 0, 0), "", 0, "not enough data yet: an arm has no delivered sends"},
		{"as good as each other", arms(900, 30000, 910, 30000), "", 0, "no difference: a lift of 20% on 3% would most likely have shown by now (p = 0.811)"},
		// b against c: p = 0.0162, under 0.025, the level split in two.
		{"three arms, split the level", arms(60, 1000, 100, 1000, 70, 1000), "b", 0, "b wins: 10% against 7% for c (p = 0.032)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Build(c.data, runtime.ReportFilter{}, nil)
			if len(r.Experiments) != 1 {
				t.Fatalf("%d experiments, want 1", len(r.Experiments))
			}
			ex := r.Experiments[0]
			if ex.Winner != c.winner || ex.MoreNeeded != c.more || ex.Verdict != c.verdict {
				t.Errorf("winner %q, %d more, %q; want %q, %d more, %q", ex.Winner, ex.MoreNeeded, ex.Verdict, c.winner, c.more, c.verdict)
			}
		})
	}
	if r := Build(arms(5, 100), runtime.ReportFilter{}, nil); len(r.Experiments) != 0 {
		t.Errorf("a step with one arm is an experiment: %+v", r.Experiments)
	}
}

// Every week of the period has its place in a sequence's series, a week
// with nothing sent as nothing, and the last one cut short where the
// period ends.
func TestWeeks(t *testing.T) {
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f := runtime.ReportFilter{Since: since, Until: since.Add(16 * 24 * time.Hour)}
	r := Build(runtime.ReportData{
		Emails: []runtime.EmailStats{{Sequence: "welcome", Step: "hello", Email: "emails/hello.md", Sent: 5}},
		Weeks:  []runtime.WeekStats{{Sequence: "welcome", Week: 0, Sent: 4, Clicks: 1}, {Sequence: "welcome", Week: 2, Sent: 1}},
	}, f, nil)
	nan := Number(math.NaN())
	want := []Week{
		{Start: since, Sent: 4, Clicks: 1, ClickRate: 0.25},
		{Start: since.Add(7 * 24 * time.Hour), ClickRate: nan},
		{Start: since.Add(14 * 24 * time.Hour), Sent: 1, ClickRate: 0},
	}
	if diff := cmp.Diff(want, r.Sequences[0].Weeks, cmp.Comparer(func(a, b Number) bool {
		return a == b || math.IsNaN(float64(a)) && math.IsNaN(float64(b))
	})); diff != "" {
		t.Errorf("weeks (-want +got):\n%s", diff)
	}
}

// An A/B step judged by replies counts replies of delivered, with the
// lift it declares; one judged by a goal counts the contacts who reached
// it, and GoalFilter asks the store to count them.
func TestExperimentMetrics(t *testing.T) {
	step := func(metric string, lift campaigns.Share) campaigns.Step {
		return campaigns.Step{Name: "hello", Kind: campaigns.StepSend, Metric: metric, MinLift: lift,
			Send: []campaigns.Variant{{Name: "a", Email: "emails/a.md", Weight: 50}, {Name: "b", Email: "emails/b.md", Weight: 50}}}
	}
	prog := func(s campaigns.Step) *campaigns.Program {
		return &campaigns.Program{Contact: campaigns.ContactSchema{Stages: []string{"lead", "sql", "won"}},
			Goals:     &campaigns.Goals{Exits: []string{"converted"}, Stage: "sql"},
			Sequences: map[string]*campaigns.Sequence{"welcome": {Steps: []campaigns.Step{s}}}}
	}
	data := runtime.ReportData{Emails: []runtime.EmailStats{
		{Sequence: "welcome", Step: "hello", Email: "emails/a.md", Variant: "a", Sent: 30000, Clicks: 900, Replies: 300, Goals: 3},
		{Sequence: "welcome", Step: "hello", Email: "emails/b.md", Variant: "b", Sent: 30000, Clicks: 910, Replies: 303, Goals: 60},
	}}
	for _, c := range []struct {
		name, metric string
		lift         campaigns.Share
		want         Experiment
	}{
		// About 1% of 30,000 a side (603 of 60,000 pooled): a 20% lift
		// would need 42,479 per arm, 12,479 more, a 50% lift 7,711
		// (Fleiss, uncorrected); either way p = 0.902.
		{"replies, looking for 20%", "reply", 0, Experiment{Metric: "replies", Leader: "b", MoreNeeded: 13000,
			Verdict: "not enough data yet: need ~13000 more sends per arm (p = 0.902)"}},
		{"replies, looking for 50%", "reply", 5000, Experiment{Metric: "replies", Leader: "b",
			Verdict: "no difference: a lift of 50% on 1% would most likely have shown by now (p = 0.902)"}},
		{"a goal", "converted", 0, Experiment{Metric: "converted", Leader: "b", Winner: "b",
			Verdict: "b wins: 0.2% against 0.01% for a (p = < 0.001)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			exs := Build(data, runtime.ReportFilter{}, prog(step(c.metric, c.lift))).Experiments
			if len(exs) != 1 {
				t.Fatalf("%d experiments", len(exs))
			}
			got := exs[0]
			got.Sequence, got.Step, got.Arms, got.PValue = "", "", nil, 0
			if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(Experiment{}), cmp.FilterPath(func(p cmp.Path) bool {
				return p.Last().String() == ".lift" || p.Last().String() == ".noDifference"
			}, cmp.Ignore())); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	f := GoalFilter(runtime.ReportFilter{}, prog(step("sql", 0)))
	if diff := cmp.Diff([]runtime.ExperimentGoal{{Sequence: "welcome", Step: "hello", Stages: []string{"sql", "won"}}}, f.ExperimentGoals); diff != "" {
		t.Errorf("experiment goals (-want +got):\n%s", diff)
	}
}

func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []int
		want string
	}{
		{"each week scaled to the peak", []int{1, 2, 4, 8}, "▁▂▄█"},
		{"a quiet week is a dot", []int{0, 5, 0, 10}, "·▄·█"},
		{"nothing at all is dots", []int{0, 0}, "··"},
		{"one send is a full bar when it is the peak", []int{1}, "█"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sparkline(tc.in); got != tc.want {
				t.Errorf("Sparkline(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// The text report draws each sequence's weekly sends, names and lines
// aligned; JSON and Markdown carry the weeks as figures, not bars.
func TestTextWeeks(t *testing.T) {
	since := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	f := runtime.ReportFilter{Since: since, Until: since.AddDate(0, 0, 28)}
	data := runtime.ReportData{
		Emails: []runtime.EmailStats{{Sequence: "welcome", Step: "hello", Email: "hello.md", Sent: 5}, {Sequence: "long_term", Step: "digest", Email: "digest.md", Sent: 4}},
		Weeks: []runtime.WeekStats{{Sequence: "long_term", Week: 3, Sent: 4},
			{Sequence: "welcome", Week: 0, Sent: 4}, {Sequence: "welcome", Week: 2, Sent: 1}},
	}
	r := Build(data, f, nil)
	var text, md strings.Builder
	if err := Text(&text, r); err != nil {
		t.Fatal(err)
	}
	want := "\nSends per week from 2026-11-23 (a column a week):\n" +
		"  long_term  ···█  4 sent, peak 4\n" +
		"  welcome    █·▂·  5 sent, peak 4\n"
	if !strings.Contains(text.String(), want) {
		t.Errorf("the text report has no aligned weeks\n%s\nin\n%s", want, text.String())
	}
	if err := Markdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(md.String(), "▁▂▃▄▅▆▇█") {
		t.Errorf("the Markdown report draws bars:\n%s", md.String())
	}
}
