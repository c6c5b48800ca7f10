package compiler

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
)

// emailUse records where an email file is sent from.
type emailUse struct {
	path  []string // the first send step naming it
	kind  string
	kinds map[string][]string // kind → first step path of that kind
	seqs  map[string][]string // sequence → first step path in it
}

func (c *checker) sequences() {
	for _, name := range sortedKeys(c.raw.Sequences) {
		r := c.raw.Sequences[name]
		p := []string{"sequences", name}
		s := &campaigns.Sequence{Description: r.Description, Priority: r.Priority}
		if r.Transactional != nil {
			s.TransactionalReason = r.Transactional.Reason
		}
		c.entry(sub(p, "entry"), r, s)
		s.Reentry = c.reentry(sub(p, "reentry"), r.Reentry)
		s.Cap = c.limits(sub(p, "cap"), r.Cap)
		if s.Topic = r.Topic; s.Topic != "" {
			if _, ok := c.prog.Sender.Topics[s.Topic]; !ok {
				c.errorf(sub(p, "topic"), "NRT312", c.suggest(s.Topic, keysOf(c.prog.Sender.Topics), "declare it under sender.topics with the label the preference page shows"),
					"sequence %s names unknown topic %q", name, s.Topic)
			}
			if s.Transactional() {
				c.errorf(sub(p, "topic"), "NRT312", "topics are for marketing: transactional mail cannot be opted out of by topic", "transactional sequence %s has a topic", name)
			}
		}
		s.UTM = campaigns.UTM{
			Source:   or(r.UTM.Source, c.prog.Sender.UTM.Source),
			Medium:   or(r.UTM.Medium, c.prog.Sender.UTM.Medium),
			Campaign: or(r.UTM.Campaign, or(c.prog.Sender.UTM.Campaign, name)),
			Content:  or(r.UTM.Content, c.prog.Sender.UTM.Content),
		}
		s.Layout = c.layout(sub(p, "layout"), r.Layout)
		s.Sender = c.from(sub(p, "sender"), r.Sender)
		kind := campaigns.KindMarketing
		if s.Transactional() {
			kind = campaigns.KindTransactional
		}
		s.Steps = c.steps(sub(p, "steps"), r.Steps, kind)
		s.Exits = c.exitRules(sub(p, "exit"), r.Exit)
		s.Moved = c.moved(sub(p, "moved"), r.Moved, s)
		s.Removed = c.removed(sub(p, "removed"), r.Removed, s)
		if len(s.Exits) == 0 && len(c.prog.Exits) == 0 {
			c.errorf(p, "NRT301", "every nurture needs explicit exit conditions: add exit: [{when: {event: ...}, reason: \"converted\"}, {after: \"90d\", reason: \"timeout\"}]",
				"sequence %s has no exit rule", name)
		}
		c.prog.Sequences[name] = s
	}
	c.entered()
}

// moved checks a sequence's step renames: each old name is gone and each
// new one is a step of the sequence.
func (c *checker) moved(p []string, raw map[string]string, s *campaigns.Sequence) map[string]string {
	if len(raw) == 0 {
		return nil
	}
	names := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		names[i] = st.Name
	}
	out := map[string]string{}
	for _, from := range sortedKeys(raw) {
		to := raw[from]
		switch {
		case s.StepIndex(from) >= 0:
			c.errorf(sub(p, from), "NRT310", "a step that still exists keeps its contacts: remove this line, or rename the step",
				"moved: step %q still exists", from)
		case s.StepIndex(to) < 0:
			c.errorf(sub(p, from), "NRT311", c.suggest(to, names, "name the step the contacts go to"),
				"moved: no step %q in this sequence", to)
		default:
			out[from] = to
		}
	}
	return out
}

// removed checks a sequence's step removals: each is gone, and not also
// moved.
func (c *checker) removed(p []string, raw map[string]string, s *campaigns.Sequence) map[string]string {
	if len(raw) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, old := range sortedKeys(raw) {
		switch {
		case s.StepIndex(old) >= 0:
			c.errorf(sub(p, old), "NRT310", "a step that still exists keeps its contacts: remove this line, or the step",
				"removed: step %q still exists", old)
		case s.Moved[old] != "":
			c.errorf(sub(p, old), "NRT313", fmt.Sprintf("keep moved: if step %s replaces it, or removed: if nothing does", s.Moved[old]),
				"step %q is both moved and removed", old)
		default:
			out[old] = raw[old]
		}
	}
	return out
}

func (c *checker) entry(p []string, r rawSequence, s *campaigns.Sequence) {
	n := 0
	if r.Entry.Segment != "" {
		n++
		s.Entry.Segment = r.Entry.Segment
		if _, ok := c.raw.Segments[r.Entry.Segment]; !ok {
			c.errorf(sub(p, "segment"), "NRT101", c.suggest(r.Entry.Segment, keysOf(c.raw.Segments), "declare it under segments"),
				"unknown segment %q", r.Entry.Segment)
		}
	}
	if len(r.Entry.Event) > 0 {
		n++
		s.Entry.Event = c.eventCondition(sub(p, "event"), r.Entry.Event)
	}
	if len(r.Entry.When) > 0 {
		if s.Entry.Event == nil {
			c.errorf(sub(p, "when"), "NRT209", "when narrows an entry event: entry: {event: \"demo_requested\", when: segment: \"icp\"}; a segment entry says its condition in the segment",
				"an entry without an event has no when")
		} else {
			w := c.predicate(sub(p, "when"), r.Entry.When, scopeContact)
			s.Entry.When = &w
		}
	}
	if r.Entry.Manual {
		n++
	}
	if n != 1 {
		c.errorf(p, "NRT209", "enter by segment, by event, or manual: true (only when enrolled by a step, an exit rule or a hand-off)",
			"a sequence has exactly one way in; this entry has %d", n)
	}
}

func (c *checker) reentry(p []string, raw json.RawMessage) campaigns.Reentry {
	if len(raw) == 0 {
		return campaigns.Reentry{Policy: campaigns.ReentryNever}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return campaigns.Reentry{Policy: s}
	}
	var r struct {
		After string `json:"after"`
	}
	_ = json.Unmarshal(raw, &r)
	return campaigns.Reentry{Policy: campaigns.ReentryAfter, After: c.durationString(sub(p, "after"), r.After)}
}

// entered warns of manual sequences nothing enrolls contacts in.
func (c *checker) entered() {
	used := map[string]bool{}
	mark := func(rs []campaigns.ExitRule) {
		for _, e := range rs {
			used[e.Enroll] = true
		}
	}
	mark(c.prog.Exits)
	for _, s := range c.prog.Sequences {
		mark(s.Exits)
		for _, st := range s.Steps {
			used[st.Enroll] = true
		}
	}
	for _, h := range c.prog.Handoffs {
		used[h.ReturnEnroll] = true
	}
	for _, name := range sortedKeys(c.prog.Sequences) {
		s := c.prog.Sequences[name]
		if s.Entry.Segment == "" && s.Entry.Event == nil && !used[name] {
			c.warnf([]string{"sequences", name, "entry"}, "NRT308", "enroll contacts from a step (enroll: \""+name+"\"), an exit rule (then: enroll:) or a hand-off's return, or give it an entry segment or event",
				"no contact can ever enter sequence %s", name)
		}
	}
}

func (c *checker) steps(p []string, rs []rawStep, kind string) []campaigns.Step {
	steps := make([]campaigns.Step, 0, len(rs))
	explicit := map[string]int{}
	for i, r := range rs {
		if r.Name != "" {
			if j, dup := explicit[r.Name]; dup {
				c.errorf(sub(p, itoa(i), "name"), "NRT110", fmt.Sprintf("step %d has this name already; step names are unique in a sequence", j+1),
					"duplicate step name %q", r.Name)
			}
			explicit[r.Name] = i
		}
	}
	// A default name depends on nothing but the step itself, so adding,
	// removing or reordering other steps never renames it. Where two
	// steps would share one, neither gets it: numbering them would make
	// a name depend on position again, and a contact waiting in one could
	// end up in the other when a step is added before it.
	defaults := map[string][]int{}
	for i, r := range rs {
		st := c.step(sub(p, itoa(i)), r, kind)
		st.Name = r.Name
		if st.Name == "" {
			st.Name = defaultStepName(st)
			if st.Kind != "empty" { // already reported as doing nothing
				defaults[st.Name] = append(defaults[st.Name], i)
			}
		}
		steps = append(steps, st)
	}
	for _, n := range sortedKeys(defaults) {
		idx := defaults[n]
		j, named := explicit[n]
		if len(idx) < 2 && !named {
			continue
		}
		for _, i := range idx {
			var like []string
			for _, k := range idx {
				if k != i {
					like = append(like, "step "+itoa(k+1))
				}
			}
			if named {
				like = append(like, fmt.Sprintf("step %d, named so", j+1))
			}
			c.errorf(sub(p, itoa(i)), "NRT111", "give it a name: that says what it is for; default names follow from what a step does, never from its place, so steps alike need names of their own",
				"step %d would be named %q, like %s", i+1, n, joinNames(like))
		}
	}
	return steps
}

// defaultStepName names a step its author left unnamed after what it
// does, never where it is: a send after its email's file name, an A/B
// send after its arms' files, a wait after its span, a wait_for after its
// event, a branch after what it tests, the others after their target.
func defaultStepName(st campaigns.Step) string {
	var parts []string
	switch st.Kind {
	case campaigns.StepSend:
		for _, v := range st.Send {
			parts = append(parts, or(slug(v.Email), slugAll(path.Base(strings.TrimSuffix(v.Email, path.Ext(v.Email))))))
		}
		if len(parts) == 1 && parts[0] != "" && parts[0][0] >= 'a' && parts[0][0] <= 'z' {
			return parts[0]
		}
		return stepName(append([]string{"send"}, strings.Join(parts, "_or_")))
	case campaigns.StepWait:
		parts = []string{st.Wait.String()}
	case campaigns.StepWaitUntil:
		parts = append(append(parts, st.WaitUntil.Days...), strings.ReplaceAll(st.WaitUntil.At.String(), ":", ""))
	case campaigns.StepWaitFor:
		parts = []string{st.WaitFor.Event.Name}
	case campaigns.StepBranch:
		parts = predicateWords(st.Branch.When)
	case campaigns.StepSet:
		parts = sortedKeys(st.Set)
	case campaigns.StepHandoff:
		parts = []string{st.Handoff}
	case campaigns.StepEnroll:
		parts = []string{st.Enroll}
	case campaigns.StepGoto:
		parts = []string{st.Goto}
	case campaigns.StepExit:
		parts = []string{st.Exit}
	case campaigns.StepSuppress:
		parts = []string{st.Suppress}
	}
	return stepName(append([]string{st.Kind}, parts...))
}

// stepName joins words into a step name, slugged and kept short enough
// to read in a plan.
func stepName(words []string) string {
	const max = 48
	var ws []string
	for _, w := range words {
		if w = slugAll(w); w != "" {
			ws = append(ws, w)
		}
	}
	n := strings.Join(ws, "_")
	if len(n) > max {
		n = n[:max]
		if i := strings.LastIndexByte(n, '_'); i > 0 {
			n = n[:i]
		}
	}
	return n
}

// predicateWords are the things a condition tests, in order, once each:
// fields with their simple values, events, models and thresholds,
// segments.
func predicateWords(p campaigns.Predicate) []string {
	var out []string
	seen := map[string]bool{}
	add := func(ws ...string) {
		for _, w := range ws {
			if w != "" && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	p.Walk(func(q *campaigns.Predicate) {
		switch {
		case q.Cond != nil:
			add(q.Cond.Field)
			switch v := q.Cond.Value.(type) {
			case string, bool, float64, int:
				add(fmt.Sprint(v))
			}
		case q.Event != nil:
			add(q.Event.Name)
		case q.Score != nil:
			add(q.Score.Model, q.Score.Threshold)
		case q.Segment != "":
			add(q.Segment)
		case q.Op == campaigns.OpInactive:
			add("inactive")
		case q.Enrolled != nil:
			add("enrolled", q.Enrolled.Sequence)
		case q.Topic != "":
			add(q.Topic)
		}
	})
	return out
}

// slug turns "emails/welcome/01-Getting started.md" into "getting_started":
// a name starts with a letter, so leading digits (an ordering prefix)
// go.
func slug(file string) string {
	s := slugAll(strings.TrimSuffix(path.Base(file), path.Ext(file)))
	return strings.TrimLeft(s, "0123456789_")
}

// slugAll lowers s and turns every run of other characters into one
// underscore.
func slugAll(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

func (c *checker) step(p []string, r rawStep, kind string) campaigns.Step {
	var st campaigns.Step
	var kinds []string
	set := func(k string, present bool) {
		if present {
			kinds = append(kinds, k)
			st.Kind = k
		}
	}
	set(campaigns.StepSend, len(r.Send) > 0)
	set(campaigns.StepWait, r.Wait != "")
	set(campaigns.StepWaitUntil, r.WaitUntil != nil)
	set(campaigns.StepWaitFor, r.WaitFor != nil)
	set(campaigns.StepBranch, len(r.Branch) > 0)
	set(campaigns.StepSet, r.Set != nil)
	set(campaigns.StepHandoff, r.Handoff != "")
	set(campaigns.StepEnroll, r.Enroll != "")
	set(campaigns.StepGoto, r.Goto != "")
	set(campaigns.StepExit, r.Exit != "")
	set(campaigns.StepSuppress, r.Suppress != "")
	if len(kinds) != 1 {
		what := "nothing"
		if len(kinds) > 1 {
			what = strings.Join(kinds, " and ")
		}
		c.errorf(p, "NRT209", "a step does one thing: send, wait, wait_until, wait_for, branch, set, handoff, enroll, goto, exit or suppress; split it into several steps",
			"the step does %s", what)
		if len(kinds) == 0 {
			st.Kind = "empty"
			return st
		}
	}
	if r.Sender != nil && st.Kind != campaigns.StepSend {
		c.errorf(sub(p, "sender"), "NRT209", "sender goes with a send step, or on the sequence for all of its email", "a %s step has no sender", st.Kind)
	} else {
		st.Sender = c.from(sub(p, "sender"), r.Sender)
	}
	if r.Demote && st.Kind != campaigns.StepSet {
		c.errorf(sub(p, "demote"), "NRT209", "demote goes with a set step that moves the stage back", "a %s step has no demote", st.Kind)
	}
	if (r.Then != nil || r.Else != nil) && st.Kind != campaigns.StepWaitFor && st.Kind != campaigns.StepBranch {
		c.errorf(sub(p, thenOrElse(r)), "NRT209", "then and else go with wait_for and branch steps", "a %s step has no then or else", st.Kind)
	}
	switch st.Kind {
	case campaigns.StepSend:
		st.Send = c.send(sub(p, "send"), r.Send, kind)
		st.Metric, st.MinLift = c.experiment(sub(p, "send"), r.Send)
	case campaigns.StepWait:
		st.Wait = c.durationString(sub(p, "wait"), r.Wait)
	case campaigns.StepWaitUntil:
		st.WaitUntil = &campaigns.WaitUntil{At: c.timeOfDay(sub(p, "wait_until", "at"), r.WaitUntil.At),
			Days: c.uniqueNames(sub(p, "wait_until", "days"), r.WaitUntil.Days, "day")}
	case campaigns.StepWaitFor:
		wf := &campaigns.WaitFor{Then: action(r.Then), Else: action(r.Else)}
		if ec := c.eventCondition(sub(p, "wait_for", "event"), r.WaitFor.Event); ec != nil {
			wf.Event = *ec
		}
		if r.WaitFor.Within == "" {
			c.errorf(sub(p, "wait_for"), "NRT304", "add within: \"7d\" (or another span) and an else: for contacts who never do it",
				"wait_for %s has no timeout: contacts who never do it would wait forever", wf.Event.Name)
		} else {
			wf.Within = c.durationString(sub(p, "wait_for", "within"), r.WaitFor.Within)
		}
		st.WaitFor = wf
	case campaigns.StepBranch:
		st.Branch = &campaigns.Branch{When: c.predicate(sub(p, "branch"), r.Branch, scopeContact),
			Then: action(r.Then), Else: action(r.Else)}
	case campaigns.StepSet:
		st.Set = c.setAttrs(sub(p, "set"), r.Set)
		st.Demote = r.Demote
	case campaigns.StepHandoff:
		st.Handoff = r.Handoff
		c.handoffRef(sub(p, "handoff"), r.Handoff)
	case campaigns.StepEnroll:
		st.Enroll = r.Enroll
		c.sequenceRef(sub(p, "enroll"), r.Enroll)
	case campaigns.StepGoto:
		st.Goto = r.Goto
	case campaigns.StepExit:
		st.Exit = r.Exit
	case campaigns.StepSuppress:
		st.Suppress = r.Suppress
	}
	return st
}

func action(r *rawAction) campaigns.Action {
	if r == nil {
		return campaigns.Action{}
	}
	return campaigns.Action{Goto: r.Goto, Exit: r.Exit}
}

func thenOrElse(r rawStep) string {
	if r.Then != nil {
		return "then"
	}
	return "else"
}

func (c *checker) setAttrs(p []string, m map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range sortedKeys(m) {
		kp := sub(p, k)
		attr := c.prog.Contact.Attributes[k]
		switch {
		case attr == nil:
			c.errorf(kp, "NRT105", c.suggest(k, keysOf(c.prog.Contact.Attributes), "declare it under contact.attributes"), "unknown attribute %q", k)
		case k == campaigns.AttrEmail:
			c.errorf(kp, "NRT201", "a sequence cannot change who a contact is", "email cannot be set by a step")
		default:
			c.checkValue(kp, k, attr, "eq", m[k])
		}
		out[k] = m[k]
	}
	return out
}

// send compiles a send step: one email, or A/B variants whose weights sum
// to 100.
func (c *checker) send(p []string, raw json.RawMessage, kind string) []campaigns.Variant {
	var file string
	if json.Unmarshal(raw, &file) == nil {
		return []campaigns.Variant{{Name: "a", Email: c.useEmail(p, file, kind), Weight: 100}}
	}
	var r struct {
		Variants map[string]struct {
			Email     string `json:"email"`
			Weight    int    `json:"weight"`
			WaitUntil *struct {
				Days []string `json:"days"`
				At   string   `json:"at"`
			} `json:"wait_until"`
		} `json:"variants"`
	}
	_ = json.Unmarshal(raw, &r)
	var out []campaigns.Variant
	sum := 0
	for _, name := range sortedKeys(r.Variants) {
		v := r.Variants[name]
		email := c.useEmail(sub(p, "variants", name, "email"), v.Email, kind)
		arm := campaigns.Variant{Name: name, Email: email, Weight: v.Weight}
		if w := v.WaitUntil; w != nil {
			wp := sub(p, "variants", name, "wait_until")
			arm.WaitUntil = &campaigns.WaitUntil{At: c.timeOfDay(sub(wp, "at"), w.At), Days: c.uniqueNames(sub(wp, "days"), w.Days, "day")}
		}
		out = append(out, arm)
		sum += v.Weight
	}
	if len(out) < 2 {
		c.errorf(sub(p, "variants"), "NRT204", "an A/B test has two variants or more; for one email write send: \"path.md\"", "an A/B send with %d variant", len(out))
	} else if sum != 100 {
		c.errorf(sub(p, "variants"), "NRT204", "weights are percentages of contacts: make them add up to 100", "A/B weights sum to %d, not 100", sum)
	}
	return out
}

// experiment reads an A/B send's metric and minimum lift; metric names
// are checked against the goals once those are read (metrics). Click,
// the default, is left empty so that naming it changes no hash.
func (c *checker) experiment(p []string, raw json.RawMessage) (string, campaigns.Share) {
	var r struct {
		Metric  string `json:"metric"`
		MinLift string `json:"min_lift"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return "", 0
	}
	var lift campaigns.Share
	if r.MinLift != "" {
		l, err := campaigns.ParseShare(r.MinLift)
		switch {
		case err != nil:
			c.errorf(sub(p, "min_lift"), "NRT211", `write a percentage with up to two decimals, like "20%"`, "min_lift: %v", err)
		case l <= 0:
			c.errorf(sub(p, "min_lift"), "NRT211", "a lift of 0% is no lift: leave min_lift out for the default, 20%", "min_lift is %s", r.MinLift)
		default:
			lift = l
		}
	}
	if r.Metric == campaigns.MetricClick {
		r.Metric = ""
	}
	return r.Metric, lift
}

// metrics checks that each A/B send is judged by a metric the report can
// count: clicks, replies, or one of the programme's goals. A misspelt
// metric would otherwise judge the arms on nothing.
func (c *checker) metrics() {
	known := []string{campaigns.MetricClick, campaigns.MetricReply}
	if g := c.prog.Goals; g != nil {
		known = append(known, g.Exits...)
		if g.Stage != "" {
			known = append(known, g.Stage)
		}
	}
	for _, name := range sortedKeys(c.prog.Sequences) {
		for i, st := range c.prog.Sequences[name].Steps {
			if st.Metric == "" || slices.Contains(known, st.Metric) {
				continue
			}
			otherwise := `judge it by "click", "reply" or one of ` + strings.Join(known[2:], ", ")
			if len(known) == 2 {
				otherwise = `judge it by "click" or "reply", or declare the goal: goals: {exits: ["converted"]} or goals: stage: "sql"`
			}
			detail := c.suggest(st.Metric, known, otherwise)
			c.errorf([]string{"sequences", name, "steps", itoa(i), "send", "metric"}, "NRT211", detail,
				"metric %q is not click, reply or one of the programme's goals", st.Metric)
		}
	}
}

// useEmail checks an email path, records that a step sends it and returns
// the path in its clean form.
func (c *checker) useEmail(p []string, file, kind string) string {
	clean := path.Clean(file)
	switch {
	case file == "":
		c.errorf(p, "NRT103", "name a Markdown file in the programme directory", "empty email path")
		return file
	case path.IsAbs(file) || filepath.IsAbs(file) || clean == ".." || strings.HasPrefix(clean, "../"):
		c.errorf(p, "NRT103", "email paths are relative to the programme directory and stay inside it", "email %q is outside the programme directory", file)
		return file
	case path.Ext(clean) != ".md":
		c.errorf(p, "NRT103", "emails are Markdown files ending in .md", "email %q is not a Markdown file", file)
		return file
	}
	u := c.emails[clean]
	if u == nil {
		u = &emailUse{path: p, kind: kind, kinds: map[string][]string{}, seqs: map[string][]string{}}
		c.emails[clean] = u
	}
	if len(p) > 1 && p[0] == "sequences" {
		if _, ok := u.seqs[p[1]]; !ok {
			u.seqs[p[1]] = p
		}
	}
	if _, ok := u.kinds[kind]; !ok {
		u.kinds[kind] = p
	}
	return clean
}

// from checks a sequence's or a step's sender: the attributes it takes
// the name and address from are declared, and hold text; an address on
// another domain than the programme's sender is warned about, since the
// mail would fail DMARC alignment unless that domain signs it too. (An
// attribute's address is the contact data's: it cannot be checked here.)
func (c *checker) from(p []string, r *rawFrom) *campaigns.From {
	if r == nil {
		return nil
	}
	f := &campaigns.From{Name: r.Name, Email: r.Email, ReplyTo: r.ReplyTo, NameAttribute: r.NameAttribute, EmailAttribute: r.EmailAttribute}
	for _, a := range []struct{ field, name string }{{"name_attribute", r.NameAttribute}, {"email_attribute", r.EmailAttribute}} {
		if a.name == "" {
			continue
		}
		attr := c.prog.Contact.Attributes[a.name]
		switch {
		case attr == nil:
			c.errorf(sub(p, a.field), "NRT444", c.suggest(a.name, keysOf(c.prog.Contact.Attributes), "declare it under contact.attributes with type: \"string\""),
				"sender %s names unknown contact attribute %q", a.field, a.name)
		case attr.Type != campaigns.TypeString:
			c.errorf(sub(p, a.field), "NRT444", "a sender's name and address come from string attributes, say owner_email: {type: \"string\"}",
				"sender %s names attribute %s, of type %s", a.field, a.name, attr.Type)
		}
	}
	domain := func(addr string) string {
		_, d, _ := strings.Cut(addr, "@")
		return strings.ToLower(d)
	}
	if home := domain(c.prog.Sender.FromEmail); home != "" {
		if d := domain(r.Email); d != "" && d != home && !strings.HasSuffix(d, "."+home) {
			c.warnf(sub(p, "email"), "NRT445", "mail from another domain fails DMARC alignment unless that domain signs it too (DKIM): use an address at "+home+", or sign for "+d,
				"sender email %s is not on the programme's domain %s", r.Email, home)
		}
	}
	return f
}
