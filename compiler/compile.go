package compiler

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// topLevel are the fields a programme may declare at its top level.
var topLevel = []string{"sender", "contact", "accounts", "events", "scoring", "segments", "sequences", "cadence", "exits", "handoffs", "layout", "goals", "holdout", "preferences", "tests"}

// Result is a compiled programme and what the compiler had to say. Program
// is nil when any diagnostic is an error.
type Result struct {
	Dir     string
	Program *campaigns.Program
	// Tests are the programme's scenario tests, by name; they are not
	// part of Program.
	Tests       []*campaigns.Scenario
	Diagnostics Diagnostics
	// src places fields for diagnostics found after compiling, such as a
	// plan's.
	src *source
}

// Compile loads the programme in dir — its .cue files in package nurture
// and the Markdown emails they reference, nothing outside dir — checks it
// and compiles it. It reports every problem it finds, sorted.
func Compile(dir string) *Result {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	res := &Result{Dir: abs}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		detail := "name a directory that holds the programme's .cue files"
		summary := "no such directory"
		if err == nil {
			summary = "not a directory"
		}
		res.Diagnostics = Diagnostics{{Pos: Pos{File: abs}, Code: "NRT005", Summary: summary, Detail: detail}}
		return res
	}
	src, ds := loadCUE(abs)
	res.Diagnostics = ds
	if src == nil {
		res.Diagnostics = res.Diagnostics.Sort()
		return res
	}
	res.src = src
	c := &checker{src: src, dir: abs, diags: ds, emails: map[string]*emailUse{}}
	c.check()
	if src.failed != nil {
		c.diags = append(ds[:len(ds):len(ds)], keepPartial(c.diags[len(ds):], src.failed)...)
	}
	res.Diagnostics = c.diags.Sort()
	if !res.Diagnostics.HasErrors() {
		res.Program, res.Tests = c.prog, c.tests
	}
	return res
}

// checker decodes the evaluated programme into the model and checks it.
type checker struct {
	src    *source
	dir    string
	raw    rawProgram
	prog   *campaigns.Program
	diags  Diagnostics
	emails map[string]*emailUse
	tests  []*campaigns.Scenario
	// triggerUses are the {{ trigger.PROP }} tags of each email file, by
	// its absolute name.
	triggerUses map[string][]triggerUse
	// stepRefs are the steps conditions on email events name, checked
	// once every sequence's steps are named.
	stepRefs []stepRef
}

func (c *checker) report(sev Severity, path []string, code, detail, format string, args ...any) {
	c.diags = append(c.diags, Diagnostic{
		Pos: c.src.pathPos(path), Severity: sev, Code: code,
		Summary: fmt.Sprintf(format, args...), Detail: detail,
	})
}

func (c *checker) errorf(path []string, code, detail, format string, args ...any) {
	c.report(Error, path, code, detail, format, args...)
}

func (c *checker) warnf(path []string, code, detail, format string, args ...any) {
	c.report(Warning, path, code, detail, format, args...)
}

func (c *checker) check() {
	if err := json.Unmarshal(c.src.json, &c.raw); err != nil {
		c.errorf(nil, "NRT002", "", "cannot decode the programme: %v", err)
		return
	}
	c.prog = &campaigns.Program{
		FormatVersion: campaigns.FormatVersion,
		Events:        map[string]*campaigns.EventType{},
		Scoring:       map[string]*campaigns.ScoringModel{},
		Segments:      map[string]*campaigns.Segment{},
		Sequences:     map[string]*campaigns.Sequence{},
		Handoffs:      map[string]*campaigns.Handoff{},
		Emails:        map[string]*campaigns.Email{},
		Exits:         []campaigns.ExitRule{},
	}
	c.sender()
	c.contact()
	c.events()
	c.accounts()
	c.scoring()
	c.segments()
	// Read once the contact, events and segments it may name are known.
	if r := c.raw.Sender; r != nil && len(r.LegitimateInterest) > 0 {
		li := c.predicate([]string{"sender", "legitimate_interest"}, r.LegitimateInterest, scopeContact)
		c.prog.Sender.LegitimateInterest = &li
	}
	c.prog.Layout = c.layout([]string{"layout"}, c.raw.Layout)
	c.cadence()
	c.preferences()
	c.handoffs()
	c.prog.Exits = c.exitRules([]string{"exits"}, c.raw.Exits)
	c.sequences()
	c.checkStepRefs()
	c.goals()
	c.holdouts()
	c.metrics()
	c.compileEmails()
	c.flow()
	c.triggers()
	c.overlaps()
	c.tests = c.scenarios()
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

func (c *checker) sender() {
	r := c.raw.Sender
	if r == nil {
		c.errorf(nil, "NRT004", "declare sender: {from: {name, email}, address, lawful_basis}", "the programme has no sender")
		return
	}
	s := &c.prog.Sender
	s.FromName, s.FromEmail, s.ReplyTo = r.From.Name, r.From.Email, r.ReplyTo
	s.Address, s.LawfulBasis, s.Company = r.Address, r.LawfulBasis, r.Company
	if r.Tracking != nil {
		s.TrackingURL = r.Tracking.BaseURL
	}
	if r.Unsubscribe != nil {
		s.UnsubscribeMail = r.Unsubscribe.Mailto
	}
	c.topics(r.Topics)

	s.UTM = campaigns.UTM{Source: or(r.UTM.Source, "nurture"), Medium: or(r.UTM.Medium, "email"), Campaign: r.UTM.Campaign, Content: r.UTM.Content}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// builtinAttrs are the attributes every contact has.
func builtinAttrs(stages, tiers []string) map[string]*campaigns.Attribute {
	str := func() *campaigns.Attribute { return &campaigns.Attribute{Type: campaigns.TypeString, Builtin: true} }
	m := map[string]*campaigns.Attribute{
		campaigns.AttrEmail:    {Type: campaigns.TypeString, Required: true, Builtin: true},
		campaigns.AttrTimezone: str(),
		campaigns.AttrAccount:  str(),
	}
	if len(stages) > 0 {
		m[campaigns.AttrStage] = &campaigns.Attribute{Type: campaigns.TypeEnum, Values: stages, Builtin: true}
	}
	if len(tiers) > 0 {
		m[campaigns.AttrAccountTier] = &campaigns.Attribute{Type: campaigns.TypeEnum, Values: tiers, Builtin: true}
	}
	return m
}

func (c *checker) contact() {
	r := c.raw.Contact
	c.prog.Contact.Stages = c.uniqueNames([]string{"contact", "stages"}, r.Stages, "stage")
	c.prog.Accounts.Tiers = c.uniqueNames([]string{"accounts", "tiers"}, c.raw.Accounts.Tiers, "tier")
	if c.prog.Contact.Stages == nil {
		c.prog.Contact.Stages = []string{}
	}
	if c.prog.Accounts.Tiers == nil {
		c.prog.Accounts.Tiers = []string{}
	}
	attrs := builtinAttrs(c.prog.Contact.Stages, c.prog.Accounts.Tiers)
	for _, name := range sortedKeys(r.Attributes) {
		path := []string{"contact", "attributes", name}
		if _, ok := attrs[name]; ok || name == campaigns.AttrStage || name == campaigns.AttrAccountTier {
			c.errorf(path, "NRT110", "built-in attributes: email, stage (from contact.stages), timezone, account, account_tier (from accounts.tiers); rename yours",
				"attribute %s is built in and cannot be declared again", name)
			continue
		}
		attrs[name] = c.attribute(path, r.Attributes[name])
	}
	c.prog.Contact.Attributes = attrs
}

func (c *checker) attribute(path []string, r rawAttr) *campaigns.Attribute {
	a := &campaigns.Attribute{Type: r.Type, Required: r.Required, Description: r.Description}
	if r.Type == campaigns.TypeEnum {
		a.Values = c.uniqueValues(sub(path, "values"), r.Values)
	}
	return a
}

// uniqueNames reports duplicates in a declared list of names.
func (c *checker) uniqueNames(path []string, names []string, what string) []string {
	seen := map[string]bool{}
	for i, n := range names {
		if seen[n] {
			c.errorf(sub(path, itoa(i)), "NRT110", "remove the second one", "duplicate %s %q", what, n)
		}
		seen[n] = true
	}
	return names
}

func (c *checker) uniqueValues(path []string, vals []string) []string {
	return c.uniqueNames(path, vals, "value")
}

func (c *checker) events() {
	for name, ev := range campaigns.BuiltinEvents() {
		c.prog.Events[name] = ev
	}
	for _, name := range sortedKeys(c.raw.Events) {
		r := c.raw.Events[name]
		ev := &campaigns.EventType{Description: r.Description, Properties: map[string]*campaigns.Attribute{}}
		for _, p := range sortedKeys(r.Properties) {
			ev.Properties[p] = c.attribute([]string{"events", name, "properties", p}, r.Properties[p])
		}
		c.prog.Events[name] = ev
	}
}

func (c *checker) scoring() {
	for _, name := range sortedKeys(c.raw.Scoring) {
		r := c.raw.Scoring[name]
		path := []string{"scoring", name}
		m := &campaigns.ScoringModel{Description: r.Description, Fit: map[string]*campaigns.FitRule{},
			Behavior: map[string]*campaigns.BehaviorRule{}, Max: r.Max, Thresholds: map[string]float64{}}
		reach, bounded := 0, true
		for _, rn := range sortedKeys(r.Fit) {
			f := r.Fit[rn]
			m.Fit[rn] = &campaigns.FitRule{When: c.predicate(sub(path, "fit", rn, "when"), f.When, scopeFit), Points: f.Points}
			reach += max(f.Points, 0)
		}
		for _, rn := range sortedKeys(r.Behavior) {
			b := r.Behavior[rn]
			bp := sub(path, "behavior", rn)
			rule := &campaigns.BehaviorRule{Event: b.Event, Points: b.Points, Max: b.Max}
			ec := c.eventCondition(bp, mustJSON(map[string]any{"name": b.Event, "where": b.Where}))
			rule.Where = ec.Where
			if b.Within != "" {
				rule.Within = c.durationString(sub(bp, "within"), b.Within)
			}
			if b.Max > 0 && b.Points > b.Max {
				c.warnf(sub(bp, "max"), "NRT203", "raise max or lower points", "behaviour rule %s gives %d points per event but at most %d in all", rn, b.Points, b.Max)
			}
			if b.Max > 0 {
				reach += b.Max
			} else if b.Points > 0 {
				bounded = false
			}
			m.Behavior[rn] = rule
		}
		if r.Decay != nil {
			m.HalfLife = c.durationString(sub(path, "decay", "half_life"), r.Decay.HalfLife)
		}
		top := m.Max
		if top == 0 && bounded {
			top = reach
		}
		for _, t := range sortedKeys(r.Thresholds) {
			v := r.Thresholds[t]
			m.Thresholds[t] = v
			switch {
			case v <= 0:
				c.errorf(sub(path, "thresholds", t), "NRT203", "thresholds are positive scores", "threshold %s is %v, at or below zero", t, v)
			case top > 0 && v > float64(top):
				c.errorf(sub(path, "thresholds", t), "NRT203", fmt.Sprintf("the model's scores lie between 0 and %d; lower the threshold or raise the model's max", top),
					"threshold %s (%v) is above the highest score the model can give", t, v)
			}
		}
		if m.Max > 0 && bounded && reach < m.Max {
			// Allowed: a max above what the rules reach is harmless.
		}
		c.prog.Scoring[name] = m
	}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (c *checker) segments() {
	for _, name := range sortedKeys(c.raw.Segments) {
		seg := &campaigns.Segment{}
		var d struct {
			Description string `json:"description"`
		}
		_ = json.Unmarshal(c.raw.Segments[name], &d)
		seg.Description = d.Description
		seg.When = c.predicate([]string{"segments", name}, c.raw.Segments[name], scopeContact)
		c.prog.Segments[name] = seg
	}
	c.segmentCycles()
	for _, name := range sortedKeys(c.prog.Segments) {
		if why := c.never(&c.prog.Segments[name].When, map[string]bool{name: true}); why != "" {
			c.errorf([]string{"segments", name}, "NRT202", "no contact can ever match it: "+why, "segment %s can never match", name)
		}
	}
}

// segmentCycles reports segments that refer to themselves, directly or not.
func (c *checker) segmentCycles() {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		seg := c.prog.Segments[name]
		if seg == nil || state[name] == done {
			return
		}
		if state[name] == active {
			i := slices.Index(stack, name)
			cycle := append(slices.Clone(stack[i:]), name)
			c.errorf([]string{"segments", name}, "NRT307", "break the cycle: a segment cannot contain itself",
				"segments refer to each other in a cycle: %s", joinArrow(cycle))
			return
		}
		state[name] = active
		stack = append(stack, name)
		seg.When.Walk(func(p *campaigns.Predicate) {
			if p.Op == campaigns.OpSegment {
				visit(p.Segment)
			}
		})
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	for _, name := range sortedKeys(c.prog.Segments) {
		visit(name)
	}
}

func joinArrow(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += " → "
		}
		out += n
	}
	return out
}

var weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

func (c *checker) cadence() {
	r := c.raw.Cadence
	cd := &c.prog.Cadence
	cd.Limits = c.limits([]string{"cadence", "limits"}, r.Limits)
	cd.PerAccount = c.limits([]string{"cadence", "per_account"}, r.PerAccount)
	if r.QuietHours != nil {
		qh := &campaigns.QuietHours{
			From: c.timeOfDay([]string{"cadence", "quiet_hours", "from"}, r.QuietHours.From),
			To:   c.timeOfDay([]string{"cadence", "quiet_hours", "to"}, r.QuietHours.To),
		}
		if qh.From == qh.To {
			c.errorf([]string{"cadence", "quiet_hours"}, "NRT202", "quiet hours need a span: make from and to differ, or remove quiet_hours",
				"quiet hours from %s to %s are empty", qh.From, qh.To)
		}
		cd.QuietHours = qh
	}
	cd.BusinessDays = c.uniqueNames([]string{"cadence", "business_days"}, r.BusinessDays, "day")
	slices.SortFunc(cd.BusinessDays, func(a, b string) int { return slices.Index(weekdays, a) - slices.Index(weekdays, b) })
	cd.BusinessDays = slices.Compact(cd.BusinessDays)
	cd.DefaultTimezone = or(r.DefaultTimezone, "UTC")
	if _, err := time.LoadLocation(cd.DefaultTimezone); err != nil {
		c.errorf([]string{"cadence", "default_timezone"}, "NRT206", "use an IANA time zone name, like \"Europe/Berlin\" or \"America/New_York\"",
			"unknown time zone %q", cd.DefaultTimezone)
	}
	cd.Blackout = c.blackout()
}

func (c *checker) limits(path []string, r []rawLimit) []campaigns.Limit {
	var out []campaigns.Limit
	for i, l := range r {
		out = append(out, campaigns.Limit{Max: l.Max, Per: c.durationString(sub(path, itoa(i), "per"), l.Per)})
	}
	return out
}

func (c *checker) handoffs() {
	for _, name := range sortedKeys(c.raw.Handoffs) {
		r := c.raw.Handoffs[name]
		path := []string{"handoffs", name}
		h := &campaigns.Handoff{Description: r.Description, Stage: r.Stage}
		if r.Webhook != nil {
			h.WebhookURL, h.SecretEnv = r.Webhook.URL, r.Webhook.SecretEnv
		}
		accts := c.prog.Accounts
		switch {
		case r.Per == campaigns.PerAccount:
			h.Per = campaigns.PerAccount
			if len(accts.Attributes) == 0 && accts.Score == nil {
				c.errorf(sub(path, "per"), "NRT215", "declare accounts.attributes (the owner, the tier…) or accounts.score, so that sales gets an account to take over, or hand over each contact: drop per",
					"hand-off %s is per account, but the programme declares no accounts", name)
			}
		case r.Cooldown != "":
			c.errorf(sub(path, "cooldown"), "NRT215", "a cooldown keeps an account hand-off open to the account's later contacts: add per: \"account\", or drop cooldown",
				"hand-off %s has a cooldown but hands over each contact", name)
		}
		if r.Cooldown != "" && h.Per == campaigns.PerAccount {
			if h.Cooldown = c.durationString(sub(path, "cooldown"), r.Cooldown); h.Cooldown <= 0 {
				c.errorf(sub(path, "cooldown"), "NRT215", "give a span such as \"30d\", or drop cooldown to keep the hand-off open until sales returns the account",
					"hand-off %s has no cooldown span", name)
			}
		}
		if r.Notify != nil {
			h.NotifyEmail, h.NotifyAttribute = r.Notify.Email, r.Notify.Attribute
			if r.Notify.Email == "" && r.Notify.Attribute == "" {
				c.errorf(sub(path, "notify"), "NRT004", "set notify.email or notify.attribute", "notify names no one")
			}
			if a := r.Notify.Attribute; a != "" && h.ForAccount() {
				// An account goes to the account's owner, an attribute of
				// the account.
				if attr := accts.Attributes[a]; attr == nil {
					hint := c.suggest(a, keysOf(accts.Attributes), "declare it under accounts.attributes")
					if c.prog.Contact.Attributes[a] != nil {
						hint = "an account hand-off tells the account's owner: declare " + a + " under accounts.attributes and import it with the accounts"
					}
					c.errorf(sub(path, "notify", "attribute"), "NRT214", hint, "hand-off %s is per account, and accounts have no attribute %q", name, a)
				} else if attr.Type != campaigns.TypeString {
					c.errorf(sub(path, "notify", "attribute"), "NRT214", "name a string account attribute holding the owner's email address", "account attribute %s is %s, not a string", a, article(attr.Type))
				}
			} else if a != "" {
				if attr := c.prog.Contact.Attributes[a]; attr == nil {
					c.errorf(sub(path, "notify", "attribute"), "NRT105", c.suggest(a, keysOf(c.prog.Contact.Attributes), "declare it under contact.attributes"), "unknown attribute %q", a)
				} else if attr.Type != campaigns.TypeString {
					c.errorf(sub(path, "notify", "attribute"), "NRT201", "name a string attribute holding the owner's email address", "%s is %s, not a string", a, article(attr.Type))
				}
			}
		}
		if r.Stage != "" {
			c.stageValue(sub(path, "stage"), r.Stage)
		}
		if r.Return != nil {
			h.ReturnStage, h.ReturnEnroll = r.Return.Stage, r.Return.Enroll
			if r.Return.Stage != "" {
				c.stageValue(sub(path, "return", "stage"), r.Return.Stage)
			}
			if r.Return.Enroll != "" {
				c.sequenceRef(sub(path, "return", "enroll"), r.Return.Enroll)
			}
		}
		if h.WebhookURL == "" && h.NotifyEmail == "" && h.NotifyAttribute == "" && h.Stage == "" {
			c.errorf(path, "NRT004", "give it a webhook, a notify or a stage", "hand-off %s does nothing", name)
		}
		c.prog.Handoffs[name] = h
	}
}

func (c *checker) stageValue(path []string, stage string) {
	attr := c.prog.Contact.Attributes[campaigns.AttrStage]
	if attr == nil {
		c.errorf(path, "NRT105", "declare the lifecycle under contact.stages", "stage %q is used but the programme declares no stages", stage)
		return
	}
	c.checkValue(path, campaigns.AttrStage, attr, "eq", stage)
}

func (c *checker) sequenceRef(path []string, name string) {
	if _, ok := c.raw.Sequences[name]; !ok {
		c.errorf(path, "NRT102", c.suggest(name, keysOf(c.raw.Sequences), "declare it under sequences"), "unknown sequence %q", name)
	}
}

func (c *checker) handoffRef(path []string, name string) {
	if _, ok := c.raw.Handoffs[name]; !ok {
		c.errorf(path, "NRT109", c.suggest(name, keysOf(c.raw.Handoffs), "declare it under handoffs"), "unknown hand-off %q", name)
	}
}

func (c *checker) exitRules(path []string, rs []rawExit) []campaigns.ExitRule {
	out := []campaigns.ExitRule{}
	for i, r := range rs {
		p := sub(path, itoa(i))
		e := campaigns.ExitRule{Reason: r.Reason, Handoff: r.Handoff}
		n := 0
		if len(r.When) > 0 {
			w := c.predicate(sub(p, "when"), r.When, scopeContact)
			e.When = &w
			n++
		}
		if r.After != "" {
			e.After = c.durationString(sub(p, "after"), r.After)
			n++
		}
		if r.Inactive != "" {
			e.Inactive = c.durationString(sub(p, "inactive"), r.Inactive)
			n++
		}
		if n != 1 {
			c.errorf(p, "NRT209", "give each exit rule exactly one of when, after or inactive; split it into several rules",
				"exit rule %s has %d conditions", r.Reason, n)
		}
		if r.Handoff != "" {
			c.handoffRef(sub(p, "handoff"), r.Handoff)
			if h, ok := c.raw.Handoffs[r.Handoff]; ok && h.Per != campaigns.PerAccount && e.When != nil && readsAccount(e.When) {
				c.warnf(sub(p, "handoff"), "NRT319", "declare the hand-off per: \"account\" to hand the account over once, the account's later contacts joining it",
					"exit rule %s fires for every contact of an account alike, and hand-off %s hands each of them over on its own", r.Reason, r.Handoff)
			}
		}
		if r.Then != nil {
			e.Enroll, e.Suppress = r.Then.Enroll, r.Then.Suppress
			if e.Enroll != "" {
				c.sequenceRef(sub(p, "then", "enroll"), e.Enroll)
			}
			if e.Enroll != "" && e.Suppress {
				c.errorf(sub(p, "then"), "NRT209", "choose one", "exit rule %s both enrolls and suppresses", r.Reason)
			}
		}
		for j, name := range r.Except {
			if path[0] != "exits" {
				c.errorf(sub(p, "except"), "NRT209", "a sequence's own rule applies to it alone: move the rule to the programme's exits, or drop except",
					"exit rule %s of a sequence spares sequences", r.Reason)
				break
			}
			c.sequenceRef(sub(p, "except", itoa(j)), name)
			e.Except = append(e.Except, name)
		}
		out = append(out, e)
	}
	return out
}

// readsAccount reports whether a condition holds for an account's
// contacts alike: it reads the account score or the account's contacts.
func readsAccount(p *campaigns.Predicate) bool {
	found := false
	p.Walk(func(q *campaigns.Predicate) {
		if q.Op == campaigns.OpAccountScore || q.Op == campaigns.OpAccount {
			found = true
		}
	})
	return found
}
