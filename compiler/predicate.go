package compiler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// predicateKeywords are the keys of a predicate that are not attributes.
var predicateKeywords = map[string]bool{
	"all": true, "any": true, "not": true, "event": true, "score": true,
	"segment": true, "inactive": true, "description": true, "account_contacts": true,
	"account_is": true,
}

// scope limits what a predicate may look at.
type scope int

const (
	scopeContact scope = iota // everything
	scopeFit                  // attributes only: fit rules of a scoring model
)

// predicate compiles one predicate struct. The keys of one struct must all
// hold, so several keys become an "all".
func (c *checker) predicate(path []string, raw json.RawMessage, sc scope) campaigns.Predicate {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		c.errorf(path, "NRT002", "write the condition as a struct, like {industry: \"saas\"}", "the condition is not a struct")
		return campaigns.Predicate{Op: campaigns.OpAll}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "description" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []campaigns.Predicate
	for _, k := range keys {
		p := sub(path, k)
		v := m[k]
		if sc == scopeFit && (k == "event" || k == "score" || k == "segment" || k == "inactive" || k == "account_contacts") {
			c.errorf(p, "NRT208", "fit rules score who a contact is; count events in behavior rules instead",
				"a fit rule may look only at attributes, not %s", k)
			continue
		}
		switch k {
		case "all", "any":
			var elems []json.RawMessage
			_ = json.Unmarshal(v, &elems)
			node := campaigns.Predicate{Op: k}
			for i, e := range elems {
				node.Args = append(node.Args, c.predicate(sub(p, itoa(i)), e, sc))
			}
			parts = append(parts, node)
		case "not":
			parts = append(parts, campaigns.Predicate{Op: campaigns.OpNot, Args: []campaigns.Predicate{c.predicate(p, v, sc)}})
		case "event":
			if ec := c.eventCondition(p, v); ec != nil {
				parts = append(parts, campaigns.Predicate{Op: campaigns.OpEvent, Event: ec})
			}
		case "score":
			parts = append(parts, c.scoreConditions(p, v)...)
		case "segment":
			var name string
			_ = json.Unmarshal(v, &name)
			if _, ok := c.raw.Segments[name]; !ok {
				c.errorf(p, "NRT101", c.suggest(name, keysOf(c.raw.Segments), "declare it under segments"), "unknown segment %q", name)
			}
			parts = append(parts, campaigns.Predicate{Op: campaigns.OpSegment, Segment: name})
		case "inactive":
			parts = append(parts, campaigns.Predicate{Op: campaigns.OpInactive, Inactive: c.duration(p, v)})
		case "account_contacts":
			parts = append(parts, c.accountContacts(p, v, sc))
		case "account_is":
			parts = append(parts, c.accountIs(p, v, sc)...)
		default:
			attr := c.prog.Contact.Attributes[k]
			if attr == nil {
				c.errorf(p, "NRT105", c.suggest(k, keysOf(c.prog.Contact.Attributes), "declare it under contact.attributes"),
					"unknown attribute %q", k)
				continue
			}
			for _, cond := range c.conditions(p, k, attr, v) {
				parts = append(parts, campaigns.Predicate{Op: campaigns.OpAttr, Cond: &cond})
			}
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return campaigns.Predicate{Op: campaigns.OpAll, Args: parts}
}

// compareOps are the operators of a #Compare struct, in canonical order.
var compareOps = []string{"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "matches", "exists", "within", "older_than"}

// conditions compiles one attribute or property comparison, checking the
// values against the field's type.
func (c *checker) conditions(path []string, field string, attr *campaigns.Attribute, raw json.RawMessage) []campaigns.Condition {
	var ops map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		_ = json.Unmarshal(raw, &ops)
	} else {
		ops = map[string]json.RawMessage{"eq": raw}
	}
	var out []campaigns.Condition
	for _, op := range compareOps {
		v, ok := ops[op]
		if !ok {
			continue
		}
		p := path
		if len(ops) > 1 || op != "eq" || bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			p = sub(path, op)
		}
		cond := campaigns.Condition{Field: field, Cmp: op}
		switch op {
		case "in", "not_in":
			var vals []any
			_ = json.Unmarshal(v, &vals)
			for i, x := range vals {
				c.checkValue(sub(p, itoa(i)), field, attr, op, x)
			}
			if len(vals) == 0 {
				c.errorf(p, "NRT202", "list at least one value", "%s %s an empty list", field, op)
			}
			cond.Values = vals
		case "within", "older_than":
			if attr.Type != campaigns.TypeTime {
				c.errorf(p, "NRT201", "within and older_than compare time attributes", "%s is %s, not time", field, article(attr.Type))
			}
			cond.Span = c.duration(p, v)
		case "exists":
			var b bool
			_ = json.Unmarshal(v, &b)
			cond.Value = b
		case "matches":
			var s string
			_ = json.Unmarshal(v, &s)
			if attr.Type != campaigns.TypeString && attr.Type != campaigns.TypeEnum {
				c.errorf(p, "NRT201", "patterns match string attributes", "%s is %s, not a string", field, article(attr.Type))
			}
			if _, err := regexp.Compile(s); err != nil {
				c.errorf(p, "NRT205", "write an RE2 regular expression", "invalid pattern %q: %v", s, stripRegexpPrefix(err))
			}
			cond.Value = s
		default:
			var x any
			_ = json.Unmarshal(v, &x)
			c.checkValue(p, field, attr, op, x)
			cond.Value = x
		}
		out = append(out, cond)
	}
	return out
}

// checkValue checks that x can be compared with field by op.
func (c *checker) checkValue(path []string, field string, attr *campaigns.Attribute, op string, x any) {
	ordered := op == "gt" || op == "gte" || op == "lt" || op == "lte"
	mismatch := func(want string) {
		c.errorf(path, "NRT201", fmt.Sprintf("compare %s with %s", field, want),
			"%s is %s; %s is %s", field, article(attr.Type), describeValue(x), kindOf(x))
	}
	switch attr.Type {
	case campaigns.TypeString:
		if ordered {
			c.errorf(path, "NRT201", "ranges compare numbers, times and stages; use eq, in or matches",
				"%s is a string and has no order", field)
			return
		}
		if _, ok := x.(string); !ok {
			mismatch("a string")
		}
	case campaigns.TypeEnum:
		s, ok := x.(string)
		if !ok {
			mismatch("one of its values")
			return
		}
		if !slices.Contains(attr.Values, s) {
			c.errorf(path, "NRT201", fmt.Sprintf("%s is one of: %s", field, strings.Join(attr.Values, ", ")),
				"%q is not a value of %s", s, field)
			return
		}
		if ordered && field != campaigns.AttrStage {
			c.errorf(path, "NRT201", "ranges compare numbers, times and the lifecycle stage; use eq or in",
				"%s is an enum and has no order", field)
		}
	case campaigns.TypeInt, campaigns.TypeNumber:
		f, ok := x.(float64)
		if !ok {
			mismatch("a number")
			return
		}
		if attr.Type == campaigns.TypeInt && f != math.Trunc(f) {
			mismatch("a whole number")
		}
	case campaigns.TypeBool:
		if ordered {
			c.errorf(path, "NRT201", "compare bool attributes with true or false", "%s is a bool and has no order", field)
			return
		}
		if _, ok := x.(bool); !ok {
			mismatch("true or false")
		}
	case campaigns.TypeTime:
		s, ok := x.(string)
		if !ok || parseTime(s) != nil {
			c.errorf(path, "NRT201", fmt.Sprintf("write times as RFC 3339 (\"2026-01-31T09:00:00Z\") or a date (\"2026-01-31\"), or use within / older_than"),
				"%s is a time; %s is not a time", field, describeValue(x))
		}
	}
}

func parseTime(s string) error {
	if _, err := time.Parse(time.RFC3339, s); err == nil {
		return nil
	}
	_, err := time.Parse("2006-01-02", s)
	return err
}

// eventCondition compiles `event: "name"` or `event: {name, where, within, count}`.
func (c *checker) eventCondition(path []string, raw json.RawMessage) *campaigns.EventCondition {
	var ec campaigns.EventCondition
	var r struct {
		Name   string                     `json:"name"`
		Where  map[string]json.RawMessage `json:"where"`
		Within string                     `json:"within"`
		Count  json.RawMessage            `json:"count"`
	}
	namePath := path
	if err := json.Unmarshal(raw, &r.Name); err != nil {
		_ = json.Unmarshal(raw, &r)
		namePath = sub(path, "name")
	}
	ec.Name = r.Name
	ec.MinCount = 1
	ev := c.prog.Events[r.Name]
	if ev == nil {
		c.errorf(namePath, "NRT104", c.suggest(r.Name, keysOf(c.prog.Events), "declare it under events"), "unknown event %q", r.Name)
	}
	for _, k := range sortedKeys(r.Where) {
		p := sub(path, "where", k)
		if ev == nil {
			continue
		}
		prop := ev.Properties[k]
		if prop == nil {
			c.errorf(p, "NRT105", c.suggest(k, keysOf(ev.Properties), "declare it under events."+r.Name+".properties"),
				"event %s has no property %q", r.Name, k)
			continue
		}
		ec.Where = append(ec.Where, c.conditions(p, k, prop, r.Where[k])...)
	}
	if ev != nil && ev.Builtin {
		c.noteStepRef(path, r.Name, ec.Where)
	}
	if r.Within != "" {
		ec.Within = c.durationString(sub(path, "within"), r.Within)
	}
	if len(r.Count) > 0 {
		c.countRange(sub(path, "count"), r.Count, &ec)
	}
	return &ec
}

func (c *checker) countRange(path []string, raw json.RawMessage, ec *campaigns.EventCondition) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		ec.MinCount, ec.MaxCount = n, &n
		return
	}
	var r map[string]int
	_ = json.Unmarshal(raw, &r)
	lo, hi := 0, math.MaxInt
	for op, n := range r {
		switch op {
		case "gte":
			lo = max(lo, n)
		case "gt":
			lo = max(lo, n+1)
		case "lte":
			hi = min(hi, n)
		case "lt":
			hi = min(hi, n-1)
		case "eq":
			lo, hi = max(lo, n), min(hi, n)
		}
	}
	ec.MinCount = lo
	if hi != math.MaxInt {
		ec.MaxCount = &hi
	}
	if hi < lo || hi < 0 {
		c.errorf(path, "NRT202", "loosen the bounds", "the count range of %s is empty: no number of events fits it", ec.Name)
	}
}

// scoreConditions compiles `score: {model: "threshold" | {gte: 80, ...}}`.
func (c *checker) scoreConditions(path []string, raw json.RawMessage) []campaigns.Predicate {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	var out []campaigns.Predicate
	for _, model := range sortedKeys(m) {
		p := sub(path, model)
		sm := c.raw.Scoring[model]
		if _, ok := c.raw.Scoring[model]; !ok {
			c.errorf(p, "NRT106", c.suggest(model, keysOf(c.raw.Scoring), "declare it under scoring"), "unknown scoring model %q", model)
			continue
		}
		threshold := func(tp []string, name string) (float64, bool) {
			v, ok := sm.Thresholds[name]
			if !ok {
				c.errorf(tp, "NRT107", c.suggest(name, keysOf(sm.Thresholds), "declare it under scoring."+model+".thresholds"),
					"scoring model %s has no threshold %q", model, name)
			}
			return v, ok
		}
		for _, sc := range c.scoreCompare(p, m[model], threshold) {
			sc.Model = model
			out = append(out, campaigns.Predicate{Op: campaigns.OpScore, Score: sc})
		}
	}
	return out
}

// scoreCompare compiles a score's comparison: a threshold's name (the
// score reached it), or {gt, gte, lt, lte: N, reached, below: "threshold"};
// threshold looks a name up, reporting one it lacks.
func (c *checker) scoreCompare(path []string, raw json.RawMessage, threshold func(path []string, name string) (float64, bool)) []*campaigns.ScoreCondition {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		if v, ok := threshold(path, name); ok {
			return []*campaigns.ScoreCondition{{Cmp: campaigns.CmpGte, Value: v, Threshold: name}}
		}
		return nil
	}
	var ops map[string]json.RawMessage
	_ = json.Unmarshal(raw, &ops)
	var out []*campaigns.ScoreCondition
	for _, op := range []string{"gt", "gte", "lt", "lte", "reached", "below"} {
		v, ok := ops[op]
		if !ok {
			continue
		}
		switch op {
		case "reached", "below":
			var t string
			_ = json.Unmarshal(v, &t)
			if tv, ok := threshold(sub(path, op), t); ok {
				cmp := campaigns.CmpGte
				if op == "below" {
					cmp = campaigns.CmpLt
				}
				out = append(out, &campaigns.ScoreCondition{Cmp: cmp, Value: tv, Threshold: t})
			}
		default:
			var f float64
			_ = json.Unmarshal(v, &f)
			out = append(out, &campaigns.ScoreCondition{Cmp: op, Value: f})
		}
	}
	return out
}

func kindOf(x any) string {
	switch x.(type) {
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a bool"
	}
	return "a value of another kind"
}

func article(t string) string {
	switch t {
	case campaigns.TypeEnum, campaigns.TypeInt:
		return "an " + t
	}
	return "a " + t
}

func stripRegexpPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// accountContacts compiles account_contacts: {where, count, all}: how
// many contacts of the contact's account meet where.
func (c *checker) accountContacts(path []string, raw json.RawMessage, sc scope) campaigns.Predicate {
	var r struct {
		Where json.RawMessage `json:"where"`
		Count json.RawMessage `json:"count"`
		All   bool            `json:"all"`
	}
	_ = json.Unmarshal(raw, &r)
	where := c.predicate(sub(path, "where"), r.Where, sc)
	n := &campaigns.AccountCount{Min: 1, All: r.All}
	if len(r.Count) > 0 {
		if r.All {
			c.errorf(sub(path, "all"), "NRT209", "all asks it of every contact of the account; count asks it of some number: give one", "account_contacts has both count and all")
		}
		ec := campaigns.EventCondition{Name: "account_contacts"}
		c.countRange(sub(path, "count"), r.Count, &ec)
		n.Min, n.Max = ec.MinCount, ec.MaxCount
	}
	if r.All {
		n.Min = 1
	}
	return campaigns.Predicate{Op: campaigns.OpAccount, Args: []campaigns.Predicate{where}, Account: n}
}

// stepRef is a condition on a built-in email event that names steps
// (where: {step: …}, with or without sequence: …). Such a condition
// naming a step no sequence has never matches, and would validate
// silently: the events' step property is a plain string.
type stepRef struct {
	path     []string // the condition's where
	event    string
	sequence string // "" when the condition names none
	steps    []string
}

// noteStepRef keeps the steps (and the sequence) a condition on event
// compares its step property with, to check once the steps are named.
func (c *checker) noteStepRef(path []string, event string, where []campaigns.Condition) {
	ref := stepRef{path: sub(path, "where"), event: event}
	for _, w := range where {
		switch {
		case w.Field == "sequence" && w.Cmp == "eq":
			ref.sequence, _ = w.Value.(string)
		case w.Field == "step" && w.Cmp == "eq":
			if s, ok := w.Value.(string); ok {
				ref.steps = append(ref.steps, s)
			}
		case w.Field == "step" && w.Cmp == "in":
			for _, v := range w.Values {
				if s, ok := v.(string); ok {
					ref.steps = append(ref.steps, s)
				}
			}
		}
	}
	if len(ref.steps) > 0 {
		c.stepRefs = append(c.stepRefs, ref)
	}
}

// checkStepRefs reports the steps conditions on email events name that
// their sequence, or every sequence, lacks (NRT114).
func (c *checker) checkStepRefs() {
	for _, ref := range c.stepRefs {
		for _, step := range ref.steps {
			if ref.sequence != "" {
				seq := c.prog.Sequences[ref.sequence]
				if seq == nil {
					// An unknown sequence is a value check's to report.
					continue
				}
				if seq.StepIndex(step) < 0 {
					var names []string
					for _, st := range seq.Steps {
						names = append(names, st.Name)
					}
					c.errorf(sub(ref.path, "step"), "NRT114", c.suggest(step, names, "the steps of "+ref.sequence+" are "+joinNames(names)),
						"%s where step %q: sequence %s has no such step, so the condition never holds", ref.event, step, ref.sequence)
				}
				continue
			}
			var names []string
			found := false
			for _, name := range sortedKeys(c.prog.Sequences) {
				for _, st := range c.prog.Sequences[name].Steps {
					names = append(names, st.Name)
					found = found || st.Name == step
				}
			}
			if !found {
				c.errorf(sub(ref.path, "step"), "NRT114", c.suggest(step, names, "no sequence has a step of that name"),
					"%s where step %q: no sequence has such a step, so the condition never holds", ref.event, step)
			}
		}
	}
}
