package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"sort"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Report aggregates the sends, email events, enrollments and hand-offs of
// the period f picks. Each part is one grouped query: the store returns a
// row per email, arm and sequence, never a row per send or event.
func (s *Store) Report(ctx context.Context, f runtime.ReportFilter) (runtime.ReportData, error) {
	var out runtime.ReportData
	emails := map[[4]string]*runtime.EmailStats{}
	row := func(k [4]string) *runtime.EmailStats {
		if e := emails[k]; e != nil {
			return e
		}
		e := &runtime.EmailStats{Sequence: k[0], Step: k[1], Email: k[2], Variant: k[3]}
		emails[k] = e
		return e
	}
	if err := s.reportSends(ctx, f, row); err != nil {
		return out, err
	}
	if err := s.reportEvents(ctx, f, row); err != nil {
		return out, err
	}
	if err := s.reportExperimentGoals(ctx, f, row); err != nil {
		return out, err
	}
	for _, e := range emails {
		out.Emails = append(out.Emails, *e)
	}
	sort.Slice(out.Emails, func(i, j int) bool {
		a, b := out.Emails[i], out.Emails[j]
		if a.Sequence != b.Sequence {
			return a.Sequence < b.Sequence
		}
		if a.Step != b.Step {
			return a.Step < b.Step
		}
		if a.Variant != b.Variant {
			return a.Variant < b.Variant
		}
		return a.Email < b.Email
	})
	var err error
	if out.Links, err = s.reportLinks(ctx, f); err != nil {
		return out, err
	}
	if out.Weeks, err = s.reportWeeks(ctx, f); err != nil {
		return out, err
	}
	if out.Holdouts, err = s.reportHoldouts(ctx, f); err != nil {
		return out, err
	}
	if out.Subjects, err = s.reportSubjects(ctx, f); err != nil {
		return out, err
	}
	if out.StageTimes, out.StageTimesSince, err = s.reportStageTimes(ctx, f); err != nil {
		return out, err
	}
	if out.Outcomes, err = s.reportOutcomes(ctx, f); err != nil || f.Sequence != "" {
		return out, err
	}
	out.Programme, err = s.reportProgramme(ctx, f)
	return out, err
}

// reportExperimentGoals counts, for each A/B step judged by a goal, the
// contacts each arm's email went to in the period who reached the goal:
// an exit from the sequence for the goal's reason after the send and
// before the period ends, or the goal's stage (or a later one) now. One
// grouped query per such step; a programme has a few.
func (s *Store) reportExperimentGoals(ctx context.Context, f runtime.ReportFilter, row func([4]string) *runtime.EmailStats) error {
	for _, g := range f.ExperimentGoals {
		if f.Sequence != "" && g.Sequence != f.Sequence {
			continue
		}
		var reached []string
		var rargs []any
		if len(g.Exits) > 0 {
			in, a := stringList(g.Exits)
			reached = append(reached, `EXISTS (SELECT 1 FROM enrollments n WHERE n.contact_id = s.contact_id AND n.sequence = s.sequence
    AND n.exit_reason IN (`+in+`) AND n.exited_at >= s.sent_at AND n.exited_at < ?)`)
			rargs = append(append(rargs, a...), s.t(f.Until))
		}
		if len(g.Stages) > 0 {
			in, a := stringList(g.Stages)
			reached = append(reached, "c.stage IN ("+in+")")
			rargs = append(rargs, a...)
		}
		if len(reached) == 0 {
			continue
		}
		q := `SELECT s.email, COALESCE(s.variant, ''), COUNT(DISTINCT s.contact_id)
FROM sends s JOIN contacts c ON c.id = s.contact_id
WHERE s.sequence = ? AND s.step = ? AND s.status IN (?, ?) AND s.sent_at >= ? AND s.sent_at < ?
  AND (` + strings.Join(reached, " OR ") + `)
GROUP BY s.email, COALESCE(s.variant, '')`
		args := append([]any{g.Sequence, g.Step, runtime.SendAccepted, runtime.SendUnknown, s.t(f.Since), s.t(f.Until)}, rargs...)
		err := s.scanRows(ctx, q, args, func(r *sql.Rows) error {
			k := [4]string{g.Sequence, g.Step}
			var n int
			if err := r.Scan(&k[2], &k[3], &n); err != nil {
				return err
			}
			row(k).Goals = n
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// reportProgramme counts the contacts enrolled in any sequence in the
// period, each once, by their stage now, and every hand-off in it.
func (s *Store) reportProgramme(ctx context.Context, f runtime.ReportFilter) (*runtime.SequenceOutcome, error) {
	o := &runtime.SequenceOutcome{Stages: map[string]int{}, Exits: map[string]int{}, HandoffReasons: map[string]int{}}
	since, until := s.t(f.Since), s.t(f.Until)
	err := s.scanRows(ctx, `SELECT COALESCE(c.stage, ''), COUNT(*) FROM contacts c
WHERE EXISTS (SELECT 1 FROM enrollments n WHERE n.contact_id = c.id AND n.entered_at < ? AND (n.exited_at IS NULL OR n.exited_at >= ?))
GROUP BY COALESCE(c.stage, '')`, []any{until, since}, func(r *sql.Rows) error {
		var stage string
		var n int
		if err := r.Scan(&stage, &n); err != nil {
			return err
		}
		o.Stages[stage] += n
		o.Contacts += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.scanRows(ctx, `SELECT reason, COUNT(*) FROM handoffs WHERE created_at >= ? AND created_at < ? GROUP BY reason`,
		[]any{since, until}, func(r *sql.Rows) error {
			var reason string
			var n int
			if err := r.Scan(&reason, &n); err != nil {
				return err
			}
			o.Handoffs += n
			o.HandoffReasons[reason] += n
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = s.reportGoals(ctx, f, false, func(_ string, g goalCounts) {
		o.Goals, o.GoalExits, o.GoalExitSeconds = g.contacts, g.exits, g.seconds
	})
	return o, err
}

// goalCounts is what reportGoals counts of a sequence or the programme.
type goalCounts struct {
	contacts, exits int
	seconds         float64
}

// reportGoals counts, per sequence (or for the whole programme, each
// contact once, when bySeq is false), the contacts enrolled in the period
// who reached a goal — an exit for a goal's reason in the period, or a
// goal's stage now — and the goal exits with their mean time from entry.
func (s *Store) reportGoals(ctx context.Context, f runtime.ReportFilter, bySeq bool, fn func(seq string, g goalCounts)) error {
	if len(f.GoalExits) == 0 && len(f.GoalStages) == 0 {
		return nil
	}
	since, until := s.t(f.Since), s.t(f.Until)
	seqCol, group := "''", ""
	if bySeq {
		seqCol, group = "n.sequence", " GROUP BY n.sequence"
	}
	only, onlyArgs := "", []any(nil)
	if f.Sequence != "" {
		only, onlyArgs = " AND n.sequence = ?", []any{f.Sequence}
	}
	reached, rargs := s.goalReached(f)
	args := append([]any{until, since}, rargs...)
	counts := map[string]*goalCounts{}
	get := func(seq string) *goalCounts {
		if counts[seq] == nil {
			counts[seq] = &goalCounts{}
		}
		return counts[seq]
	}
	err := s.scanRows(ctx, `SELECT `+seqCol+`, COUNT(DISTINCT n.contact_id)
FROM enrollments n JOIN contacts c ON c.id = n.contact_id
WHERE n.entered_at < ? AND (n.exited_at IS NULL OR n.exited_at >= ?) AND `+reached+only+group,
		append(args, onlyArgs...), func(r *sql.Rows) error {
			var seq string
			var n int
			if err := r.Scan(&seq, &n); err != nil {
				return err
			}
			get(seq).contacts = n
			return nil
		})
	if err != nil {
		return err
	}
	if len(f.GoalExits) > 0 {
		in, a := stringList(f.GoalExits)
		err = s.scanRows(ctx, `SELECT `+seqCol+`, COUNT(*), AVG(`+s.d.AgeSeconds("n.exited_at", "n.entered_at")+`)
FROM enrollments n
WHERE n.exit_reason IN (`+in+`) AND n.exited_at >= ? AND n.exited_at < ?`+only+group,
			append(append(a, since, until), onlyArgs...), func(r *sql.Rows) error {
				var seq string
				var n int
				var secs sql.NullFloat64
				if err := r.Scan(&seq, &n, &secs); err != nil {
					return err
				}
				if n > 0 {
					g := get(seq)
					g.exits, g.seconds = n, secs.Float64
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	for _, seq := range sortedKeys(counts) {
		fn(seq, *counts[seq])
	}
	return nil
}

// goalReached is the condition, on an enrollment n and its contact c,
// that the contact reached one of f's goals: an exit for a goal's reason
// before the period ends, or a goal's stage now. f has goals.
func (s *Store) goalReached(f runtime.ReportFilter) (string, []any) {
	var reached []string
	var args []any
	if len(f.GoalExits) > 0 {
		in, a := stringList(f.GoalExits)
		reached = append(reached, "(n.exit_reason IN ("+in+") AND n.exited_at < ?)")
		args = append(append(args, a...), s.t(f.Until))
	}
	if len(f.GoalStages) > 0 {
		in, a := stringList(f.GoalStages)
		reached = append(reached, "c.stage IN ("+in+")")
		args = append(args, a...)
	}
	return "(" + strings.Join(reached, " OR ") + ")", args
}

// goalJoin joins an enrollment n to its contact c when goalReached reads
// the contact's stage, and is empty when nothing reads c: every
// enrollment has its contact, so the join never drops a row, and a join
// not needed is a lookup per enrollment.
func (s *Store) goalJoin(f runtime.ReportFilter) string {
	if len(f.GoalStages) == 0 {
		return ""
	}
	return " JOIN contacts c ON c.id = n.contact_id"
}

// stringList is "?, ?, ?" for vs, and vs as arguments.
func stringList(vs []string) (string, []any) {
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = v
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(vs)), ", "), args
}

// reportHoldouts counts, per sequence and holdout arm, the contacts
// enrolled in the period with an arm and those of them who reached a
// goal; and, when the programme's holdout held anyone out, the same of
// the programme: its control group against every other contact with an
// arm, each contact once. Two grouped queries, whatever the list's size.
func (s *Store) reportHoldouts(ctx context.Context, f runtime.ReportFilter) ([]runtime.HoldoutStats, error) {
	since, until := s.t(f.Since), s.t(f.Until)
	reached, rargs := "(1 = 0)", []any(nil)
	if len(f.GoalExits)+len(f.GoalStages) > 0 {
		reached, rargs = s.goalReached(f)
	}
	only, onlyArgs := "", []any(nil)
	if f.Sequence != "" {
		only, onlyArgs = " AND n.sequence = ?", []any{f.Sequence}
	}
	var out []runtime.HoldoutStats
	scan := func(r *sql.Rows) error {
		var h runtime.HoldoutStats
		if err := r.Scan(&h.Sequence, &h.Arm, &h.Contacts, &h.Goals); err != nil {
			return err
		}
		out = append(out, h)
		return nil
	}
	// A contact counts once an arm: the inner query makes a row of each,
	// where COUNT(DISTINCT …) would keep a set of contacts an arm.
	err := s.scanRows(ctx, `SELECT x.sequence, x.arm, COUNT(*), SUM(x.reached)
FROM (SELECT n.sequence, n.arm, n.contact_id, MAX(CASE WHEN `+reached+` THEN 1 ELSE 0 END) AS reached
	FROM enrollments n`+s.goalJoin(f)+`
	WHERE n.arm IS NOT NULL AND n.entered_at < ? AND (n.exited_at IS NULL OR n.exited_at >= ?)`+only+`
	GROUP BY n.sequence, n.arm, n.contact_id) x
GROUP BY x.sequence, x.arm ORDER BY x.sequence, x.arm`, append(append(rargs, until, since), onlyArgs...), scan)
	if err != nil || f.Sequence != "" || !slices.ContainsFunc(out, func(h runtime.HoldoutStats) bool { return h.Arm == campaigns.ArmGlobalControl }) {
		return out, err
	}
	err = s.scanRows(ctx, `SELECT '', CASE WHEN x.held = 1 THEN '`+campaigns.ArmGlobalControl+`' ELSE '`+campaigns.ArmTreatment+`' END, COUNT(*), SUM(x.reached)
FROM (SELECT n.contact_id, MAX(CASE WHEN n.arm = '`+campaigns.ArmGlobalControl+`' THEN 1 ELSE 0 END) AS held,
		MAX(CASE WHEN `+reached+` THEN 1 ELSE 0 END) AS reached
	FROM enrollments n`+s.goalJoin(f)+`
	WHERE n.arm IS NOT NULL AND n.entered_at < ? AND (n.exited_at IS NULL OR n.exited_at >= ?)
	GROUP BY n.contact_id) x
GROUP BY x.held ORDER BY 2`, append(rargs, until, since), scan)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b runtime.HoldoutStats) int {
		return cmp.Or(strings.Compare(a.Sequence, b.Sequence), strings.Compare(a.Arm, b.Arm))
	})
	return out, nil
}

// reportSends counts the sends handed over in the period. A send the
// mail server refused for its recipient is a bounce, which the engine
// records as the event "bounce/" and the send's key: the bounce counts
// with the others (reportEvents) and the refusal not again. The lookup
// by primary key runs only for the few refused sends.
func (s *Store) reportSends(ctx context.Context, f runtime.ReportFilter, row func([4]string) *runtime.EmailStats) error {
	// The status is tested in the sum, not the WHERE: there SQLite would
	// read the sends through the claim index (sends_due), a lookup per
	// row where the period wants them all, and a scan is faster.
	q := `SELECT s.sequence, s.step, s.email, COALESCE(s.variant, ''),
  SUM(CASE WHEN s.status IN (?, ?, ?) THEN 1 ELSE 0 END),
  SUM(CASE WHEN s.status = ? AND NOT EXISTS (SELECT 1 FROM events b WHERE b.id = 'bounce/' || s.key) THEN 1 ELSE 0 END)
FROM sends s
WHERE s.sent_at >= ? AND s.sent_at < ?`
	args := []any{runtime.SendAccepted, runtime.SendUnknown, runtime.SendFailed, runtime.SendFailed, s.t(f.Since), s.t(f.Until)}
	if f.Sequence != "" {
		q += ` AND s.sequence = ?`
		args = append(args, f.Sequence)
	}
	q += ` GROUP BY s.sequence, s.step, s.email, COALESCE(s.variant, '')
HAVING SUM(CASE WHEN s.status IN (?, ?, ?) THEN 1 ELSE 0 END) > 0`
	args = append(args, runtime.SendAccepted, runtime.SendUnknown, runtime.SendFailed)
	return s.scanRows(ctx, q, args, func(r *sql.Rows) error {
		var k [4]string
		var sent, failed int
		if err := r.Scan(&k[0], &k[1], &k[2], &k[3], &sent, &failed); err != nil {
			return err
		}
		e := row(k)
		e.Sent, e.Failed = sent, failed
		return nil
	})
}

// reportEvents counts the contacts who did each thing to an email in the
// period, by the sequence, step, email and arm the event names.
func (s *Store) reportEvents(ctx context.Context, f runtime.ReportFilter, row func([4]string) *runtime.EmailStats) error {
	prop := func(k string) string { return "COALESCE(" + s.d.Prop(k, str) + ", '')" }
	human := `x.name = '` + campaigns.EventOpened + `' AND x.machine = 0`
	q := `SELECT x.sequence, x.step, x.email, x.variant,
  COUNT(DISTINCT CASE WHEN ` + human + ` THEN x.contact_id END),
  COUNT(DISTINCT CASE WHEN x.name = '` + campaigns.EventOpened + `' AND x.machine = 1 THEN x.contact_id END),
  COUNT(DISTINCT CASE WHEN x.name = '` + campaigns.EventClicked + `' THEN x.contact_id END),
  COUNT(DISTINCT CASE WHEN x.name = '` + campaigns.EventClicked + `' OR (` + human + `) THEN x.contact_id END),
  COUNT(DISTINCT CASE WHEN x.name = '` + campaigns.EventReplied + `' THEN x.contact_id END),
  COUNT(DISTINCT CASE WHEN x.name = '` + campaigns.EventUnsubscribed + `' THEN x.contact_id END),
  COUNT(DISTINCT CASE WHEN x.name = '` + campaigns.EventComplained + `' THEN x.contact_id END),
  COUNT(DISTINCT CASE WHEN x.name = '` + campaigns.EventBounced + `' THEN x.contact_id END)
FROM (
  SELECT e.contact_id, e.name, ` + prop("sequence") + ` AS sequence, ` + prop("step") + ` AS step,
    ` + prop("email") + ` AS email, ` + prop("variant") + ` AS variant,
    CASE WHEN ` + s.d.Prop("unreliable", campaigns.TypeBool) + ` THEN 1 ELSE 0 END AS machine
  FROM events e WHERE e.name IN (?, ?, ?, ?, ?, ?) AND e.at >= ? AND e.at < ?
) x WHERE x.sequence <> ''`
	args := []any{campaigns.EventOpened, campaigns.EventClicked, campaigns.EventReplied, campaigns.EventUnsubscribed,
		campaigns.EventComplained, campaigns.EventBounced, s.t(f.Since), s.t(f.Until)}
	if f.Sequence != "" {
		q += ` AND x.sequence = ?`
		args = append(args, f.Sequence)
	}
	q += ` GROUP BY x.sequence, x.step, x.email, x.variant`
	return s.scanRows(ctx, q, args, func(r *sql.Rows) error {
		var k [4]string
		var c [8]int
		if err := r.Scan(&k[0], &k[1], &k[2], &k[3], &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7]); err != nil {
			return err
		}
		e := row(k)
		e.Opens, e.MachineOpens, e.Clicks, e.OpenedOrClicked, e.Replies, e.Unsubscribes, e.Complaints, e.Bounced = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
		return nil
	})
}

// reportWeeks counts each sequence's sends, and the contacts who clicked
// its emails, week by week from the period's start. The week is computed
// in SQL from the seconds since the start, so that both stores bucket
// alike whatever their time zone or week numbering.
func (s *Store) reportWeeks(ctx context.Context, f runtime.ReportFilter) ([]runtime.WeekStats, error) {
	week := func(col string) string {
		return "CAST(FLOOR(-(" + s.d.AgeSeconds("?", col) + ") / 604800) AS INTEGER)"
	}
	prop := func(k string) string { return "COALESCE(" + s.d.Prop(k, str) + ", '')" }
	since, until := s.t(f.Since), s.t(f.Until)
	type key struct {
		seq  string
		week int
	}
	weeks := map[key]*runtime.WeekStats{}
	get := func(k key) *runtime.WeekStats {
		if w := weeks[k]; w != nil {
			return w
		}
		w := &runtime.WeekStats{Sequence: k.seq, Week: k.week}
		weeks[k] = w
		return w
	}
	q := `SELECT x.sequence, x.week, COUNT(*) FROM (
  SELECT s.sequence, ` + week("s.sent_at") + ` AS week FROM sends s
  WHERE s.status IN (?, ?, ?) AND s.sent_at >= ? AND s.sent_at < ?`
	args := []any{since, runtime.SendAccepted, runtime.SendUnknown, runtime.SendFailed, since, until}
	if f.Sequence != "" {
		q += ` AND s.sequence = ?`
		args = append(args, f.Sequence)
	}
	q += `
) x GROUP BY x.sequence, x.week`
	err := s.scanRows(ctx, q, args, func(r *sql.Rows) error {
		var k key
		var n int
		if err := r.Scan(&k.seq, &k.week, &n); err != nil {
			return err
		}
		get(k).Sent = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	q = `SELECT x.sequence, x.week, COUNT(DISTINCT x.contact_id) FROM (
  SELECT e.contact_id, ` + prop("sequence") + ` AS sequence, ` + week("e.at") + ` AS week
  FROM events e WHERE e.name = ? AND e.at >= ? AND e.at < ?
) x WHERE x.sequence <> ''`
	args = []any{since, campaigns.EventClicked, since, until}
	if f.Sequence != "" {
		q += ` AND x.sequence = ?`
		args = append(args, f.Sequence)
	}
	q += ` GROUP BY x.sequence, x.week`
	err = s.scanRows(ctx, q, args, func(r *sql.Rows) error {
		var k key
		var n int
		if err := r.Scan(&k.seq, &k.week, &n); err != nil {
			return err
		}
		get(k).Clicks = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []runtime.WeekStats
	for _, w := range weeks {
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Sequence != out[j].Sequence {
			return out[i].Sequence < out[j].Sequence
		}
		return out[i].Week < out[j].Week
	})
	return out, nil
}

// reportLinks counts the contacts who clicked each link, most clicked
// first within each step and arm.
func (s *Store) reportLinks(ctx context.Context, f runtime.ReportFilter) ([]runtime.LinkClicks, error) {
	prop := func(k string) string { return "COALESCE(" + s.d.Prop(k, str) + ", '')" }
	q := `SELECT x.sequence, x.step, x.variant, x.url, COUNT(DISTINCT x.contact_id) FROM (
  SELECT e.contact_id, ` + prop("sequence") + ` AS sequence, ` + prop("step") + ` AS step, ` + prop("variant") + ` AS variant, ` + prop("url") + ` AS url
  FROM events e WHERE e.name = ? AND e.at >= ? AND e.at < ?
) x WHERE x.sequence <> ''`
	args := []any{campaigns.EventClicked, s.t(f.Since), s.t(f.Until)}
	if f.Sequence != "" {
		q += ` AND x.sequence = ?`
		args = append(args, f.Sequence)
	}
	q += ` GROUP BY x.sequence, x.step, x.variant, x.url
ORDER BY x.sequence, x.step, x.variant, COUNT(DISTINCT x.contact_id) DESC, x.url`
	var out []runtime.LinkClicks
	err := s.scanRows(ctx, q, args, func(r *sql.Rows) error {
		var l runtime.LinkClicks
		if err := r.Scan(&l.Sequence, &l.Step, &l.Variant, &l.URL, &l.Clicks); err != nil {
			return err
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// reportOutcomes counts, per sequence, the contacts enrolled in the
// period by their stage now, the exits by reason and the hand-offs.
func (s *Store) reportOutcomes(ctx context.Context, f runtime.ReportFilter) ([]runtime.SequenceOutcome, error) {
	seqs := map[string]*runtime.SequenceOutcome{}
	get := func(name string) *runtime.SequenceOutcome {
		if o := seqs[name]; o != nil {
			return o
		}
		o := &runtime.SequenceOutcome{Sequence: name, Stages: map[string]int{}, Exits: map[string]int{}, HandoffReasons: map[string]int{}}
		seqs[name] = o
		return o
	}
	only := func(col string, args []any) (string, []any) {
		if f.Sequence == "" {
			return "", args
		}
		return " AND " + col + " = ?", append(args, f.Sequence)
	}
	since, until := s.t(f.Since), s.t(f.Until)

	// Each contact once a sequence, then its stage: the join reads a
	// contact once a sequence however many times it entered it, and no
	// COUNT(DISTINCT …) keeps a set of contacts per stage.
	cond, args := only("n.sequence", []any{until, since})
	err := s.scanRows(ctx, `SELECT x.sequence, COALESCE(c.stage, ''), COUNT(*)
FROM (SELECT DISTINCT n.sequence, n.contact_id FROM enrollments n
	WHERE n.entered_at < ? AND (n.exited_at IS NULL OR n.exited_at >= ?)`+cond+`) x
JOIN contacts c ON c.id = x.contact_id
GROUP BY x.sequence, COALESCE(c.stage, '')`, args, func(r *sql.Rows) error {
		var seq, stage string
		var n int
		if err := r.Scan(&seq, &stage, &n); err != nil {
			return err
		}
		o := get(seq)
		o.Stages[stage] += n
		o.Contacts += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	cond, args = only("sequence", []any{since, until})
	err = s.scanRows(ctx, `SELECT sequence, COALESCE(exit_reason, ''), COUNT(*) FROM enrollments
WHERE exited_at >= ? AND exited_at < ?`+cond+` GROUP BY sequence, COALESCE(exit_reason, '')`, args, func(r *sql.Rows) error {
		var seq, reason string
		var n int
		if err := r.Scan(&seq, &reason, &n); err != nil {
			return err
		}
		get(seq).Exits[reason] += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	cond, args = only("sequence", []any{since, until})
	err = s.scanRows(ctx, `SELECT sequence, reason, COUNT(*) FROM handoffs
WHERE sequence IS NOT NULL AND created_at >= ? AND created_at < ?`+cond+` GROUP BY sequence, reason`, args, func(r *sql.Rows) error {
		var seq, reason string
		var n int
		if err := r.Scan(&seq, &reason, &n); err != nil {
			return err
		}
		o := get(seq)
		o.Handoffs += n
		o.HandoffReasons[reason] += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.reportGoals(ctx, f, true, func(seq string, g goalCounts) {
		o := get(seq)
		o.Goals, o.GoalExits, o.GoalExitSeconds = g.contacts, g.exits, g.seconds
	})
	if err != nil {
		return nil, err
	}
	out := make([]runtime.SequenceOutcome, 0, len(seqs))
	for _, name := range sortedKeys(seqs) {
		out = append(out, *seqs[name])
	}
	return out, nil
}

// scanRows runs a query written with ? placeholders and calls fn for
// each row.
func (s *Store) scanRows(ctx context.Context, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
