package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Audience counts the contacts that meet p at now, and returns the first
// sample of them by ID.
func (s *Store) Audience(ctx context.Context, prog *campaigns.Program, p campaigns.Predicate, now time.Time, sample int) (int, []runtime.Contact, error) {
	where, args, err := s.Where(prog, p, now)
	if err != nil {
		return 0, nil, err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM contacts c WHERE `+where), args...).Scan(&n); err != nil {
		return 0, nil, err
	}
	if sample <= 0 || n == 0 {
		return n, nil, nil
	}
	out, err := s.Sample(ctx, prog, p, now, sample)
	return n, out, err
}

// Counts counts the contacts meeting each predicate in one scan.
func (s *Store) Counts(ctx context.Context, prog *campaigns.Program, ps []campaigns.Predicate, now time.Time) ([]int, error) {
	return s.countEach(ctx, prog, ps, now, func(where string) string {
		return "COALESCE(SUM(CASE WHEN " + where + " THEN 1 ELSE 0 END), 0)"
	})
}

// countEach runs one scan of the contacts with a column for each
// predicate, agg of its condition, and returns the columns.
func (s *Store) countEach(ctx context.Context, prog *campaigns.Program, ps []campaigns.Predicate, now time.Time, agg func(where string) string) ([]int, error) {
	out := make([]int, len(ps))
	if len(ps) == 0 {
		return out, nil
	}
	cols := make([]string, len(ps))
	var args []any
	for i, p := range ps {
		where, a, err := s.Where(prog, p, now)
		if err != nil {
			return nil, err
		}
		cols[i] = agg(where)
		args = append(args, a...)
	}
	dest := make([]any, len(ps))
	for i := range out {
		dest[i] = &out[i]
	}
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT `+strings.Join(cols, ", ")+` FROM contacts c`), args...).Scan(dest...)
	return out, err
}

// Sample returns up to n contacts meeting p, by ID.
func (s *Store) Sample(ctx context.Context, prog *campaigns.Program, p campaigns.Predicate, now time.Time, n int) ([]runtime.Contact, error) {
	if n <= 0 {
		return nil, nil
	}
	where, args, err := s.Where(prog, p, now)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT `+s.selectContact("c.")+` FROM contacts c WHERE `+where+` ORDER BY c.id LIMIT ?`), append(args, n)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.Contact
	for rows.Next() {
		c, err := s.scanContact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Where compiles p into a condition on contacts aliased c, with ? for each
// value. Every condition it writes is true or false, never NULL, so that
// NOT means what it says: a contact without a value for an attribute fails
// comparisons with it but meets ne, not_in and exists: false.
func (s *Store) Where(prog *campaigns.Program, p campaigns.Predicate, now time.Time) (string, []any, error) {
	b := &builder{s: s, prog: prog, now: now, types: s.attrTypes(), inSegment: map[string]bool{}}
	sql, err := b.pred(p)
	return sql, b.args, err
}

type builder struct {
	s         *Store
	prog      *campaigns.Program
	now       time.Time
	types     map[string]string
	args      []any
	inSegment map[string]bool
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "?"
}

func (b *builder) pred(p campaigns.Predicate) (string, error) {
	switch p.Op {
	case campaigns.OpAll, campaigns.OpAny:
		if len(p.Args) == 0 {
			if p.Op == campaigns.OpAll {
				return "1 = 1", nil
			}
			return "1 = 0", nil
		}
		parts := make([]string, len(p.Args))
		for i, a := range p.Args {
			x, err := b.pred(a)
			if err != nil {
				return "", err
			}
			parts[i] = x
		}
		if len(parts) == 1 {
			return parts[0], nil
		}
		op := " AND "
		if p.Op == campaigns.OpAny {
			op = " OR "
		}
		return "(" + strings.Join(parts, op) + ")", nil
	case campaigns.OpNot:
		if len(p.Args) != 1 {
			return "", fmt.Errorf("not with %d conditions", len(p.Args))
		}
		x, err := b.pred(p.Args[0])
		return "NOT " + x, err
	case campaigns.OpAttr:
		return b.attr(*p.Cond)
	case campaigns.OpEvent:
		return b.event(p.Event)
	case campaigns.OpScore:
		return b.score(p.Score)
	case campaigns.OpSegment:
		seg := b.prog.Segments[p.Segment]
		if seg == nil {
			return "", fmt.Errorf("unknown segment %s", p.Segment)
		}
		if b.inSegment[p.Segment] {
			return "", fmt.Errorf("segment %s refers to itself", p.Segment)
		}
		b.inSegment[p.Segment] = true
		defer delete(b.inSegment, p.Segment)
		return b.pred(seg.When)
	case campaigns.OpEnrolled:
		e := p.Enrolled
		if e == nil {
			return "", fmt.Errorf("enrolled without a sequence")
		}
		cond := "en.contact_id = c.id"
		if e.Sequence != "" {
			cond += " AND en.sequence = " + b.arg(e.Sequence)
		}
		switch {
		case e.Active:
			cond += " AND en.state = 'active'"
		case e.Within > 0:
			cond += " AND (en.state = 'active' OR en.exited_at >= " + b.arg(b.s.t(b.now.Add(-e.Within.Std()))) + ")"
		}
		return "EXISTS (SELECT 1 FROM enrollments en WHERE " + cond + ")", nil
	case campaigns.OpContacts:
		if len(p.IDs) == 0 {
			return "1 = 0", nil
		}
		cond, args := b.s.idsIn("c.id", p.IDs)
		b.args = append(b.args, args...)
		return cond, nil
	case campaigns.OpOptedOut:
		return "EXISTS (SELECT 1 FROM preferences pf WHERE pf.contact_id = c.id AND pf.topics_out LIKE " + b.arg("%,"+p.Topic+",%") + ")", nil
	case campaigns.OpSuppressed:
		return "EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = c.email_key)", nil
	case campaigns.OpConsented:
		// The consents' unique key leads with email_key: an index probe.
		return "EXISTS (SELECT 1 FROM consents k WHERE k.email_key = c.email_key)", nil
	case campaigns.OpInactive:
		return "COALESCE(c.last_engaged_at, c.created_at) < " + b.arg(b.s.t(b.now.Add(-p.Inactive.Std()))), nil
	case campaigns.OpAccount:
		return b.account(p)
	case campaigns.OpAccountAttr:
		return b.accountAttr(*p.Cond)
	case campaigns.OpAccountScore:
		return b.accountScore(p.Score)
	}
	return "", fmt.Errorf("unknown condition %q", p.Op)
}

func (b *builder) attr(c campaigns.Condition) (string, error) {
	a := b.prog.Contact.Attributes[c.Field]
	if a == nil {
		return "", fmt.Errorf("unknown attribute %s", c.Field)
	}
	col := "c.email"
	if c.Field != campaigns.AttrEmail {
		if _, ok := b.types[c.Field]; !ok && !isBuiltin(c.Field) {
			return "", fmt.Errorf("the store has no column for attribute %s: sync the schema first", c.Field)
		}
		col = "c." + column(c.Field)
	}
	if c.Field == campaigns.AttrStage {
		switch c.Cmp {
		case campaigns.CmpGt, campaigns.CmpGte, campaigns.CmpLt, campaigns.CmpLte:
			return b.stageRange(c, a.Values)
		}
	}
	return b.compare(col, a.Type, c)
}

// stageRange turns an order comparison on stage into the stages it admits.
func (b *builder) stageRange(c campaigns.Condition, stages []string) (string, error) {
	at := slices.Index(stages, fmt.Sprint(c.Value))
	if at < 0 {
		return "", fmt.Errorf("unknown stage %v", c.Value)
	}
	var in []string
	for i, st := range stages {
		if c.Cmp == campaigns.CmpGt && i > at || c.Cmp == campaigns.CmpGte && i >= at ||
			c.Cmp == campaigns.CmpLt && i < at || c.Cmp == campaigns.CmpLte && i <= at {
			in = append(in, b.arg(st))
		}
	}
	if len(in) == 0 {
		return "1 = 0", nil
	}
	return "(c.stage IS NOT NULL AND c.stage IN (" + strings.Join(in, ", ") + "))", nil
}

var sqlOps = map[string]string{
	campaigns.CmpEq: "=", campaigns.CmpNe: "<>",
	campaigns.CmpGt: ">", campaigns.CmpGte: ">=", campaigns.CmpLt: "<", campaigns.CmpLte: "<=",
}

// compare writes one comparison of expr, holding a value of type typ.
func (b *builder) compare(expr, typ string, c campaigns.Condition) (string, error) {
	has := func(cond string) string { return "(" + expr + " IS NOT NULL AND " + cond + ")" }
	switch c.Cmp {
	case campaigns.CmpEq, campaigns.CmpGt, campaigns.CmpGte, campaigns.CmpLt, campaigns.CmpLte:
		v, err := b.value(typ, c.Value)
		if err != nil {
			return "", err
		}
		return has(expr + " " + sqlOps[c.Cmp] + " " + b.arg(v)), nil
	case campaigns.CmpNe:
		v, err := b.value(typ, c.Value)
		if err != nil {
			return "", err
		}
		return "(" + expr + " IS NULL OR " + expr + " <> " + b.arg(v) + ")", nil
	case campaigns.CmpIn, campaigns.CmpNotIn:
		if len(c.Values) == 0 {
			if c.Cmp == campaigns.CmpIn {
				return "1 = 0", nil
			}
			return "1 = 1", nil
		}
		ph := make([]string, len(c.Values))
		for i, x := range c.Values {
			v, err := b.value(typ, x)
			if err != nil {
				return "", err
			}
			ph[i] = b.arg(v)
		}
		list := "(" + strings.Join(ph, ", ") + ")"
		if c.Cmp == campaigns.CmpIn {
			return has(expr + " IN " + list), nil
		}
		return "(" + expr + " IS NULL OR " + expr + " NOT IN " + list + ")", nil
	case campaigns.CmpMatches:
		return has(b.s.d.Regexp(expr, b.arg(fmt.Sprint(c.Value)))), nil
	case campaigns.CmpExists:
		if c.Value == true {
			return expr + " IS NOT NULL", nil
		}
		return expr + " IS NULL", nil
	case campaigns.CmpWithin:
		return has(expr + " >= " + b.arg(b.s.t(b.now.Add(-c.Span.Std())))), nil
	case campaigns.CmpOlderThan:
		return has(expr + " < " + b.arg(b.s.t(b.now.Add(-c.Span.Std())))), nil
	}
	return "", fmt.Errorf("unknown comparison %q", c.Cmp)
}

// value converts a value from the programme to the stored form of typ.
func (b *builder) value(typ string, v any) (any, error) {
	switch typ {
	case campaigns.TypeInt:
		f, ok := v.(float64)
		if !ok {
			return nil, fmt.Errorf("%v is not a number", v)
		}
		if f == math.Trunc(f) {
			return int64(f), nil
		}
		return f, nil
	case campaigns.TypeNumber:
		f, ok := v.(float64)
		if !ok {
			return nil, fmt.Errorf("%v is not a number", v)
		}
		return f, nil
	case campaigns.TypeBool:
		x, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%v is not true or false", v)
		}
		return b.s.encode(x), nil
	case campaigns.TypeTime:
		str, _ := v.(string)
		t, err := time.Parse(time.RFC3339, str)
		if err != nil {
			t, err = time.Parse(time.DateOnly, str)
		}
		if err != nil {
			return nil, fmt.Errorf("%v is not a time", v)
		}
		return b.s.t(t), nil
	}
	str, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%v is not a string", v)
	}
	return str, nil
}

func (b *builder) event(ev *campaigns.EventCondition) (string, error) {
	et := b.prog.Events[ev.Name]
	if et == nil {
		return "", fmt.Errorf("unknown event %s", ev.Name)
	}
	if ev.MinCount == 0 && ev.MaxCount == nil {
		return "1 = 1", nil // any number of events, none included
	}
	// Events up to now: a tick dated before some of the store's events
	// (a replay, a plan for a past moment) must not act on its future.
	q := "SELECT e.contact_id FROM events e WHERE e.name = " + b.arg(ev.Name) + " AND e.at <= " + b.arg(b.s.t(b.now))
	if ev.Within > 0 {
		q += " AND e.at >= " + b.arg(b.s.t(b.now.Add(-ev.Within.Std())))
	}
	for _, w := range ev.Where {
		p := et.Properties[w.Field]
		if p == nil {
			return "", fmt.Errorf("event %s has no property %s", ev.Name, w.Field)
		}
		x, err := b.compare(b.s.d.Prop(w.Field, p.Type), p.Type, w)
		if err != nil {
			return "", err
		}
		q += " AND " + x
	}
	switch {
	case ev.MinCount == 1 && ev.MaxCount == nil:
		return b.among(q, false), nil
	case ev.MinCount == 0:
		return b.among(q+" GROUP BY e.contact_id HAVING COUNT(*) > "+b.arg(*ev.MaxCount), true), nil
	}
	having := "COUNT(*) >= " + b.arg(ev.MinCount)
	if ev.MaxCount != nil {
		having += " AND COUNT(*) <= " + b.arg(*ev.MaxCount)
	}
	return b.among(q+" GROUP BY e.contact_id HAVING "+having, false), nil
}

// latest is a scalar subquery: the ID of the contact's latest event that
// meets ev (its name, properties and window), up to now; NULL when none.
// Counts do not matter here: it names the event, not whether enough came.
func (b *builder) latest(ev *campaigns.EventCondition) (string, error) {
	et := b.prog.Events[ev.Name]
	if et == nil {
		return "", fmt.Errorf("unknown event %s", ev.Name)
	}
	q := "SELECT e.id FROM events e WHERE e.contact_id = c.id AND e.name = " + b.arg(ev.Name) + " AND e.at <= " + b.arg(b.s.t(b.now))
	if ev.Within > 0 {
		q += " AND e.at >= " + b.arg(b.s.t(b.now.Add(-ev.Within.Std())))
	}
	for _, w := range ev.Where {
		p := et.Properties[w.Field]
		if p == nil {
			return "", fmt.Errorf("event %s has no property %s", ev.Name, w.Field)
		}
		x, err := b.compare(b.s.d.Prop(w.Field, p.Type), p.Type, w)
		if err != nil {
			return "", err
		}
		q += " AND " + x
	}
	return "(" + q + " ORDER BY e.at DESC, e.id DESC LIMIT 1)", nil
}

// LatestEvent returns the ID of contact id's latest event that meets ev
// at now, or "" when none does: the event a wait_for was answered by.
func (s *Store) LatestEvent(ctx context.Context, prog *campaigns.Program, id int64, ev campaigns.EventCondition, now time.Time) (string, error) {
	b := &builder{s: s, prog: prog, now: now, types: s.attrTypes(), inSegment: map[string]bool{}}
	q, err := b.latest(&ev)
	if err != nil {
		return "", err
	}
	var out sql.NullString
	if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT `+q+` FROM contacts c WHERE c.id = ?`), append(b.args, id)...).Scan(&out); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	return out.String, nil
}

// among is the condition that c is (or, with not, is not) one of the
// contacts whose contact_id q selects.
func (b *builder) among(q string, not bool) string {
	if b.s.d.Exists {
		x := "EXISTS (SELECT 1 FROM (" + q + ") m WHERE m.contact_id = c.id)"
		if not {
			return "NOT " + x
		}
		return x
	}
	if not {
		return "c.id NOT IN (" + q + ")"
	}
	return "c.id IN (" + q + ")"
}

// score compares a model's stored score. Contacts without one score zero.
func (b *builder) score(sc *campaigns.ScoreCondition) (string, error) {
	op, ok := sqlOps[sc.Cmp]
	if !ok || sc.Cmp == campaigns.CmpEq || sc.Cmp == campaigns.CmpNe {
		return "", fmt.Errorf("unknown score comparison %q", sc.Cmp)
	}
	holdsAtZero := map[string]bool{
		campaigns.CmpGt: 0 > sc.Value, campaigns.CmpGte: 0 >= sc.Value,
		campaigns.CmpLt: 0 < sc.Value, campaigns.CmpLte: 0 <= sc.Value,
	}[sc.Cmp]
	q := "SELECT s.contact_id FROM scores s WHERE s.model = " + b.arg(sc.Model) + " AND "
	if holdsAtZero {
		return b.among(q+"NOT (s.score "+op+" "+b.arg(sc.Value)+")", true), nil
	}
	return b.among(q+"s.score "+op+" "+b.arg(sc.Value), false), nil
}

// MatchesEach evaluates p for each contact with an ID in ids, in one
// query, and returns those that meet it.
func (s *Store) MatchesEach(ctx context.Context, prog *campaigns.Program, ids []int64, p campaigns.Predicate, now time.Time) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	where, args, err := s.Where(prog, p, now)
	if err != nil {
		return nil, err
	}
	cond, idArgs := s.idsIn("c.id", ids)
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT c.id FROM contacts c WHERE `+cond+` AND `+where), append(idArgs, args...)...)
	if err != nil {
		return nil, err
	}
	met, err := scanIDs(rows)
	for _, id := range met {
		out[id] = true
	}
	return out, err
}

// Matches evaluates each predicate for the contact with this ID.
func (s *Store) Matches(ctx context.Context, prog *campaigns.Program, id int64, ps []campaigns.Predicate, now time.Time) ([]bool, error) {
	out := make([]bool, len(ps))
	if len(ps) == 0 {
		return out, nil
	}
	cols := make([]string, len(ps))
	var args []any
	for i, p := range ps {
		where, a, err := s.Where(prog, p, now)
		if err != nil {
			return nil, err
		}
		cols[i] = "CASE WHEN " + where + " THEN 1 ELSE 0 END"
		args = append(args, a...)
	}
	vals := make([]int, len(ps))
	dest := make([]any, len(ps))
	for i := range vals {
		dest[i] = &vals[i]
	}
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT `+strings.Join(cols, ", ")+` FROM contacts c WHERE c.id = ?`), append(args, id)...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no contact %d", id)
	}
	for i, v := range vals {
		out[i] = v == 1
	}
	return out, err
}

// account is the condition that enough contacts of c's account meet
// p.Args[0]: one set-based subquery over the accounts, grouped. The
// subquery names its contacts c as well, so that the condition inside,
// written for c, reads each of the account's contacts; contacts_account
// indexes the match back to the outer contact.
func (b *builder) account(p campaigns.Predicate) (string, error) {
	n := p.Account
	if n == nil || len(p.Args) != 1 {
		return "", fmt.Errorf("account_contacts without its condition")
	}
	if !n.All && n.Min <= 0 && n.Max == nil {
		return "1 = 1", nil // any number of them, none included
	}
	inner, err := b.pred(p.Args[0])
	if err != nil {
		return "", err
	}
	q := "SELECT c.account FROM contacts c WHERE c.account IS NOT NULL AND "
	switch {
	case n.All:
		// Every contact meets it: none of the account fails it.
		return "(c.account IS NOT NULL AND c.account NOT IN (" + q + "NOT (" + inner + ")))", nil
	case n.Min <= 0:
		// At most Max: not one of the accounts where more meet it.
		return "(c.account IS NOT NULL AND c.account NOT IN (" + q + inner + " GROUP BY c.account HAVING COUNT(*) > " + b.arg(*n.Max) + "))", nil
	}
	q += inner
	if n.Min > 1 || n.Max != nil {
		q += " GROUP BY c.account HAVING COUNT(*) >= " + b.arg(n.Min)
		if n.Max != nil {
			q += " AND COUNT(*) <= " + b.arg(*n.Max)
		}
	}
	return "(c.account IS NOT NULL AND c.account IN (" + q + "))", nil
}
