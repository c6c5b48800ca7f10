package compiler

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// never returns why no contact can ever match p, or "" when some might.
// It is sound, not complete: "" does not promise a match.
func (c *checker) never(p *campaigns.Predicate, visiting map[string]bool) string {
	switch p.Op {
	case campaigns.OpAll:
		for i := range p.Args {
			if why := c.never(&p.Args[i], visiting); why != "" {
				return why
			}
		}
		return c.conjunction(flatten(p, c.prog.Segments, visiting))
	case campaigns.OpAny:
		if len(p.Args) == 0 {
			return "any: [] has no alternative"
		}
		for i := range p.Args {
			if c.never(&p.Args[i], visiting) == "" {
				return ""
			}
		}
		return "none of its alternatives can match"
	case campaigns.OpNot:
		if a := p.Args[0]; a.Op == campaigns.OpAll && len(a.Args) == 0 {
			return "it negates a condition every contact meets"
		}
	case campaigns.OpSegment:
		seg := c.prog.Segments[p.Segment]
		if seg == nil || visiting[p.Segment] {
			return ""
		}
		visiting[p.Segment] = true
		defer delete(visiting, p.Segment)
		if why := c.never(&seg.When, visiting); why != "" {
			return fmt.Sprintf("segment %s never matches (%s)", p.Segment, why)
		}
	case campaigns.OpAttr, campaigns.OpScore, campaigns.OpEvent:
		return c.conjunction([]campaigns.Predicate{*p})
	}
	return ""
}

// flatten lists the leaves that must all hold for p, looking through
// nested alls and referenced segments.
func flatten(p *campaigns.Predicate, segs map[string]*campaigns.Segment, visiting map[string]bool) []campaigns.Predicate {
	switch p.Op {
	case campaigns.OpAll:
		var out []campaigns.Predicate
		for i := range p.Args {
			out = append(out, flatten(&p.Args[i], segs, visiting)...)
		}
		return out
	case campaigns.OpSegment:
		seg := segs[p.Segment]
		if seg == nil || visiting[p.Segment] {
			return nil
		}
		visiting[p.Segment] = true
		defer delete(visiting, p.Segment)
		return flatten(&seg.When, segs, visiting)
	}
	return []campaigns.Predicate{*p}
}

// bounds is what a conjunction says of one ordered field.
type bounds struct {
	lo, hi         float64
	loOpen, hiOpen bool
	set            bool
}

func (b *bounds) add(cmp string, v float64) {
	if !b.set {
		b.lo, b.hi, b.set = -1e300, 1e300, true
	}
	switch cmp {
	case campaigns.CmpGt, campaigns.CmpGte:
		if v > b.lo || v == b.lo && cmp == campaigns.CmpGt {
			b.lo, b.loOpen = v, cmp == campaigns.CmpGt
		}
	case campaigns.CmpLt, campaigns.CmpLte:
		if v < b.hi || v == b.hi && cmp == campaigns.CmpLt {
			b.hi, b.hiOpen = v, cmp == campaigns.CmpLt
		}
	}
}

func (b *bounds) empty() bool {
	return b.set && (b.lo > b.hi || b.lo == b.hi && (b.loOpen || b.hiOpen))
}

func (b *bounds) holds(v float64) bool {
	if !b.set {
		return true
	}
	return (v > b.lo || v == b.lo && !b.loOpen) && (v < b.hi || v == b.hi && !b.hiOpen)
}

// conjunction finds contradictions among leaves that must all hold.
func (c *checker) conjunction(leaves []campaigns.Predicate) string {
	type field struct {
		allowed  []any // nil: not restricted to a list
		excluded []any
		rng      bounds
		patterns []*regexp.Regexp
		exists   *bool
		other    bool // compared some other way (within, older_than)
	}
	fields := map[string]*field{}
	scores := map[string]*bounds{}
	get := func(name string) *field {
		f := fields[name]
		if f == nil {
			f = &field{}
			fields[name] = f
		}
		return f
	}
	for _, l := range leaves {
		switch l.Op {
		case campaigns.OpEvent:
			if l.Event.MaxCount != nil && *l.Event.MaxCount < l.Event.MinCount {
				return fmt.Sprintf("no number of %s events fits its count", l.Event.Name)
			}
		case campaigns.OpScore:
			s := l.Score
			b := scores[s.Model]
			if b == nil {
				b = &bounds{}
				scores[s.Model] = b
			}
			b.add(s.Cmp, s.Value)
			if m := c.prog.Scoring[s.Model]; m != nil && m.Max > 0 {
				b.add(campaigns.CmpLte, float64(m.Max))
			}
			b.add(campaigns.CmpGte, 0)
			if b.empty() {
				return fmt.Sprintf("the %s score cannot be in the range it asks for", s.Model)
			}
		case campaigns.OpAttr:
			cd := l.Cond
			f := get(cd.Field)
			attr := c.prog.Contact.Attributes[cd.Field]
			switch cd.Cmp {
			case campaigns.CmpEq:
				f.allowed = intersect(f.allowed, []any{cd.Value})
			case campaigns.CmpIn:
				f.allowed = intersect(f.allowed, cd.Values)
			case campaigns.CmpNe:
				f.excluded = append(f.excluded, cd.Value)
			case campaigns.CmpNotIn:
				f.excluded = append(f.excluded, cd.Values...)
			case campaigns.CmpGt, campaigns.CmpGte, campaigns.CmpLt, campaigns.CmpLte:
				if v, ok := ordinal(attr, cd.Field, cd.Value); ok {
					f.rng.add(cd.Cmp, v)
				}
			case campaigns.CmpMatches:
				if re, err := regexp.Compile(cd.Value.(string)); err == nil {
					f.patterns = append(f.patterns, re)
				}
			case campaigns.CmpExists:
				b := cd.Value.(bool)
				if f.exists != nil && *f.exists != b {
					return fmt.Sprintf("%s must both exist and not exist", cd.Field)
				}
				f.exists = &b
			default:
				f.other = true
			}
		}
	}
	for _, name := range sortedKeys(fields) {
		f := fields[name]
		attr := c.prog.Contact.Attributes[name]
		if f.exists != nil && !*f.exists && (f.allowed != nil || f.rng.set || len(f.patterns) > 0 || f.other) {
			return fmt.Sprintf("%s must be absent and yet compared with a value", name)
		}
		if f.rng.empty() {
			return fmt.Sprintf("the range for %s is empty", name)
		}
		if f.allowed == nil {
			continue
		}
		var left []any
		for _, v := range f.allowed {
			if slices.Contains(f.excluded, v) {
				continue
			}
			if o, ok := ordinal(attr, name, v); ok && !f.rng.holds(o) {
				continue
			}
			if s, ok := v.(string); ok && !matchesAll(f.patterns, s) {
				continue
			}
			left = append(left, v)
		}
		if len(left) == 0 {
			return fmt.Sprintf("no value of %s meets all its conditions", name)
		}
	}
	return ""
}

func intersect(a, b []any) []any {
	if a == nil {
		return slices.Clone(b)
	}
	out := []any{}
	for _, v := range a {
		if slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

func matchesAll(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if !re.MatchString(s) {
			return false
		}
	}
	return true
}

// ordinal places a value on its field's order: numbers as they are, stages
// by lifecycle position, times as Unix seconds.
func ordinal(attr *campaigns.Attribute, field string, v any) (float64, bool) {
	if attr == nil {
		return 0, false
	}
	switch attr.Type {
	case campaigns.TypeInt, campaigns.TypeNumber:
		f, ok := v.(float64)
		return f, ok
	case campaigns.TypeEnum:
		s, _ := v.(string)
		if i := slices.Index(attr.Values, s); i >= 0 && field == campaigns.AttrStage {
			return float64(i), true
		}
	case campaigns.TypeTime:
		s, _ := v.(string)
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return float64(t.Unix()), true
		}
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return float64(t.Unix()), true
		}
	}
	return 0, false
}

// overlaps warns of sequences that may want the same contact at the same
// moment with nothing to choose between them.
func (c *checker) overlaps() {
	names := sortedKeys(c.prog.Sequences)
	for i, a := range names {
		sa := c.prog.Sequences[a]
		for _, b := range names[i+1:] {
			sb := c.prog.Sequences[b]
			if sa.Priority != sb.Priority {
				continue
			}
			var why string
			switch {
			case sa.Entry.Segment != "" && sb.Entry.Segment != "":
				if c.prog.Segments[sa.Entry.Segment] == nil || c.prog.Segments[sb.Entry.Segment] == nil {
					continue // NRT101 says so; an unknown segment overlaps nothing
				}
				both := campaigns.Predicate{Op: campaigns.OpAll, Args: []campaigns.Predicate{
					{Op: campaigns.OpSegment, Segment: sa.Entry.Segment}, {Op: campaigns.OpSegment, Segment: sb.Entry.Segment}}}
				if c.never(&both, map[string]bool{}) == "" {
					why = fmt.Sprintf("segments %s and %s can hold the same contact", sa.Entry.Segment, sb.Entry.Segment)
					if sa.Entry.Segment == sb.Entry.Segment {
						why = fmt.Sprintf("both enter from segment %s", sa.Entry.Segment)
					}
				}
			case sa.Entry.Event != nil && sb.Entry.Event != nil && sa.Entry.Event.Name == sb.Entry.Event.Name:
				why = fmt.Sprintf("both enter on event %s", sa.Entry.Event.Name)
			}
			if why != "" {
				c.warnf([]string{"sequences", b, "entry"}, "NRT306",
					fmt.Sprintf("%s; give one a higher priority so a contact in both is enrolled in the one you mean", why),
					"sequences %s and %s may enroll the same contacts with equal priority %d", a, b, sa.Priority)
			}
		}
	}
}
