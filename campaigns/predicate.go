package campaigns

// Predicate operators.
const (
	OpAll      = "all"
	OpAny      = "any"
	OpNot      = "not"
	OpAttr     = "attr"
	OpEvent    = "event"
	OpScore    = "score"
	OpSegment  = "segment"
	OpInactive = "inactive"
	// OpAccount holds when enough contacts of the contact's account meet
	// Args[0] (see AccountCount).
	OpAccount = "account_contacts"
	// OpAccountAttr compares an attribute of the contact's account
	// (Cond.Field names one of Program.Accounts.Attributes).
	OpAccountAttr = "account_attr"
	// OpAccountScore compares the score of the contact's account
	// (Program.Accounts.Score); Score.Model is left empty.
	OpAccountScore = "account_score"
	// OpEnrolled is not written in programmes: plans use it to ask who is
	// already in a sequence.
	OpEnrolled = "enrolled"
	// OpSuppressed is not written in programmes either: the contact's
	// address is on the suppression list.
	OpSuppressed = "suppressed"
	// OpContacts is internal too: the contact is one of IDs. The engine
	// narrows a tick's queries to the contacts it has to look at.
	OpContacts = "contacts"
	// OpOptedOut is internal too: the contact opted out of Topic on the
	// preference page.
	OpOptedOut = "opted_out"
	// OpConsented is internal too: the contact's address has a consent
	// record.
	OpConsented = "consented"
)

// Predicate is a condition on one contact, as a tree. Exactly the fields
// its Op names are set. The empty "all" matches every contact.
type Predicate struct {
	Op       string          `json:"op"`
	Args     []Predicate     `json:"args,omitempty"`
	Cond     *Condition      `json:"cond,omitempty"`
	Event    *EventCondition `json:"event,omitempty"`
	Score    *ScoreCondition `json:"score,omitempty"`
	Segment  string          `json:"segment,omitempty"`
	Inactive Duration        `json:"inactive,omitempty"`
	Enrolled *Enrolled       `json:"enrolled,omitempty"`
	IDs      []int64         `json:"ids,omitempty"`
	Topic    string          `json:"topic,omitempty"`
	// Account bounds, for OpAccount, how many of the account's contacts
	// meet Args[0].
	Account *AccountCount `json:"account,omitempty"`
}

// AccountCount bounds the contacts of an account that meet a condition:
// at least Min, at most Max when set; with All, every one of them.
type AccountCount struct {
	Min int  `json:"min"`
	Max *int `json:"max,omitempty"`
	All bool `json:"all,omitempty"`
}

// Enrolled holds when a contact is in a sequence (any sequence when
// Sequence is empty): now (Active), now or within the span before now
// (Within), or ever.
type Enrolled struct {
	Sequence string   `json:"sequence,omitempty"`
	Active   bool     `json:"active,omitempty"`
	Within   Duration `json:"within,omitempty"`
}

// All is the condition that every one of ps holds.
func All(ps ...Predicate) Predicate { return Predicate{Op: OpAll, Args: ps} }

// Contacts is the condition that the contact's ID is one of ids.
func Contacts(ids []int64) Predicate { return Predicate{Op: OpContacts, IDs: ids} }

// Not is the condition that p does not hold.
func Not(p Predicate) Predicate { return Predicate{Op: OpNot, Args: []Predicate{p}} }

// Inline returns p with every segment it refers to replaced by that
// segment's condition, so that it means the same outside prog: a plan
// compares a segment under the applied programme with the same segment
// under the new one. A reference to an unknown segment, or one inside a
// cycle, is kept as it is.
func (prog *Program) Inline(p Predicate) Predicate {
	return prog.inline(p, map[string]bool{})
}

func (prog *Program) inline(p Predicate, open map[string]bool) Predicate {
	if p.Op == OpSegment {
		seg := prog.Segments[p.Segment]
		if seg == nil || open[p.Segment] {
			return p
		}
		open[p.Segment] = true
		defer delete(open, p.Segment)
		return prog.inline(seg.When, open)
	}
	if len(p.Args) > 0 {
		args := make([]Predicate, len(p.Args))
		for i, a := range p.Args {
			args[i] = prog.inline(a, open)
		}
		p.Args = args
	}
	return p
}

// Comparison operators of a Condition.
const (
	CmpEq        = "eq"
	CmpNe        = "ne"
	CmpIn        = "in"
	CmpNotIn     = "not_in"
	CmpGt        = "gt"
	CmpGte       = "gte"
	CmpLt        = "lt"
	CmpLte       = "lte"
	CmpMatches   = "matches"
	CmpExists    = "exists"
	CmpWithin    = "within"
	CmpOlderThan = "older_than"
)

// Condition compares one attribute or event property with a value.
// Value holds a string, float64 or bool; Values the list of in and not_in.
// Span is the duration of within and older_than.
type Condition struct {
	Field  string   `json:"field"`
	Cmp    string   `json:"cmp"`
	Value  any      `json:"value,omitempty"`
	Values []any    `json:"values,omitempty"`
	Span   Duration `json:"span,omitempty"`
}

// EventCondition holds when a contact has done something a number of times.
type EventCondition struct {
	Name  string      `json:"name"`
	Where []Condition `json:"where,omitempty"`
	// Within counts only events this recent; zero means all.
	Within Duration `json:"within,omitempty"`
	// MinCount and MaxCount bound the number of matching events; a nil
	// MaxCount has no upper bound.
	MinCount int  `json:"min_count"`
	MaxCount *int `json:"max_count,omitempty"`
}

// ScoreCondition compares a scoring model's score with a number.
// Threshold names the threshold the number came from, if any.
type ScoreCondition struct {
	Model     string  `json:"model"`
	Cmp       string  `json:"cmp"`
	Value     float64 `json:"value"`
	Threshold string  `json:"threshold,omitempty"`
}

// Walk calls fn for p and every predicate below it, depth first.
func (p *Predicate) Walk(fn func(*Predicate)) {
	fn(p)
	for i := range p.Args {
		p.Args[i].Walk(fn)
	}
}

// WalkPredicates calls fn for every predicate the programme holds, and
// every predicate below them: segments, fit rules, branches and exit
// rules.
func (prog *Program) WalkPredicates(fn func(*Predicate)) {
	for _, seg := range prog.Segments {
		seg.When.Walk(fn)
	}
	for _, m := range prog.Scoring {
		for _, r := range m.Fit {
			r.When.Walk(fn)
		}
	}
	exits := func(rules []ExitRule) {
		for _, r := range rules {
			if r.When != nil {
				r.When.Walk(fn)
			}
		}
	}
	exits(prog.Exits)
	if prog.Sender.LegitimateInterest != nil {
		prog.Sender.LegitimateInterest.Walk(fn)
	}
	for _, seq := range prog.Sequences {
		exits(seq.Exits)
		for _, st := range seq.Steps {
			if st.Branch != nil {
				st.Branch.When.Walk(fn)
			}
		}
	}
}
