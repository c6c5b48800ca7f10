package report

import (
	"fmt"
	"math"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Holdout is what a holdout shows: the goal rate of the contacts
// treated (mailed) against that of the control group held out, and the
// lift, the difference the email made, with its interval.
type Holdout struct {
	// Sequence is the sequence held out of; empty for the programme's
	// holdout, whose control group got no marketing email at all.
	Sequence string `json:"sequence"`
	Metric   string `json:"metric"`
	// ControlArm is the control group compared: the sequence's own
	// (control) or, for a sequence without one, the programme's
	// (global_control).
	ControlArm string `json:"control_arm"`
	Treatment  Rate   `json:"treatment"`
	Control    Rate   `json:"control"`
	// Lift is the treatment's rate minus the control's, with Newcombe's
	// hybrid score interval; RelativeLift is that difference over the
	// control's rate, with the interval of the log risk ratio (undefined,
	// null, when either group has no goal).
	Lift         Interval `json:"lift"`
	RelativeLift Interval `json:"relative_lift"`
	// PValue is the two-proportion z-test's of the two rates.
	PValue  Number `json:"p_value"`
	Verdict string `json:"verdict"`
}

// Interval is an estimate with its interval at Confidence.
type Interval struct {
	Value Number `json:"value"`
	Low   Number `json:"low"`
	High  Number `json:"high"`
}

// HoldoutMetric is what a holdout is judged on: the programme's goals.
const HoldoutMetric = "goal"

// holdouts compares each holdout's arms: each sequence's treatment with
// its own control group, or the programme's where it has none, and the
// programme's treated contacts with its control group.
func holdouts(rows []runtime.HoldoutStats, goals bool) []Holdout {
	type arms map[string]runtime.HoldoutStats
	by := map[string]arms{}
	var order []string
	for _, r := range rows {
		if by[r.Sequence] == nil {
			by[r.Sequence] = arms{}
			order = append(order, r.Sequence)
		}
		by[r.Sequence][r.Arm] = r
	}
	out := []Holdout{}
	for _, seq := range order {
		a := by[seq]
		ctl, ok := a[campaigns.ArmControl]
		arm := campaigns.ArmControl
		if !ok {
			ctl, arm = a[campaigns.ArmGlobalControl], campaigns.ArmGlobalControl
		}
		if ctl.Contacts == 0 {
			continue // nobody held out of it in the period: nothing to compare
		}
		h := Lift(a[campaigns.ArmTreatment].Goals, a[campaigns.ArmTreatment].Contacts, ctl.Goals, ctl.Contacts)
		h.Sequence, h.ControlArm = seq, arm
		if !goals {
			h.Verdict = "no goals declared: declare goals: to measure what the email adds"
		}
		out = append(out, h)
	}
	return out
}

// Lift compares x1 of n1 treated contacts reaching a goal with x2 of n2
// held out: the difference of the rates with Newcombe's hybrid score
// interval (method 10 of Newcombe 1998), which builds on each rate's
// Wilson interval and, unlike the Wald interval, holds at the small
// counts and rates near 0 a control group has; the relative lift with
// the Katz log interval of the risk ratio; the two-proportion z-test;
// and a verdict in words.
func Lift(x1, n1, x2, n2 int) Holdout {
	nan := Number(math.NaN())
	h := Holdout{Metric: HoldoutMetric, Treatment: NewRate(x1, n1), Control: NewRate(x2, n2),
		Lift: Interval{nan, nan, nan}, RelativeLift: Interval{nan, nan, nan}, PValue: nan}
	if n1 == 0 || n2 == 0 {
		h.Verdict = "not enough data yet: no contact was treated in the period"
		if n2 == 0 {
			h.Verdict = "not enough data yet: no contact was held out in the period"
		}
		return h
	}
	t, c := h.Treatment, h.Control
	p1, p2 := float64(t.Value), float64(c.Value)
	d := p1 - p2
	h.Lift = Interval{
		Value: Number(d),
		Low:   Number(d - math.Hypot(p1-float64(t.Low), float64(c.High)-p2)),
		High:  Number(d + math.Hypot(float64(t.High)-p1, p2-float64(c.Low))),
	}
	if x1 > 0 && x2 > 0 {
		rr := p1 / p2
		se := math.Sqrt(1/float64(x1) - 1/float64(n1) + 1/float64(x2) - 1/float64(n2))
		z := zFor(Confidence)
		h.RelativeLift = Interval{
			Value: Number(rr - 1),
			Low:   Number(math.Exp(math.Log(rr)-z*se) - 1),
			High:  Number(math.Exp(math.Log(rr)+z*se) - 1),
		}
	}
	_, p := TwoProportionZ(x1, n1, x2, n2)
	h.PValue = Number(p)
	interval := fmt.Sprintf("%s points, %.0f%% interval %s to %s; p = %s", points(d), 100*Confidence,
		points(float64(h.Lift.Low)), points(float64(h.Lift.High)), pValue(p))
	switch {
	case x1+x2 == 0:
		h.Verdict = "not enough data yet: no contact in either group reached a goal"
	case float64(h.Lift.Low) > 0:
		h.Verdict = fmt.Sprintf("the email lifts the goal rate: %s against %s held out (%s)", Percent(p1), Percent(p2), interval)
	case float64(h.Lift.High) < 0:
		h.Verdict = fmt.Sprintf("the control group does better: %s against %s treated (%s)", Percent(p2), Percent(p1), interval)
	default:
		h.Verdict = fmt.Sprintf("no lift shown yet: %s against %s held out (%s)", Percent(p1), Percent(p2), interval)
	}
	return h
}

// points writes a difference of rates in percentage points, signed:
// +4.2, -0.35.
func points(d float64) string {
	s := Percent(math.Abs(d))
	s = s[:len(s)-1]
	if d < 0 {
		return "-" + s
	}
	return "+" + s
}
