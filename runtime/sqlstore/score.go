package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
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

// scoring compiles models to SQL over contacts c: each behaviour rule is
// one pass over its events, grouped by contact and LEFT JOINed as rN, so
// that scoring every contact costs a scan of the contacts and one of each
// rule's events rather than a lookup per contact and rule.
type scoring struct {
	s   *Store
	now time.Time
	// only, when set, limits the events read to these contacts'.
	only  []int64
	joins []string
	// Arguments of the select list and of the joins, kept apart because
	// the joins come after every select expression in the query.
	selArgs, joinArgs []any
}

func (sc *scoring) builder(prog *campaigns.Program) *builder {
	return &builder{s: sc.s, prog: prog, now: sc.now, types: sc.s.attrTypes(), inSegment: map[string]bool{}}
}

// term is one rule's points in a score expression.
type term struct {
	rule string // "fit.NAME" or "behavior.NAME"
	sql  string
}

// terms writes each rule of model m of prog as points of contact c.
func (sc *scoring) terms(prog *campaigns.Program, m *campaigns.ScoringModel) ([]term, error) {
	d := sc.s.d
	var terms []term
	fit := sc.builder(prog)
	for _, n := range sortedKeys(m.Fit) {
		r := m.Fit[n]
		cond, err := fit.pred(r.When)
		if err != nil {
			return nil, fmt.Errorf("fit rule %s: %w", n, err)
		}
		terms = append(terms, term{"fit." + n, fmt.Sprintf("(CASE WHEN %s THEN %d ELSE 0 END)", cond, r.Points)})
	}
	sc.selArgs = append(sc.selArgs, fit.args...)
	for _, n := range sortedKeys(m.Behavior) {
		r := m.Behavior[n]
		alias := fmt.Sprintf("r%d", len(sc.joins))
		jb := sc.builder(prog)
		q, err := jb.behavior(m, r)
		if err != nil {
			return nil, fmt.Errorf("behaviour rule %s: %w", n, err)
		}
		if sc.only != nil {
			cond, args := sc.s.idsIn("e.contact_id", sc.only)
			q = strings.Replace(q, " GROUP BY e.contact_id", " AND "+cond+" GROUP BY e.contact_id", 1)
			jb.args = append(jb.args, args...)
		}
		sc.joins = append(sc.joins, "LEFT JOIN ("+q+") "+alias+" ON "+alias+".contact_id = c.id")
		sc.joinArgs = append(sc.joinArgs, jb.args...)
		x := "COALESCE(" + alias + ".v, 0)"
		if r.Max > 0 {
			x = d.Least + fmt.Sprintf("(%d, %s)", r.Max, x)
		}
		terms = append(terms, term{"behavior." + n, x})
	}
	return terms, nil
}

// total is the score the terms add up to under model m.
func (sc *scoring) total(m *campaigns.ScoringModel, terms []term) string {
	if len(terms) == 0 {
		return "0"
	}
	d := sc.s.d
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = t.sql
	}
	sum := d.Greatest + "(0, (" + strings.Join(parts, " + ") + "))"
	if m.Max > 0 {
		sum = d.Least + fmt.Sprintf("(%d, %s)", m.Max, sum)
	}
	return sum
}

// expr writes model m of prog's score of contact c.
func (sc *scoring) expr(prog *campaigns.Program, m *campaigns.ScoringModel) (string, error) {
	if m == nil {
		return "0", nil
	}
	terms, err := sc.terms(prog, m)
	if err != nil {
		return "", err
	}
	return sc.total(m, terms), nil
}

// from is the FROM clause the expressions read, and all the arguments.
func (sc *scoring) from() (string, []any) {
	return "contacts c " + strings.Join(sc.joins, " "), append(append([]any{}, sc.selArgs...), sc.joinArgs...)
}

// behavior selects (contact_id, v): the points rule r gives each contact
// with a matching event, before the rule's max.
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
		agg = fmt.Sprintf("SUM(%d * %s(0.5, %s / %g))", r.Points, d.Pow, d.AgeSeconds(b.arg(b.s.t(b.now)), "e.at"), half)
	}
	q := "SELECT e.contact_id AS contact_id, " + agg + " AS v FROM events e WHERE e.name = " + b.arg(r.Event)
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
	return q + " GROUP BY e.contact_id", nil
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
	sc := &scoring{s: s, now: now}
	so, err := sc.expr(oldProg, om)
	if err != nil {
		return res, err
	}
	sn, err := sc.expr(newProg, nm)
	if err != nil {
		return res, err
	}
	from, innerArgs := sc.from()
	inner := "SELECT c.id AS id, " + so + " AS so, " + sn + " AS sn FROM " + from

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
	reached := func(v float64, m *campaigns.ScoringModel, name string) bool {
		if m == nil {
			return false
		}
		t, ok := m.Thresholds[name]
		return ok && v >= t
	}
	res.Thresholds = make([]runtime.ThresholdShift, len(order))
	for i, n := range order {
		res.Thresholds[i].Name = n
	}
	// One pass: the store scores, Go compares. Sending every contact's two
	// scores is cheaper than a second pass for the sample.
	rows, err := s.db.QueryContext(ctx, s.rebind(inner+" ORDER BY c.id"), innerArgs...)
	if err != nil {
		return res, err
	}
	defer rows.Close()
	var ids []any
	for rows.Next() {
		var id int64
		var so, sn float64
		if err := rows.Scan(&id, &so, &sn); err != nil {
			return res, err
		}
		res.Contacts++
		switch {
		case sn > so:
			res.Higher++
		case sn < so:
			res.Lower++
		}
		moved := false
		for i, n := range order {
			was, is := reached(so, om, n), reached(sn, nm, n)
			switch {
			case !was && is:
				res.Thresholds[i].Up++
				moved = true
			case was && !is:
				res.Thresholds[i].Down++
				moved = true
			}
		}
		if moved {
			res.BandChanged++
			if len(ids) < sample {
				ids = append(ids, id)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return res, err
	}
	rows.Close()
	if len(ids) == 0 {
		return res, nil
	}
	q := `SELECT email FROM contacts WHERE id IN (` + placeholders(len(ids)) + `) ORDER BY id`
	er, err := s.db.QueryContext(ctx, s.rebind(q), ids...)
	if err != nil {
		return res, err
	}
	defer er.Close()
	for er.Next() {
		var e string
		if err := er.Scan(&e); err != nil {
			return res, err
		}
		res.Sample = append(res.Sample, e)
	}
	return res, er.Err()
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

// Rescore computes every model's score of the contacts with the given IDs
// (every contact when ids is nil) at now and stores it, replacing what
// was stored. It returns how many scores it wrote.
func (s *Store) Rescore(ctx context.Context, prog *campaigns.Program, ids []int64, now time.Time) (int, error) {
	if ids != nil && len(ids) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	scoreTests := crossings(prog)
	total := 0
	for _, name := range sortedKeys(prog.Scoring) {
		sc := &scoring{s: s, now: now, only: ids}
		expr, err := sc.expr(prog, prog.Scoring[name])
		if err != nil {
			return 0, fmt.Errorf("scoring model %s: %w", name, err)
		}
		from, _ := sc.from()
		where, whereArgs := "1 = 1", []any(nil)
		if ids != nil {
			where, whereArgs = s.idsIn("c.id", ids)
		}
		// A score that crossed a threshold some condition tests is a
		// change the next tick looks at; one that only drifted is not.
		// A contact's first score is not: its contact is new, or the
		// model is, and either way the tick looks at the contact.
		// The crossing is stamped by the store's clock, which the next
		// tick counts changes by; computed_at is the tick's own time.
		crossed, crossedArgs := "scores.changed_at", []any(nil)
		if tests := scoreTests[name]; len(tests) > 0 {
			crossed = "CASE WHEN " + strings.Join(tests, " OR ") + " THEN ? ELSE scores.changed_at END"
			crossedArgs = []any{s.t(s.Now())}
		}
		q := `INSERT INTO scores (contact_id, model, score, computed_at) SELECT c.id, ?, ` + expr + `, ? FROM ` + from + ` WHERE ` + where + `
ON CONFLICT (contact_id, model) DO UPDATE SET score = excluded.score, computed_at = excluded.computed_at, changed_at = ` + crossed
		all := append([]any{name}, sc.selArgs...)
		all = append(all, s.t(now))
		all = append(all, sc.joinArgs...)
		all = append(all, whereArgs...)
		all = append(all, crossedArgs...)
		r, err := tx.ExecContext(ctx, s.rebind(q), all...)
		if err != nil {
			return 0, fmt.Errorf("scoring model %s: %w", name, err)
		}
		n, _ := r.RowsAffected()
		total += int(n)
	}
	return total, tx.Commit()
}

// crossings writes, for each scoring model, a condition per threshold the
// programme's conditions test that holds when the stored score and the
// new one (excluded) fall on different sides of it.
func crossings(prog *campaigns.Program) map[string][]string {
	seen := map[string]bool{}
	out := map[string][]string{}
	prog.WalkPredicates(func(p *campaigns.Predicate) {
		if p.Op != campaigns.OpScore || p.Score == nil {
			return
		}
		sc := p.Score
		op, ok := sqlOps[sc.Cmp]
		if !ok {
			return
		}
		v := strconv.FormatFloat(sc.Value, 'g', -1, 64)
		test := "((scores.score " + op + " " + v + ") <> (excluded.score " + op + " " + v + "))"
		if !seen[sc.Model+test] {
			seen[sc.Model+test] = true
			out[sc.Model] = append(out[sc.Model], test)
		}
	})
	for _, tests := range out {
		sort.Strings(tests)
	}
	return out
}

// idsIn is the condition that col is one of ids, and its arguments.
func (s *Store) idsIn(col string, ids []int64) (string, []any) {
	if s.d.AnyArray {
		return col + " IN (SELECT unnest(CAST(? AS BIGINT[])))", []any{ids}
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return col + " IN (" + placeholders(len(ids)) + ")", args
}

// idsList is idsIn for statements delivery runs every few messages with
// a few IDs: its text is the same whatever their number, so that it is
// prepared once (see stmt) rather than parsed anew each time. SQLite
// takes the IDs as a JSON array.
func (s *Store) idsList(col string, ids []int64) (string, any) {
	if s.d.AnyArray {
		return col + " IN (SELECT unnest(CAST(? AS BIGINT[])))", ids
	}
	b := make([]byte, 0, 2+8*len(ids))
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return col + " IN (SELECT value FROM json_each(?))", string(append(b, ']'))
}

// ScoreBreakdown scores one contact under the named model at now, rule
// by rule.
func (s *Store) ScoreBreakdown(ctx context.Context, prog *campaigns.Program, model string, id int64, now time.Time) (runtime.Breakdown, error) {
	var b runtime.Breakdown
	m := prog.Scoring[model]
	if m == nil {
		return b, fmt.Errorf("no scoring model %s", model)
	}
	sc := &scoring{s: s, now: now, only: []int64{id}}
	terms, err := sc.terms(prog, m)
	if err != nil {
		return b, err
	}
	cols := make([]string, 0, len(terms)+1)
	for _, t := range terms {
		cols = append(cols, t.sql)
	}
	cols = append(cols, sc.total(m, terms))
	// The total repeats the terms, and with them their arguments.
	sel := append(append([]any{}, sc.selArgs...), sc.selArgs...)
	from, _ := sc.from()
	args := append(append(sel, sc.joinArgs...), id)
	vals := make([]float64, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	err = s.db.QueryRowContext(ctx, s.rebind("SELECT "+strings.Join(cols, ", ")+" FROM "+from+" WHERE c.id = ?"), args...).Scan(dest...)
	if err != nil {
		return b, err
	}
	for i, t := range terms {
		b.Rules = append(b.Rules, runtime.RulePoints{Rule: t.rule, Points: vals[i]})
	}
	b.Score = vals[len(terms)]
	return b, nil
}
