package sample

import (
	"slices"
	"strconv"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// The generator follows the programme's segments far enough that a
// contact's email history makes sense: an engineer is not sent the
// leaders' track, and a pricing-intent sequence starts after the pricing
// views that put the contact in its segment. This is a sketch of the
// runtime's evaluation, good enough for sample data and nothing else:
// scores are unknown ("maybe"), attributes are read as the contact's row
// states them now.

// tri is a three-valued truth: a condition on something the generator
// does not model, such as a score, is maybe.
type tri int8

const (
	no tri = iota
	maybe
	yes
)

func triOf(b bool) tri {
	if b {
		return yes
	}
	return no
}

// evalCtx is what a predicate is evaluated against: the contact's row
// and events, at a time.
type evalCtx struct {
	c     *contact
	at    int64
	depth int
}

func (g *gen) eval(p *campaigns.Predicate, x evalCtx) tri {
	switch p.Op {
	case campaigns.OpAll, "":
		out := yes
		for i := range p.Args {
			switch g.eval(&p.Args[i], x) {
			case no:
				return no
			case maybe:
				out = maybe
			}
		}
		return out
	case campaigns.OpAny:
		out := no
		for i := range p.Args {
			switch g.eval(&p.Args[i], x) {
			case yes:
				return yes
			case maybe:
				out = maybe
			}
		}
		return out
	case campaigns.OpNot:
		if len(p.Args) == 0 {
			return maybe
		}
		return 2 - g.eval(&p.Args[0], x) // yes ↔ no, maybe stays
	case campaigns.OpAttr:
		if p.Cond == nil {
			return maybe
		}
		return g.evalAttr(p.Cond, x)
	case campaigns.OpEvent:
		if p.Event == nil {
			return maybe
		}
		n := g.countEvents(p.Event, x.at)
		return triOf(n >= p.Event.MinCount && (p.Event.MaxCount == nil || n <= *p.Event.MaxCount))
	case campaigns.OpInactive:
		since := x.at - int64(p.Inactive.Std().Seconds())
		for _, e := range g.evs {
			if e.at > since && e.at <= x.at && campaigns.IsEngagement(e.t.name) {
				return no
			}
		}
		return yes
	case campaigns.OpSegment:
		s := g.p.Segments[p.Segment]
		if s == nil || x.depth > 16 {
			return maybe
		}
		x.depth++
		return g.eval(&s.When, x)
	}
	return maybe // scores
}

// countEvents counts the contact's events that meet ec up to at.
func (g *gen) countEvents(ec *campaigns.EventCondition, at int64) int {
	since := int64(-1 << 62)
	if ec.Within > 0 {
		since = at - int64(ec.Within.Std().Seconds())
	}
	n := 0
	for _, e := range g.evs {
		if e.t.name == ec.Name && e.at > since && e.at <= at && g.entryMatches(ec, e) {
			n++
		}
	}
	return n
}

// evalAttr evaluates a condition on the contact's row as written.
func (g *gen) evalAttr(cond *campaigns.Condition, x evalCtx) tri {
	i, ok := g.colIdx[cond.Field]
	if !ok {
		return maybe
	}
	v := g.row[i]
	col := g.cols[i]
	if cond.Cmp == campaigns.CmpExists {
		return triOf(v != "")
	}
	if v == "" {
		return triOf(cond.Cmp == campaigns.CmpNe || cond.Cmp == campaigns.CmpNotIn)
	}
	var p prop
	switch col.attr.Type {
	case campaigns.TypeInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return maybe
		}
		p = prop{kind: pInt, n: n}
	case campaigns.TypeNumber:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return maybe
		}
		p = prop{kind: pNum, f: f}
	case campaigns.TypeBool:
		p = prop{kind: pBool}
		if v == "true" {
			p.n = 1
		}
	case campaigns.TypeTime:
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return maybe
		}
		span := int64(cond.Span.Std().Seconds())
		switch cond.Cmp {
		case campaigns.CmpWithin:
			return triOf(t.Unix() > g.now-span)
		case campaigns.CmpOlderThan:
			return triOf(t.Unix() <= g.now-span)
		}
		return maybe
	default:
		p = prop{kind: pStr, s: v}
	}
	// Ranges over stage follow the lifecycle, not the alphabet.
	if cond.Field == campaigns.AttrStage {
		switch cond.Cmp {
		case campaigns.CmpLt, campaigns.CmpLte, campaigns.CmpGt, campaigns.CmpGte:
			want, _ := cond.Value.(string)
			w := slices.Index(g.stages, want)
			if w < 0 {
				return maybe
			}
			p = prop{kind: pInt, n: int64(x.c.stage)}
			c := *cond
			c.Value = float64(w)
			return triOf(matchCond(&c, p, true, g.h))
		}
	}
	return triOf(matchCond(cond, p, true, g.h))
}

// hasEvents reports whether a predicate depends on what the contact does,
// not only on who they are.
func (g *gen) hasEvents(p *campaigns.Predicate, depth int) bool {
	found := false
	p.Walk(func(q *campaigns.Predicate) {
		switch q.Op {
		case campaigns.OpEvent, campaigns.OpInactive:
			found = true
		case campaigns.OpSegment:
			if s := g.p.Segments[q.Segment]; s != nil && depth < 16 && g.hasEvents(&s.When, depth+1) {
				found = true
			}
		}
	})
	return found
}

// positiveEvents are the event conditions of a predicate not under a not:
// the events that can bring a contact into it.
func (g *gen) positiveEvents(p *campaigns.Predicate, neg bool, depth int, out []*campaigns.EventCondition) []*campaigns.EventCondition {
	switch p.Op {
	case campaigns.OpEvent:
		if !neg && p.Event != nil {
			out = append(out, p.Event)
		}
	case campaigns.OpNot:
		neg = !neg
	case campaigns.OpSegment:
		if s := g.p.Segments[p.Segment]; s != nil && depth < 16 {
			out = g.positiveEvents(&s.When, neg, depth+1, out)
		}
	}
	for i := range p.Args {
		out = g.positiveEvents(&p.Args[i], neg, depth, out)
	}
	return out
}
