package compiler

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/nurture-dev/nurture/campaigns"
)

// ExperimentSamples warns of each A/B send of a plan whose audience
// cannot give an arm the sends it needs to detect the lift the step looks
// for (NRT317), and of each subject-line test whose audience cannot give
// a line the sends it needs (NRT320), placed by pos at the step's send
// when given. validate has
// no store and so no audience: the plan, which counts it, warns.
func ExperimentSamples(p *campaigns.Plan, pos func(path ...string) Pos) Diagnostics {
	var ds Diagnostics
	for _, ex := range p.Experiments {
		if ex.Sample == nil || !ex.Sample.Short {
			continue
		}
		var at Pos
		if pos != nil && p.Program != nil && p.Program.Sequences[ex.Sequence] != nil {
			for i, st := range p.Program.Sequences[ex.Sequence].Steps {
				if st.Name == ex.Step {
					at = pos("sequences", ex.Sequence, "steps", itoa(i), "send")
				}
			}
		}
		if ex.Email != "" {
			ds = append(ds, Diagnostic{Pos: at, Severity: Warning, Code: "NRT320",
				Summary: "the subject-line test of " + ex.Email + " in step " + ex.Step + " of sequence " + ex.Sequence + " cannot reach its sample: " + ex.Sample.Summary,
				Detail:  "give the subject lines even weights (weight: 50 on each of two), test fewer lines, or test them in an email that goes to more contacts"})
			continue
		}
		ds = append(ds, Diagnostic{Pos: at, Severity: Warning, Code: "NRT317",
			Summary: "the experiment in step " + ex.Step + " of sequence " + ex.Sequence + " cannot reach its sample: " + ex.Sample.Summary,
			Detail:  `give the arms even weights, test fewer arms, look for a bigger lift (min_lift: "30%"), or run it where the audience is larger`})
	}
	return ds.Sort()
}

// metricWords is what an experiment's rate counts: "clicks of
// delivered", "replies of delivered", "reached converted".
func metricWords(metric string) string {
	switch metric {
	case campaigns.MetricClick:
		return "clicks of delivered"
	case campaigns.MetricReply:
		return "replies of delivered"
	}
	return "delivered who reached " + metric
}

// armRate is "20 of 1000  2%  1.3%–3.1%", or "no sends" without any.
func armRate(a campaigns.PlanArm) (count, rate, interval string) {
	count = strconv.Itoa(a.Count) + " of " + strconv.Itoa(a.Sends)
	if a.Rate == nil {
		return count, "–", "–"
	}
	return count, campaigns.Percent(*a.Rate), campaigns.Percent(*a.Low) + "–" + campaigns.Percent(*a.High)
}

const experimentsHead = "Experiments in the sequences this changes, as nurture report judges them"

func writeExperiments(b *strings.Builder, exps []campaigns.PlanExperiment) {
	if len(exps) == 0 {
		return
	}
	e := exps[0]
	b.WriteString("\n" + experimentsHead + " (" + e.Since.Format("2006-01-02") + " to " + e.Until.Format("2006-01-02") + ", 95% intervals):\n")
	for _, ex := range exps {
		b.WriteString("  " + experimentName(ex) + ", " + metricWords(ex.Metric) + "\n")
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, a := range ex.Arms {
			count, rate, interval := armRate(a)
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", a.Variant, armLabel(a), count, rate, interval)
		}
		tw.Flush()
		b.WriteString("    → " + ex.Verdict + "\n")
		for _, r := range ex.Removed {
			b.WriteString("    - " + r.Message + "\n")
		}
		for _, w := range ex.Warnings {
			b.WriteString("    ! " + w + "\n")
		}
		if s := ex.Sample; s != nil {
			mark := " "
			if s.Short {
				mark = "!"
			}
			b.WriteString("    " + mark + " " + s.Summary + "\n")
		}
	}
}

func writeExperimentsMarkdown(b *strings.Builder, exps []campaigns.PlanExperiment) {
	if len(exps) == 0 {
		return
	}
	e := exps[0]
	b.WriteString("\n#### Experiments\n\n" + experimentsHead + ", " + e.Since.Format("2006-01-02") + " to " + e.Until.Format("2006-01-02") + ", with 95% intervals.\n\n")
	b.WriteString("| step | metric | arm | email | count | rate | interval |\n|---|---|---|---|--:|--:|---|\n")
	for _, ex := range exps {
		for _, a := range ex.Arms {
			count, rate, interval := armRate(a)
			email := "`" + a.Email + "`"
			if ex.Email != "" {
				email = mdEscape(armLabel(a))
			}
			b.WriteString("| `" + mdName(ex) + "` | " + mdEscape(metricWords(ex.Metric)) + " | " + mdEscape(a.Variant) + " | " + email + " | " + count + " | " + rate + " | " + interval + " |\n")
		}
	}
	for _, ex := range exps {
		b.WriteString("\n- `" + mdName(ex) + "`: " + mdEscape(ex.Verdict) + "\n")
		for _, r := range ex.Removed {
			b.WriteString("  - " + mdEscape(r.Message) + "\n")
		}
		for _, w := range ex.Warnings {
			b.WriteString("  - ⚠️ " + mdEscape(w) + "\n")
		}
		if s := ex.Sample; s != nil {
			mark := ""
			if s.Short {
				mark = "⚠️ "
			}
			b.WriteString("  - " + mark + mdEscape(s.Summary) + "\n")
		}
	}
}

// experimentName names an experiment: its step, and for a subject-line
// test the email whose lines it compares.
func experimentName(ex campaigns.PlanExperiment) string {
	name := ex.Sequence + "/" + ex.Step
	if ex.Email != "" {
		name += ", subject lines of " + ex.Email
	}
	return name
}

// mdName is an experiment's name as Markdown code: the step, and for a
// subject-line test its email.
func mdName(ex campaigns.PlanExperiment) string {
	if ex.Email != "" {
		return ex.Sequence + "/" + ex.Step + "` subject lines of `" + ex.Email
	}
	return ex.Sequence + "/" + ex.Step
}

// armLabel is what an arm sends: its email, or its subject line quoted.
func armLabel(a campaigns.PlanArm) string {
	if a.Subject != "" {
		return "\"" + a.Subject + "\""
	}
	return a.Email
}
