package sample

import (
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// The test programmes are built as plain campaigns values: the runtime
// never imports the compiler, and neither do its tests.

var testNow = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func attr(typ string, values ...string) *campaigns.Attribute {
	return &campaigns.Attribute{Type: typ, Values: values}
}

func required(a *campaigns.Attribute) *campaigns.Attribute { a.Required = true; return a }

func described(a *campaigns.Attribute, d string) *campaigns.Attribute { a.Description = d; return a }

func cond(field, cmp string, v any) campaigns.Condition {
	return campaigns.Condition{Field: field, Cmp: cmp, Value: v}
}

func attrPred(field, cmp string, v any) campaigns.Predicate {
	c := cond(field, cmp, v)
	return campaigns.Predicate{Op: campaigns.OpAttr, Cond: &c}
}

func inPred(field string, vs ...any) campaigns.Predicate {
	return campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: field, Cmp: campaigns.CmpIn, Values: vs}}
}

func all(ps ...campaigns.Predicate) campaigns.Predicate {
	return campaigns.Predicate{Op: campaigns.OpAll, Args: ps}
}

func eventPred(ec campaigns.EventCondition) campaigns.Predicate {
	return campaigns.Predicate{Op: campaigns.OpEvent, Event: &ec}
}

func link(u string) campaigns.Link { return campaigns.Link{URL: campaigns.Template{{Text: u}}} }

func send(name, email string) campaigns.Step {
	return campaigns.Step{Name: name, Kind: campaigns.StepSend, Send: []campaigns.Variant{{Name: "a", Email: email, Weight: 100}}}
}

// withBuiltins adds the built-in attributes and events every compiled
// programme has.
func withBuiltins(p *campaigns.Program) *campaigns.Program {
	a := p.Contact.Attributes
	a[campaigns.AttrEmail] = &campaigns.Attribute{Type: campaigns.TypeString, Required: true, Builtin: true}
	a[campaigns.AttrTimezone] = &campaigns.Attribute{Type: campaigns.TypeString, Builtin: true}
	a[campaigns.AttrAccount] = &campaigns.Attribute{Type: campaigns.TypeString, Builtin: true}
	if len(p.Contact.Stages) > 0 {
		a[campaigns.AttrStage] = &campaigns.Attribute{Type: campaigns.TypeEnum, Values: p.Contact.Stages, Builtin: true}
	}
	if len(p.Accounts.Tiers) > 0 {
		a[campaigns.AttrAccountTier] = &campaigns.Attribute{Type: campaigns.TypeEnum, Values: p.Accounts.Tiers, Builtin: true}
	}
	for n, e := range campaigns.BuiltinEvents() {
		p.Events[n] = e
	}
	return p
}

// saasProgram is a product-led programme: consent, stages, plans and
// trials, an attribute of every type, and conditions that name values.
func saasProgram() *campaigns.Program {
	one := 1
	return withBuiltins(&campaigns.Program{
		FormatVersion: campaigns.FormatVersion,
		Sender: campaigns.Sender{FromName: "Maya at Northwind", FromEmail: "maya@northwind.example",
			ReplyTo: "hello@northwind.example", LawfulBasis: "consent"},
		Contact: campaigns.ContactSchema{
			Stages: []string{"subscriber", "lead", "mql", "sql", "customer"},
			Attributes: map[string]*campaigns.Attribute{
				"first_name":          attr(campaigns.TypeString),
				"last_name":           attr(campaigns.TypeString),
				"company":             attr(campaigns.TypeString),
				"job_title":           attr(campaigns.TypeString),
				"persona":             required(attr(campaigns.TypeEnum, "data_leader", "analyst", "engineer", "executive", "other")),
				"industry":            attr(campaigns.TypeEnum, "saas", "fintech", "healthcare", "other"),
				"employees":           attr(campaigns.TypeInt),
				"country":             attr(campaigns.TypeString),
				"plan":                required(attr(campaigns.TypeEnum, "none", "trial", "pro", "enterprise")),
				"signup_at":           attr(campaigns.TypeTime),
				"trial_ends_at":       attr(campaigns.TypeTime),
				"arr_usd":             attr(campaigns.TypeNumber),
				"is_partner":          attr(campaigns.TypeBool),
				"crm_id":              required(attr(campaigns.TypeString)),
				"owner_email":         attr(campaigns.TypeString),
				"last_sales_touch_at": attr(campaigns.TypeTime),
				"reviewed_at":         attr(campaigns.TypeTime),
				"seats":               described(attr(campaigns.TypeInt), "Licensed seats of the company"),
			},
		},
		Events: map[string]*campaigns.EventType{
			"page_view": {Properties: map[string]*campaigns.Attribute{
				"path": required(attr(campaigns.TypeString)), "title": attr(campaigns.TypeString)}},
			"content_downloaded": {Properties: map[string]*campaigns.Attribute{
				"asset": required(attr(campaigns.TypeString)), "format": attr(campaigns.TypeEnum, "guide", "benchmark", "template")}},
			"webinar_registered": {Properties: map[string]*campaigns.Attribute{"webinar": required(attr(campaigns.TypeString))}},
			"webinar_attended": {Properties: map[string]*campaigns.Attribute{
				"webinar": required(attr(campaigns.TypeString)), "minutes": attr(campaigns.TypeInt)}},
			"demo_requested":    {Properties: map[string]*campaigns.Attribute{"source": attr(campaigns.TypeString)}},
			"trial_started":     {Properties: map[string]*campaigns.Attribute{"plan": attr(campaigns.TypeEnum, "pro", "enterprise")}},
			"dashboard_created": {Properties: map[string]*campaigns.Attribute{}},
			"survey_answered": {Properties: map[string]*campaigns.Attribute{
				"nps": attr(campaigns.TypeInt), "happy": attr(campaigns.TypeBool), "rating": attr(campaigns.TypeNumber), "answered_at": attr(campaigns.TypeTime)}},
		},
		Segments: map[string]*campaigns.Segment{
			"hot_pricing": {When: all(attrPred("stage", campaigns.CmpLte, "mql"),
				eventPred(campaigns.EventCondition{Name: "page_view", Where: []campaigns.Condition{cond("path", campaigns.CmpEq, "/pricing")},
					Within: campaigns.MustDuration("7d"), MinCount: 2}))},
			"germans":    {When: inPred("country", "DE", "AT")},
			"big":        {When: attrPred("employees", campaigns.CmpGte, 1000.0)},
			"partners":   {When: attrPred("is_partner", campaigns.CmpEq, true)},
			"rich":       {When: attrPred("arr_usd", campaigns.CmpGt, 250000.0)},
			"recent_own": {When: campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: "reviewed_at", Cmp: campaigns.CmpWithin, Span: campaigns.MustDuration("10d")}}},
			"guides":     {When: eventPred(campaigns.EventCondition{Name: "content_downloaded", Where: []campaigns.Condition{cond("format", campaigns.CmpEq, "benchmark")}, MinCount: 2})},
			"unhappy":    {When: eventPred(campaigns.EventCondition{Name: "survey_answered", Where: []campaigns.Condition{cond("nps", campaigns.CmpLt, 5.0)}, Within: campaigns.MustDuration("30d"), MinCount: 1, MaxCount: &one})},
			"dormant":    {When: campaigns.Predicate{Op: campaigns.OpInactive, Inactive: campaigns.MustDuration("60d")}},
		},
		Scoring: map[string]*campaigns.ScoringModel{"lead": {
			Fit: map[string]*campaigns.FitRule{"leaders": {When: inPred("persona", "data_leader", "executive"), Points: 10}},
			Behavior: map[string]*campaigns.BehaviorRule{
				"tour": {Event: "page_view", Where: []campaigns.Condition{cond("path", campaigns.CmpMatches, "^/product/")}, Points: 2, Within: campaigns.MustDuration("30d")},
			},
			Thresholds: map[string]float64{"mql": 50},
		}},
		Sequences: map[string]*campaigns.Sequence{
			"onboarding": {Entry: campaigns.Entry{Event: &campaigns.EventCondition{Name: "trial_started", MinCount: 1}},
				TransactionalReason: "setup", Steps: []campaigns.Step{send("welcome", "emails/welcome.md")}},
			"nurture": {Entry: campaigns.Entry{Segment: "hot_pricing"}, Steps: []campaigns.Step{
				send("one", "emails/one.md"),
				{Name: "two", Kind: campaigns.StepSend, Send: []campaigns.Variant{{Name: "long", Email: "emails/two-long.md", Weight: 50}, {Name: "short", Email: "emails/two-short.md", Weight: 50}}},
			}},
		},
		Exits: []campaigns.ExitRule{{Reason: "competitor", Suppress: true, When: &campaigns.Predicate{Op: campaigns.OpAttr,
			Cond: &campaigns.Condition{Field: "email", Cmp: campaigns.CmpMatches, Value: `@(rivalco|contoso)\.example$`}}}},
		Emails: map[string]*campaigns.Email{
			"emails/welcome.md":   {Kind: campaigns.KindTransactional, Links: []campaigns.Link{link("https://app.northwind.example/start")}},
			"emails/one.md":       {Kind: campaigns.KindMarketing, Links: []campaigns.Link{link("https://northwind.example/pricing"), link("https://northwind.example/customers/ledgerly")}},
			"emails/two-long.md":  {Kind: campaigns.KindMarketing, Links: []campaigns.Link{link("https://northwind.example/webinars/metrics-layer")}},
			"emails/two-short.md": {Kind: campaigns.KindMarketing},
		},
		Accounts: campaigns.Accounts{},
		Handoffs: map[string]*campaigns.Handoff{},
	})
}

// abmProgram is account-based: tiers, a buying committee, account-wide
// intent events, legitimate interest and no consent columns.
func abmProgram() *campaigns.Program {
	return withBuiltins(&campaigns.Program{
		FormatVersion: campaigns.FormatVersion,
		Sender:        campaigns.Sender{FromEmail: "insights@mail.keelson.example", LawfulBasis: "legitimate_interest"},
		Contact: campaigns.ContactSchema{
			Stages: []string{"prospect", "engaged", "mql", "sql", "opportunity", "customer"},
			Attributes: map[string]*campaigns.Attribute{
				"first_name":     attr(campaigns.TypeString),
				"last_name":      attr(campaigns.TypeString),
				"company":        required(attr(campaigns.TypeString)),
				"job_title":      attr(campaigns.TypeString),
				"committee_role": described(required(attr(campaigns.TypeEnum, "champion", "economic_buyer", "technical_evaluator", "end_user", "procurement")), "The contact's part in the account's buying committee"),
				"industry":       required(attr(campaigns.TypeEnum, "discrete_manufacturing", "logistics", "cold_chain", "other")),
				"region":         required(attr(campaigns.TypeEnum, "north_america", "emea", "apac")),
				"employees":      attr(campaigns.TypeInt),
				"owner_email":    attr(campaigns.TypeString),
				"owner_name":     attr(campaigns.TypeString),
			},
		},
		Accounts: campaigns.Accounts{Tiers: []string{"one_to_one", "one_to_few", "one_to_many"}},
		Events: map[string]*campaigns.EventType{
			"page_view": {Properties: map[string]*campaigns.Attribute{"path": required(attr(campaigns.TypeString))}},
			"intent_surge": {Description: "The sync writes it to every contact of the account.", Properties: map[string]*campaigns.Attribute{
				"topic":    required(attr(campaigns.TypeEnum, "predictive_maintenance", "cold_chain_monitoring")),
				"strength": required(attr(campaigns.TypeInt)),
			}},
		},
		Segments: map[string]*campaigns.Segment{
			"named": {When: all(attrPred("account_tier", campaigns.CmpEq, "one_to_one"),
				attrPred("job_title", campaigns.CmpMatches, "(?i)(chief|vp|director|head of)"))},
			"surging": {When: eventPred(campaigns.EventCondition{Name: "intent_surge", Where: []campaigns.Condition{cond("strength", campaigns.CmpGte, 70.0)}, Within: campaigns.MustDuration("21d"), MinCount: 1})},
		},
		Sequences: map[string]*campaigns.Sequence{
			"exec": {Entry: campaigns.Entry{Segment: "named"}, Steps: []campaigns.Step{send("briefing", "emails/briefing.md")}},
		},
		Emails: map[string]*campaigns.Email{
			"emails/briefing.md": {Kind: campaigns.KindMarketing, Links: []campaigns.Link{{URL: campaigns.Template{
				{Text: "https://keelson.example/briefings/"}, {Field: "account", Escape: campaigns.EscapeURL}}}}},
		},
		Scoring:  map[string]*campaigns.ScoringModel{},
		Handoffs: map[string]*campaigns.Handoff{},
	})
}
