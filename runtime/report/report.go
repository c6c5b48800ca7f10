// Package report turns what the store counted for a period into the
// report nurture report shows: rates with their confidence intervals
// beside the playbooks' benchmarks, flags on rates out of line, A/B
// verdicts and each sequence's outcomes. The store does the counting in
// SQL; this package reads no store and sends nothing, so that every
// figure it derives can be checked against hand-computed values.
package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// FormatVersion is the version of the JSON report; it moves when a field
// changes meaning or goes away, not when one is added.
const FormatVersion = 1

// Confidence is the level of every interval and test in the report.
const Confidence = 0.95

// Report is a period's report, the structure every format renders.
type Report struct {
	FormatVersion int        `json:"format_version"`
	Since         time.Time  `json:"since"`
	Until         time.Time  `json:"until"`
	Sequence      string     `json:"sequence,omitempty"`
	Sequences     []Sequence `json:"sequences"`
	// Programme is every sequence's outcome at once, each contact
	// counted once; absent from a report of one sequence.
	Programme *Outcome `json:"programme,omitempty"`
	// Experiments judges every step with more than one A/B arm.
	Experiments []Experiment `json:"experiments"`
	// SubjectTests judges every email of a step whose sends went out
	// with more than one subject line, each line an arm, as Experiments
	// judges A/B steps.
	SubjectTests []Experiment `json:"subject_tests"`
	// StageTimesSince is when the store began recording when contacts
	// reached each stage: the outcomes' stage times know nothing before.
	// Absent when no contact has a stage time.
	StageTimesSince *time.Time `json:"stage_times_since,omitempty"`
	// Holdouts compares the goal rate of each holdout's treated contacts
	// with its control group's: per sequence held out of, and the
	// programme's.
	Holdouts []Holdout `json:"holdouts"`
	// Flags lists every rate out of line, for a reader who reads only
	// this.
	Flags []Flag `json:"flags"`
}

// Sequence is one sequence's emails, their totals and its outcomes.
type Sequence struct {
	Name    string  `json:"name"`
	Total   Row     `json:"total"`
	Emails  []Row   `json:"emails"`
	Outcome Outcome `json:"outcome"`
	// Weeks is the sequence's sends and clickers week by week, every
	// week of the period, the last one cut short where the period ends.
	Weeks []Week `json:"weeks"`
}

// Week is one week of a sequence: the sends that went out in it, and
// the contacts who clicked one of its emails in it (whenever the email
// went out), which the click rate of the week divides by the sends.
type Week struct {
	Start     time.Time `json:"start"`
	Sent      int       `json:"sent"`
	Clicks    int       `json:"clicks"`
	ClickRate Number    `json:"click_rate"`
}

// Row is the figures of one email of a step and arm, or a sequence's
// total (Step empty).
type Row struct {
	Step    string `json:"step,omitempty"`
	Email   string `json:"email,omitempty"`
	Variant string `json:"variant,omitempty"`

	Sent         int `json:"sent"`
	Delivered    int `json:"delivered"`
	Bounced      int `json:"bounced"`
	Failed       int `json:"failed"`
	Opens        int `json:"opens"`
	MachineOpens int `json:"machine_opens"`
	Clicks       int `json:"clicks"`
	Replies      int `json:"replies"`
	Unsubscribes int `json:"unsubscribes"`
	Complaints   int `json:"complaints"`
	// Goals counts the contacts who got the email and reached the goal
	// its A/B step is judged by; absent for other steps.
	Goals int `json:"goals,omitempty"`

	CTR           Rate `json:"ctr"`
	CTOR          Rate `json:"ctor"`
	ReplyRate     Rate `json:"reply_rate"`
	UnsubRate     Rate `json:"unsubscribe_rate"`
	BounceRate    Rate `json:"bounce_rate"`
	ComplaintRate Rate `json:"complaint_rate"`

	// Links counts the contacts who clicked each link, most first.
	Links []Link `json:"links,omitempty"`

	openedOrClicked int
}

// Link is how many contacts clicked one link.
type Link struct {
	URL    string `json:"url"`
	Clicks int    `json:"clicks"`
}

// Rate is Count out of Of, with its Wilson score interval at
// Confidence. Of zero: no rate, and Value and the interval are NaN
// (null in JSON).
type Rate struct {
	Count int     `json:"count"`
	Of    int     `json:"of"`
	Value Number  `json:"value"`
	Low   Number  `json:"low"`
	High  Number  `json:"high"`
	Flag  *string `json:"flag,omitempty"`
}

// Number is a float that is null in JSON when it is NaN.
type Number float64

// MarshalJSON writes NaN as null and the rest with six decimals at most.
func (n Number) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) {
		return []byte("null"), nil
	}
	return []byte(fmt.Sprintf("%.6g", float64(n))), nil
}

// Outcome is what became of a sequence's contacts in the period.
type Outcome struct {
	// Contacts counts the contacts enrolled at some time in the period.
	Contacts int `json:"contacts"`
	// Funnel counts, for each stage of the contact schema in order, the
	// contacts at that stage or a later one now.
	Funnel []Stage `json:"funnel"`
	// Exits counts the enrollments that ended in the period, by reason.
	Exits    []Reason `json:"exits"`
	Handoffs int      `json:"handoffs"`
	// HandoffReasons counts the hand-offs by why they happened.
	HandoffReasons []Reason `json:"handoff_reasons"`
	// HandoffRate is hand-offs out of the contacts enrolled.
	HandoffRate Rate `json:"handoff_rate"`
	// Goal is how many reached the programme's goals; absent when it
	// declares none.
	Goal *Goal `json:"goal,omitempty"`
	// StageTimes is how long the contacts took to reach each stage of
	// the funnel, from entry and from creation, as far as the store
	// recorded it (Report.StageTimesSince).
	StageTimes []StageTime `json:"stage_times,omitempty"`
}

// Goal is how many of the contacts enrolled reached a goal: the
// conversion rate, with its interval, and how long the goal exits took.
type Goal struct {
	// Rate is the contacts who reached a goal out of those enrolled.
	Rate Rate `json:"conversion"`
	// Exits counts the enrollments that ended for a goal's reason, and
	// DaysToExit is their mean time from entry, in days.
	Exits      int    `json:"exits"`
	DaysToExit Number `json:"days_to_exit"`
}

// Stage is how many contacts reached a lifecycle stage.
type Stage struct {
	Stage   string `json:"stage"`
	Reached int    `json:"reached"`
}

// Reason counts the exits or hand-offs for one reason.
type Reason struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// Flag is a rate out of line with its benchmark.
type Flag struct {
	Sequence string `json:"sequence"`
	Step     string `json:"step,omitempty"`
	Variant  string `json:"variant,omitempty"`
	Metric   string `json:"metric"`
	Message  string `json:"message"`
}

// Benchmark is the range a rate should sit in, as the playbooks quote it,
// and when a rate is out of line with it.
type Benchmark struct {
	Metric string
	// Low and High bound the usual range; a rate with no upper limit has
	// High zero, and one that should stay under a limit has Low zero.
	Low, High float64
	// Limit, when set, flags a rate at or above it: a deliverability or
	// compliance line, judged on the rate itself.
	Limit float64
}

// Benchmarks are the playbooks' figures for B2B email: click-through
// 2–4% of delivered, click-to-open 10–12%, replies 1–5%, unsubscribes
// under 0.3%. Bounces at 2% and complaints at 0.1% are where mailbox
// providers start to throttle or junk a sender.
var Benchmarks = map[string]Benchmark{
	"ctr":         {Metric: "CTR", Low: 0.02, High: 0.04},
	"ctor":        {Metric: "CTOR", Low: 0.10, High: 0.12},
	"reply":       {Metric: "reply rate", Low: 0.01, High: 0.05},
	"unsubscribe": {Metric: "unsubscribe rate", Limit: 0.003},
	"bounce":      {Metric: "bounce rate", Limit: 0.02},
	"complaint":   {Metric: "complaint rate", Limit: 0.001},
}

// NewRate is count out of of with its Wilson score interval: unlike the
// normal approximation it stays within [0, 1] and means something at the
// small counts a new step starts with.
func NewRate(count, of int) Rate {
	r := Rate{Count: count, Of: of, Value: Number(math.NaN()), Low: Number(math.NaN()), High: Number(math.NaN())}
	if of <= 0 {
		return r
	}
	n, p := float64(of), float64(count)/float64(of)
	z := zFor(Confidence)
	den := 1 + z*z/n
	mid := (p + z*z/(2*n)) / den
	half := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / den
	r.Value, r.Low, r.High = Number(p), Number(math.Max(0, mid-half)), Number(math.Min(1, mid+half))
	return r
}

// zFor is the two-sided standard normal quantile of a confidence level.
func zFor(confidence float64) float64 {
	return distuv.UnitNormal.Quantile(1 - (1-confidence)/2)
}

// Build makes the report of data, which the store counted for f. prog,
// when given, orders the funnel by its lifecycle stages.
func Build(data runtime.ReportData, f runtime.ReportFilter, prog *campaigns.Program) Report {
	r := Report{FormatVersion: FormatVersion, Since: f.Since.UTC(), Until: f.Until.UTC(), Sequence: f.Sequence,
		Sequences: []Sequence{}, Flags: []Flag{}}
	bySeq := map[string]*Sequence{}
	var names []string
	seq := func(name string) *Sequence {
		if s := bySeq[name]; s != nil {
			return s
		}
		bySeq[name] = &Sequence{Name: name, Emails: []Row{}}
		names = append(names, name)
		return bySeq[name]
	}
	repliesRecorded := false
	for _, e := range data.Emails {
		repliesRecorded = repliesRecorded || e.Replies > 0
	}
	for _, e := range data.Emails {
		s := seq(e.Sequence)
		row := Row{Step: e.Step, Email: e.Email, Variant: e.Variant, Sent: e.Sent, Delivered: e.Delivered(),
			Bounced: e.Bounced, Failed: e.Failed, Opens: e.Opens, MachineOpens: e.MachineOpens, Clicks: e.Clicks,
			Replies: e.Replies, Unsubscribes: e.Unsubscribes, Complaints: e.Complaints, Goals: e.Goals, openedOrClicked: e.OpenedOrClicked}
		s.Emails = append(s.Emails, row)
		t := &s.Total
		t.Sent += row.Sent
		t.Delivered += row.Delivered
		t.Bounced += row.Bounced
		t.Failed += row.Failed
		t.Opens += row.Opens
		t.MachineOpens += row.MachineOpens
		t.Clicks += row.Clicks
		t.Replies += row.Replies
		t.Unsubscribes += row.Unsubscribes
		t.Complaints += row.Complaints
		t.openedOrClicked += row.openedOrClicked
	}
	for _, l := range data.Links {
		s := bySeq[l.Sequence]
		if s == nil {
			continue
		}
		for i := range s.Emails {
			if e := &s.Emails[i]; e.Step == l.Step && e.Variant == l.Variant {
				e.Links = append(e.Links, Link{URL: l.URL, Clicks: l.Clicks})
			}
		}
	}
	for _, o := range data.Outcomes {
		s := seq(o.Sequence)
		s.Outcome = outcome(o, prog)
	}
	slices.Sort(names)
	for _, name := range names {
		s := bySeq[name]
		for i := range s.Emails {
			r.Flags = append(r.Flags, rates(&s.Emails[i], name, repliesRecorded)...)
		}
		rates(&s.Total, name, repliesRecorded)
		if s.Outcome.Funnel == nil {
			s.Outcome = outcome(runtime.SequenceOutcome{}, prog)
		}
		s.Outcome.StageTimes = stageTimes(data.StageTimes, name)
		r.Sequences = append(r.Sequences, *s)
	}
	weeks(r.Sequences, data.Weeks, f)
	if data.Programme != nil {
		o := outcome(*data.Programme, prog)
		o.StageTimes = stageTimes(data.StageTimes, "")
		r.Programme = &o
	}
	r.Experiments = experiments(r.Sequences, prog)
	r.SubjectTests = subjectTests(data.Subjects, prog)
	if anyStageTimes(r) {
		r.StageTimesSince = sinceTime(data.StageTimesSince)
	}
	r.Holdouts = holdouts(data.Holdouts, prog != nil && prog.Goals != nil)
	return r
}

// weekLen is the span of one week of the weekly series.
const weekLen = 7 * 24 * time.Hour

// weeks lays each sequence's counts over every week of the period, so
// that a week with nothing shows as nothing rather than going missing.
func weeks(seqs []Sequence, counts []runtime.WeekStats, f runtime.ReportFilter) {
	n := int((f.Until.Sub(f.Since) + weekLen - 1) / weekLen)
	for i := range seqs {
		s := &seqs[i]
		s.Weeks = make([]Week, n)
		for w := range s.Weeks {
			s.Weeks[w] = Week{Start: f.Since.UTC().Add(time.Duration(w) * weekLen)}
		}
		for _, c := range counts {
			if c.Sequence == s.Name && c.Week >= 0 && c.Week < n {
				s.Weeks[c.Week].Sent, s.Weeks[c.Week].Clicks = c.Sent, c.Clicks
			}
		}
		for w := range s.Weeks {
			s.Weeks[w].ClickRate = Number(math.NaN())
			if s.Weeks[w].Sent > 0 {
				s.Weeks[w].ClickRate = Number(float64(s.Weeks[w].Clicks) / float64(s.Weeks[w].Sent))
			}
		}
	}
}

// rates fills in a row's rates and flags those out of line. A rate is
// flagged low only when even the top of its interval is under half the
// benchmark's bottom: far below, and not by the chance of a small sample.
// Replies are judged only when some were recorded: with no inbound mail
// set up, none ever are.
func rates(row *Row, seq string, repliesRecorded bool) []Flag {
	row.CTR = NewRate(row.Clicks, row.Delivered)
	row.CTOR = NewRate(row.Clicks, row.openedOrClicked)
	row.ReplyRate = NewRate(row.Replies, row.Delivered)
	row.UnsubRate = NewRate(row.Unsubscribes, row.Delivered)
	row.BounceRate = NewRate(row.Bounced, row.Sent)
	row.ComplaintRate = NewRate(row.Complaints, row.Delivered)
	var flags []Flag
	judge := func(key string, r *Rate) {
		b := Benchmarks[key]
		if r.Of == 0 {
			return
		}
		var msg string
		switch {
		case b.Limit > 0 && float64(r.Value) >= b.Limit:
			msg = fmt.Sprintf("%s %s is at or above %s", b.Metric, Percent(float64(r.Value)), Percent(b.Limit))
		case b.Low > 0 && float64(r.High) < b.Low/2:
			msg = fmt.Sprintf("%s %s is far below the usual %s–%s", b.Metric, Percent(float64(r.Value)), Percent(b.Low), Percent(b.High))
		default:
			return
		}
		r.Flag = &msg
		flags = append(flags, Flag{Sequence: seq, Step: row.Step, Variant: row.Variant, Metric: key, Message: msg})
	}
	judge("ctr", &row.CTR)
	judge("ctor", &row.CTOR)
	if repliesRecorded {
		judge("reply", &row.ReplyRate)
	}
	judge("unsubscribe", &row.UnsubRate)
	judge("bounce", &row.BounceRate)
	judge("complaint", &row.ComplaintRate)
	return flags
}

// outcome orders a sequence's stages as the contact schema does and
// counts who reached each: a contact at a later stage passed the earlier
// ones. Stages the schema does not know (a programme that dropped one)
// come last, each counting only itself.
func outcome(o runtime.SequenceOutcome, prog *campaigns.Program) Outcome {
	out := Outcome{Contacts: o.Contacts, Handoffs: o.Handoffs, Funnel: []Stage{},
		HandoffRate: NewRate(o.Handoffs, o.Contacts)}
	var order []string
	if prog != nil {
		order = prog.Contact.Stages
	}
	for i, st := range order {
		n := 0
		for _, later := range order[i:] {
			n += o.Stages[later]
		}
		out.Funnel = append(out.Funnel, Stage{Stage: st, Reached: n})
	}
	var other []string
	for st := range o.Stages {
		if st != "" && !slices.Contains(order, st) {
			other = append(other, st)
		}
	}
	slices.Sort(other)
	for _, st := range other {
		out.Funnel = append(out.Funnel, Stage{Stage: st, Reached: o.Stages[st]})
	}
	out.Exits = reasons(o.Exits)
	out.HandoffReasons = reasons(o.HandoffReasons)
	if prog != nil && prog.Goals != nil {
		g := &Goal{Rate: NewRate(o.Goals, o.Contacts), Exits: o.GoalExits, DaysToExit: Number(math.NaN())}
		if o.GoalExits > 0 {
			g.DaysToExit = Number(o.GoalExitSeconds / 86400)
		}
		out.Goal = g
	}
	return out
}

// GoalFilter adds the programme's goals to a report's filter: the exit
// reasons as they are, the stage as it and every later stage; and the
// A/B steps judged by one of them, each with its goal.
func GoalFilter(f runtime.ReportFilter, prog *campaigns.Program) runtime.ReportFilter {
	if prog == nil || prog.Goals == nil {
		return f
	}
	f.GoalExits = slices.Clone(prog.Goals.Exits)
	if i := slices.Index(prog.Contact.Stages, prog.Goals.Stage); i >= 0 {
		f.GoalStages = slices.Clone(prog.Contact.Stages[i:])
	}
	for _, name := range slices.Sorted(maps.Keys(prog.Sequences)) {
		if f.Sequence != "" && name != f.Sequence {
			continue
		}
		for _, st := range prog.Sequences[name].Steps {
			g := runtime.ExperimentGoal{Sequence: name, Step: st.Name}
			switch m := st.ExperimentMetric(); {
			case len(st.Send) < 2 || m == campaigns.MetricClick || m == campaigns.MetricReply:
				continue
			case slices.Contains(prog.Goals.Exits, m):
				g.Exits = []string{m}
			case m == prog.Goals.Stage && slices.Contains(prog.Contact.Stages, m):
				g.Stages = slices.Clone(prog.Contact.Stages[slices.Index(prog.Contact.Stages, m):])
			default:
				continue
			}
			f.ExperimentGoals = append(f.ExperimentGoals, g)
		}
	}
	return f
}

// reasons lists counts by reason, in order of reason.
func reasons(m map[string]int) []Reason {
	out := []Reason{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := k
		if name == "" {
			name = "(none)"
		}
		out = append(out, Reason{Reason: name, Count: m[k]})
	}
	return out
}

// Percent writes a fraction as a percentage with enough digits for the
// benchmarks, which go down to 0.1%: 2%, 12.5%, 0.3%, 0.05%.
func Percent(f float64) string { return campaigns.Percent(f) }
