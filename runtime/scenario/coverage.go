package scenario

import (
	"fmt"
	"maps"
	"slices"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/engine"
)

// Item is one thing of a programme a scenario can reach: a step, each
// way out of a wait_for or branch, each arm of an A/B send, each exit
// rule. It says which; the command that reports it says it in words.
type Item struct {
	ID string `json:"id"`
	// Sequence is empty for the programme's own exit rules.
	Sequence string `json:"sequence,omitempty"`
	// Step, with Outcome for a wait_for or branch and Variant for an
	// A/B send, names a step item.
	Step    string `json:"step,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	Variant string `json:"variant,omitempty"`
	// Rule is the exit rule of a rule item, Index its place among the
	// sequence's rules or the programme's.
	Rule  *campaigns.ExitRule `json:"-"`
	Index int                 `json:"-"`
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
			switch {
			case st.WaitFor != nil || st.Branch != nil:
				for _, o := range []string{engine.OutcomeThen, engine.OutcomeElse} {
					out = append(out, Item{ID: StepItem(name, st.Name, o), Sequence: name, Step: st.Name, Outcome: o})
				}
			case len(st.Send) > 1:
				for _, v := range st.Send {
					out = append(out, Item{ID: VariantItem(name, st.Name, v.Name), Sequence: name, Step: st.Name, Variant: v.Name})
				}
			default:
				out = append(out, Item{ID: StepItem(name, st.Name, ""), Sequence: name, Step: st.Name})
			}
		}
		for i := range seq.Exits {
			out = append(out, Item{ID: engine.RuleRef(prog, name, i), Sequence: name, Rule: &seq.Exits[i], Index: i})
		}
	}
	// The programme's rules apply to every sequence: reached in any.
	for i := range prog.Exits {
		out = append(out, Item{ID: fmt.Sprintf("exits[%d]", i), Rule: &prog.Exits[i], Index: i})
	}
	return out
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
