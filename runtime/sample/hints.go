package sample

import (
	"math"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"

	"github.com/nurture-dev/nurture/campaigns"
)

// fieldHints are the values the programme's conditions mention for one
// attribute or event property. The generator uses them for a share of the
// values it writes so the conditions match someone.
type fieldHints struct {
	strs  []string             // eq and in values
	nums  []float64            // numbers compared with: eq, in and bounds
	bools []bool               // eq values
	pats  []*pattern           // matches
	spans []campaigns.Duration // within and older_than spans
}

func (h *fieldHints) empty() bool {
	return h == nil || len(h.strs)+len(h.nums)+len(h.bools)+len(h.pats)+len(h.spans) == 0
}

// pattern is a matches condition's expression, parsed once.
type pattern struct {
	re  *regexp.Regexp
	ast *syntax.Regexp
}

// burst is an event condition that needs several events, or recent ones,
// to hold; a few contacts get just that so the condition has members.
type burst struct {
	event  string
	where  []campaigns.Condition
	within campaigns.Duration
	min    int
	max    int // 0: no upper bound
}

// hints are what the programme's conditions mention, collected once.
type hints struct {
	attrs  map[string]*fieldHints
	props  map[string]map[string]*fieldHints // event → property → hints
	bursts []burst
	// recent is, per event, the shortest within span any condition or
	// rule puts on it: how recent events must be to count.
	recent   map[string]campaigns.Duration
	inactive []campaigns.Duration
	pats     map[string]*pattern // by expression, so each is parsed once
}

// collectHints walks every condition of the programme: segments, scoring
// rules, sequence entries, steps and exits, and the global exits. Names are
// visited in sorted order so that the lists come out the same every run.
func collectHints(p *campaigns.Program) *hints {
	h := &hints{
		attrs:  map[string]*fieldHints{},
		props:  map[string]map[string]*fieldHints{},
		recent: map[string]campaigns.Duration{},
		pats:   map[string]*pattern{},
	}
	for _, name := range sortedKeys(p.Segments) {
		if s := p.Segments[name]; s != nil {
			h.predicate(&s.When, false, true)
		}
	}
	for _, name := range sortedKeys(p.Scoring) {
		m := p.Scoring[name]
		if m == nil {
			continue
		}
		for _, r := range sortedKeys(m.Fit) {
			if f := m.Fit[r]; f != nil {
				h.predicate(&f.When, false, false)
			}
		}
		for _, r := range sortedKeys(m.Behavior) {
			b := m.Behavior[r]
			if b == nil {
				continue
			}
			h.eventWhere(b.Event, b.Where)
			h.noteRecent(b.Event, b.Within)
		}
	}
	for _, name := range sortedKeys(p.Sequences) {
		s := p.Sequences[name]
		if s == nil {
			continue
		}
		if ev := s.Entry.Event; ev != nil {
			h.event(ev, false, false)
		}
		for i := range s.Steps {
			st := &s.Steps[i]
			if st.Branch != nil {
				h.predicate(&st.Branch.When, false, true)
			}
			if st.WaitFor != nil {
				h.event(&st.WaitFor.Event, false, false)
			}
		}
		h.exits(s.Exits)
	}
	h.exits(p.Exits)
	return h
}

func (h *hints) exits(rules []campaigns.ExitRule) {
	for i := range rules {
		if w := rules[i].When; w != nil {
			h.predicate(w, false, false)
		}
		if d := rules[i].Inactive; d > 0 {
			h.inactive = append(h.inactive, d)
		}
	}
}

// predicate collects from a predicate tree. neg says it sits under a not,
// where a burst would only empty the condition; bursty says an event
// condition here may ask for a burst (segments and branches, which people
// look at, rather than exits and wait_fors, which fire on their own).
func (h *hints) predicate(p *campaigns.Predicate, neg, bursty bool) {
	switch p.Op {
	case campaigns.OpAttr:
		if p.Cond != nil {
			h.cond(h.attr(p.Cond.Field), p.Cond)
		}
	case campaigns.OpEvent:
		if p.Event != nil {
			h.event(p.Event, neg, bursty)
		}
	case campaigns.OpInactive:
		h.inactive = append(h.inactive, p.Inactive)
	case campaigns.OpNot:
		neg = !neg
	}
	for i := range p.Args {
		h.predicate(&p.Args[i], neg, bursty)
	}
}

func (h *hints) event(ev *campaigns.EventCondition, neg, bursty bool) {
	h.eventWhere(ev.Name, ev.Where)
	h.noteRecent(ev.Name, ev.Within)
	// Conditions that need more than one event, or events this recent, are
	// rarely met by chance; ones over all time or a long span are.
	if bursty && !neg && ev.MinCount > 0 && (ev.MinCount >= 2 || ev.Within > 0 && ev.Within.Std() <= 30*campaigns.Day) {
		b := burst{event: ev.Name, where: ev.Where, within: ev.Within, min: ev.MinCount}
		if ev.MaxCount != nil {
			b.max = *ev.MaxCount
		}
		h.bursts = append(h.bursts, b)
	}
}

func (h *hints) noteRecent(event string, within campaigns.Duration) {
	if within <= 0 {
		return
	}
	if d, ok := h.recent[event]; !ok || within < d {
		h.recent[event] = within
	}
}

func (h *hints) eventWhere(event string, where []campaigns.Condition) {
	for i := range where {
		c := &where[i]
		m := h.props[event]
		if m == nil {
			m = map[string]*fieldHints{}
			h.props[event] = m
		}
		fh := m[c.Field]
		if fh == nil {
			fh = &fieldHints{}
			m[c.Field] = fh
		}
		h.cond(fh, c)
	}
}

func (h *hints) attr(name string) *fieldHints {
	fh := h.attrs[name]
	if fh == nil {
		fh = &fieldHints{}
		h.attrs[name] = fh
	}
	return fh
}

// cond adds one condition's literal values to fh, keeping the first
// occurrence of each.
func (h *hints) cond(fh *fieldHints, c *campaigns.Condition) {
	add := func(v any) {
		switch v := v.(type) {
		case string:
			if !slices.Contains(fh.strs, v) {
				fh.strs = append(fh.strs, v)
			}
		case float64:
			if !slices.Contains(fh.nums, v) {
				fh.nums = append(fh.nums, v)
			}
		case bool:
			if !slices.Contains(fh.bools, v) {
				fh.bools = append(fh.bools, v)
			}
		}
	}
	switch c.Cmp {
	case campaigns.CmpEq, campaigns.CmpNe, campaigns.CmpGt, campaigns.CmpGte, campaigns.CmpLt, campaigns.CmpLte:
		add(c.Value)
	case campaigns.CmpIn, campaigns.CmpNotIn:
		for _, v := range c.Values {
			add(v)
		}
	case campaigns.CmpMatches:
		if s, ok := c.Value.(string); ok {
			if pt := h.pattern(s); pt != nil && !slices.Contains(fh.pats, pt) {
				fh.pats = append(fh.pats, pt)
			}
		}
	case campaigns.CmpWithin, campaigns.CmpOlderThan:
		if c.Span > 0 && !slices.Contains(fh.spans, c.Span) {
			fh.spans = append(fh.spans, c.Span)
		}
	}
}

func (h *hints) pattern(expr string) *pattern {
	if pt, ok := h.pats[expr]; ok {
		return pt
	}
	var pt *pattern
	re, err1 := regexp.Compile(expr)
	ast, err2 := syntax.Parse(expr, syntax.Perl)
	if err1 == nil && err2 == nil {
		pt = &pattern{re: re, ast: ast.Simplify()}
	}
	h.pats[expr] = pt
	return pt
}

// sample returns a short string the pattern matches, or "" when it cannot
// make one (anchors it cannot place, word boundaries it broke).
func (pt *pattern) sample(r *rand.Rand) string {
	var b strings.Builder
	if !sampleRegexp(&b, pt.ast, r, 0) {
		return ""
	}
	s := b.String()
	if !pt.re.MatchString(s) {
		return ""
	}
	return s
}

// sampleRegexp writes one string re matches: a random branch of each
// alternation, the fewest repeats, a letter or digit from each class.
func sampleRegexp(b *strings.Builder, re *syntax.Regexp, r *rand.Rand, depth int) bool {
	if depth > 50 {
		return false
	}
	switch re.Op {
	case syntax.OpNoMatch:
		return false
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		// Zero-width; the final match check catches a misplaced one.
	case syntax.OpLiteral:
		for _, c := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				c = unicode.ToLower(c)
			}
			b.WriteRune(c)
		}
	case syntax.OpCharClass:
		b.WriteRune(classRune(re.Rune, r))
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		b.WriteByte('x')
	case syntax.OpCapture:
		return sampleRegexp(b, re.Sub[0], r, depth+1)
	case syntax.OpStar, syntax.OpQuest:
		// Zero repeats.
	case syntax.OpPlus:
		return sampleRegexp(b, re.Sub[0], r, depth+1)
	case syntax.OpRepeat:
		for range re.Min {
			if !sampleRegexp(b, re.Sub[0], r, depth+1) {
				return false
			}
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !sampleRegexp(b, sub, r, depth+1) {
				return false
			}
		}
	case syntax.OpAlternate:
		return sampleRegexp(b, re.Sub[r.IntN(len(re.Sub))], r, depth+1)
	default:
		return false
	}
	return true
}

// classRune picks a rune from a character class given as ranges, a
// lower-case letter or digit when the class has one, so a sample reads
// like a word.
func classRune(ranges []rune, r *rand.Rand) rune {
	for _, want := range [][2]rune{{'a', 'z'}, {'0', '9'}, {'A', 'Z'}} {
		for i := 0; i+1 < len(ranges); i += 2 {
			lo, hi := max(ranges[i], want[0]), min(ranges[i+1], want[1])
			if lo <= hi {
				return lo + rune(r.IntN(int(hi-lo)+1))
			}
		}
	}
	if len(ranges) >= 2 && ranges[0] >= ' ' {
		return ranges[0]
	}
	return 'x'
}

// bounds are the numeric limits the where conditions on one field set.
type bounds struct {
	lo, hi         float64
	loOpen, hiOpen bool
}

func newBounds() bounds { return bounds{lo: math.Inf(-1), hi: math.Inf(1)} }

func (b *bounds) apply(c *campaigns.Condition) {
	v, ok := c.Value.(float64)
	if !ok {
		return
	}
	switch c.Cmp {
	case campaigns.CmpGt:
		if v >= b.lo {
			b.lo, b.loOpen = v, true
		}
	case campaigns.CmpGte:
		if v > b.lo {
			b.lo, b.loOpen = v, false
		}
	case campaigns.CmpLt:
		if v <= b.hi {
			b.hi, b.hiOpen = v, true
		}
	case campaigns.CmpLte:
		if v < b.hi {
			b.hi, b.hiOpen = v, false
		}
	}
}

// matchCond reports whether a generated value satisfies a condition, for
// the few places the generator follows the programme's logic (which
// events start which sequence). Values are as props hold them.
func matchCond(c *campaigns.Condition, v prop, ok bool, pats *hints) bool {
	if c.Cmp == campaigns.CmpExists {
		return ok
	}
	if !ok {
		return c.Cmp == campaigns.CmpNe || c.Cmp == campaigns.CmpNotIn
	}
	num := func() (float64, bool) {
		switch v.kind {
		case pInt:
			return float64(v.n), true
		case pNum:
			return v.f, true
		}
		return 0, false
	}
	eq := func(want any) bool {
		switch want := want.(type) {
		case string:
			return (v.kind == pStr || v.kind == pTime) && v.s == want
		case float64:
			n, ok := num()
			return ok && n == want
		case bool:
			return v.kind == pBool && (v.n != 0) == want
		}
		return false
	}
	switch c.Cmp {
	case campaigns.CmpEq:
		return eq(c.Value)
	case campaigns.CmpNe:
		return !eq(c.Value)
	case campaigns.CmpIn, campaigns.CmpNotIn:
		in := slices.ContainsFunc(c.Values, eq)
		return in == (c.Cmp == campaigns.CmpIn)
	case campaigns.CmpGt, campaigns.CmpGte, campaigns.CmpLt, campaigns.CmpLte:
		n, ok := num()
		w, ok2 := c.Value.(float64)
		if !ok || !ok2 {
			return false
		}
		switch c.Cmp {
		case campaigns.CmpGt:
			return n > w
		case campaigns.CmpGte:
			return n >= w
		case campaigns.CmpLt:
			return n < w
		}
		return n <= w
	case campaigns.CmpMatches:
		s, _ := c.Value.(string)
		pt := pats.pattern(s)
		return pt != nil && v.kind == pStr && pt.re.MatchString(v.s)
	}
	// within and older_than on a property: not used for routing here.
	return true
}
