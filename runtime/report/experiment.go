package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/stat/distuv"
)

// The experiments' settings. The language names no metric per
// experiment, so every A/B step is judged on clicks of delivered, the
// playbooks' first measure; Power and MinimumLift size the sample that
// could have shown a lift worth acting on.
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
	Metric   string `json:"metric"`
	Arms     []Arm  `json:"arms"`
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
}

// Arm is one arm's sample and rate.
type Arm struct {
	Variant string `json:"variant"`
	Email   string `json:"email"`
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

// experiments finds the steps with more than one arm and judges each.
func experiments(seqs []Sequence) []Experiment {
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
			ex := Experiment{Sequence: s.Name, Step: step, Metric: ExperimentMetric}
			for _, r := range rows {
				ex.Arms = append(ex.Arms, Arm{Variant: r.Variant, Email: r.Email, Rate: NewRate(r.Clicks, r.Delivered)})
			}
			judge(&ex)
			out = append(out, ex)
		}
	}
	return out
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
		ex.Verdict = "not enough data yet: no arm has a click"
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
	needLift := SampleSize(pool, math.Min(1, pool*(1+MinimumLift)), alpha, Power)
	if minN >= enough && minN >= needLift {
		ex.Verdict = fmt.Sprintf("no difference: a lift of %.0f%% on %s would most likely have shown by now (p = %s)",
			100*MinimumLift, Percent(pool), pValue(float64(ex.PValue)))
		return
	}
	need := needLift
	if d := rateOf(lead) - rateOf(closest); d >= MinimumLift*pool {
		if obs := SampleSize(rateOf(closest), rateOf(lead), alpha, Power); obs > minN || minN < enough {
			need = obs
		}
	}
	need = max(need, enough)
	ex.MoreNeeded = roundUp(need - minN)
	ex.Verdict = fmt.Sprintf("not enough data yet: need ~%d more sends per arm (p = %s)", ex.MoreNeeded, pValue(float64(ex.PValue)))
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
