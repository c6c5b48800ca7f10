package compiler

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
)

// The describe functions write parts of a programme as one line each, the
// way a reviewer reads them in a plan: `wait 10d`, `persona in
// ["analyst", "engineer"]`. Two parts that describe alike do the same.

var cmpWords = map[string]string{
	campaigns.CmpEq: "=", campaigns.CmpNe: "!=", campaigns.CmpIn: "in", campaigns.CmpNotIn: "not in",
	campaigns.CmpGt: ">", campaigns.CmpGte: ">=", campaigns.CmpLt: "<", campaigns.CmpLte: "<=",
	campaigns.CmpMatches: "matches", campaigns.CmpExists: "exists",
	campaigns.CmpWithin: "within", campaigns.CmpOlderThan: "older than",
}

func describeValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func describeCondition(c campaigns.Condition) string {
	op := cmpWords[c.Cmp]
	if op == "" {
		op = c.Cmp
	}
	switch c.Cmp {
	case campaigns.CmpIn, campaigns.CmpNotIn:
		vals := make([]string, len(c.Values))
		for i, v := range c.Values {
			vals[i] = describeValue(v)
		}
		return c.Field + " " + op + " [" + strings.Join(vals, ", ") + "]"
	case campaigns.CmpExists:
		if c.Value == false {
			return c.Field + " is empty"
		}
		return c.Field + " exists"
	case campaigns.CmpWithin, campaigns.CmpOlderThan:
		return c.Field + " " + op + " " + c.Span.String()
	}
	return c.Field + " " + op + " " + describeValue(c.Value)
}

func describeEvent(e campaigns.EventCondition) string {
	var b strings.Builder
	b.WriteString(e.Name)
	if len(e.Where) > 0 {
		parts := make([]string, len(e.Where))
		for i, c := range e.Where {
			parts[i] = describeCondition(c)
		}
		b.WriteString(" where " + strings.Join(parts, " and "))
	}
	switch {
	case e.MaxCount != nil && *e.MaxCount == e.MinCount:
		fmt.Fprintf(&b, " exactly %d×", e.MinCount)
	case e.MaxCount != nil:
		fmt.Fprintf(&b, " %d–%d×", e.MinCount, *e.MaxCount)
	case e.MinCount > 1:
		fmt.Fprintf(&b, " at least %d×", e.MinCount)
	}
	if e.Within != 0 {
		b.WriteString(" within " + e.Within.String())
	}
	return b.String()
}

// describePredicate writes a predicate tree on one line.
func describePredicate(p campaigns.Predicate) string {
	switch p.Op {
	case campaigns.OpAll, campaigns.OpAny:
		if len(p.Args) == 0 {
			if p.Op == campaigns.OpAll {
				return "everyone"
			}
			return "no one"
		}
		if len(p.Args) == 1 {
			return describePredicate(p.Args[0])
		}
		parts := make([]string, len(p.Args))
		for i, a := range p.Args {
			parts[i] = describePredicate(a)
		}
		return p.Op + "(" + strings.Join(parts, ", ") + ")"
	case campaigns.OpNot:
		if len(p.Args) == 1 {
			return "not " + describePredicate(p.Args[0])
		}
		return "not " + describePredicate(campaigns.Predicate{Op: campaigns.OpAll, Args: p.Args})
	case campaigns.OpAttr:
		if p.Cond != nil {
			return describeCondition(*p.Cond)
		}
	case campaigns.OpEvent:
		if p.Event != nil {
			return "did " + describeEvent(*p.Event)
		}
	case campaigns.OpScore:
		if s := p.Score; s != nil {
			v := describeValue(s.Value)
			if s.Threshold != "" {
				v = s.Threshold + " (" + v + ")"
			}
			return "score " + s.Model + " " + cmpWords[s.Cmp] + " " + v
		}
	case campaigns.OpAccountAttr:
		if p.Cond != nil {
			return "account " + describeCondition(*p.Cond)
		}
	case campaigns.OpAccountScore:
		if s := p.Score; s != nil {
			v := describeValue(s.Value)
			if s.Threshold != "" {
				v = s.Threshold + " (" + v + ")"
			}
			return "account score " + cmpWords[s.Cmp] + " " + v
		}
	case campaigns.OpSegment:
		return "in segment " + p.Segment
	case campaigns.OpInactive:
		return "inactive for " + p.Inactive.String()
	case campaigns.OpAccount:
		if n := p.Account; n != nil && len(p.Args) == 1 {
			what := describePredicate(p.Args[0])
			switch {
			case n.All:
				return "every contact of the account: " + what
			case n.Max == nil && n.Min <= 1:
				return "a contact of the account: " + what
			case n.Max == nil:
				return fmt.Sprintf("at least %d contacts of the account: %s", n.Min, what)
			}
			return fmt.Sprintf("%d to %d contacts of the account: %s", n.Min, *n.Max, what)
		}
	}
	return p.Op
}

func describeAction(a campaigns.Action) string {
	switch {
	case a.Goto != "":
		return "goto " + a.Goto
	case a.Exit != "":
		return "exit " + strconv.Quote(a.Exit)
	}
	return "next step"
}

// describeStep writes what a step does, without its name.
func describeStep(st campaigns.Step) string {
	switch st.Kind {
	case campaigns.StepSend:
		from := ""
		if st.Sender != nil {
			from = " from " + describeFrom(*st.Sender)
		}
		if len(st.Send) == 1 {
			return "send " + st.Send[0].Email + from
		}
		parts := make([]string, len(st.Send))
		for i, v := range st.Send {
			parts[i] = fmt.Sprintf("%s %d%% %s", v.Name, v.Weight, v.Email)
			if w := v.WaitUntil; w != nil {
				parts[i] += " " + describeWaitUntil(*w)
			}
		}
		return "send variants " + strings.Join(parts, ", ") + from
	case campaigns.StepWait:
		return "wait " + st.Wait.String()
	case campaigns.StepWaitUntil:
		if w := st.WaitUntil; w != nil {
			return describeWaitUntil(*w)
		}
	case campaigns.StepWaitFor:
		if w := st.WaitFor; w != nil {
			return "wait for " + describeEvent(w.Event) + " within " + w.Within.String() +
				", then " + describeAction(w.Then) + ", else " + describeAction(w.Else)
		}
	case campaigns.StepBranch:
		if b := st.Branch; b != nil {
			return "if " + describePredicate(b.When) + " then " + describeAction(b.Then) + ", else " + describeAction(b.Else)
		}
	case campaigns.StepSet:
		keys := make([]string, 0, len(st.Set))
		for k := range st.Set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " = " + describeValue(st.Set[k])
		}
		if st.Demote {
			return "set " + strings.Join(parts, ", ") + " (may demote)"
		}
		return "set " + strings.Join(parts, ", ")
	case campaigns.StepHandoff:
		return "hand off to " + st.Handoff
	case campaigns.StepEnroll:
		return "enroll in " + st.Enroll
	case campaigns.StepGoto:
		return "goto " + st.Goto
	case campaigns.StepExit:
		return "exit " + strconv.Quote(st.Exit)
	case campaigns.StepSuppress:
		return "suppress " + strconv.Quote(st.Suppress)
	}
	return st.Kind
}

func describeExit(e campaigns.ExitRule) string {
	var b strings.Builder
	switch {
	case e.When != nil:
		b.WriteString("when " + describePredicate(*e.When))
	case e.After != 0:
		b.WriteString("after " + e.After.String())
	case e.Inactive != 0:
		b.WriteString("inactive " + e.Inactive.String())
	}
	b.WriteString(": exit " + strconv.Quote(e.Reason))
	if e.Handoff != "" {
		b.WriteString(", hand off to " + e.Handoff)
	}
	if e.Enroll != "" {
		b.WriteString(", enroll in " + e.Enroll)
	}
	if e.Suppress {
		b.WriteString(", suppress")
	}
	if len(e.Except) > 0 {
		b.WriteString(" (not in " + strings.Join(e.Except, ", ") + ")")
	}
	return b.String()
}

func describeLimits(ls []campaigns.Limit) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%d per %s", l.Max, l.Per)
	}
	return strings.Join(parts, ", ")
}

func describeFit(r *campaigns.FitRule) string {
	return fmt.Sprintf("%+d when %s", r.Points, describePredicate(r.When))
}

func describeBehavior(r *campaigns.BehaviorRule) string {
	e := campaigns.EventCondition{Name: r.Event, Where: r.Where, Within: r.Within, MinCount: 1}
	s := fmt.Sprintf("%+d each %s", r.Points, describeEvent(e))
	if r.Max != 0 {
		s += fmt.Sprintf(", at most %d", r.Max)
	}
	return s
}

func describeTemplate(t campaigns.Template) string { return t.String() }

// canonicalLine is v's canonical JSON, for parts with no better words.
func canonicalLine(v any) string {
	b, err := campaigns.Canonical(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// DescribePredicate writes a condition on one line, as plans and
// nurture explain show it.
func DescribePredicate(p campaigns.Predicate) string { return describePredicate(p) }

// DescribeStep, DescribeAction and DescribeExit write a step, where a
// branch leads and an exit rule on one line, as plans show them.
func DescribeStep(st campaigns.Step) string    { return describeStep(st) }
func DescribeAction(a campaigns.Action) string { return describeAction(a) }
func DescribeExit(e campaigns.ExitRule) string { return describeExit(e) }

// describeFrom writes a sender override as a plan shows it:
// "Dana <dana@acme.example>", "contact.owner_email, else <hello@acme.example>",
// with its reply address.
func describeFrom(f campaigns.From) string {
	name := strconv.Quote(f.Name)
	if f.NameAttribute != "" {
		name = "contact." + f.NameAttribute
		if f.Name != "" {
			name += " (else " + strconv.Quote(f.Name) + ")"
		}
	}
	if f.Name == "" && f.NameAttribute == "" {
		name = ""
	}
	addr := f.Email
	if f.EmailAttribute != "" {
		addr = "contact." + f.EmailAttribute
		if f.Email != "" {
			addr += ", else " + f.Email
		}
	}
	var parts []string
	if name != "" {
		parts = append(parts, name)
	}
	if addr != "" {
		parts = append(parts, "<"+addr+">")
	}
	if f.ReplyTo != "" {
		parts = append(parts, "replies to "+f.ReplyTo)
	}
	return strings.Join(parts, " ")
}

// describeWaitUntil is "wait until mon,tue 09:00", or "any day".
func describeWaitUntil(w campaigns.WaitUntil) string {
	days := "any day"
	if len(w.Days) > 0 {
		days = strings.Join(w.Days, ",")
	}
	return "wait until " + days + " " + w.At.String()
}
