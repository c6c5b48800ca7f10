package compiler

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// The raw shapes of scenario tests.

type rawScenario struct {
	Description string                       `json:"description"`
	Contact     map[string]any               `json:"contact"`
	Account     map[string]any               `json:"account"`
	Start       string                       `json:"start"`
	Run         string                       `json:"run"`
	Timeline    []rawHappening               `json:"timeline"`
	Expect      []rawExpectation             `json:"expect"`
	Ordered     bool                         `json:"ordered"`
	Strict      bool                         `json:"strict"`
	Variants    map[string]map[string]string `json:"variants"`
	Holdout     map[string]string            `json:"holdout"`
	Consent     *bool                        `json:"consent"`
}

type rawHappening struct {
	At          string         `json:"at"`
	Event       string         `json:"event"`
	Props       map[string]any `json:"props"`
	Click       string         `json:"click"`
	Open        string         `json:"open"`
	Machine     bool           `json:"machine"`
	Reply       string         `json:"reply"`
	Unsubscribe bool           `json:"unsubscribe"`
	Bounce      bool           `json:"bounce"`
	Complain    bool           `json:"complain"`
	Set         map[string]any `json:"set"`
	Preferences *struct {
		Frequency string   `json:"frequency"`
		TopicsOut []string `json:"topics_out"`
		Pause     string   `json:"pause"`
		Resume    bool     `json:"resume"`
	} `json:"preferences"`
}

type rawExpectation struct {
	Email      string          `json:"email"`
	Never      string          `json:"never"`
	Deferred   string          `json:"deferred"`
	Enter      string          `json:"enter"`
	Exit       string          `json:"exit"`
	Handoff    string          `json:"handoff"`
	Stage      string          `json:"stage"`
	Segment    string          `json:"segment"`
	NotSegment string          `json:"not_segment"`
	Score      json.RawMessage `json:"score"`
	Sequence   string          `json:"sequence"`
	Variant    string          `json:"variant"`
	Subject    string          `json:"subject"`
	Sender     string          `json:"sender"`
	On         string          `json:"on"`
	At         string          `json:"at"`
	Between    []string        `json:"between"`
	By         string          `json:"by"`
}

// DefaultStart is when a scenario that names no start begins: a Monday
// morning in the contact's time zone.
const DefaultStart = "2026-01-05 09:00"

// DefaultRun is how long a scenario runs when it does not say.
const DefaultRun = 90 * 24 * time.Hour

// builtinExits are the reasons the engine itself ends enrollments for:
// suppression, a topic opted out of, the last step done, a lead sales
// returned, a sequence of higher priority taking the contact, no lawful
// basis to mail it, and steps or sequences an apply removed.
var builtinExits = []string{"completed", "suppressed", "opted_out", "returned", "interrupted", "no_consent", campaigns.ExitStepRemoved, campaigns.ExitSequenceRemoved}

// scenarios compiles the programme's scenario tests. They need the
// compiled programme to check their references against.
func (c *checker) scenarios() []*campaigns.Scenario {
	var out []*campaigns.Scenario
	for _, name := range sortedKeys(c.raw.Tests) {
		if s := c.scenario(name, c.raw.Tests[name]); s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (c *checker) source(path []string) campaigns.Source {
	p := c.src.pathPos(path)
	return campaigns.Source{File: p.File, Line: p.Line, Col: p.Col}
}

// scenario compiles one scenario test; nil when it has errors.
func (c *checker) scenario(name string, r rawScenario) *campaigns.Scenario {
	p := []string{"tests", name}
	errs := len(c.diags)
	s := &campaigns.Scenario{Name: name, Description: r.Description, Pos: c.source(p),
		Ordered: r.Ordered, Strict: r.Strict, Contact: map[string]any{}, NoConsent: r.Consent != nil && !*r.Consent}

	// The contact, typed by the contact schema.
	cp := sub(p, "contact")
	for _, field := range sortedKeys(r.Contact) {
		v := r.Contact[field]
		if field == campaigns.AttrEmail {
			s.Contact[field] = v
			continue
		}
		if c.contactValue(sub(cp, field), field, v) {
			s.Contact[field] = v
		}
	}
	if _, ok := s.Contact[campaigns.AttrEmail]; !ok {
		s.Contact[campaigns.AttrEmail] = strings.ReplaceAll(name, "_", ".") + "@scenario.example"
	}
	for _, field := range sortedKeys(c.prog.Contact.Attributes) {
		if a := c.prog.Contact.Attributes[field]; a.Required && !a.Builtin {
			if _, ok := r.Contact[field]; !ok {
				c.errorf(cp, "NRT501", fmt.Sprintf("add %s to the scenario's contact", field),
					"the scenario's contact has no %s, which contact.attributes requires", field)
			}
		}
	}

	// The contact's account, typed by accounts.attributes.
	ap := sub(p, "account")
	for _, field := range sortedKeys(r.Account) {
		a := c.prog.Accounts.Attributes[field]
		if a == nil {
			c.errorf(sub(ap, field), "NRT113", c.suggest(field, keysOf(c.prog.Accounts.Attributes), "declare it under accounts.attributes"),
				"accounts have no attribute %q", field)
			continue
		}
		n := len(c.diags)
		if c.checkValue(sub(ap, field), field, a, "eq", r.Account[field]); len(c.diags) == n {
			if s.Account == nil {
				s.Account = map[string]any{}
			}
			s.Account[field] = r.Account[field]
		}
	}
	if key, _ := s.Contact[campaigns.AttrAccount].(string); len(r.Account) > 0 && key == "" {
		c.errorf(ap, "NRT501", "give the scenario's contact an account, the key its account is stored under",
			"the scenario gives account attributes to a contact without an account")
	}

	// The time zone the days are counted in.
	zone := c.prog.Cadence.DefaultTimezone
	if tz, ok := s.Contact[campaigns.AttrTimezone].(string); ok && tz != "" {
		zone = tz
	}
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			c.errorf(sub(cp, campaigns.AttrTimezone), "NRT206", "use an IANA time zone name such as \"Europe/Berlin\"",
				"unknown time zone %q", zone)
		} else {
			loc = l
		}
	}
	s.Zone = loc.String()
	start, err := parseStart(cmp.Or(r.Start, DefaultStart), loc)
	if err != nil {
		c.errorf(sub(p, "start"), "NRT502", "write the start as \"2026-01-05 09:00\" or \"2026-01-05\"", "%v", err)
	}
	s.Start = start
	s.Run = campaigns.Duration(DefaultRun)
	if r.Run != "" {
		s.Run = c.durationString(sub(p, "run"), r.Run)
	}
	end := start.Add(s.Run.Std())

	// moment reads an offset, checked to lie in the run.
	moment := func(path []string, raw string) (offset, bool) {
		o, err := parseOffset(raw, start, loc)
		if errors.Is(err, errBeforeStart) {
			c.errorf(path, "NRT503", "move it to the start or later, or start the scenario earlier", "%v", err)
			return o, false
		}
		if err != nil {
			c.errorf(path, "NRT502", "write \"day 3\", \"day 3 10:00\" or a span after the start such as \"2d4h\"", "%v", err)
			return o, false
		}
		if o.from.After(end) {
			c.errorf(path, "NRT503", fmt.Sprintf("lengthen the scenario's run (it is %s), or move this earlier", s.Run),
				"%s is after the end of the run", raw)
			return o, false
		}
		return o, true
	}

	for i, h := range r.Timeline {
		hp := sub(p, "timeline", itoa(i))
		o, ok := moment(sub(hp, "at"), h.At)
		if !ok {
			continue
		}
		if x := c.happening(hp, h); x != nil {
			x.At, x.Label, x.Pos = o.from, h.At, c.source(hp)
			s.Timeline = append(s.Timeline, *x)
		}
	}
	slices.SortStableFunc(s.Timeline, func(a, b campaigns.Happening) int { return a.At.Compare(b.At) })

	for i, x := range r.Expect {
		xp := sub(p, "expect", itoa(i))
		e := c.expectation(xp, x)
		if e == nil {
			continue
		}
		e.Pos = c.source(xp)
		timing := 0
		for _, t := range []string{x.On, x.At, x.By} {
			if t != "" {
				timing++
			}
		}
		if len(x.Between) > 0 {
			timing++
		}
		if timing > 1 {
			c.errorf(xp, "NRT504", "say when with one of on, at, between and by", "the expectation says when more than once")
			continue
		}
		switch {
		case e.State() && x.At == "":
			c.errorf(xp, "NRT504", "say at what moment to check it, as at: \"day 10 12:00\"", "a %s expectation needs at", e.Kind)
			continue
		case x.On != "":
			if o, ok := moment(sub(xp, "on"), x.On); ok {
				e.From, e.To, e.When = o.dayStart, o.dayStart.AddDate(0, 0, 1), "on "+o.day()
			}
		case x.At != "":
			if o, ok := moment(sub(xp, "at"), x.At); ok {
				e.At, e.From, e.To, e.When = o.from, o.from, o.from.Add(time.Minute), "at "+x.At
			}
		case x.By != "":
			if o, ok := moment(sub(xp, "by"), x.By); ok {
				e.From, e.To, e.When = start, o.until(), "by "+x.By
			}
		case len(x.Between) == 2:
			a, ok1 := moment(sub(xp, "between", "0"), x.Between[0])
			b, ok2 := moment(sub(xp, "between", "1"), x.Between[1])
			if ok1 && ok2 {
				if b.until().Before(a.from) {
					c.errorf(sub(xp, "between"), "NRT504", "name the earlier moment first", "%s comes after %s", x.Between[0], x.Between[1])
					continue
				}
				e.From, e.To, e.When = a.from, b.until(), "between "+x.Between[0]+" and "+x.Between[1]
			}
		}
		s.Expect = append(s.Expect, *e)
	}

	for _, seq := range sortedKeys(r.Variants) {
		vp := sub(p, "variants", seq)
		sq := c.prog.Sequences[seq]
		if sq == nil {
			c.errorf(vp, "NRT102", c.suggest(seq, keysOf(c.prog.Sequences), "name a sequence of the programme"), "unknown sequence %q", seq)
			continue
		}
		for _, step := range sortedKeys(r.Variants[seq]) {
			arm := r.Variants[seq][step]
			i := sq.StepIndex(step)
			var names []string
			if i >= 0 {
				for _, v := range sq.Steps[i].Send {
					names = append(names, v.Name)
				}
			}
			switch {
			case i < 0:
				c.errorf(sub(vp, step), "NRT505", c.suggest(step, stepNames(sq), "name a step of "+seq), "%s has no step %q", seq, step)
			case len(names) < 2:
				c.errorf(sub(vp, step), "NRT505", "only send steps with variants have arms to choose", "step %s of %s has no A/B variants", step, seq)
			case !slices.Contains(names, arm):
				c.errorf(sub(vp, step), "NRT505", c.suggest(arm, names, "its variants are "+strings.Join(names, ", ")),
					"step %s of %s has no variant %q", step, seq, arm)
			default:
				if s.Variants == nil {
					s.Variants = map[string]string{}
				}
				s.Variants[seq+"."+step] = arm
			}
		}
	}
	c.scenarioArms(sub(p, "holdout"), r.Holdout, s)
	if len(c.diags) > errs && Diagnostics(c.diags[errs:]).HasErrors() {
		return nil
	}
	return s
}

// contactValue checks a value the scenario gives a contact attribute.
func (c *checker) contactValue(path []string, field string, v any) bool {
	a := c.prog.Contact.Attributes[field]
	if a == nil {
		c.errorf(path, "NRT105", c.suggest(field, keysOf(c.prog.Contact.Attributes), "declare it under contact.attributes"),
			"unknown contact attribute %q", field)
		return false
	}
	if field == campaigns.AttrTimezone {
		return true // checked as the scenario's zone
	}
	n := len(c.diags)
	c.checkValue(path, field, a, "eq", v)
	return len(c.diags) == n
}

// happening compiles one entry of a timeline, all but its time.
func (c *checker) happening(p []string, h rawHappening) *campaigns.Happening {
	var kinds []string
	x := &campaigns.Happening{}
	if h.Event != "" {
		kinds = append(kinds, "event")
		x.Kind, x.Event = campaigns.HappenEvent, h.Event
	}
	for _, k := range []struct {
		kind, email string
	}{{campaigns.HappenClick, h.Click}, {campaigns.HappenOpen, h.Open}, {campaigns.HappenReply, h.Reply}} {
		if k.email != "" {
			kinds = append(kinds, k.kind)
			x.Kind, x.Email = k.kind, k.email
		}
	}
	for _, k := range []struct {
		kind string
		on   bool
	}{{campaigns.HappenUnsubscribe, h.Unsubscribe}, {campaigns.HappenBounce, h.Bounce}, {campaigns.HappenComplain, h.Complain}} {
		if k.on {
			kinds = append(kinds, k.kind)
			x.Kind = k.kind
		}
	}
	if len(h.Set) > 0 {
		kinds = append(kinds, "set")
		x.Kind = campaigns.HappenSet
	}
	if h.Preferences != nil {
		kinds = append(kinds, "preferences")
		x.Kind = campaigns.HappenPrefer
		x.Frequency, x.TopicsOut = h.Preferences.Frequency, h.Preferences.TopicsOut
		x.Resume = h.Preferences.Resume
		c.scenarioPreferences(sub(p, "preferences"), h.Preferences.Frequency, h.Preferences.Pause, h.Preferences.Resume, x)
		for i, t := range x.TopicsOut {
			if _, ok := c.prog.Sender.Topics[t]; !ok {
				c.errorf(sub(p, "preferences", "topics_out", itoa(i)), "NRT312", c.suggest(t, keysOf(c.prog.Sender.Topics), "declare it under sender.topics"),
					"unknown topic %q", t)
			}
		}
	}
	if !c.oneThing(p, "NRT506", kinds, "a timeline entry must say one thing the contact does",
		"give one of event, click, open, reply, unsubscribe, bounce, complain, set and preferences; write two happenings for two things") {
		return nil
	}
	if h.Machine && x.Kind != campaigns.HappenOpen {
		c.errorf(sub(p, "machine"), "NRT506", "machine goes with open", "only an open is a machine's")
		return nil
	}
	x.Machine = h.Machine
	if len(h.Props) > 0 && x.Kind != campaigns.HappenEvent {
		c.errorf(sub(p, "props"), "NRT506", "props go with event", "only an event has props")
		return nil
	}
	n := len(c.diags)
	switch x.Kind {
	case campaigns.HappenEvent:
		et := c.prog.Events[x.Event]
		if et == nil {
			c.errorf(sub(p, "event"), "NRT104", c.suggest(x.Event, keysOf(c.prog.Events), "declare it under events"), "unknown event %q", x.Event)
			return nil
		}
		for _, k := range sortedKeys(h.Props) {
			a := et.Properties[k]
			if a == nil {
				c.errorf(sub(p, "props", k), "NRT105", c.suggest(k, keysOf(et.Properties), "declare it under events."+x.Event+".properties"),
					"event %s has no property %q", x.Event, k)
				continue
			}
			c.checkValue(sub(p, "props", k), k, a, "eq", h.Props[k])
		}
		for _, k := range sortedKeys(et.Properties) {
			if et.Properties[k].Required {
				if _, ok := h.Props[k]; !ok {
					c.errorf(sub(p, "event"), "NRT501", fmt.Sprintf("add props: %s: …", k), "event %s requires the property %s", x.Event, k)
				}
			}
		}
		x.Props = h.Props
	case campaigns.HappenClick, campaigns.HappenOpen, campaigns.HappenReply:
		c.sentEmail(sub(p, x.Kind), x.Email)
	case campaigns.HappenSet:
		for _, k := range sortedKeys(h.Set) {
			c.contactValue(sub(p, "set", k), k, h.Set[k])
		}
		x.Set = h.Set
	}
	if len(c.diags) > n {
		return nil
	}
	return x
}

// oneThing reports an entry that says no thing, or several, where it
// must say one.
func (c *checker) oneThing(p []string, code string, kinds []string, summary, detail string) bool {
	if len(kinds) == 1 {
		return true
	}
	what := "nothing"
	if len(kinds) > 1 {
		what = strings.Join(kinds, " and ")
	}
	c.errorf(p, code, detail, "%s, not %s", summary, what)
	return false
}

// sentEmail checks that the programme sends the email named.
func (c *checker) sentEmail(p []string, email string) bool {
	if c.prog.Emails[email] != nil {
		return true
	}
	c.errorf(p, "NRT507", c.suggest(email, keysOf(c.prog.Emails), "name an email a send step of the programme sends, by its path in the programme"),
		"the programme sends no email %q", email)
	return false
}

// expectation compiles one expectation, all but its timing.
func (c *checker) expectation(p []string, x rawExpectation) *campaigns.Expectation {
	var kinds []string
	e := &campaigns.Expectation{}
	for _, k := range []struct {
		kind, key, value string
		into             *string
	}{
		{campaigns.ExpectEmail, "email", x.Email, &e.Email},
		{campaigns.ExpectNever, "never", x.Never, &e.Email},
		{campaigns.ExpectDeferred, "deferred", x.Deferred, &e.Email},
		{campaigns.ExpectEnter, "enter", x.Enter, &e.Sequence},
		{campaigns.ExpectExit, "exit", x.Exit, &e.Reason},
		{campaigns.ExpectHandoff, "handoff", x.Handoff, &e.Handoff},
		{campaigns.ExpectStage, "stage", x.Stage, &e.Stage},
		{campaigns.ExpectSegment, "segment", x.Segment, &e.Segment},
		{campaigns.ExpectSegment, "not_segment", x.NotSegment, &e.Segment},
	} {
		if k.value != "" {
			kinds = append(kinds, k.key)
			e.Kind, *k.into = k.kind, k.value
		}
	}
	e.In = x.Segment != ""
	if len(x.Score) > 0 && string(x.Score) != "null" {
		kinds = append(kinds, "score")
		e.Kind = campaigns.ExpectScore
	}
	if !c.oneThing(p, "NRT508", kinds, "an expectation must say one thing",
		"give one of email, never, deferred, enter, exit, handoff, stage, segment, not_segment and score; write two expectations for two things") {
		return nil
	}
	n := len(c.diags)
	switch e.Kind {
	case campaigns.ExpectEmail, campaigns.ExpectNever, campaigns.ExpectDeferred:
		c.sentEmail(sub(p, kinds[0]), e.Email)
	case campaigns.ExpectEnter:
		if c.prog.Sequences[e.Sequence] == nil {
			c.errorf(sub(p, "enter"), "NRT102", c.suggest(e.Sequence, keysOf(c.prog.Sequences), "name a sequence of the programme"), "unknown sequence %q", e.Sequence)
		}
	case campaigns.ExpectExit:
		if known := c.exitReasons(); !slices.Contains(known, e.Reason) {
			c.errorf(sub(p, "exit"), "NRT509", c.suggest(e.Reason, known, "the programme's exit reasons are "+strings.Join(known, ", ")),
				"no exit rule, step or the engine ends an enrollment with the reason %q", e.Reason)
		}
	case campaigns.ExpectHandoff:
		if c.prog.Handoffs[e.Handoff] == nil {
			c.errorf(sub(p, "handoff"), "NRT109", c.suggest(e.Handoff, keysOf(c.prog.Handoffs), "declare it under handoffs"), "unknown hand-off %q", e.Handoff)
		}
	case campaigns.ExpectStage:
		if !slices.Contains(c.prog.Contact.Stages, e.Stage) {
			c.errorf(sub(p, "stage"), "NRT201", c.suggest(e.Stage, c.prog.Contact.Stages, "the stages are "+strings.Join(c.prog.Contact.Stages, ", ")),
				"%q is not a stage of contact.stages", e.Stage)
		}
	case campaigns.ExpectSegment:
		if c.prog.Segments[e.Segment] == nil {
			c.errorf(sub(p, kinds[0]), "NRT101", c.suggest(e.Segment, keysOf(c.prog.Segments), "declare it under segments"), "unknown segment %q", e.Segment)
		}
	case campaigns.ExpectScore:
		for _, sp := range c.scoreConditions(sub(p, "score"), x.Score) {
			e.Scores = append(e.Scores, *sp.Score)
		}
	}
	if x.Sequence != "" {
		switch {
		case e.Kind != campaigns.ExpectExit && e.Kind != campaigns.ExpectDeferred && e.Kind != campaigns.ExpectEmail && e.Kind != campaigns.ExpectNever:
			c.errorf(sub(p, "sequence"), "NRT508", "sequence narrows email, never, exit and deferred", "a %s expectation takes no sequence", kinds[0])
		case c.prog.Sequences[x.Sequence] == nil:
			c.errorf(sub(p, "sequence"), "NRT102", c.suggest(x.Sequence, keysOf(c.prog.Sequences), "name a sequence of the programme"), "unknown sequence %q", x.Sequence)
		default:
			e.Sequence = x.Sequence
		}
	}
	if x.Variant != "" {
		var arms []string
		for _, seq := range c.prog.Sequences {
			for _, st := range seq.Steps {
				for _, v := range st.Send {
					if v.Email == e.Email && len(st.Send) > 1 {
						arms = append(arms, v.Name)
					}
				}
			}
		}
		switch {
		case e.Kind != campaigns.ExpectEmail:
			c.errorf(sub(p, "variant"), "NRT508", "variant narrows an email expectation", "a %s expectation takes no variant", kinds[0])
		case !slices.Contains(arms, x.Variant):
			c.errorf(sub(p, "variant"), "NRT505", "an email sent as one arm of an A/B send step has that arm's name",
				"%s is sent by no variant named %q", e.Email, x.Variant)
		default:
			e.Variant = x.Variant
		}
	}
	if x.Subject != "" {
		if e.Kind != campaigns.ExpectEmail {
			c.errorf(sub(p, "subject"), "NRT508", "subject narrows an email expectation", "a %s expectation takes no subject", kinds[0])
		} else {
			e.Subject = x.Subject
		}
	}
	if x.Sender != "" {
		if e.Kind != campaigns.ExpectEmail {
			c.errorf(sub(p, "sender"), "NRT508", "sender narrows an email expectation", "a %s expectation takes no sender", kinds[0])
		} else {
			e.Sender = x.Sender
		}
	}
	if len(c.diags) > n {
		return nil
	}
	return e
}

// exitReasons lists every reason an enrollment of the programme can end
// with, sorted.
func (c *checker) exitReasons() []string {
	seen := map[string]bool{}
	for _, r := range builtinExits {
		seen[r] = true
	}
	rules := func(rs []campaigns.ExitRule) {
		for _, r := range rs {
			seen[r.Reason] = true
		}
	}
	rules(c.prog.Exits)
	for _, seq := range c.prog.Sequences {
		rules(seq.Exits)
		for _, st := range seq.Steps {
			seen[st.Exit], seen[st.Suppress] = true, true
			if st.WaitFor != nil {
				seen[st.WaitFor.Then.Exit], seen[st.WaitFor.Else.Exit] = true, true
			}
			if st.Branch != nil {
				seen[st.Branch.Then.Exit], seen[st.Branch.Else.Exit] = true, true
			}
		}
	}
	delete(seen, "")
	return sortedKeys(seen)
}

// offset is a scenario moment: the instant, and the local day it falls in.
type offset struct {
	from     time.Time
	dayStart time.Time
	dayN     int
	isDay    bool // written as a day, without a time of day
}

func (o offset) day() string { return "day " + strconv.Itoa(o.dayN) }

// until is the end of the span an offset names, included: the end of the
// day for "day 3", the minute for anything with a time.
func (o offset) until() time.Time {
	if o.isDay {
		return o.dayStart.AddDate(0, 0, 1)
	}
	return o.from.Add(time.Minute)
}

var errBeforeStart = errors.New("before the scenario's start")

var offsetRE = regexp.MustCompile(`^day ([0-9]+)(?: ([0-9]{2}):([0-9]{2}))?$`)

// parseOffset reads "day 3", "day 3 10:00" or "2d4h" from start, in loc.
func parseOffset(s string, start time.Time, loc *time.Location) (offset, error) {
	ls := start.In(loc)
	startDay := time.Date(ls.Year(), ls.Month(), ls.Day(), 0, 0, 0, 0, loc)
	var o offset
	if m := offsetRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 3650 {
			return o, fmt.Errorf("%q is too far", s)
		}
		day := startDay.AddDate(0, 0, n)
		if m[2] == "" {
			o.from, o.isDay = time.Date(day.Year(), day.Month(), day.Day(), ls.Hour(), ls.Minute(), 0, 0, loc), true
		} else {
			h, _ := strconv.Atoi(m[2])
			mi, _ := strconv.Atoi(m[3])
			if h > 23 || mi > 59 {
				return o, fmt.Errorf("%q is not a time of day", m[2]+":"+m[3])
			}
			o.from = time.Date(day.Year(), day.Month(), day.Day(), h, mi, 0, 0, loc)
		}
	} else {
		d, err := campaigns.ParseDuration(s)
		if err != nil {
			return o, fmt.Errorf("%q is not a moment", s)
		}
		o.from = start.Add(d.Std())
	}
	local := o.from.In(loc)
	o.dayStart = time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	o.dayN = int(o.dayStart.Sub(startDay).Hours()+12) / 24 // DST days are 23 or 25 hours
	if o.from.Before(start) {
		return o, fmt.Errorf("%s is %w, %s", s, errBeforeStart, ls.Format("15:04 on day 0"))
	}
	o.from = o.from.UTC()
	return o, nil
}

// parseStart reads a scenario's start in its time zone.
func parseStart(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a start time", s)
}

// scenarioArms checks the holdout arms a scenario asks for: each names
// a sequence a holdout is in force in, and an arm that holdout has.
func (c *checker) scenarioArms(p []string, arms map[string]string, s *campaigns.Scenario) {
	for _, seq := range sortedKeys(arms) {
		arm, sp := arms[seq], sub(p, seq)
		sq := c.prog.Sequences[seq]
		switch {
		case sq == nil:
			c.errorf(sp, "NRT102", c.suggest(seq, keysOf(c.prog.Sequences), "name a sequence of the programme"), "unknown sequence %q", seq)
			continue
		case sq.Transactional():
			c.errorf(sp, "NRT510", "transactional sequences have no holdout: everyone who triggers one gets its mail", "sequence %s is transactional", seq)
			continue
		case arm == campaigns.ArmGlobalControl && c.prog.Holdout == 0:
			c.errorf(sp, "NRT510", `declare the programme's holdout, holdout: "5%"`, "the programme has no holdout to put the contact in")
			continue
		case arm == campaigns.ArmControl && sq.Holdout == 0:
			c.errorf(sp, "NRT510", `declare the sequence's holdout, holdout: "10%"`, "sequence %s has no holdout to put the contact in", seq)
			continue
		case arm == campaigns.ArmTreatment && sq.Holdout == 0 && c.prog.Holdout == 0:
			c.errorf(sp, "NRT510", "without a holdout every contact is treated", "sequence %s has no holdout, nor has the programme", seq)
			continue
		}
		if s.Arms == nil {
			s.Arms = map[string]string{}
		}
		s.Arms[seq] = arm
	}
}
