package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// JSON writes the report as indented JSON.
func JSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

const day = "2006-01-02"

// benchmarkLine says what the flags are judged against.
func benchmarkLine() string {
	return "Benchmarks: CTR 2–4% of delivered, CTOR 10–12%, replies 1–5%, unsubscribes under 0.3%; " +
		"a rate marked ! is out of line (see Flags)."
}

// period names the report's span, [Since, Until): by dates when both
// fall at midnight UTC, else by times.
func period(r Report) string {
	layout := day
	if !midnight(r.Since) || !midnight(r.Until) {
		layout = "2006-01-02 15:04"
	}
	s := "Report from " + r.Since.Format(layout) + " up to " + r.Until.Format(layout) + " UTC"
	if r.Sequence != "" {
		s += ", sequence " + r.Sequence
	}
	return s
}

func midnight(t time.Time) bool { return t.Equal(t.Truncate(24 * time.Hour)) }

// cell writes a rate for a table, with ! when it is flagged.
func cell(r Rate) string {
	s := Percent(float64(r.Value))
	if r.Flag != nil {
		s += " !"
	}
	return s
}

var columns = []string{"STEP", "ARM", "EMAIL", "SENT", "DELIVERED", "BOUNCED", "OPENS*", "CLICKS", "CTR", "CTOR", "REPLIES", "REPLY", "UNSUBS", "UNSUB", "COMPLAINTS"}

func cells(row Row, total bool) []string {
	step, arm, email := row.Step, row.Variant, row.Email
	if total {
		step, arm, email = "total", "", ""
	}
	return []string{step, arm, email, strconv.Itoa(row.Sent), strconv.Itoa(row.Delivered), strconv.Itoa(row.Bounced),
		strconv.Itoa(row.Opens), strconv.Itoa(row.Clicks), cell(row.CTR), cell(row.CTOR), strconv.Itoa(row.Replies),
		cell(row.ReplyRate), strconv.Itoa(row.Unsubscribes), cell(row.UnsubRate), strconv.Itoa(row.Complaints)}
}

// funnelLine is a sequence's outcome in one line.
func funnelLine(o Outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s enrolled", o.Contacts, plural(o.Contacts, "contact", "contacts"))
	if len(o.Funnel) > 0 {
		parts := make([]string, len(o.Funnel))
		for i, s := range o.Funnel {
			parts[i] = s.Stage + " " + strconv.Itoa(s.Reached)
		}
		b.WriteString("; reached " + strings.Join(parts, " → "))
	}
	fmt.Fprintf(&b, "; %d %s to sales", o.Handoffs, plural(o.Handoffs, "hand-off", "hand-offs"))
	if o.HandoffRate.Of > 0 {
		b.WriteString(" (" + Percent(float64(o.HandoffRate.Value)) + " of contacts)")
	}
	if len(o.HandoffReasons) > 0 {
		b.WriteString(": " + counts(o.HandoffReasons))
	}
	if len(o.Exits) > 0 {
		b.WriteString("; exits " + counts(o.Exits))
	}
	if g := o.Goal; g != nil {
		fmt.Fprintf(&b, "; goal reached by %d (%s", g.Rate.Count, Percent(float64(g.Rate.Value)))
		if g.Rate.Of > 0 {
			b.WriteString(", " + interval(g.Rate))
		}
		b.WriteString(")")
		if g.Exits > 0 {
			fmt.Fprintf(&b, ", %d goal %s after %s on average", g.Exits, plural(g.Exits, "exit", "exits"), days(float64(g.DaysToExit)))
		}
	}
	return b.String()
}

// days writes a span in days, to a tenth under ten days.
func days(d float64) string {
	if d < 10 {
		s := strconv.FormatFloat(d, 'f', 1, 64)
		s = strings.TrimSuffix(s, ".0")
		return s + plural(int(math.Ceil(d)), " day", " days")
	}
	return strconv.FormatFloat(math.Round(d), 'f', 0, 64) + " days"
}

func counts(rs []Reason) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Reason + " " + strconv.Itoa(r.Count)
	}
	return strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func machineNote(r Report) string {
	n := 0
	for _, s := range r.Sequences {
		n += s.Total.MachineOpens
	}
	return fmt.Sprintf("* Opens are unreliable (image blocking hides them) and leave out %d machine %s (privacy proxies, scanners); "+
		"CTOR divides clicks by the contacts who opened or clicked.", n, plural(n, "open", "opens"))
}

// Text writes the report as aligned tables, one per sequence.
func Text(w io.Writer, r Report) error {
	fmt.Fprintln(w, period(r))
	fmt.Fprintln(w, benchmarkLine())
	if len(r.Sequences) == 0 {
		fmt.Fprintln(w, "\nNothing was sent and nobody was enrolled in the period.")
		return nil
	}
	for _, s := range r.Sequences {
		fmt.Fprintf(w, "\n%s\n", s.Name)
		if len(s.Emails) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  "+strings.Join(columns, "\t"))
			for _, e := range s.Emails {
				fmt.Fprintln(tw, "  "+strings.Join(cells(e, false), "\t"))
			}
			if len(s.Emails) > 1 {
				fmt.Fprintln(tw, "  "+strings.Join(cells(s.Total, true), "\t"))
			}
			tw.Flush()
		}
		fmt.Fprintln(w, "  "+funnelLine(s.Outcome))
		writeStageTimes(w, s.Outcome.StageTimes, "  ")
	}
	writeWeeks(w, r)
	if r.Programme != nil {
		fmt.Fprintln(w, "\nAll sequences, each contact once:\n  "+funnelLine(*r.Programme))
		writeStageTimes(w, r.Programme.StageTimes, "  ")
	}
	if note := stageNote(r); note != "" && anyStageTimes(r) {
		fmt.Fprintln(w, "\n"+note)
	}
	fmt.Fprintln(w, "\n"+machineNote(r))
	if len(r.Experiments) > 0 {
		metric, one := experimentMetric(r)
		fmt.Fprintf(w, "\nExperiments (%s of delivered, %.0f%% intervals):\n", metric, 100*Confidence)
		for _, ex := range r.Experiments {
			if one {
				fmt.Fprintf(w, "  %s\n", where(ex.Sequence, ex.Step, ""))
			} else {
				fmt.Fprintf(w, "  %s (%s)\n", where(ex.Sequence, ex.Step, ""), ex.Metric)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, a := range ex.Arms {
				fmt.Fprintf(tw, "    %s\t%s\t%d of %d\t%s\t%s\n", a.Variant, a.Email, a.Rate.Count, a.Rate.Of, Percent(float64(a.Rate.Value)), interval(a.Rate))
			}
			tw.Flush()
			fmt.Fprintf(w, "    → %s\n", ex.Verdict)
		}
	}
	writeSubjectTests(w, r)
	if len(r.Holdouts) > 0 {
		fmt.Fprintf(w, "\nHoldouts (contacts who reached a goal, treated against held out, %.0f%% intervals):\n", 100*Confidence)
		for _, h := range r.Holdouts {
			fmt.Fprintf(w, "  %s\n", holdoutName(h))
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, a := range holdoutArms(h) {
				fmt.Fprintf(tw, "    %s\t%d of %d\t%s\t%s\n", a.Variant, a.Rate.Count, a.Rate.Of, Percent(float64(a.Rate.Value)), interval(a.Rate))
			}
			tw.Flush()
			fmt.Fprintf(w, "    lift %s\n", liftLine(h))
			fmt.Fprintf(w, "    → %s\n", h.Verdict)
		}
	}
	if links := linkLines(r); len(links) > 0 {
		fmt.Fprintln(w, "\nClicks per link (contacts):")
		for _, l := range links {
			fmt.Fprintln(w, "  "+l)
		}
	}
	writeFlags(w, r, "")
	return nil
}

// writeWeeks draws each sequence's sends week by week as a sparkline,
// the names and lines aligned so the weeks read down the columns. The
// bars are plain characters, not terminal escapes, so they go to a pipe
// or a file as they show on a terminal, as simulate's do.
func writeWeeks(w io.Writer, r Report) {
	if len(r.Sequences) == 0 || len(r.Sequences[0].Weeks) < 2 {
		return
	}
	fmt.Fprintf(w, "\nSends per week from %s (a column a week):\n", r.Since.Format(day))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range r.Sequences {
		vs := make([]int, len(s.Weeks))
		total, peak := 0, 0
		for i, wk := range s.Weeks {
			vs[i] = wk.Sent
			total += wk.Sent
			peak = max(peak, wk.Sent)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d sent, peak %d\n", s.Name, Sparkline(vs), total, peak)
	}
	tw.Flush()
}

// Sparkline draws vs scaled to their own peak: the shape of a series,
// whatever its size. A dot is a bucket with nothing, so a quiet stretch
// reads as quiet rather than as missing.
func Sparkline(vs []int) string {
	levels := []rune("▁▂▃▄▅▆▇█")
	top := 0
	for _, v := range vs {
		top = max(top, v)
	}
	var b strings.Builder
	for _, v := range vs {
		if v <= 0 {
			b.WriteRune('·')
			continue
		}
		b.WriteRune(levels[(v*len(levels)-1)/top])
	}
	return b.String()
}

func writeFlags(w io.Writer, r Report, bullet string) {
	if len(r.Flags) == 0 {
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	for _, f := range r.Flags {
		fmt.Fprintf(w, "%s  %s: %s\n", bullet, where(f.Sequence, f.Step, f.Variant), f.Message)
	}
}

func where(seq, step, arm string) string {
	s := seq + " › " + step
	if arm != "" {
		s += " (" + arm + ")"
	}
	return s
}

// Markdown writes the report for a pull request or a weekly digest.
func Markdown(w io.Writer, r Report) error {
	fmt.Fprintf(w, "## %s\n\n%s\n", period(r), benchmarkLine())
	if len(r.Sequences) == 0 {
		fmt.Fprintln(w, "\nNothing was sent and nobody was enrolled in the period.")
		return nil
	}
	for _, s := range r.Sequences {
		fmt.Fprintf(w, "\n### %s\n\n", s.Name)
		if len(s.Emails) > 0 {
			fmt.Fprintln(w, "| "+strings.Join(columns, " | ")+" |")
			fmt.Fprintln(w, "|"+strings.Repeat(" --- |", 3)+strings.Repeat(" ---: |", len(columns)-3))
			for _, e := range s.Emails {
				fmt.Fprintln(w, "| "+strings.Join(mdCells(cells(e, false)), " | ")+" |")
			}
			if len(s.Emails) > 1 {
				fmt.Fprintln(w, "| "+strings.Join(mdCells(cells(s.Total, true)), " | ")+" |")
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, funnelLine(s.Outcome)+".")
		markdownStages(w, s.Outcome.StageTimes)
	}
	if r.Programme != nil {
		fmt.Fprintln(w, "\n### All sequences\n\nEach contact once: "+funnelLine(*r.Programme)+".")
		markdownStages(w, r.Programme.StageTimes)
	}
	if note := stageNote(r); note != "" && anyStageTimes(r) {
		fmt.Fprintln(w, "\n"+note)
	}
	fmt.Fprintln(w, "\n"+strings.Replace(machineNote(r), "* ", "\\* ", 1))
	if len(r.Experiments) > 0 {
		metric, one := experimentMetric(r)
		fmt.Fprintf(w, "\n### Experiments\n\n%s of delivered, %.0f%% intervals.\n\n", strings.ToUpper(metric[:1])+metric[1:], 100*Confidence)
		column := metric
		if !one {
			column = "count"
		}
		fmt.Fprintf(w, "| step | arm | email | %s | rate | interval | verdict |\n", column)
		fmt.Fprintln(w, "| --- | --- | --- | ---: | ---: | ---: | --- |")
		for _, ex := range r.Experiments {
			for i, a := range ex.Arms {
				step, verdict := where(ex.Sequence, ex.Step, ""), ex.Verdict
				if !one {
					step += " (" + ex.Metric + ")"
				}
				if i > 0 {
					step, verdict = " ", " "
				}
				fmt.Fprintf(w, "| %s |\n", strings.Join(mdCells([]string{step, a.Variant, a.Email,
					fmt.Sprintf("%d of %d", a.Rate.Count, a.Rate.Of), Percent(float64(a.Rate.Value)), interval(a.Rate), verdict}), " | "))
			}
		}
	}
	markdownSubjectTests(w, r)
	if len(r.Holdouts) > 0 {
		fmt.Fprintf(w, "\n### Holdouts\n\nContacts who reached a goal, treated against held out, %.0f%% intervals.\n\n", 100*Confidence)
		fmt.Fprintln(w, "| held out of | treated | held out | lift | verdict |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | --- |")
		for _, h := range r.Holdouts {
			arm := func(r Rate) string {
				return fmt.Sprintf("%d of %d, %s (%s)", r.Count, r.Of, Percent(float64(r.Value)), interval(r))
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(mdCells([]string{holdoutName(h), arm(h.Treatment), arm(h.Control), liftLine(h), h.Verdict}), " | "))
		}
	}
	if links := linkLines(r); len(links) > 0 {
		fmt.Fprint(w, "\n**Clicks per link** (contacts)\n\n")
		for _, l := range links {
			fmt.Fprintln(w, "- "+l)
		}
	}
	if len(r.Flags) > 0 {
		fmt.Fprintln(w, "\n**Flags**")
		fmt.Fprintln(w)
		for _, f := range r.Flags {
			fmt.Fprintf(w, "- %s: %s\n", where(f.Sequence, f.Step, f.Variant), f.Message)
		}
	}
	return nil
}

// holdoutName says what a holdout held its control group out of.
func holdoutName(h Holdout) string {
	name := h.Sequence
	if name == "" {
		name = "all sequences"
	}
	if h.ControlArm == campaigns.ArmGlobalControl {
		return name + " (the programme's holdout)"
	}
	return name + " (its holdout)"
}

// holdoutArms are a holdout's two groups as arms, for the tables and
// the chart.
func holdoutArms(h Holdout) []Arm {
	return []Arm{{Variant: "treated", Rate: h.Treatment}, {Variant: "held out", Rate: h.Control}}
}

// liftLine is "+20 points (+5.2 to +33.4), relative +33% (+7.7% to
// +65%)".
func liftLine(h Holdout) string {
	if math.IsNaN(float64(h.Lift.Value)) {
		return "–"
	}
	s := fmt.Sprintf("%s points (%s to %s)", points(float64(h.Lift.Value)), points(float64(h.Lift.Low)), points(float64(h.Lift.High)))
	if rl := h.RelativeLift; !math.IsNaN(float64(rl.Value)) {
		s += fmt.Sprintf(", relative %s%% (%s%% to %s%%)", points(float64(rl.Value)), points(float64(rl.Low)), points(float64(rl.High)))
	}
	return s
}

// linkLines lists the links clicked, email by email.
func linkLines(r Report) []string {
	var out []string
	for _, s := range r.Sequences {
		for _, e := range s.Emails {
			for _, l := range e.Links {
				out = append(out, fmt.Sprintf("%s: %d %s", where(s.Name, e.Step, e.Variant), l.Clicks, l.URL))
			}
		}
	}
	return out
}

// interval writes a rate's interval.
func interval(r Rate) string {
	if r.Of == 0 {
		return "–"
	}
	return Percent(float64(r.Low)) + "–" + Percent(float64(r.High))
}

func mdCells(cs []string) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		c = strings.ReplaceAll(c, "|", "\\|")
		if c == "" {
			c = " "
		}
		out[i] = c
	}
	return out
}

// experimentMetric is the metric the report's experiments are judged by
// when they share one, and "each experiment's metric" when they do not.
func experimentMetric(r Report) (string, bool) {
	for _, ex := range r.Experiments[1:] {
		if ex.Metric != r.Experiments[0].Metric {
			return "each experiment's metric", false
		}
	}
	return r.Experiments[0].Metric, true
}
