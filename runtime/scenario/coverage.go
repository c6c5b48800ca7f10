package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/engine"
)

// Item is one thing of a programme a scenario can reach: a step, each
// way out of a wait_for or branch, each arm of an A/B send, each exit
// rule.
type Item struct {
	ID string `json:"id"`
	// Sequence is empty for the programme's own exit rules.
	Sequence string `json:"sequence,omitempty"`
	// What, for a person: "step engaged: else (goto governance)".
	What string `json:"what"`
}

// StepItem names a step, or one way out of it.
func StepItem(sequence, step, outcome string) string {
	id := "sequences." + sequence + ".steps." + step
	if outcome != "" {
		id += ":" + outcome
	}
	return id
}

// VariantItem names an arm of an A/B send step.
func VariantItem(sequence, step, variant string) string {
	return StepItem(sequence, step, "variant="+variant)
}

// Items lists what journey coverage counts in prog, by sequence in name
// order, then the programme's exit rules.
func Items(prog *campaigns.Program) []Item {
	var out []Item
	for _, name := range slices.Sorted(maps.Keys(prog.Sequences)) {
		seq := prog.Sequences[name]
		for _, st := range seq.Steps {
			what := "step " + st.Name
			switch {
			case st.WaitFor != nil:
				out = append(out,
					Item{StepItem(name, st.Name, engine.OutcomeThen), name, what + ": " + st.WaitFor.Event.Name + " came (" + action(st.WaitFor.Then) + ")"},
					Item{StepItem(name, st.Name, engine.OutcomeElse), name, what + ": no " + st.WaitFor.Event.Name + " within " + st.WaitFor.Within.String() + " (" + action(st.WaitFor.Else) + ")"})
			case st.Branch != nil:
				out = append(out,
					Item{StepItem(name, st.Name, engine.OutcomeThen), name, what + ": condition held (" + action(st.Branch.Then) + ")"},
					Item{StepItem(name, st.Name, engine.OutcomeElse), name, what + ": condition did not hold (" + action(st.Branch.Else) + ")"})
			case len(st.Send) > 1:
				for _, v := range st.Send {
					out = append(out, Item{VariantItem(name, st.Name, v.Name), name, what + ": variant " + v.Name + " (" + v.Email + ")"})
				}
			default:
				out = append(out, Item{StepItem(name, st.Name, ""), name, what})
			}
		}
		for i, r := range seq.Exits {
			out = append(out, Item{engine.RuleRef(prog, name, i), name, fmt.Sprintf("exit[%d] %s", i, rule(r))})
		}
	}
	// The programme's rules apply to every sequence: reached in any.
	for i, r := range prog.Exits {
		out = append(out, Item{fmt.Sprintf("exits[%d]", i), "", fmt.Sprintf("exits[%d] %s", i, rule(r))})
	}
	return out
}

func action(a campaigns.Action) string {
	switch {
	case a.Exit != "":
		return "exit " + a.Exit
	case a.Goto != "":
		return "goto " + a.Goto
	}
	return "next step"
}

func rule(r campaigns.ExitRule) string {
	var when string
	switch {
	case r.When != nil:
		when = "when " + condition(*r.When)
	case r.Inactive > 0:
		when = "inactive " + r.Inactive.String()
	case r.After > 0:
		when = "after " + r.After.String()
	}
	return strings.TrimSpace(when + " → " + r.Reason)
}

// condition writes a predicate briefly, for a coverage line.
func condition(p campaigns.Predicate) string {
	join := func(sep string) string {
		var parts []string
		for _, a := range p.Args {
			parts = append(parts, condition(a))
		}
		return strings.Join(parts, sep)
	}
	switch p.Op {
	case campaigns.OpAll:
		return join(" and ")
	case campaigns.OpAny:
		return "(" + join(" or ") + ")"
	case campaigns.OpNot:
		return "not " + join("")
	case campaigns.OpAttr:
		c := p.Cond
		v := fmt.Sprint(c.Value)
		if c.Values != nil {
			v = fmt.Sprint(c.Values)
		}
		return c.Field + " " + c.Cmp + " " + v
	case campaigns.OpEvent:
		return "event " + p.Event.Name
	case campaigns.OpScore:
		s := fmt.Sprintf("score %s %s %g", p.Score.Model, p.Score.Cmp, p.Score.Value)
		if p.Score.Threshold != "" {
			s += " (" + p.Score.Threshold + ")"
		}
		return s
	case campaigns.OpSegment:
		return "in " + p.Segment
	case campaigns.OpInactive:
		return "inactive " + p.Inactive.String()
	}
	return p.Op
}

// Coverage is what a set of scenario runs reached of a programme.
type Coverage struct {
	Items   []Item          `json:"items"`
	Reached map[string]bool `json:"reached"`
}

// NewCoverage counts the items of prog the results reached.
func NewCoverage(prog *campaigns.Program, results []*Result) *Coverage {
	c := &Coverage{Items: Items(prog), Reached: map[string]bool{}}
	known := map[string]bool{}
	for _, it := range c.Items {
		known[it.ID] = true
	}
	for _, r := range results {
		for id := range r.Reached {
			if known[id] {
				c.Reached[id] = true
			}
		}
	}
	return c
}

// Percent is the share of items reached, 100 for a programme with none.
func (c *Coverage) Percent() float64 {
	if len(c.Items) == 0 {
		return 100
	}
	return 100 * float64(len(c.Reached)) / float64(len(c.Items))
}

// Missed lists the items no run reached, in Items' order.
func (c *Coverage) Missed() []Item {
	return slices.DeleteFunc(slices.Clone(c.Items), func(it Item) bool { return c.Reached[it.ID] })
}
