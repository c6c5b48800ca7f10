package backend

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/report"
)

// judged is the report's verdict on welcome/hello with arms a and b,
// clicks and delivered sends given as xa of na and xb of nb.
func judged(t *testing.T, xa, na, xb, nb int) *report.Experiment {
	t.Helper()
	var d runtime.ReportData
	for _, a := range []struct {
		v    string
		x, n int
	}{{"a", xa, na}, {"b", xb, nb}} {
		d.Emails = append(d.Emails, runtime.EmailStats{Sequence: "welcome", Step: "hello", Email: "emails/" + a.v + ".md",
			Variant: a.v, Sent: a.n, Clicks: a.x})
	}
	exs := report.Build(d, runtime.ReportFilter{}, nil).Experiments
	if len(exs) != 1 {
		t.Fatalf("%d experiments, want 1", len(exs))
	}
	return &exs[0]
}

func TestRemovedArms(t *testing.T) {
	ab := &campaigns.Step{Name: "hello", Kind: campaigns.StepSend, Send: []campaigns.Variant{
		{Name: "a", Email: "emails/a.md", Weight: 50}, {Name: "b", Email: "emails/b.md", Weight: 50}}}
	only := func(email string) *campaigns.Step {
		return &campaigns.Step{Name: "hello", Kind: campaigns.StepSend, Send: []campaigns.Variant{{Name: "a", Email: email, Weight: 100}}}
	}
	type out struct {
		Removed  []campaigns.RemovedArm
		Stopped  bool
		Warnings []string
	}
	for _, c := range []struct {
		name  string
		after *campaigns.Step
		ex    *report.Experiment
		want  out
	}{
		// 20 of 1000 against 40 of 1000: z = 2.62, p = 0.0088.
		{"the loser, once b won", only("emails/b.md"), judged(t, 20, 1000, 40, 1000), out{
			Removed: []campaigns.RemovedArm{{Variant: "a", Standing: campaigns.StandingLosing, Message: "removes arm a: it was losing, 2% vs 4% for b, p = 0.009"}},
			Stopped: true}},
		// 4 of 40 against 2 of 40: p = 0.396, not enough data.
		{"the leader, before a verdict", only("emails/b.md"), judged(t, 4, 40, 2, 40), out{
			Removed: []campaigns.RemovedArm{{Variant: "a", Standing: campaigns.StandingUndecided, Message: "removes arm a: it was undecided, 10% vs 5% for b, p = 0.396"}},
			Stopped: true,
			Warnings: []string{"removes arm a, the leader so far, before the experiment has a verdict: 10% vs 5% for b, p = 0.396",
				"stops the experiment before a verdict: not enough data yet: need ~400 more sends per arm (p = 0.396)"}}},
		// 900 of 30000 against 910 of 30000: p = 0.811 with the sample a
		// 20% lift needs: no difference, so either may go.
		{"one of two no different", only("emails/b.md"), judged(t, 900, 30000, 910, 30000), out{
			Removed: []campaigns.RemovedArm{{Variant: "a", Standing: campaigns.StandingNoDifferent, Message: "removes arm a: it was no different, 3% vs 3% for b, p = 0.811"}},
			Stopped: true}},
		{"a step removed before any sends", nil, nil, out{
			Removed: []campaigns.RemovedArm{
				{Variant: "a", Standing: campaigns.StandingUndecided, Message: "removes arm a: it had no sends in the period"},
				{Variant: "b", Standing: campaigns.StandingUndecided, Message: "removes arm b: it had no sends in the period"}},
			Stopped:  true,
			Warnings: []string{"stops the experiment before a verdict: it has no sends in the period yet"}}},
		{"both arms kept", ab, judged(t, 4, 40, 2, 40), out{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pe campaigns.PlanExperiment
			removed(&pe, ab, c.after, c.ex)
			if diff := cmp.Diff(c.want, out{pe.Removed, pe.Stopped, pe.Warnings}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	var got []string
	for _, n := range []int{0, 999, 1000, 12000, 1234567} {
		got = append(got, thousands(n))
	}
	if diff := cmp.Diff([]string{"0", "999", "1,000", "12,000", "1,234,567"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A sequence lasts until its shortest after: exit, the programme's
// included unless it spares the sequence; without one, its waits.
func TestLength(t *testing.T) {
	day := campaigns.Duration(campaigns.Day)
	prog := &campaigns.Program{Sequences: map[string]*campaigns.Sequence{
		"welcome": {Exits: []campaigns.ExitRule{{Reason: "timeout", After: 90 * day}}},
		"drip": {Steps: []campaigns.Step{{Kind: campaigns.StepWait, Wait: 7 * day},
			{Kind: campaigns.StepWaitFor, WaitFor: &campaigns.WaitFor{Within: 3 * day}}, {Kind: campaigns.StepWaitUntil}}},
	}, Exits: []campaigns.ExitRule{{Reason: "stale", After: 60 * day, Except: []string{"drip"}}}}
	if got := Length(prog, "welcome"); got != 60*campaigns.Day {
		t.Errorf("welcome lasts %v, want the programme's 60 days", got)
	}
	if got := Length(prog, "drip"); got != 17*campaigns.Day {
		t.Errorf("drip lasts %v, want 7 + 3 + a week = 17 days", got)
	}
}
