package backend

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/report"
)

// ExperimentPeriod is how far back the plan judges an experiment: the
// period nurture report shows by default, so that the reviewer reads
// the verdict the report gives.
const ExperimentPeriod = 30 * 24 * time.Hour

// eventWindow is the span of entry events the plan counts to estimate
// an event-entered sequence's audience.
const eventWindow = 30 * 24 * time.Hour

// reporter is what the plan asks of a store to judge experiments.
type reporter interface {
	Report(ctx context.Context, f runtime.ReportFilter) (runtime.ReportData, error)
}

// experiments judges the A/B sends of every sequence the change touches
// (changes to it, or to an email one of its A/B sends sends), as nurture
// report judges them on the store's sends of the last ExperimentPeriod,
// under the applied programme old (its metrics); says which arms the
// change removes and where they stood; and for the A/B sends prog keeps
// that have no verdict yet, whether the audience can give each arm the
// sample it needs.
func experiments(ctx context.Context, st runtime.Store, old, prog *campaigns.Program, changes []campaigns.Change, now time.Time) ([]campaigns.PlanExperiment, error) {
	var out []campaigns.PlanExperiment
	for _, name := range touched(old, prog, changes) {
		oldSeq, newSeq := sequenceOf(old, name), sequenceOf(prog, name)
		steps := abSteps(oldSeq, newSeq)
		if len(steps) == 0 {
			continue
		}
		judgeBy := old
		if oldSeq == nil {
			judgeBy = prog
		}
		f := runtime.ReportFilter{Since: now.Add(-ExperimentPeriod), Until: now, Sequence: name}
		judged := map[string]report.Experiment{}
		if rs, ok := st.(reporter); ok {
			f = report.GoalFilter(f, judgeBy)
			data, err := rs.Report(ctx, f)
			if err != nil {
				return nil, fmt.Errorf("judging the experiments of sequence %s: %w", name, err)
			}
			for _, ex := range report.Build(data, f, judgeBy).Experiments {
				judged[ex.Step] = ex
			}
		}
		for _, step := range steps {
			ex, ok := judged[step]
			var exp *report.Experiment
			if ok {
				exp = &ex
			}
			// A step that becomes an A/B send only now is named by the
			// new programme; the applied one judges what it sent.
			named := judgeBy
			if b := stepOf(oldSeq, step); b == nil || len(b.Send) < 2 {
				named = prog
			}
			pe := planExperiment(name, step, named, exp, f)
			removed(&pe, stepOf(oldSeq, step), stepOf(newSeq, step), exp)
			// A decided experiment needs no more sends.
			if s := stepOf(newSeq, step); s != nil && len(s.Send) > 1 && (exp == nil || !exp.Decided()) {
				sample, err := experimentSample(ctx, st, prog, name, *s, exp, now)
				if err != nil {
					return nil, err
				}
				pe.Sample = sample
			}
			out = append(out, pe)
		}
	}
	subjects, err := subjectExperiments(ctx, st, old, prog, changes, now)
	return append(out, subjects...), err
}

// touched lists, in order, the sequences a change adds, changes or
// removes, and those whose A/B sends send an email it changes.
func touched(old, prog *campaigns.Program, changes []campaigns.Change) []string {
	var names []string
	emails := map[string]bool{}
	for _, c := range changes {
		switch c.Kind {
		case "sequence":
			names = append(names, c.Name)
		case "email":
			emails[c.Name] = true
		}
	}
	for _, p := range []*campaigns.Program{old, prog} {
		if p == nil {
			continue
		}
		for name, seq := range p.Sequences {
			for _, s := range seq.Steps {
				if len(s.Send) > 1 && slices.ContainsFunc(s.Send, func(v campaigns.Variant) bool { return emails[v.Email] }) {
					names = append(names, name)
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func sequenceOf(p *campaigns.Program, name string) *campaigns.Sequence {
	if p == nil {
		return nil
	}
	return p.Sequences[name]
}

func stepOf(seq *campaigns.Sequence, name string) *campaigns.Step {
	if seq == nil {
		return nil
	}
	for i := range seq.Steps {
		if seq.Steps[i].Name == name {
			return &seq.Steps[i]
		}
	}
	return nil
}

// abSteps names the A/B sends of either version of a sequence: the new
// version's in its order, then those only the applied one has.
func abSteps(old, seq *campaigns.Sequence) []string {
	var out []string
	for _, s := range []*campaigns.Sequence{seq, old} {
		if s == nil {
			continue
		}
		for _, st := range s.Steps {
			if len(st.Send) > 1 && !slices.Contains(out, st.Name) {
				out = append(out, st.Name)
			}
		}
	}
	return out
}

// planExperiment is the report's verdict on one A/B send, counts and
// rates only.
func planExperiment(seq, step string, prog *campaigns.Program, ex *report.Experiment, f runtime.ReportFilter) campaigns.PlanExperiment {
	metric, _ := report.StepMetric(prog, seq, step)
	pe := campaigns.PlanExperiment{Sequence: seq, Step: step, Metric: metric, Since: f.Since.UTC(), Until: f.Until.UTC(),
		Arms: []campaigns.PlanArm{}, Verdict: "no sends of its arms in the period yet"}
	if ex == nil {
		return pe
	}
	num := func(n report.Number) *float64 {
		if math.IsNaN(float64(n)) {
			return nil
		}
		v := float64(n)
		return &v
	}
	for _, a := range ex.Arms {
		pe.Arms = append(pe.Arms, campaigns.PlanArm{Variant: a.Variant, Email: a.Email, Sends: a.Rate.Of, Count: a.Rate.Count,
			Rate: num(a.Rate.Value), Low: num(a.Rate.Low), High: num(a.Rate.High)})
	}
	pe.Leader, pe.Winner, pe.PValue, pe.Verdict = ex.Leader, ex.Winner, num(ex.PValue), ex.Verdict
	return pe
}

// removed records the arms of the applied step before that the new step
// after (nil: gone) no longer has, where each stood in the verdict ex
// (nil: no sends yet), and warns of an arm removed while it won or led,
// and of an experiment stopped before its verdict.
func removed(pe *campaigns.PlanExperiment, before, after *campaigns.Step, ex *report.Experiment) {
	if before == nil || len(before.Send) < 2 {
		return
	}
	// An A/B send keeps the arms it names; a plain send (its one arm
	// named a) keeps the arm whose email it sends.
	kept := map[string]bool{}
	if after != nil {
		for _, v := range after.Send {
			if len(after.Send) > 1 {
				kept[v.Name] = true
				continue
			}
			for _, b := range before.Send {
				kept[b.Name] = kept[b.Name] || b.Email == v.Email
			}
		}
	}
	var names []string
	for _, v := range before.Send {
		names = append(names, v.Name)
	}
	removedArms(pe, "arm", names, kept, after == nil || len(after.Send) < 2, ex)
}

// removedArms records the arms of names (what says what they are: an
// arm, a subject line) that kept does not keep, where each stood in the
// verdict ex, and the warnings removing them earns; stopped says the
// change ends the experiment.
func removedArms(pe *campaigns.PlanExperiment, what string, names []string, kept map[string]bool, stopped bool, ex *report.Experiment) {
	decided := ex != nil && ex.Decided()
	for _, name := range names {
		if kept[name] {
			continue
		}
		ra := campaigns.RemovedArm{Variant: name, Standing: campaigns.StandingUndecided}
		if ex == nil || !slices.ContainsFunc(ex.Arms, func(a report.Arm) bool { return a.Variant == name }) {
			ra.Message = fmt.Sprintf("removes %s %s: it had no sends in the period", what, name)
			pe.Removed = append(pe.Removed, ra)
			continue
		}
		standing, other, p := ex.Standing(name)
		ra.Standing = standing
		this := ex.Arms[slices.IndexFunc(ex.Arms, func(a report.Arm) bool { return a.Variant == name })]
		against := fmt.Sprintf("%s vs %s for %s, p = %s", report.Percent(float64(this.Rate.Value)),
			report.Percent(float64(other.Rate.Value)), other.Variant, report.FormatP(p))
		words := map[string]string{
			campaigns.StandingLosing:      "it was losing",
			campaigns.StandingWinning:     "it was winning",
			campaigns.StandingNoDifferent: "it was no different",
			campaigns.StandingUndecided:   "it was undecided",
		}
		ra.Message = fmt.Sprintf("removes %s %s: %s, %s", what, name, words[standing], against)
		pe.Removed = append(pe.Removed, ra)
		switch {
		case standing == campaigns.StandingWinning:
			pe.Warnings = append(pe.Warnings, fmt.Sprintf("removes %s %s, the winner: %s", what, name, against))
		case !decided && name == ex.Leader:
			pe.Warnings = append(pe.Warnings, fmt.Sprintf("removes %s %s, the leader so far, before the experiment has a verdict: %s", what, name, against))
		}
	}
	pe.Stopped = stopped
	if pe.Stopped && !decided {
		why := "it has no sends in the period yet"
		if ex != nil {
			why = ex.Verdict
		}
		pe.Warnings = append(pe.Warnings, "stops the experiment before a verdict: "+why)
	}
}

// experimentSample is the power calculation for an A/B send s of
// sequence seq that prog keeps: the sends each arm needs to detect the
// step's lift over the arms' pooled rate now (ex, when judged on the
// same metric and any arm has counted one) or the playbooks' benchmark
// for the metric, against the sends the audience can give the arm with
// the smallest share over the sequence's length. Nil when neither a
// baseline nor the audience is known: a goal with no data yet, a
// sequence entered only by enrollment.
func experimentSample(ctx context.Context, st runtime.Store, prog *campaigns.Program, seq string, s campaigns.Step, ex *report.Experiment, now time.Time) (*campaigns.ExperimentSample, error) {
	metric, lift := report.StepMetric(prog, seq, s.Name)
	sample := &campaigns.ExperimentSample{Lift: lift}
	count, of := 0, 0
	if ex != nil && ex.Metric == report.MetricName(metric) {
		for _, a := range ex.Arms {
			count, of = count+a.Rate.Count, of+a.Rate.Of
		}
	}
	switch b, ok := report.MetricBenchmark(metric); {
	case count > 0 && count < of:
		sample.Baseline, sample.BaselineFrom = float64(count)/float64(of), "arms"
	case ok:
		sample.Baseline, sample.BaselineFrom = b, "benchmark"
	default:
		return nil, nil
	}
	audience, from, horizon, err := reach(ctx, st, prog, seq, now)
	if err != nil || from == "" {
		return nil, err
	}
	sample.Audience, sample.AudienceFrom, sample.Horizon = audience, from, campaigns.Duration(horizon)
	sample.Needed = report.NeededPerArm(sample.Baseline, lift, len(s.Send))
	least := slices.MinFunc(s.Send, func(a, b campaigns.Variant) int { return cmp.Compare(a.Weight, b.Weight) })
	sample.Arm, sample.Has = least.Name, armSends(ex, least.Name)
	sample.Gives = int(float64(audience) * float64(least.Weight) / 100 * treated(prog, seq))
	sample.Short = sample.Has+sample.Gives < sample.Needed
	sample.Summary = sampleSummary(*sample)
	return sample, nil
}

// armSends is how many sends the experiment ex counted for the arm
// named, 0 when it has none.
func armSends(ex *report.Experiment, arm string) int {
	if ex != nil {
		for _, a := range ex.Arms {
			if a.Variant == arm {
				return a.Rate.Of
			}
		}
	}
	return 0
}

// treated is the share of a sequence's audience its holdouts leave to
// its arms: they keep theirs from every arm.
func treated(prog *campaigns.Program, seq string) float64 {
	return (1 - float64(prog.Sequences[seq].Holdout)/float64(campaigns.Whole)) * (1 - float64(prog.Holdout)/float64(campaigns.Whole))
}

// reach is the audience a sequence can reach over its length (at least
// ExperimentPeriod, the span the report judges by): the entry segment's
// size now, or for an event entry the contacts who did it in the last
// eventWindow, scaled to that span. A sequence entered only by
// enrollment has no audience of its own: from is then empty.
func reach(ctx context.Context, st runtime.Store, prog *campaigns.Program, name string, now time.Time) (n int, from string, horizon time.Duration, err error) {
	seq := prog.Sequences[name]
	horizon = max(Length(prog, name), ExperimentPeriod)
	switch e := seq.Entry; {
	case e.Segment != "" && prog.Segments[e.Segment] != nil:
		counts, err := st.Counts(ctx, prog, []campaigns.Predicate{prog.Inline(prog.Segments[e.Segment].When)}, now)
		if err != nil {
			return 0, "", 0, fmt.Errorf("counting segment %s: %w", e.Segment, err)
		}
		return counts[0], "segment " + e.Segment + " now", horizon, nil
	case e.Event != nil:
		ev := *e.Event
		ev.Within, ev.MinCount, ev.MaxCount = campaigns.Duration(eventWindow), max(ev.MinCount, 1), nil
		p := campaigns.Predicate{Op: campaigns.OpEvent, Event: &ev}
		if e.When != nil {
			p = campaigns.All(p, prog.Inline(*e.When))
		}
		counts, err := st.Counts(ctx, prog, []campaigns.Predicate{p}, now)
		if err != nil {
			return 0, "", 0, fmt.Errorf("counting event %s: %w", ev.Name, err)
		}
		scaled := int(float64(counts[0]) * float64(horizon) / float64(eventWindow))
		return scaled, "event " + ev.Name + ", last 30 days", horizon, nil
	}
	return 0, "", 0, nil
}

// Length is how long a contact can stay in a sequence: its shortest
// after: exit rule, the programme's included; without one, its waits
// added up (a wait_until as the week it may take).
func Length(prog *campaigns.Program, name string) time.Duration {
	seq := prog.Sequences[name]
	var shortest time.Duration
	for _, rules := range [][]campaigns.ExitRule{seq.Exits, prog.Exits} {
		for _, r := range rules {
			if d := r.After.Std(); d > 0 && !r.Spares(name) && (shortest == 0 || d < shortest) {
				shortest = d
			}
		}
	}
	if shortest > 0 {
		return shortest
	}
	var sum time.Duration
	for _, s := range seq.Steps {
		switch s.Kind {
		case campaigns.StepWait:
			sum += s.Wait.Std()
		case campaigns.StepWaitFor:
			sum += s.WaitFor.Within.Std()
		case campaigns.StepWaitUntil:
			sum += 7 * 24 * time.Hour
		}
	}
	return sum
}

// sampleSummary says what an experiment needs and what it gets: "arm b
// needs about 3,900 sends to detect a 20% lift on 3%; the audience
// (segment new_signups now) gives it about 1,200 in 90d".
func sampleSummary(s campaigns.ExperimentSample) string {
	has := ""
	if s.Has > 0 {
		has = fmt.Sprintf(" beside the %s it has", thousands(s.Has))
	}
	return fmt.Sprintf("arm %s needs about %s sends to detect a %s lift on %s; the audience (%s) gives it about %s in %s%s",
		s.Arm, thousands(report.RoundUp(s.Needed)), report.Percent(s.Lift), report.Percent(s.Baseline), s.AudienceFrom,
		thousands(s.Gives), s.Horizon, has)
}

// thousands writes n with commas: 3,900.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
