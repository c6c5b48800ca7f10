package compiler

import (
	"github.com/nurture-dev/nurture/campaigns"
)

// holdouts reads the programme's and each sequence's holdout. A holdout
// is a control group: it must hold someone out (more than 0%), leave
// someone to mail (under 100%), and stay the smaller group (at most
// campaigns.MaxHoldout), or the "control" is the campaign.
func (c *checker) holdouts() {
	c.prog.Holdout = c.holdout([]string{"holdout"}, c.raw.Holdout, "the programme")
	for _, name := range sortedKeys(c.raw.Sequences) {
		r, s := c.raw.Sequences[name], c.prog.Sequences[name]
		if s == nil || r.Holdout == "" {
			continue
		}
		p := []string{"sequences", name, "holdout"}
		if s.Transactional() {
			c.errorf(p, "NRT315", "transactional mail is owed to every contact who triggers it: hold out marketing sequences only",
				"transactional sequence %s has a holdout", name)
			continue
		}
		s.Holdout = c.holdout(p, r.Holdout, "sequence "+name)
		c.measured(p, s.Holdout)
	}
	c.measured([]string{"holdout"}, c.prog.Holdout)
}

// measured warns of a holdout in a programme that declares no goals: the
// control group gets no email, and the report has nothing to compare it
// with the treated contacts by.
func (c *checker) measured(p []string, h campaigns.Share) {
	if h > 0 && c.prog.Goals == nil {
		c.warnf(p, "NRT316", `declare what success is, goals: {exits: ["converted"]} or goals: stage: "sql", and the report shows the lift`,
			"a holdout of %s with no goals to measure it by", h)
	}
}

// holdout parses one holdout at p, for what (a sequence, the programme).
func (c *checker) holdout(p []string, raw, what string) campaigns.Share {
	if raw == "" {
		return 0
	}
	h, err := campaigns.ParseShare(raw)
	switch {
	case err != nil:
		c.errorf(p, "NRT315", `write a percentage with up to two decimals, like "10%" or "2.5%"`, "holdout of %s: %v", what, err)
		return 0
	case h <= 0:
		c.errorf(p, "NRT315", "a holdout of 0% holds nobody out: leave holdout out instead", "holdout of %s is %s", what, raw)
		return 0
	case h > campaigns.MaxHoldout:
		c.errorf(p, "NRT315", "a control group is the smaller group: hold out at most "+campaigns.MaxHoldout.String()+"; 5–10% is usual",
			"holdout of %s is %s, over %s", what, raw, campaigns.MaxHoldout)
		return 0
	}
	return h
}
