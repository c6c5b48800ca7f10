package compiler

import (
	"slices"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
)

// goals checks that every goal names an exit reason something in the
// programme can give, and a stage the contact schema has: a misspelt goal
// would otherwise report no success, silently, for ever.
func (c *checker) goals() {
	g := c.raw.Goals
	if g == nil {
		return
	}
	reasons := c.exitReasons()
	// The list to choose from leaves out the engine's own reasons but
	// completed: none of those is anybody's success.
	declared := slices.DeleteFunc(slices.Clone(reasons), func(r string) bool {
		return r != "completed" && slices.Contains(builtinExits, r)
	})
	for i, r := range g.Exits {
		if !slices.Contains(reasons, r) {
			c.errorf([]string{"goals", "exits", itoa(i)}, "NRT112",
				c.suggest(r, declared, "the programme's exit reasons are "+strings.Join(declared, ", ")),
				"goal exit %q is a reason no exit rule or step gives", r)
		}
	}
	if g.Stage != "" && !slices.Contains(c.prog.Contact.Stages, g.Stage) {
		detail := "declare the lifecycle under contact.stages"
		if len(c.prog.Contact.Stages) > 0 {
			detail = c.suggest(g.Stage, c.prog.Contact.Stages, "contact.stages are "+strings.Join(c.prog.Contact.Stages, ", "))
		}
		c.errorf([]string{"goals", "stage"}, "NRT112", detail, "goal stage %q is not one of contact.stages", g.Stage)
	}
	c.prog.Goals = &campaigns.Goals{Exits: slices.Clone(g.Exits), Stage: g.Stage}
}
