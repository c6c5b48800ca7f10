package sample

import (
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/ingest"
)

// attrKind is what a column holds, as far as the generator understands it
// from its name and type; kGeneric columns get values by type alone.
type attrKind int

const (
	kGeneric attrKind = iota
	kEmail
	kStage
	kAccount
	kTier
	kTimezone
	kFirstName
	kLastName
	kFullName
	kCompany
	kJobTitle
	kRole
	kPlan
	kCountry
	kRegion
	kCity
	kPhone
	kWebsite
	kEmployees
	kIndustry
	kOwnerEmail
	kOwnerName
	kCreated
	kTrialStart
	kTrialEnd
	kLeadSource
	kSalesTouch
	kConsentAt
	kConsentSource
	kConsentWording
)

// numKind is the scale of a number, from its name.
type numKind int

const (
	numGeneric numKind = iota
	numPercent
	numMinutes
	numMoney
	numCount
	numYears
	numNPS
	numRating
)

type column struct {
	name     string
	attr     *campaigns.Attribute // nil for the consent columns
	kind     attrKind
	required bool
	// blank is the share of cells left empty: unknown optional values.
	blank float64
	// account says the value belongs to the account, the same for each of
	// its contacts: its company, industry, size, owner.
	account bool
	hints   *fieldHints
	enumW   weights
	num     numKind
}

// roleAttrs are the enum attributes that say what a contact does, in the
// order one is picked to choose job titles by.
var roleAttrs = []string{"persona", "committee_role", "buying_role", "buyer_role", "role", "contact_role", "job_function", "function", "department", "seniority"}

func (g *gen) setupColumns() {
	attrs := g.p.Contact.Attributes
	add := func(name string, kind attrKind) *column {
		c := &column{name: name, attr: attrs[name], kind: kind, hints: g.h.attrs[name]}
		if c.attr == nil {
			c.attr = &campaigns.Attribute{Type: campaigns.TypeString}
		}
		c.required = c.attr.Required
		g.cols = append(g.cols, c)
		return c
	}
	add(campaigns.AttrEmail, kEmail)
	if len(g.stages) > 0 {
		add(campaigns.AttrStage, kStage)
		w := make([]float64, len(g.stages))
		for i := range w {
			// Most contacts are early in the lifecycle: subscribers and
			// leads, few with sales or customers.
			w[i] = math.Pow(0.55, float64(i))
		}
		g.stageW = newWeights(w)
	}
	add(campaigns.AttrAccount, kAccount).account = true
	if len(g.tiers) > 0 {
		add(campaigns.AttrAccountTier, kTier).account = true
		w := make([]float64, len(g.tiers))
		for i := range w {
			// Tiers are listed most important first, and the first holds
			// the fewest accounts.
			w[i] = float64((i + 1) * (i + 1))
		}
		g.tierW = newWeights(w)
	}
	tz := add(campaigns.AttrTimezone, kTimezone)
	tz.blank = 0.06
	builtin := map[string]bool{campaigns.AttrEmail: true, campaigns.AttrStage: true, campaigns.AttrAccount: true, campaigns.AttrAccountTier: true, campaigns.AttrTimezone: true}
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		if a == nil || a.Builtin || builtin[name] {
			continue
		}
		c := add(name, kGeneric)
		c.kind, c.account = classify(name, a)
		c.num = numKindOf(name)
		if !c.required {
			c.blank = blankRate(name)
		}
		if a.Type == campaigns.TypeEnum {
			var hinted []string
			if c.hints != nil {
				hinted = c.hints.strs
			}
			c.enumW = enumWeights(a.Values, hinted)
		}
		switch c.kind {
		case kTrialStart, kTrialEnd:
			c.blank = 0 // empty exactly when there was no trial
		case kPlan:
			g.planCol = c
		}
	}
	for _, want := range roleAttrs {
		for _, c := range g.cols {
			if g.roleCol == nil && c.name == want && c.attr.Type == campaigns.TypeEnum && len(c.attr.Values) > 0 {
				g.roleCol, c.kind, c.account = c, kRole, false
				c.enumW = roleWeights(c.attr.Values)
			}
		}
	}
	if g.consent {
		for _, n := range []struct {
			name string
			kind attrKind
		}{{colConsentAt, kConsentAt}, {colConsentSource, kConsentSource}, {colConsentWording, kConsentWording}} {
			c := &column{name: n.name, kind: n.kind, attr: &campaigns.Attribute{Type: campaigns.TypeString}}
			g.cols = append(g.cols, c)
		}
	}
	g.colIdx = map[string]int{}
	for i, c := range g.cols {
		g.header = append(g.header, c.name)
		g.colIdx[c.name] = i
	}
}

// roleWeights weights a role enum by how common each role is among the
// people in a CRM, whatever order the programme lists them in:
// practitioners and users outnumber the leaders, budget holders and
// buyers they work with.
func roleWeights(values []string) weights {
	w := make([]float64, len(values))
	for i, v := range values {
		w[i] = 1
		lv := strings.ToLower(v)
		for _, m := range roleMix {
			if slices.ContainsFunc(m.keys, func(k string) bool { return strings.Contains(lv, k) }) {
				w[i] = m.weight
				break
			}
		}
	}
	return newWeights(w)
}

var roleMix = []struct {
	keys   []string
	weight float64
}{
	{[]string{"other", "unknown"}, 0.5},
	{[]string{"procure", "purchas", "sourcing"}, 0.5},
	{[]string{"exec", "leader", "chief", "economic", "buyer", "budget", "c_level", "decision"}, 0.7},
	{[]string{"analyst", "engineer", "user", "developer", "practitioner", "operator"}, 1.5},
	{[]string{"technical", "evaluator", "architect"}, 1.2},
}

// blankRate is the share of a column's cells left empty: between 5 and
// 15 percent, fixed per attribute name so columns differ as real exports do.
func blankRate(name string) float64 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return 0.05 + float64(h.Sum32()%11)/100
}

// classify reads what an attribute holds from its name and type, and
// whether it belongs to the account rather than the person.
func classify(name string, a *campaigns.Attribute) (attrKind, bool) {
	n := strings.ToLower(name)
	str := a.Type == campaigns.TypeString
	enumOrStr := str || a.Type == campaigns.TypeEnum
	num := a.Type == campaigns.TypeInt || a.Type == campaigns.TypeNumber
	tm := a.Type == campaigns.TypeTime
	switch {
	case str && oneOf(n, "first_name", "firstname", "given_name"):
		return kFirstName, false
	case str && oneOf(n, "last_name", "lastname", "surname", "family_name"):
		return kLastName, false
	case str && oneOf(n, "name", "full_name", "fullname", "contact_name"):
		return kFullName, false
	case str && oneOf(n, "company", "company_name", "organization", "organisation", "account_name", "employer"):
		return kCompany, true
	case str && oneOf(n, "job_title", "title", "position", "jobtitle"):
		return kJobTitle, false
	case a.Type == campaigns.TypeEnum && oneOf(n, "plan", "subscription", "pricing_plan", "plan_tier", "subscription_plan"):
		return kPlan, false
	case enumOrStr && oneOf(n, "country", "country_code"):
		return kCountry, false
	case enumOrStr && oneOf(n, "region", "territory", "geo", "sales_region"):
		return kRegion, true
	case str && n == "city":
		return kCity, false
	case str && oneOf(n, "phone", "phone_number", "mobile", "mobile_phone"):
		return kPhone, false
	case str && oneOf(n, "website", "domain", "company_domain", "company_website", "url"):
		return kWebsite, true
	case num && oneOf(n, "employees", "employee_count", "headcount", "company_size", "num_employees"):
		return kEmployees, true
	case enumOrStr && oneOf(n, "industry", "sector", "vertical"):
		return kIndustry, true
	case str && (strings.Contains(n, "owner") || strings.HasPrefix(n, "ae_")) && strings.Contains(n, "email"):
		return kOwnerEmail, true
	case str && (oneOf(n, "owner", "owner_name", "account_owner", "ae_name", "ae", "sales_owner")):
		return kOwnerName, true
	case tm && oneOf(n, "signup_at", "signed_up_at", "created_at", "first_seen_at", "subscribed_at", "joined_at", "registered_at"):
		return kCreated, false
	case tm && strings.Contains(n, "trial") && (strings.Contains(n, "start") || strings.Contains(n, "began")):
		return kTrialStart, false
	case tm && strings.Contains(n, "trial") && (strings.Contains(n, "end") || strings.Contains(n, "expir")):
		return kTrialEnd, false
	case enumOrStr && oneOf(n, "lead_source", "source", "acquisition_channel", "channel", "original_source"):
		return kLeadSource, false
	}
	if tm && (strings.Contains(n, "sales_touch") || strings.Contains(n, "last_contacted") || strings.Contains(n, "last_sales")) {
		return kSalesTouch, false
	}
	// A description about the account or company, not the person, makes
	// the attribute the account's: "Machines the account runs" is, "The
	// contact's part in the account's buying committee" is not.
	d := strings.ReplaceAll(strings.ToLower(a.Description), "account executive", "")
	aboutAccount := strings.Contains(d, "account") || strings.Contains(d, "company") || strings.Contains(d, "headcount")
	aboutPerson := strings.Contains(d, "contact") || strings.Contains(d, "person") || strings.Contains(d, "their")
	account := strings.HasPrefix(n, "company_") || strings.HasPrefix(n, "account_") ||
		strings.Contains(n, "revenue") || aboutAccount && !aboutPerson
	return kGeneric, account
}

func oneOf(s string, options ...string) bool { return slices.Contains(options, s) }

func numKindOf(name string) numKind {
	n := strings.ToLower(name)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(n, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("nps"):
		return numNPS
	case has("rating", "stars"):
		return numRating
	case has("percent", "pct", "score", "strength", "confidence", "probability", "intensity"):
		return numPercent
	case has("minute", "duration"):
		return numMinutes
	case has("usd", "eur", "gbp", "amount", "revenue", "arr", "mrr", "price", "budget", "saving", "spend", "deal", "value"):
		return numMoney
	case has("count", "assets", "seats", "users", "licen", "number", "quantity", "locations", "sites", "vehicles", "machines", "devices"):
		return numCount
	case has("years", "age", "tenure"):
		return numYears
	}
	return numGeneric
}

// account is the company a run of contacts works at.
type account struct {
	id, domain, company string
	country             *country
	industry            string // the value written, even when the cell is empty
	suffixes            []string
	employees           int64
	tier                int
	owner               int
	size, done          int
	pattern             int
	locals              []string
	cells               []string // account-level columns' values, by column
	evs                 []event  // events the sync writes to every contact
	props               []prop   // their properties
}

// The ways a company spells its addresses; one per account.
const (
	patFirstDotLast = iota
	patInitialLast
	patFirstUnderLast
	patFirstInitial
	patFirst
)

var patternW = newWeights([]float64{72, 12, 6, 5, 5})

// Above this many companies, names are no longer kept unique: the domain
// gets the account's number instead, so memory stays flat however many
// contacts are asked for.
const maxNamedAccounts = 3000

func (g *gen) newAccount(remaining int) {
	a := &g.acct
	g.acctN++
	*a = account{locals: a.locals[:0], cells: a.cells[:0], evs: a.evs[:0], props: a.props[:0]}
	if g.abm {
		a.tier = g.tierW.draw(g.r)
	}
	a.size = g.accountSize(a.tier)
	a.size = min(a.size, remaining)
	a.country = &g.countries[g.countryW.draw(g.r)]
	a.suffixes = defaultSuffixes
	for _, c := range g.cols {
		if c.kind == kIndustry {
			if c.attr.Type == campaigns.TypeEnum && len(c.attr.Values) > 0 {
				a.industry = c.attr.Values[c.enumW.draw(g.r)]
			} else {
				a.industry = g.r.pick(industryNames)
			}
			a.suffixes = suffixesFor(a.industry)
		}
	}
	g.nameAccount(a)
	a.employees = g.employees(a.tier)
	a.owner = g.r.IntN(len(g.aes))
	a.pattern = patternW.draw(g.r)
	if a.pattern == patFirst && a.size > 3 {
		a.pattern = patFirstDotLast // first names alone stop working in a big team
	}
	for _, c := range g.cols {
		v := ""
		if c.account {
			v = g.accountCell(c, a)
		}
		a.cells = append(a.cells, v)
	}
	g.accountEvents(a)
	g.writeAccount(a)
}

func (g *gen) accountSize(tier int) int {
	if !g.abm {
		// Mostly one sign-up per company, sometimes colleagues.
		return 1 + patternSizes.draw(g.r)
	}
	// ABM: named accounts have whole buying committees, the long tail a
	// contact or two.
	frac := 0.0
	if len(g.tiers) > 1 {
		frac = float64(tier) / float64(len(g.tiers)-1)
	}
	lo := int(math.Round(4 - 3*frac))
	hi := int(math.Round(8 - 4*frac))
	return lo + g.r.IntN(hi-lo+1)
}

var patternSizes = newWeights([]float64{62, 25, 10, 3})

// employees draws a headcount: log-normal, from small firms to
// enterprises, larger for the more important ABM tiers.
func (g *gen) employees(tier int) int64 {
	median, sigma := 180.0, 1.5
	if g.abm {
		frac := 0.0
		if len(g.tiers) > 1 {
			frac = float64(tier) / float64(len(g.tiers)-1)
		}
		median, sigma = 6000*math.Pow(450.0/6000, frac), 0.9
	}
	n := min(max(g.r.logNormal(median, sigma), 10), 50000)
	// Enrichment rounds: 1,234 people is reported as 1,200.
	if n >= 100 {
		p := math.Pow(10, math.Floor(math.Log10(n))-1)
		n = math.Round(n/p) * p
	}
	return int64(n)
}

func suffixesFor(industry string) []string {
	v := strings.ToLower(industry)
	for _, s := range industrySuffixes {
		for _, k := range s.keys {
			if v == k || len(k) >= 4 && strings.Contains(v, k) {
				return s.suffixes
			}
		}
	}
	return defaultSuffixes
}

// nameAccount gives the account a company name, a domain and an id (the
// domain's label), unique within the run.
func (g *gen) nameAccount(a *account) {
	if g.special != nil && g.competitor(a) {
		return
	}
	for try := 0; try < 8 && !g.numbered; try++ {
		name, label := g.companyName(a.suffixes)
		if g.usedNames[name] || g.usedDomains[label] {
			continue
		}
		g.usedNames[name], g.usedDomains[label] = true, true
		a.company, a.id = name, label
		a.domain = label + ".example"
		if len(g.usedNames) >= maxNamedAccounts {
			g.numbered, g.usedNames, g.usedDomains = true, nil, nil
		}
		return
	}
	// Generated names never end in a hyphen and digits, so a label with
	// the account's number is new.
	name, label := g.companyName(a.suffixes)
	a.company, a.id = name, label+"-"+strconv.Itoa(g.acctN)
	a.domain = a.id + ".example"
}

func (g *gen) companyName(suffixes []string) (name, label string) {
	i := g.r.IntN(len(companyPrefixes))
	prefix, suffix := companyPrefixes[i], g.r.pick(suffixes)
	name = prefix + " " + suffix
	if g.r.chance(0.12) {
		name = prefix
	}
	switch f := g.r.Float64(); {
	case name == prefix || f < 0.45:
		label = prefixSlugs[i]
	case f < 0.8:
		label = prefixSlugs[i] + "-" + slugOf(suffix)
	default:
		label = strings.ReplaceAll(prefixSlugs[i]+slugOf(suffix), "-", "")
	}
	return name, label
}

// prefixSlugs are companyPrefixes as domain labels, made once.
var prefixSlugs = func() []string {
	s := make([]string, len(companyPrefixes))
	for i, p := range companyPrefixes {
		s[i] = slug(p)
	}
	return s
}()

var suffixSlugs = func() map[string]string {
	m := map[string]string{}
	for _, s := range industrySuffixes {
		for _, x := range s.suffixes {
			m[x] = slug(x)
		}
	}
	for _, x := range defaultSuffixes {
		m[x] = slug(x)
	}
	return m
}()

func slugOf(suffix string) string {
	if s, ok := suffixSlugs[suffix]; ok {
		return s
	}
	return slug(suffix)
}

// competitor makes a few accounts at a domain the programme's email
// patterns name, such as a competitor it excludes, so that rule has
// someone to exclude. Each such domain is used once.
func (g *gen) competitor(a *account) bool {
	h := g.h.attrs[campaigns.AttrEmail]
	if h == nil || len(h.pats) == 0 || !g.r.chance(0.01) {
		return false
	}
	s := h.pats[g.r.IntN(len(h.pats))].sample(g.r.Rand)
	_, domain, ok := strings.Cut(s, "@")
	domain = strings.ToLower(domain)
	label, _, _ := strings.Cut(domain, ".")
	if !ok || !strings.Contains(domain, ".") || label == "" || slug(label) != label || g.special[domain] ||
		strings.Trim(label, "abcdefghijklmnopqrstuvwxyz") != "" {
		return false
	}
	g.special[domain] = true
	a.company = titleFromSlug(label)
	a.id, a.domain = label, domain
	return true
}

// accountCell is the value of an account-level column, or "" when it is
// unknown for the account.
func (g *gen) accountCell(c *column, a *account) string {
	if c.blank > 0 && g.r.chance(c.blank) {
		return ""
	}
	switch c.kind {
	case kAccount:
		return a.id
	case kTier:
		return g.tiers[a.tier]
	case kCompany:
		return a.company
	case kIndustry:
		return a.industry
	case kEmployees:
		return strconv.FormatInt(a.employees, 10)
	case kRegion:
		if c.attr.Type == campaigns.TypeEnum {
			if v := regionValue(a.country.region, c.attr.Values); v != "" {
				return v
			}
			return c.attr.Values[c.enumW.draw(g.r)]
		}
		return regionNames[a.country.region]
	case kOwnerEmail:
		return g.aes[a.owner].email
	case kOwnerName:
		return g.aes[a.owner].name
	case kWebsite:
		if strings.Contains(c.name, "domain") {
			return a.domain
		}
		return "https://" + a.domain
	}
	return g.genericValue(c, a, nil)
}

// contact is the person being written, with what their row and events
// must agree on.
type contact struct {
	first, last, email string
	country            *country
	zone               zone
	stage              int // index into stages; 0 without stages
	stageFrac          float64
	role               int // index into the role attribute's values, or -1
	title              string
	plan               string
	trial, paid        bool
	created, trialAt   int64
	level              int
	rate               float64 // sessions a month
	dormantAt          int64   // no engagement from here on; 0: active
	leadSource         string
	hardBounce         bool
}

// Engagement levels: most contacts are quiet, a few very active.
var (
	levelW     = [4]float64{45, 35, 15, 5}
	levelRates = []float64{0.35, 1.3, 3.5, 6}
)

func (g *gen) newContact() *contact {
	a := &g.acct
	c := &g.cur
	*c = contact{role: -1}
	c.country = a.country
	if g.r.chance(0.1) {
		c.country = &g.countries[g.countryW.draw(g.r)] // a colleague abroad
	}
	c.zone = c.country.zones[g.zoneW[c.country.code].draw(g.r)]

	group := c.country.group
	mixed := 0.15
	if group == gAnglo {
		mixed = 0.35
	}
	if g.r.chance(mixed) {
		group = g.groupW.draw(g.r)
	}
	c.first = g.r.pick(nameGroups[group].first)
	c.last = g.r.pick(nameGroups[group].last)
	c.email = g.address(a, c.first, c.last)

	if len(g.stages) > 0 {
		c.stage = g.stageW.draw(g.r)
		if len(g.stages) > 1 {
			c.stageFrac = float64(c.stage) / float64(len(g.stages)-1)
		}
	}
	if g.roleCol != nil {
		c.role = g.roleCol.enumW.draw(g.r)
	}
	c.title = g.jobTitle(c.role)

	span := g.now - g.start
	// Most contacts have been in the database a while; fewer are new.
	// People sign up in their own day, mostly in working hours.
	c.created = g.localTime(c, g.start+int64(float64(span)*math.Pow(g.r.Float64(), 1.4)), g.start, g.now-3600)
	g.choosePlan(c)

	lw := levelW
	lw[2] *= 1 + 1.5*c.stageFrac
	lw[3] *= 1 + 1.5*c.stageFrac
	if c.trial {
		lw[0] /= 2
	}
	x := g.r.Float64() * (lw[0] + lw[1] + lw[2] + lw[3])
	for c.level = 0; c.level < 3 && x >= lw[c.level]; c.level++ {
		x -= lw[c.level]
	}
	c.rate = levelRates[c.level] * (0.7 + 0.6*g.r.Float64())
	if !c.trial && g.r.chance(0.2) {
		c.dormantAt = g.now - g.inactiveSpan() - g.r.between(86400, 45*86400)
	}
	c.hardBounce = g.r.chance(0.008)
	return c
}

// inactiveSpan is how long dormant contacts have been quiet: at least the
// longest inactivity any rule of the programme checks, 60 days without one.
func (g *gen) inactiveSpan() int64 {
	d := 60 * campaigns.Day
	for _, s := range g.h.inactive {
		d = max(d, s.Std())
	}
	return min(int64(d.Seconds()), (g.now-g.start)*2/3)
}

// choosePlan picks a plan that fits the stage: customers pay, leads have
// none or are trying the product.
func (g *gen) choosePlan(c *contact) {
	last := len(g.stages) > 1 && c.stage == len(g.stages)-1
	if g.planCol == nil {
		c.paid = last
		c.trial = g.trial != nil && !last && g.r.chance(0.06+0.15*c.stageFrac)
	} else {
		var free, trial, paid []string
		for _, v := range g.planCol.attr.Values {
			switch lv := strings.ToLower(v); {
			case strings.Contains(lv, "trial"):
				trial = append(trial, v)
			case oneOf(lv, "none", "free", "freemium", "basic_free", "no_plan", "prospect", "lead"):
				free = append(free, v)
			default:
				paid = append(paid, v)
			}
		}
		pFree, pTrial := 0.85, 0.11
		switch {
		case last:
			pFree, pTrial = 0, 0
		case c.stageFrac >= 0.6:
			pFree, pTrial = 0.6, 0.3
		}
		x := g.r.Float64()
		switch {
		case x < pFree && len(free) > 0:
			c.plan = g.r.pick(free)
		case x < pFree+pTrial && len(trial) > 0:
			c.plan, c.trial = g.r.pick(trial), true
		case len(paid) > 0:
			// Cheaper plans are more common; they are listed first.
			w := make([]float64, len(paid))
			for i := range w {
				w[i] = 1 / float64(i+1)
			}
			c.plan, c.paid = paid[newWeights(w).draw(g.r)], true
		default:
			c.plan = g.planCol.attr.Values[g.planCol.enumW.draw(g.r)]
			c.trial = strings.Contains(strings.ToLower(c.plan), "trial")
		}
	}
	switch {
	case c.trial:
		// Most trials are current, begun in the last two weeks; the rest
		// lapsed without a purchase and the CRM still says trial.
		c.trialAt = g.now - g.r.between(3600, 14*86400)
		if g.r.chance(0.4) {
			c.trialAt = g.now - g.r.between(15*86400, 90*86400)
		}
		c.trialAt = max(c.trialAt, g.start)
		if c.created > c.trialAt {
			c.created = max(g.start, c.trialAt-g.r.between(0, 10*86400))
		}
	case c.paid && g.trial != nil:
		// Customers tried the product before they paid.
		c.trialAt = min(c.created+g.r.between(3600, 20*86400), g.now-86400)
		c.trialAt = max(c.trialAt, c.created)
	}
}

// address makes the contact's email at the account's domain in the
// company's pattern, adding a digit when a colleague has it already.
func (g *gen) address(a *account, first, last string) string {
	f, l := asciiFold(first), asciiFold(last)
	var local string
	switch a.pattern {
	case patInitialLast:
		local = f[:1] + l
	case patFirstUnderLast:
		local = f + "_" + l
	case patFirstInitial:
		local = f + l[:1]
	case patFirst:
		local = f
	default:
		local = f + "." + l
	}
	base := local
	for n := 2; slices.Contains(a.locals, local) || ingest.IsRoleLocal(local); n++ {
		local = base + strconv.Itoa(n)
	}
	a.locals = append(a.locals, local)
	return local + "@" + a.domain
}

// jobTitle picks a title that fits the contact's role value.
func (g *gen) jobTitle(role int) string {
	if role >= 0 {
		v := strings.ToLower(g.roleCol.attr.Values[role])
		for _, rt := range roleTitles {
			for _, k := range rt.keys {
				if v == k || len(k) >= 4 && strings.Contains(v, k) {
					return g.r.pick(rt.titles)
				}
			}
		}
	}
	titles := genericTitles
	if role >= 0 {
		titles = otherTitles
	}
	if g.r.chance(0.03) {
		return titles[len(titles)-rareTitles+g.r.IntN(rareTitles)]
	}
	return titles[g.r.IntN(len(titles)-rareTitles)]
}

// writeContact writes the contact's row.
func (g *gen) writeContact(c *contact) {
	a := &g.acct
	for i, col := range g.cols {
		if col.account {
			g.row[i] = a.cells[i]
			continue
		}
		if col.blank > 0 && g.r.chance(col.blank) {
			g.row[i] = ""
			continue
		}
		g.row[i] = g.contactCell(col, a, c)
	}
	if err := g.cw.Write(g.row); err != nil && g.err == nil {
		g.err = err
	}
}

func (g *gen) contactCell(col *column, a *account, c *contact) string {
	switch col.kind {
	case kEmail:
		return c.email
	case kStage:
		return g.stages[c.stage]
	case kTimezone:
		return c.zone.name
	case kFirstName:
		return c.first
	case kLastName:
		return c.last
	case kFullName:
		return c.first + " " + c.last
	case kJobTitle:
		return c.title
	case kRole:
		return col.attr.Values[c.role]
	case kPlan:
		return c.plan
	case kCountry:
		if col.attr.Type == campaigns.TypeEnum {
			for _, v := range col.attr.Values {
				if strings.EqualFold(v, c.country.code) || strings.EqualFold(v, c.country.name) {
					return v
				}
			}
			return col.attr.Values[col.enumW.draw(g.r)]
		}
		return c.country.code
	case kCity:
		return g.r.pick(c.country.cities)
	case kPhone:
		return g.phone(c.country)
	case kCreated:
		return formatTime(c.created)
	case kTrialStart:
		if c.trialAt == 0 {
			return ""
		}
		return formatTime(c.trialAt)
	case kTrialEnd:
		if c.trialAt == 0 {
			return ""
		}
		// Trials run two weeks, so a current one ends after Now.
		return formatTime(c.trialAt + 14*86400)
	case kLeadSource:
		c.leadSource = g.genericValue(col, a, c)
		return c.leadSource
	case kSalesTouch:
		// Sales works the later stages; most prospects were never called.
		if !g.r.chance(0.2 + 0.8*c.stageFrac) {
			return ""
		}
		return formatTime(g.localTime(c, g.pastTime(col.hints), g.start, g.now))
	case kConsentAt:
		return formatTime(c.created)
	case kConsentSource:
		return g.consentSource(c)
	case kConsentWording:
		// The form's wording changed halfway through the history.
		v := 2
		if c.created > (g.start+g.now)/2 {
			v = 3
		}
		return consentForm(g.consentSource(c)) + "-v" + strconv.Itoa(v)
	}
	return g.genericValue(col, a, c)
}

// consentSource says where the contact opted in, from their lead source
// when the programme records one. It draws nothing at random, so the
// source and wording columns agree.
func (g *gen) consentSource(c *contact) string {
	ls := strings.ToLower(c.leadSource)
	switch {
	case c.trialAt > 0 && c.trialAt-c.created < 2*86400:
		// They opted in when they signed up for the trial.
		return "trial_signup"
	case strings.Contains(ls, "webinar"):
		return "webinar_registration"
	case strings.Contains(ls, "event"):
		return "event_badge_scan"
	case strings.Contains(ls, "paid"), strings.Contains(ls, "ads"):
		return "content_download"
	case strings.Contains(ls, "organic"):
		return "newsletter_signup"
	case ls != "":
		return "website_form"
	}
	return consentSources[int(uint64(c.created)/7)%len(consentSources)]
}

func consentForm(source string) string {
	switch source {
	case "newsletter_signup":
		return "newsletter-form"
	case "content_download":
		return "gated-content-form"
	case "webinar_registration":
		return "webinar-form"
	case "trial_signup":
		return "trial-terms"
	case "event_badge_scan":
		return "event-badge-notice"
	}
	return "website-form"
}

func (g *gen) phone(c *country) string {
	if c.phone == "+1" {
		// 555-01xx numbers are reserved for fiction.
		return "+1 " + strconv.Itoa(201+g.r.IntN(780)) + " 555 01" + strconv.Itoa(10+g.r.IntN(90))
	}
	return c.phone + " " + strconv.Itoa(10+g.r.IntN(90)) + " " + strconv.Itoa(1000+g.r.IntN(9000)) + " " + strconv.Itoa(1000+g.r.IntN(9000))
}

// genericValue is a value for a column the generator knows only by type,
// using the values the programme's conditions mention for a share of
// contacts. c is nil for account-level columns.
func (g *gen) genericValue(col *column, a *account, c *contact) string {
	h := col.hints
	switch col.attr.Type {
	case campaigns.TypeEnum:
		if len(col.attr.Values) == 0 {
			return ""
		}
		return col.attr.Values[col.enumW.draw(g.r)]
	case campaigns.TypeInt:
		return strconv.FormatInt(int64(math.Round(g.number(col.num, h))), 10)
	case campaigns.TypeNumber:
		return formatNumber(g.number(col.num, h))
	case campaigns.TypeBool:
		if h != nil && len(h.bools) > 0 && g.r.chance(0.5) {
			return strconv.FormatBool(h.bools[g.r.IntN(len(h.bools))])
		}
		return strconv.FormatBool(g.r.chance(0.35))
	case campaigns.TypeTime:
		t := g.pastTime(h)
		if c != nil {
			t = g.localTime(c, t, g.start, g.now)
		}
		return formatTime(t)
	}
	if h != nil {
		if len(h.pats) > 0 && g.r.chance(0.25) {
			if s := h.pats[g.r.IntN(len(h.pats))].sample(g.r.Rand); s != "" {
				return s
			}
		}
		if len(h.strs) > 0 && g.r.chance(0.25) {
			return g.r.pick(h.strs)
		}
	}
	n := strings.ToLower(col.name)
	switch {
	case strings.HasSuffix(n, "_id"):
		p := strings.ToUpper(strings.TrimSuffix(n, "_id"))
		if len(p) > 3 {
			p = p[:3]
		}
		return p + "-" + strconv.Itoa(100000+g.r.IntN(900000))
	case strings.HasSuffix(n, "url"):
		return "https://" + a.domain + "/"
	case strings.Contains(n, "email") && c != nil:
		return strings.Split(c.email, "@")[0] + "@" + a.domain
	}
	return g.r.pick(genericWords)
}

// numRange is the span of plausible values of each scale.
func numRange(k numKind) (lo, hi float64) {
	switch k {
	case numPercent:
		return 0, 100
	case numMinutes:
		return 5, 75
	case numMoney:
		return 1000, 5e6
	case numCount:
		return 1, 20000
	case numYears:
		return 1, 30
	case numNPS:
		return 0, 10
	case numRating:
		return 1, 5
	}
	return 1, 10000
}

// number draws a value on the scale; for a quarter of values it lands
// near a bound the programme compares with, on either side of it.
func (g *gen) number(k numKind, h *fieldHints) float64 {
	lo, hi := numRange(k)
	if h != nil && len(h.nums) > 0 && g.r.chance(0.25) {
		b := h.nums[g.r.IntN(len(h.nums))]
		if g.r.chance(0.5) {
			top := min(hi, max(b*2, b+10))
			return b + g.r.Float64()*max(top-b, 0)
		}
		bottom := max(lo, b/2)
		return bottom + g.r.Float64()*max(b-bottom, 0)
	}
	var v float64
	switch k {
	case numPercent:
		v = 5 + 95*g.r.Float64()
	case numMinutes:
		v = lo + (hi-lo)*g.r.Float64()
	case numMoney:
		v = math.Round(g.r.logNormal(150000, 1.0)/1000) * 1000
	case numCount:
		v = g.r.logNormal(60, 1.2)
	case numYears, numRating:
		v = lo + (hi-lo)*g.r.Float64()
	case numNPS:
		// Promoters outnumber detractors.
		v = 10 - 10*math.Pow(g.r.Float64(), 1.8)
	default:
		v = g.r.logNormal(40, 1.2)
	}
	return min(max(v, lo), hi)
}

// pastTime draws a time in the history; for a quarter of values, within
// or beyond a span the programme checks ("within 14d").
func (g *gen) pastTime(h *fieldHints) int64 {
	if h != nil && len(h.spans) > 0 && g.r.chance(0.25) {
		span := int64(h.spans[g.r.IntN(len(h.spans))].Std().Seconds())
		if span < g.now-g.start {
			if g.r.chance(0.6) {
				return g.now - g.r.between(60, span)
			}
			return g.r.between(g.start, g.now-span)
		}
	}
	return g.r.between(g.start, g.now)
}
