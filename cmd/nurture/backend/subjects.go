package backend

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/report"
)

// subjectExperiments judges the subject lines of every email whose
// subject lines the change touches, where either version tests more than
// one, as nurture report judges them on the store's sends of the last
// ExperimentPeriod: one per step that sent the email with a line of the
// test (or, before any, that sends it), with the lines the change removes
// and where they stood.
func subjectExperiments(ctx context.Context, st runtime.Store, old, prog *campaigns.Program, changes []campaigns.Change, now time.Time) ([]campaigns.PlanExperiment, error) {
	var out []campaigns.PlanExperiment
	for _, c := range changes {
		if c.Kind != "email" {
			continue
		}
		before, after := emailOf(old, c.Name), emailOf(prog, c.Name)
		if len(before) < 2 && len(after) < 2 || !subjectsDiffer(before, after) && metricOf(old, c.Name) == metricOf(prog, c.Name) {
			continue
		}
		judgeBy := old
		if len(before) < 2 {
			judgeBy = prog
		}
		f := runtime.ReportFilter{Since: now.Add(-ExperimentPeriod), Until: now}
		var judged []report.Experiment
		if rs, ok := st.(reporter); ok {
			data, err := rs.Report(ctx, f)
			if err != nil {
				return nil, fmt.Errorf("judging the subject lines of %s: %w", c.Name, err)
			}
			for _, ex := range report.Build(data, f, judgeBy).SubjectTests {
				if ex.Email == c.Name {
					judged = append(judged, ex)
				}
			}
		}
		if len(judged) == 0 {
			// No sends yet: each step that sends the email.
			for _, at := range sendersOf(prog, old, c.Name) {
				judged = append(judged, report.Experiment{Sequence: at[0], Step: at[1], Email: c.Name})
			}
		}
		var names []string
		for _, v := range before {
			names = append(names, v.Name)
		}
		// A test keeps the lines it names; a single line keeps the line
		// of the test it reads as.
		kept := map[string]bool{}
		for _, v := range after {
			if len(after) > 1 {
				kept[v.Name] = true
				continue
			}
			for _, b := range before {
				kept[b.Name] = kept[b.Name] || b.Subject.String() == v.Subject.String()
			}
		}
		for _, ex := range judged {
			metric := report.SubjectMetric(judgeBy, c.Name)
			pe := campaigns.PlanExperiment{Sequence: ex.Sequence, Step: ex.Step, Email: c.Name, Metric: metric,
				Since: f.Since.UTC(), Until: f.Until.UTC(), Arms: []campaigns.PlanArm{}, Verdict: "no sends of its subject lines in the period yet"}
			var exp *report.Experiment
			if len(ex.Arms) > 0 {
				exp = &ex
				pe = planExperiment(ex.Sequence, ex.Step, judgeBy, exp, f)
				pe.Email, pe.Metric = c.Name, metric
				for i := range pe.Arms {
					pe.Arms[i].Subject = ex.Arms[i].Subject
				}
			}
			if len(before) > 1 {
				removedArms(&pe, "subject line", names, kept, len(after) < 2, exp)
			}
			// A decided test needs no more sends.
			if len(after) > 1 && (exp == nil || !exp.Decided()) {
				sample, err := subjectSample(ctx, st, prog, pe.Sequence, pe.Step, c.Name, after, exp, now)
				if err != nil {
					return nil, err
				}
				pe.Sample = sample
			}
			out = append(out, pe)
		}
	}
	return out, nil
}

// metricOf is what an email's subject lines are judged by in p.
func metricOf(p *campaigns.Program, name string) string {
	return report.SubjectMetric(p, name)
}

func emailOf(p *campaigns.Program, name string) []campaigns.SubjectVariant {
	if p == nil || p.Emails[name] == nil {
		return nil
	}
	return p.Emails[name].Subjects
}

// subjectsDiffer says two versions of an email's subject lines differ:
// in names, lines or weights.
func subjectsDiffer(a, b []campaigns.SubjectVariant) bool {
	return !slices.EqualFunc(a, b, func(x, y campaigns.SubjectVariant) bool {
		return x.Name == y.Name && x.Weight == y.Weight && x.Subject.String() == y.Subject.String()
	})
}

// sendersOf lists the sequence and step of each step that sends an
// email, in the new programme or else the applied one.
func sendersOf(prog, old *campaigns.Program, email string) [][2]string {
	var out [][2]string
	for _, p := range []*campaigns.Program{prog, old} {
		if p == nil || len(out) > 0 {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(p.Sequences)) {
			for _, st := range p.Sequences[name].Steps {
				if slices.ContainsFunc(st.Send, func(v campaigns.Variant) bool { return v.Email == email }) {
					out = append(out, [2]string{name, st.Name})
				}
			}
		}
	}
	return out
}

// subjectSample is the power calculation for the subject lines of an
// email that a step of sequence seq sends, as experimentSample's for an
// A/B send: the sends each line needs to detect a MinimumLift in clicks
// over the lines' pooled rate now (ex, when any line has a click) or the
// playbooks' click rate, against the sends the audience gives the line
// with the smallest share — through the step's arm that sends the email
// when the step is an A/B send. Nil when the step is gone or the
// audience is unknown.
func subjectSample(ctx context.Context, st runtime.Store, prog *campaigns.Program, seq, step, email string, lines []campaigns.SubjectVariant, ex *report.Experiment, now time.Time) (*campaigns.ExperimentSample, error) {
	s := stepOf(sequenceOf(prog, seq), step)
	if s == nil {
		return nil, nil
	}
	sample := &campaigns.ExperimentSample{Lift: report.MinimumLift}
	metric := report.SubjectMetric(prog, email)
	count, of := 0, 0
	if ex != nil && ex.Metric == report.MetricName(metric) {
		for _, a := range ex.Arms {
			count, of = count+a.Rate.Count, of+a.Rate.Of
		}
	}
	if count > 0 && count < of {
		sample.Baseline, sample.BaselineFrom = float64(count)/float64(of), "arms"
	} else {
		sample.Baseline, _ = report.MetricBenchmark(metric)
		sample.BaselineFrom = "benchmark"
	}
	audience, from, horizon, err := reach(ctx, st, prog, seq, now)
	if err != nil || from == "" {
		return nil, err
	}
	share := 1.0
	if len(s.Send) > 1 {
		share = 0
		for _, v := range s.Send {
			if v.Email == email {
				share += float64(v.Weight) / 100
			}
		}
	}
	sample.Audience, sample.AudienceFrom, sample.Horizon = audience, from, campaigns.Duration(horizon)
	sample.Needed = report.NeededPerArm(sample.Baseline, sample.Lift, len(lines))
	least := slices.MinFunc(lines, func(a, b campaigns.SubjectVariant) int { return cmp.Compare(a.Weight, b.Weight) })
	sample.Arm, sample.Has = least.Name, armSends(ex, least.Name)
	sample.Gives = int(float64(audience) * share * float64(least.Weight) / 100 * treated(prog, seq))
	sample.Short = sample.Has+sample.Gives < sample.Needed
	sample.Summary = "subject line " + strings.TrimPrefix(sampleSummary(*sample), "arm ")
	return sample, nil
}
