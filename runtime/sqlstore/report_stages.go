package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// stageChangesMigration is the migration that began recording stage
// changes; its applied_at is when the report's stage times begin.
const stageChangesMigration = 20

// reportStageTimes times how long the contacts of each sequence, and of
// the programme, took to reach each of f.Stages (or a later one), from
// their entry and from their creation: two queries, each grouped by
// sequence and stage, with the median and 75th percentile taken in SQL
// by ranking the durations (SQLite has no percentile_cont). With a
// stages' order of n, a contact's time to stage i is the first change to
// a stage ranked i or later.
func (s *Store) reportStageTimes(ctx context.Context, f runtime.ReportFilter) ([]runtime.StageTimes, time.Time, error) {
	var since time.Time
	if len(f.Stages) == 0 {
		return nil, since, nil
	}
	var applied string
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT applied_at FROM schema_migrations WHERE version = ?`), stageChangesMigration).Scan(&applied)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, since, nil
	case err != nil:
		return nil, since, err
	}
	if since, err = time.Parse(time.RFC3339, applied); err != nil {
		return nil, since, err
	}
	// A store on a virtual clock (simulate, nurture test) records changes
	// dated before the migration ran: the record began with the first.
	var first any
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(at) FROM stage_changes`).Scan(&first); err != nil {
		return nil, since, err
	}
	if t, ok := s.scanTime(first); ok && t.Before(since) {
		since = t
	}
	type key struct {
		seq   string
		stage int
	}
	times := map[key]*runtime.StageTimes{}
	var order []key
	for _, fromEntry := range []bool{true, false} {
		q, args := s.stageTimesQuery(f, fromEntry)
		err := s.scanRows(ctx, q, args, func(r *sql.Rows) error {
			var k key
			var d runtime.Distribution
			var lo, hi float64
			var frac int
			if err := r.Scan(&k.seq, &k.stage, &d.N, &d.Median, &lo, &hi, &frac); err != nil {
				return err
			}
			if k.stage < 0 || k.stage >= len(f.Stages) {
				return nil
			}
			d.P75 = lo + (hi-lo)*float64(frac)/4
			t := times[k]
			if t == nil {
				t = &runtime.StageTimes{Sequence: k.seq, Stage: f.Stages[k.stage]}
				times[k] = t
				order = append(order, k)
			}
			if fromEntry {
				t.FromEntry = d
			} else {
				t.FromCreated = d
			}
			return nil
		})
		if err != nil {
			return nil, since, err
		}
	}
	out := make([]runtime.StageTimes, 0, len(order))
	sortKeys := func(a, b key) int {
		if c := strings.Compare(a.seq, b.seq); c != 0 {
			return c
		}
		return a.stage - b.stage
	}
	slices.SortFunc(order, sortKeys)
	for _, k := range order {
		out = append(out, *times[k])
	}
	return out, since, nil
}

// stageTimesQuery is the query timing each stage from entry (fromEntry)
// or from creation: the time to a stage is the first change to it or a
// later one, and from entry counts only the contacts who made it after
// they entered — a contact imported at a stage and enrolled at the same
// instant (a virtual clock's) was not brought there by the sequence. Its rows are (sequence, stage rank, n, median, the
// two ranks' durations the 75th percentile lies between, and the
// quarters it lies past the lower).
func (s *Store) stageTimesQuery(f runtime.ReportFilter, fromEntry bool) (string, []any) {
	since, until := s.t(f.Since), s.t(f.Until)
	period := `n.entered_at < ? AND (n.exited_at IS NULL OR n.exited_at >= ?)`
	var args []any
	ent := `SELECT n.sequence AS sequence, n.contact_id AS contact_id, MIN(n.entered_at) AS entered
  FROM enrollments n WHERE ` + period
	args = append(args, until, since)
	if f.Sequence != "" {
		ent += ` AND n.sequence = ?`
		args = append(args, f.Sequence)
	}
	ent += ` GROUP BY n.sequence, n.contact_id`
	if f.Sequence == "" {
		ent += `
  UNION ALL
  SELECT '', n.contact_id, MIN(n.entered_at) FROM enrollments n WHERE ` + period + ` GROUP BY n.contact_id`
		args = append(args, until, since)
	}
	rank := "CASE ch.stage"
	targets := make([]string, len(f.Stages))
	for i, st := range f.Stages {
		rank += " WHEN ? THEN " + strconv.Itoa(i)
		args = append(args, st)
		targets[i] = "SELECT " + strconv.Itoa(i) + " AS r"
	}
	rank += " ELSE -1 END"
	base, after := "c.created_at", ""
	if fromEntry {
		base, after = "e.entered", "\n  HAVING MIN(ch.at) > e.entered"
	}
	args = append(args, until)
	q := `WITH ent AS (
  ` + ent + `
), ch AS (
  SELECT ch.contact_id, ch.at, ` + rank + ` AS rnk FROM stage_changes ch WHERE ch.at < ?
), targets AS (
  ` + strings.Join(targets, " UNION ALL ") + `
), reach AS (
  SELECT e.sequence AS sequence, t.r AS r, ` + s.d.AgeSeconds("MIN(ch.at)", base) + ` AS secs
  FROM ent e JOIN contacts c ON c.id = e.contact_id CROSS JOIN targets t
    JOIN ch ON ch.contact_id = e.contact_id AND ch.rnk >= t.r
  GROUP BY e.sequence, e.contact_id, t.r, ` + base + after + `
), ranked AS (
  SELECT sequence, r, secs, ROW_NUMBER() OVER (PARTITION BY sequence, r ORDER BY secs) - 1 AS i,
    COUNT(*) OVER (PARTITION BY sequence, r) AS n
  FROM reach
)
SELECT sequence, r, MAX(n), AVG(CASE WHEN i = (n - 1) / 2 OR i = n / 2 THEN secs END),
  MIN(CASE WHEN i = (3 * (n - 1)) / 4 THEN secs END), MIN(CASE WHEN i = (3 * n) / 4 THEN secs END),
  MAX((3 * (n - 1)) % 4)
FROM ranked GROUP BY sequence, r`
	return q, args
}

// reportSubjects counts the sends of the period that went out with a
// subject line of a subject test, by the line, and the sends of them
// that bounced, were clicked or were replied to — an event of the send's
// contact naming its sequence, step and email, from when it was sent to
// the period's end. Only sends with a subject variant are read: the
// events are found through their contact's index, a few per send.
func (s *Store) reportSubjects(ctx context.Context, f runtime.ReportFilter) ([]runtime.SubjectStats, error) {
	of := func(name string) string {
		return `EXISTS (SELECT 1 FROM events e WHERE e.contact_id = s.contact_id AND e.name = '` + name + `'
      AND e.at >= s.sent_at AND e.at < ? AND ` + s.d.Prop("sequence", str) + ` = s.sequence
      AND ` + s.d.Prop("step", str) + ` = s.step AND ` + s.d.Prop("email", str) + ` = s.email)`
	}
	until := s.t(f.Until)
	q := `SELECT s.sequence, s.step, s.email, s.subject_variant,
  SUM(CASE WHEN s.status IN (?, ?, ?) THEN 1 ELSE 0 END),
  SUM(CASE WHEN s.status = ? AND NOT EXISTS (SELECT 1 FROM events b WHERE b.id = 'bounce/' || s.key) THEN 1 ELSE 0 END),
  SUM(CASE WHEN ` + of(campaigns.EventBounced) + ` THEN 1 ELSE 0 END),
  COUNT(DISTINCT CASE WHEN ` + of(campaigns.EventClicked) + ` THEN s.contact_id END),
  COUNT(DISTINCT CASE WHEN ` + of(campaigns.EventReplied) + ` THEN s.contact_id END)
FROM sends s
WHERE s.subject_variant IS NOT NULL AND s.status IN (?, ?, ?) AND s.sent_at >= ? AND s.sent_at < ?`
	args := []any{runtime.SendAccepted, runtime.SendUnknown, runtime.SendFailed, runtime.SendFailed, until, until, until,
		runtime.SendAccepted, runtime.SendUnknown, runtime.SendFailed, s.t(f.Since), until}
	if f.Sequence != "" {
		q += ` AND s.sequence = ?`
		args = append(args, f.Sequence)
	}
	q += `
GROUP BY s.sequence, s.step, s.email, s.subject_variant
ORDER BY s.sequence, s.step, s.email, s.subject_variant`
	var out []runtime.SubjectStats
	err := s.scanRows(ctx, q, args, func(r *sql.Rows) error {
		var x runtime.SubjectStats
		if err := r.Scan(&x.Sequence, &x.Step, &x.Email, &x.SubjectVariant, &x.Sent, &x.Failed, &x.Bounced, &x.Clicks, &x.Replies); err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	return out, err
}
