package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Scoring runs in the store, like segments: a model compiles to one SQL
// expression per contact c.
//
//   - A fit rule gives its points when its condition holds.
//   - A behaviour rule gives its points for each matching event up to now
//     (only those within its window, when it has one), each halved for
//     every half-life of its age when the model decays, and at most its
//     max.
//   - The score is the sum, held between 0 and the model's max.

// scoreExpr writes model m's score of contact c at b.now.
func (b *builder) scoreExpr(m *campaigns.ScoringModel) (string, error) {
	if m == nil {
		return "0", nil
	}
	var terms []string
	for _, n := range sortedKeys(m.Fit) {
		r := m.Fit[n]
		cond, err := b.pred(r.When)
		if err != nil {
			return "", fmt.Errorf("fit rule %s: %w", n, err)
		}
		terms = append(terms, fmt.Sprintf("(CASE WHEN %s THEN %d ELSE 0 END)", cond, r.Points))
	}
	for _, n := range sortedKeys(m.Behavior) {
		x, err := b.behavior(m, m.Behavior[n])
		if err != nil {
			return "", fmt.Errorf("behaviour rule %s: %w", n, err)
		}
		terms = append(terms, x)
	}
	if len(terms) == 0 {
		return "0", nil
	}
	sum := "(" + strings.Join(terms, " + ") + ")"
	d := b.s.d
	sum = d.Greatest + "(0, " + sum + ")"
	if m.Max > 0 {
		sum = d.Least + fmt.Sprintf("(%d, %s)", m.Max, sum)
	}
	return sum, nil
}

func (b *builder) behavior(m *campaigns.ScoringModel, r *campaigns.BehaviorRule) (string, error) {
	et := b.prog.Events[r.Event]
	if et == nil {
		return "", fmt.Errorf("unknown event %s", r.Event)
	}
	d := b.s.d
	// Arguments go in the order their placeholders appear.
	agg := fmt.Sprintf("COUNT(*) * %d", r.Points)
	if m.HalfLife > 0 {
		half := m.HalfLife.Std().Seconds()
		agg = fmt.Sprintf("COALESCE(SUM(%d * %s(0.5, %s / %g)), 0)", r.Points, d.Pow, d.AgeSeconds(b.arg(b.s.t(b.now)), "e.at"), half)
	}
	q := "SELECT " + agg + " FROM events e WHERE e.contact_id = c.id AND e.name = " + b.arg(r.Event)
	q += " AND e.at <= " + b.arg(b.s.t(b.now))
	if r.Within > 0 {
		q += " AND e.at >= " + b.arg(b.s.t(b.now.Add(-r.Within.Std())))
	}
	for _, w := range r.Where {
		p := et.Properties[w.Field]
		if p == nil {
			return "", fmt.Errorf("event %s has no property %s", r.Event, w.Field)
		}
		x, err := b.compare(d.Prop(w.Field, p.Type), p.Type, w)
		if err != nil {
			return "", err
		}
		q += " AND " + x
	}
	x := "(" + q + ")"
	if r.Max > 0 {
		x = d.Least + fmt.Sprintf("(%d, %s)", r.Max, x)
	}
	return x, nil
}

// ScoreShift compares the scores of model under old (nil: none) and new
// (nil: removed) for every contact at now: how many cross each named
// threshold up or down, and a few who move to a higher band.
func (s *Store) ScoreShift(ctx context.Context, oldProg, newProg *campaigns.Program, model string, now time.Time, sample int) (runtime.ScoreShift, error) {
	var res runtime.ScoreShift
	var om, nm *campaigns.ScoringModel
	if oldProg != nil {
		om = oldProg.Scoring[model]
	}
	if newProg != nil {
		nm = newProg.Scoring[model]
	}
	var args []any
	expr := func(p *campaigns.Program, m *campaigns.ScoringModel) (string, error) {
		if m == nil {
			return "0", nil
		}
		b := &builder{s: s, prog: p, now: now, types: s.attrTypes(), inSegment: map[string]bool{}}
		x, err := b.scoreExpr(m)
		args = append(args, b.args...)
		return x, err
	}
	so, err := expr(oldProg, om)
	if err != nil {
		return res, err
	}
	sn, err := expr(newProg, nm)
	if err != nil {
		return res, err
	}
	inner := "SELECT c.id AS id, " + so + " AS so, " + sn + " AS sn FROM contacts c"
	innerArgs := args

	names := map[string]bool{}
	for _, m := range []*campaigns.ScoringModel{om, nm} {
		if m != nil {
			for n := range m.Thresholds {
				names[n] = true
			}
		}
	}
	var order []string
	for n := range names {
		order = append(order, n)
	}
	sort.Slice(order, func(i, j int) bool { return thresholdOf(nm, om, order[i]) < thresholdOf(nm, om, order[j]) })
	reached := func(col string, m *campaigns.ScoringModel, name string) string {
		if m == nil {
			return "0 = 1"
		}
		v, ok := m.Thresholds[name]
		if !ok {
			return "0 = 1"
		}
		return fmt.Sprintf("%s >= %g", col, v)
	}
	var cols, moved []string
	for _, n := range order {
		was, is := reached("x.so", om, n), reached("x.sn", nm, n)
		cols = append(cols,
			"COALESCE(SUM(CASE WHEN NOT ("+was+") AND "+is+" THEN 1 ELSE 0 END), 0)",
			"COALESCE(SUM(CASE WHEN "+was+" AND NOT ("+is+") THEN 1 ELSE 0 END), 0)")
		moved = append(moved, "(CASE WHEN "+was+" THEN 1 ELSE 0 END) <> (CASE WHEN "+is+" THEN 1 ELSE 0 END)")
	}
	changed := "0 = 1"
	if len(moved) > 0 {
		changed = strings.Join(moved, " OR ")
	}
	cols = append(cols, "COALESCE(SUM(CASE WHEN "+changed+" THEN 1 ELSE 0 END), 0)", "COUNT(*)",
		"COALESCE(SUM(CASE WHEN x.sn > x.so THEN 1 ELSE 0 END), 0)", "COALESCE(SUM(CASE WHEN x.sn < x.so THEN 1 ELSE 0 END), 0)")
	vals := make([]int, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := s.db.QueryRowContext(ctx, s.rebind("SELECT "+strings.Join(cols, ", ")+" FROM ("+inner+") x"), innerArgs...).Scan(dest...); err != nil {
		return res, err
	}
	for i, n := range order {
		res.Thresholds = append(res.Thresholds, runtime.ThresholdShift{Name: n, Up: vals[2*i], Down: vals[2*i+1]})
	}
	k := 2 * len(order)
	res.BandChanged, res.Contacts, res.Higher, res.Lower = vals[k], vals[k+1], vals[k+2], vals[k+3]
	if sample > 0 && res.BandChanged > 0 {
		rows, err := s.db.QueryContext(ctx, s.rebind("SELECT c.email FROM ("+inner+") x JOIN contacts c ON c.id = x.id WHERE "+changed+" ORDER BY x.id LIMIT ?"), append(innerArgs, sample)...)
		if err != nil {
			return res, err
		}
		defer rows.Close()
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				return res, err
			}
			res.Sample = append(res.Sample, e)
		}
		return res, rows.Err()
	}
	return res, nil
}

func thresholdOf(a, b *campaigns.ScoringModel, name string) float64 {
	if a != nil {
		if v, ok := a.Thresholds[name]; ok {
			return v
		}
	}
	if b != nil {
		return b.Thresholds[name]
	}
	return 0
}
