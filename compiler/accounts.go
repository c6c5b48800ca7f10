package compiler

import (
	"encoding/json"
	"fmt"

	"github.com/nurture-dev/nurture/campaigns"
)

// accountReserved are names an account attribute cannot take: score is
// the account score in an account_is condition, and key is the account's
// key, which the import's account column gives.
var accountReserved = map[string]string{
	"score":   "score is the account score in account_is conditions",
	"account": "account is the account's key, the import's key column",
}

// accounts compiles the account attributes and the account score. It
// runs before scoring, whose fit rules may read the account attributes;
// the score names its model by the raw programme.
func (c *checker) accounts() {
	r := c.raw.Accounts
	for _, name := range sortedKeys(r.Attributes) {
		path := []string{"accounts", "attributes", name}
		if why, ok := accountReserved[name]; ok {
			c.errorf(path, "NRT110", why+"; rename the attribute", "account attribute %s is built in and cannot be declared", name)
			continue
		}
		if c.prog.Accounts.Attributes == nil {
			c.prog.Accounts.Attributes = map[string]*campaigns.Attribute{}
		}
		c.prog.Accounts.Attributes[name] = c.attribute(path, r.Attributes[name])
	}
	if r.Score == nil {
		return
	}
	path := []string{"accounts", "score"}
	s := &campaigns.AccountScore{Model: r.Score.Model, Rollup: campaigns.RollupSum, Thresholds: r.Score.Thresholds}
	if _, ok := c.raw.Scoring[s.Model]; !ok {
		c.errorf(sub(path, "model"), "NRT106", c.suggest(s.Model, keysOf(c.raw.Scoring), "declare it under scoring"), "unknown scoring model %q", s.Model)
	}
	var rollup string
	var top struct {
		Top int `json:"top"`
	}
	switch {
	case len(r.Score.Rollup) == 0:
	case json.Unmarshal(r.Score.Rollup, &rollup) == nil:
		s.Rollup = rollup
	case json.Unmarshal(r.Score.Rollup, &top) == nil:
		s.Rollup, s.Top = campaigns.RollupTop, top.Top
	}
	for _, name := range sortedKeys(s.Thresholds) {
		if v := s.Thresholds[name]; v <= 0 {
			c.errorf(sub(path, "thresholds", name), "NRT203", "an account score is never below zero: give a threshold above it",
				"account score threshold %s is %s", name, describeValue(v))
		}
	}
	c.prog.Accounts.Score = s
}

// accountIs compiles account_is: {ATTR: compare, score: …}, conditions on
// the contact's account checked against accounts.attributes and
// accounts.score.
func (c *checker) accountIs(path []string, raw json.RawMessage, sc scope) []campaigns.Predicate {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	var out []campaigns.Predicate
	for _, k := range sortedKeys(m) {
		p := sub(path, k)
		if k == "score" {
			if sc == scopeFit {
				c.errorf(p, "NRT208", "an account score adds up its contacts' scores; a fit rule may look at the account's attributes, not its score",
					"a fit rule may not look at the account score")
				continue
			}
			out = append(out, c.accountScore(p, m[k])...)
			continue
		}
		attr := c.prog.Accounts.Attributes[k]
		if attr == nil {
			hint := c.suggest(k, keysOf(c.prog.Accounts.Attributes), "declare it under accounts.attributes")
			if _, ok := c.prog.Contact.Attributes[k]; ok {
				hint = fmt.Sprintf("%s is a contact attribute: compare it outside account_is, or declare it under accounts.attributes", k)
			}
			c.errorf(p, "NRT113", hint, "accounts have no attribute %q", k)
			continue
		}
		for _, cond := range c.conditions(p, k, attr, m[k]) {
			out = append(out, campaigns.Predicate{Op: campaigns.OpAccountAttr, Cond: &cond})
		}
	}
	return out
}

// accountScore compiles account_is: score: a threshold's name, a range,
// or reached / below a threshold, as a model's score condition is.
func (c *checker) accountScore(path []string, raw json.RawMessage) []campaigns.Predicate {
	s := c.prog.Accounts.Score
	if s == nil {
		c.errorf(path, "NRT113", "declare accounts: score: {model: …, rollup: …}, rolled up from a scoring model", "the programme declares no account score")
		return nil
	}
	threshold := func(tp []string, name string) (float64, bool) {
		v, ok := s.Thresholds[name]
		if !ok {
			c.errorf(tp, "NRT107", c.suggest(name, keysOf(s.Thresholds), "declare it under accounts.score.thresholds"),
				"the account score has no threshold %q", name)
		}
		return v, ok
	}
	var out []campaigns.Predicate
	for _, sc := range c.scoreCompare(path, raw, threshold) {
		out = append(out, campaigns.Predicate{Op: campaigns.OpAccountScore, Score: sc})
	}
	return out
}
