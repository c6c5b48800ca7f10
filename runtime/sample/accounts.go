package sample

import (
	"encoding/csv"
	"slices"
	"strconv"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
)

// Accounts' own records, when the programme declares account attributes
// and Options.Accounts is set: one CSV row per account, keyed by the
// account column its contacts share. Their values come from a random
// source of their own, so that asking for them leaves the contacts and
// events of a seed as they were.

// acctCol is one account attribute's column.
type acctCol struct {
	name string
	attr *campaigns.Attribute
	kind attrKind
}

func (g *gen) setupAccounts() {
	if g.opt.Accounts == nil || len(g.p.Accounts.Attributes) == 0 {
		return
	}
	g.aw = csv.NewWriter(g.opt.Accounts)
	g.ar = newRNG(g.opt.Seed ^ 0x6163636f756e7473) // "accounts"
	g.acctHeader = []string{campaigns.AttrAccount}
	for _, n := range sortedKeys(g.p.Accounts.Attributes) {
		a := g.p.Accounts.Attributes[n]
		kind, _ := classify(n, a)
		g.acctCols = append(g.acctCols, acctCol{name: n, attr: a, kind: kind})
		g.acctHeader = append(g.acctHeader, n)
	}
	g.aw.Write(g.acctHeader)
}

// writeAccount writes the account's row, if accounts are written.
func (g *gen) writeAccount(a *account) {
	if g.aw == nil {
		return
	}
	row := make([]string, 0, len(g.acctHeader))
	row = append(row, a.id)
	for _, c := range g.acctCols {
		row = append(row, g.accountValue(c, a))
	}
	g.aw.Write(row)
	g.stats.Accounts++
}

// accountValue is one attribute of the account: what the contacts' own
// columns say of it where the name tells (owner, industry, size, …), a
// target flag more likely the more important the account's tier, and
// otherwise a value of the attribute's type. Optional ones are sometimes
// unknown.
func (g *gen) accountValue(c acctCol, a *account) string {
	r := g.ar
	if !c.attr.Required && r.chance(0.05) {
		return ""
	}
	switch c.kind {
	case kOwnerEmail:
		return g.aes[a.owner].email
	case kOwnerName:
		return g.aes[a.owner].name
	case kCompany:
		return a.company
	case kEmployees:
		return strconv.FormatInt(a.employees, 10)
	case kWebsite:
		return a.domain
	case kIndustry:
		if a.industry != "" && (c.attr.Type != campaigns.TypeEnum || slices.Contains(c.attr.Values, a.industry)) {
			return a.industry
		}
	}
	// The account's place among the tiers, 0 for the most important.
	frac := 0.5
	if len(g.tiers) > 1 {
		frac = float64(a.tier) / float64(len(g.tiers)-1)
	}
	switch c.attr.Type {
	case campaigns.TypeBool:
		p := 0.5
		if strings.Contains(c.name, "target") || strings.Contains(c.name, "named") || strings.Contains(c.name, "strategic") {
			p = 0.9 - 0.75*frac
		}
		return strconv.FormatBool(r.chance(p))
	case campaigns.TypeEnum:
		if len(c.attr.Values) == 0 {
			return ""
		}
		if strings.Contains(c.name, "tier") && len(g.tiers) > 0 {
			// Listed most important first, as the tiers are.
			return c.attr.Values[min(len(c.attr.Values)-1, int(frac*float64(len(c.attr.Values))))]
		}
		return c.attr.Values[r.IntN(len(c.attr.Values))]
	case campaigns.TypeInt:
		return strconv.FormatInt(r.between(1, 1000), 10)
	case campaigns.TypeNumber:
		return strconv.FormatFloat(float64(r.between(100, 100000))/100, 'f', 2, 64)
	case campaigns.TypeTime:
		return formatTime(r.between(g.start, g.now))
	}
	if strings.Contains(c.name, "owner") {
		return g.aes[a.owner].name
	}
	return a.company
}
