package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// StageTime is how long the contacts of a sequence (or the programme)
// took to reach a lifecycle stage, or a later one.
type StageTime struct {
	Stage string `json:"stage"`
	// FromEntry is the days from entering the sequence (for the
	// programme, the first sequence) to the stage, of the contacts who
	// reached it after they entered.
	FromEntry Days `json:"from_entry"`
	// FromCreated is the days from the contact's creation to the stage.
	FromCreated Days `json:"from_created"`
}

// Days summarises how many days some contacts took: how many, the
// median and the 75th percentile. With no contacts both are NaN (null).
type Days struct {
	Contacts int    `json:"contacts"`
	Median   Number `json:"median_days"`
	P75      Number `json:"p75_days"`
}

func newDays(d runtime.Distribution) Days {
	if d.N == 0 {
		return Days{Median: Number(math.NaN()), P75: Number(math.NaN())}
	}
	return Days{Contacts: d.N, Median: Number(d.Median / 86400), P75: Number(d.P75 / 86400)}
}

// stageTimes lists a sequence's (or, seq empty, the programme's) stage
// times in the order the store gave them, the schema's.
func stageTimes(ts []runtime.StageTimes, seq string) []StageTime {
	var out []StageTime
	for _, t := range ts {
		if t.Sequence == seq {
			out = append(out, StageTime{Stage: t.Stage, FromEntry: newDays(t.FromEntry), FromCreated: newDays(t.FromCreated)})
		}
	}
	return out
}

// StageFilter adds the programme's lifecycle stages to a report's
// filter, so that the store times each.
func StageFilter(f runtime.ReportFilter, prog *campaigns.Program) runtime.ReportFilter {
	if prog != nil {
		f.Stages = append([]string(nil), prog.Contact.Stages...)
	}
	return f
}

// subjectTests judges each email's subject lines as experiments, on
// clicks of delivered like an A/B step (or replies, when the email says
// metric: reply): one per sequence, step and email
// whose sends went out with two subject lines or more.
func subjectTests(ss []runtime.SubjectStats, prog *campaigns.Program) []Experiment {
	out := []Experiment{}
	for i := 0; i < len(ss); {
		j := i
		for j < len(ss) && ss[j].Sequence == ss[i].Sequence && ss[j].Step == ss[i].Step && ss[j].Email == ss[i].Email {
			j++
		}
		group := ss[i:j]
		i = j
		if len(group) < 2 {
			continue
		}
		g := group[0]
		metric := SubjectMetric(prog, g.Email)
		ex := Experiment{Sequence: g.Sequence, Step: g.Step, Email: g.Email, Metric: MetricName(metric), lift: MinimumLift}
		for _, x := range group {
			n := x.Clicks
			if metric == campaigns.MetricReply {
				n = x.Replies
			}
			ex.Arms = append(ex.Arms, Arm{Variant: x.SubjectVariant, Email: x.Email, Subject: subjectLine(prog, x.Email, x.SubjectVariant),
				Rate: NewRate(n, x.Delivered())})
		}
		judge(&ex)
		out = append(out, ex)
	}
	return out
}

// SubjectMetric is what the subject lines of an email are judged by:
// the metric its front matter names, clicks by default.
func SubjectMetric(prog *campaigns.Program, email string) string {
	if prog != nil && prog.Emails[email] != nil && prog.Emails[email].Metric != "" {
		return prog.Emails[email].Metric
	}
	return campaigns.MetricClick
}

// subjectLine is the subject line a variant of an email reads, merge
// tags as written; empty when the programme no longer has it.
func subjectLine(prog *campaigns.Program, email, variant string) string {
	if prog == nil || prog.Emails[email] == nil {
		return ""
	}
	for _, v := range prog.Emails[email].Subjects {
		if v.Name == variant {
			return v.Subject.String()
		}
	}
	return ""
}

// SubjectTest finds the report's subject test of an email sent by a
// step of a sequence.
func (r Report) SubjectTest(sequence, step, email string) (Experiment, bool) {
	for _, ex := range r.SubjectTests {
		if ex.Sequence == sequence && ex.Step == step && ex.Email == email {
			return ex, true
		}
	}
	return Experiment{}, false
}

// stageLine is "mql 2.5 days (p75 4 days), 4 contacts" for one of the
// times.
func stageSpan(d Days) string {
	if d.Contacts == 0 {
		return "–"
	}
	return fmt.Sprintf("%s, p75 %s (%d)", days(float64(d.Median)), days(float64(d.P75)), d.Contacts)
}

// hasStageTimes says some contact of the outcome has a time to a stage.
func hasStageTimes(ts []StageTime) bool {
	for _, t := range ts {
		if t.FromEntry.Contacts > 0 || t.FromCreated.Contacts > 0 {
			return true
		}
	}
	return false
}

// stageCells are the rows of a stage-time table: the stage, then the
// median, p75 and contacts from entry and from creation.
func stageCells(t StageTime) []string {
	return []string{t.Stage, stageSpan(t.FromEntry), stageSpan(t.FromCreated)}
}

var stageColumns = []string{"STAGE", "FROM ENTRY: MEDIAN, P75 (CONTACTS)", "FROM CREATION: MEDIAN, P75 (CONTACTS)"}

// writeStageTimes writes a sequence's times to each stage as a table.
func writeStageTimes(w io.Writer, ts []StageTime, indent string) {
	if !hasStageTimes(ts) {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, indent+strings.Join(stageColumns, "\t"))
	for _, t := range ts {
		fmt.Fprintln(tw, indent+strings.Join(stageCells(t), "\t"))
	}
	tw.Flush()
}

// stageNote says since when stage changes are known.
func stageNote(r Report) string {
	if r.StageTimesSince == nil {
		return ""
	}
	return "Stage times since " + r.StageTimesSince.Format(day) + ": stages reached before then were not recorded, " +
		"and a contact at a later stage counts as having reached the earlier ones when it got there."
}

// writeSubjectTests writes the subject-line tests as the experiments
// are written.
func writeSubjectTests(w io.Writer, r Report) {
	if len(r.SubjectTests) == 0 {
		return
	}
	fmt.Fprintf(w, "\nSubject-line tests (clicks of delivered, %.0f%% intervals):\n", 100*Confidence)
	for _, ex := range r.SubjectTests {
		fmt.Fprintf(w, "  %s\n", subjectWhere(ex))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, a := range ex.Arms {
			fmt.Fprintf(tw, "    %s\t%s\t%d of %d\t%s\t%s\n", a.Variant, "\""+a.Subject+"\"", a.Rate.Count, a.Rate.Of, Percent(float64(a.Rate.Value)), interval(a.Rate))
		}
		tw.Flush()
		fmt.Fprintf(w, "    → %s\n", ex.Verdict)
	}
}

// subjectWhere names a subject test: its step and email, and its metric
// when it is not clicks.
func subjectWhere(ex Experiment) string {
	s := where(ex.Sequence, ex.Step, "") + " › " + ex.Email
	if ex.Metric != ExperimentMetric {
		s += " (" + ex.Metric + " of delivered)"
	}
	return s
}

// markdownStages writes a sequence's stage times as a Markdown table.
func markdownStages(w io.Writer, ts []StageTime) {
	if !hasStageTimes(ts) {
		return
	}
	fmt.Fprintln(w, "\n| stage | from entry: median, p75 (contacts) | from creation: median, p75 (contacts) |")
	fmt.Fprintln(w, "| --- | ---: | ---: |")
	for _, t := range ts {
		fmt.Fprintln(w, "| "+strings.Join(mdCells(stageCells(t)), " | ")+" |")
	}
}

// markdownSubjectTests writes the subject-line tests as a Markdown table.
func markdownSubjectTests(w io.Writer, r Report) {
	if len(r.SubjectTests) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Subject-line tests\n\nClicks of delivered, %.0f%% intervals.\n\n", 100*Confidence)
	fmt.Fprintln(w, "| email | variant | subject line | clicks | rate | interval | verdict |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | ---: | ---: | --- |")
	for _, ex := range r.SubjectTests {
		for i, a := range ex.Arms {
			name, verdict := subjectWhere(ex), ex.Verdict
			if i > 0 {
				name, verdict = " ", " "
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(mdCells([]string{name, a.Variant, a.Subject,
				fmt.Sprintf("%d of %d", a.Rate.Count, a.Rate.Of), Percent(float64(a.Rate.Value)), interval(a.Rate), verdict}), " | "))
		}
	}
}

// sinceTime is t as a report field: nil when zero.
func sinceTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// anyStageTimes says some sequence or the programme has a stage time.
func anyStageTimes(r Report) bool {
	if r.Programme != nil && hasStageTimes(r.Programme.StageTimes) {
		return true
	}
	for _, s := range r.Sequences {
		if hasStageTimes(s.Outcome.StageTimes) {
			return true
		}
	}
	return false
}
