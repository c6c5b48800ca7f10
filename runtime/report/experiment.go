package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/nurture-dev/nurture/campaigns"
)

// The experiments' settings. An A/B step is judged on clicks of
// delivered, the playbooks' first measure, unless the programme names
// replies or one of its goals for it; Power and MinimumLift size the
// sample that could have shown a lift worth acting on, unless the step
// declares its own lift.
const (
	ExperimentMetric = "clicks"
	Power            = 0.8
	// MinimumLift is the smallest relative lift worth finding: an arm
	// clicked 20% more than the rest.
	MinimumLift = 0.2
)

// Experiment is one A/B step's arms and the verdict on them.
type Experiment struct {
	Sequence string `json:"sequence"`
	Step     string `json:"step"`
	// Email is the email whose subject lines a subject test compares;
	// empty for an A/B step.
	Email  string `json:"email,omitempty"`
	Metric string `json:"metric"`
	Arms   []Arm  `json:"arms"`
	// Leader is the arm with the highest rate; Winner is set when it
	// beats every other arm at Confidence.
	Leader string `json:"leader"`
	Winner string `json:"winner,omitempty"`
	// PValue is the two-proportion z-test's of the leader against the
	// arm closest to it (Bonferroni-corrected for more than two arms).
	PValue Number `json:"p_value"`
	// MoreNeeded is how many more delivered sends each arm needs before
	// a verdict, when the verdict is to keep running.
	MoreNeeded int    `json:"more_needed_per_arm,omitempty"`
	Verdict    string `json:"verdict"`

	// lift is the smallest relative lift the experiment looks for;
	// noDifference marks the verdict that none of that size is there.
	lift         float64
	noDifference bool
}

// Arm is one arm's sample and rate.
type Arm struct {
	Variant string `json:"variant"`
	Email   string `json:"email"`
	// Subject is the subject line of a subject test's arm, merge tags as
	// written.
	Subject string `json:"subject,omitempty"`
	Rate    Rate   `json:"rate"`
}

// TwoProportionZ tests whether x1 of n1 and x2 of n2 differ, with the
// pooled standard error; it returns z and the two-sided p-value.
func TwoProportionZ(x1, n1, x2, n2 int) (z, p float64) {
	if n1 == 0 || n2 == 0 {
		return math.NaN(), math.NaN()
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	pool := float64(x1+x2) / float64(n1+n2)
	se := math.Sqrt(pool * (1 - pool) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		return 0, 1
	}
	z = (p1 - p2) / se
	return z, 2 * distuv.UnitNormal.CDF(-math.Abs(z))
}

// SampleSize is how many per arm a two-sided test at level alpha needs
// to tell rates p1 and p2 apart with the given power (Fleiss, without
// continuity correction).
func SampleSize(p1, p2, alpha, power float64) int {
	if p1 == p2 {
		return math.MaxInt32
	}
	za := distuv.UnitNormal.Quantile(1 - alpha/2)
	zb := distuv.UnitNormal.Quantile(power)
	bar := (p1 + p2) / 2
	n := za*math.Sqrt(2*bar*(1-bar)) + zb*math.Sqrt(p1*(1-p1)+p2*(1-p2))
	return int(math.Ceil(n * n / ((p1 - p2) * (p1 - p2))))
}

// experiments finds the steps with more than one arm and judges each,
// on the metric and lift the programme declares for the step (prog nil:
// clicks and MinimumLift).
func experiments(seqs []Sequence, prog *campaigns.Program) []Experiment {
	out := []Experiment{}
	for _, s := range seqs {
		steps := map[string][]Row{}
		var order []string
		for _, e := range s.Emails {
			if e.Variant == "" {
				continue
			}
			if steps[e.Step] == nil {
				order = append(order, e.Step)
			}
			steps[e.Step] = append(steps[e.Step], e)
		}
		for _, step := range order {
			rows := steps[step]
			if len(rows) < 2 {
				continue
			}
			metric, lift := StepMetric(prog, s.Name, step)
			ex := Experiment{Sequence: s.Name, Step: step, Metric: MetricName(metric), lift: lift}
			for _, r := range rows {
				ex.Arms = append(ex.Arms, Arm{Variant: r.Variant, Email: r.Email, Rate: NewRate(metricCount(r, metric), r.Delivered)})
			}
			judge(&ex)
			out = append(out, ex)
		}
	}
	return out
}

// StepMetric is the metric a step of a sequence is judged by, as the
// programme names it (campaigns.MetricClick by default), and the lift it
// looks for (MinimumLift by default). A step the programme no longer has
// keeps the defaults.
func StepMetric(prog *campaigns.Program, sequence, step string) (string, float64) {
	metric, lift := campaigns.MetricClick, MinimumLift
	if prog == nil || prog.Sequences[sequence] == nil {
		return metric, lift
	}
	for _, st := range prog.Sequences[sequence].Steps {
		if st.Name == step {
			metric = st.ExperimentMetric()
			if st.MinLift > 0 {
				lift = float64(st.MinLift) / float64(campaigns.Whole)
			}
		}
	}
	return metric, lift
}

// MetricName is how the report names a metric: clicks and replies of
// delivered, or the goal by its name.
func MetricName(metric string) string {
	switch metric {
	case campaigns.MetricClick:
		return ExperimentMetric
	case campaigns.MetricReply:
		return "replies"
	}
	return metric
}

// metricCount is the row's count of the metric: contacts who clicked,
// replied, or reached the goal.
func metricCount(r Row, metric string) int {
	switch metric {
	case campaigns.MetricClick:
		return r.Clicks
	case campaigns.MetricReply:
		return r.Replies
	}
	return r.Goals
}

// NeededPerArm is the sends each of arms arms needs to detect a relative
// lift over baseline with Power, at Confidence split among the
// comparisons as the verdict splits it.
func NeededPerArm(baseline, lift float64, arms int) int {
	alpha := (1 - Confidence) / float64(max(arms-1, 1))
	return SampleSize(baseline, math.Min(1, baseline*(1+lift)), alpha, Power)
}

// Standing is where an arm stands in the verdict: winning or losing
// when there is a winner, no different when there is no difference,
// else undecided; with the arm it is compared with (the winner or the
// leader; the closest arm for the winner or leader itself) and the
// p-value of the two, corrected for the comparisons as the verdict is.
func (ex Experiment) Standing(variant string) (standing string, other Arm, p float64) {
	i := slices.IndexFunc(ex.Arms, func(a Arm) bool { return a.Variant == variant })
	if i < 0 {
		return campaigns.StandingUndecided, Arm{}, math.NaN()
	}
	arm := ex.Arms[i]
	top := cmpOr(ex.Winner, ex.Leader)
	if variant == top {
		// Compared with the best of the rest.
		best := -1.0
		for _, a := range ex.Arms {
			if a.Variant != variant && rateOf(a) > best {
				best, other = rateOf(a), a
			}
		}
	} else if j := slices.IndexFunc(ex.Arms, func(a Arm) bool { return a.Variant == top }); j >= 0 {
		other = ex.Arms[j]
	}
	p = math.NaN()
	if other.Variant != "" {
		_, p = TwoProportionZ(arm.Rate.Count, arm.Rate.Of, other.Rate.Count, other.Rate.Of)
		p = math.Min(1, p*float64(len(ex.Arms)-1))
	}
	switch {
	case ex.Winner == variant:
		standing = campaigns.StandingWinning
	case ex.Winner != "":
		standing = campaigns.StandingLosing
	case ex.noDifference:
		standing = campaigns.StandingNoDifferent
	default:
		standing = campaigns.StandingUndecided
	}
	return standing, other, p
}

// Decided says the verdict is in: a winner, or no difference worth
// having.
func (ex Experiment) Decided() bool { return ex.Winner != "" || ex.noDifference }

// MetricBenchmark is the playbooks' rate for a metric, the middle of
// their range (clicks 2–4% of delivered, replies 1–5%), to size an
// experiment before it has data; a goal has none.
func MetricBenchmark(metric string) (float64, bool) {
	key := map[string]string{campaigns.MetricClick: "ctr", campaigns.MetricReply: "reply"}[metric]
	b, ok := Benchmarks[key]
	if !ok {
		return 0, false
	}
	return (b.Low + b.High) / 2, true
}

// FormatP writes a p-value as the verdicts do: 0.009, or < 0.001.
func FormatP(p float64) string { return pValue(p) }

// RoundUp rounds a count of sends up to two significant digits, as the
// verdicts do.
func RoundUp(n int) int { return roundUp(n) }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// judge gives an experiment its verdict: the leader wins when it beats
// every other arm at Confidence (the level split among the comparisons);
// otherwise, when each arm has the sample that would most likely have
// shown a MinimumLift, there is no difference worth having; otherwise it
// must keep running, and the power calculation says for how long.
func judge(ex *Experiment) {
	ex.PValue = Number(math.NaN())
	arms := slices.Clone(ex.Arms)
	slices.SortStableFunc(arms, func(a, b Arm) int {
		return -cmpFloat(rateOf(a), rateOf(b))
	})
	lead := arms[0]
	ex.Leader = lead.Variant
	alpha := (1 - Confidence) / float64(len(arms)-1)
	minN, clicks, sent := math.MaxInt, 0, 0
	for _, a := range arms {
		minN = min(minN, a.Rate.Of)
		clicks += a.Rate.Count
		sent += a.Rate.Of
	}
	if minN == 0 {
		ex.Verdict = "not enough data yet: an arm has no delivered sends"
		return
	}
	if clicks == 0 {
		ex.Verdict = "not enough data yet: no arm has " + noneYet(ex.Metric)
		return
	}
	worst, closest := -1.0, arms[1]
	for _, a := range arms[1:] {
		_, p := TwoProportionZ(lead.Rate.Count, lead.Rate.Of, a.Rate.Count, a.Rate.Of)
		if p > worst {
			worst, closest = p, a
		}
	}
	ex.PValue = Number(math.Min(1, worst*float64(len(arms)-1)))
	pool := float64(clicks) / float64(sent)
	// The z-test leans on the normal approximation, which holds once each
	// arm expects 5 clicks and 5 misses: below that a p-value under the
	// level is no evidence.
	enough := int(math.Ceil(5 / math.Min(pool, 1-pool)))
	if minN >= enough && worst < alpha {
		ex.Winner = lead.Variant
		ex.Verdict = fmt.Sprintf("%s wins: %s against %s for %s (p = %s)", lead.Variant,
			Percent(rateOf(lead)), Percent(rateOf(closest)), closest.Variant, pValue(float64(ex.PValue)))
		return
	}
	lift := ex.lift
	if lift <= 0 {
		lift = MinimumLift
	}
	needLift := NeededPerArm(pool, lift, len(arms))
	if minN >= enough && minN >= needLift {
		ex.noDifference = true
		ex.Verdict = fmt.Sprintf("no difference: a lift of %s on %s would most likely have shown by now (p = %s)",
			Percent(lift), Percent(pool), pValue(float64(ex.PValue)))
		return
	}
	need := needLift
	if d := rateOf(lead) - rateOf(closest); d >= lift*pool {
		if obs := SampleSize(rateOf(closest), rateOf(lead), alpha, Power); obs > minN || minN < enough {
			need = obs
		}
	}
	need = max(need, enough)
	ex.MoreNeeded = roundUp(need - minN)
	ex.Verdict = fmt.Sprintf("not enough data yet: need ~%d more sends per arm (p = %s)", ex.MoreNeeded, pValue(float64(ex.PValue)))
}

// noneYet is what no arm has yet: "a click", "a reply", "reached converted".
func noneYet(metric string) string {
	switch metric {
	case ExperimentMetric:
		return "a click"
	case "replies":
		return "a reply"
	}
	return "reached " + metric
}

func rateOf(a Arm) float64 { return float64(a.Rate.Count) / float64(max(a.Rate.Of, 1)) }

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// roundUp rounds a count of sends up to two significant digits: a
// power calculation is an estimate, and 3,800 reads better than 3,841.
func roundUp(n int) int {
	if n < 100 {
		return n
	}
	unit := int(math.Pow(10, math.Floor(math.Log10(float64(n)))-1))
	return (n + unit - 1) / unit * unit
}

func pValue(p float64) string {
	if p < 0.001 {
		return "< 0.001"
	}
	return strconv.FormatFloat(p, 'f', 3, 64)
}
