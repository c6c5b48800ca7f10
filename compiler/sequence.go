package compiler

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
)

// emailUse records where an email file is sent from.
type emailUse struct {
	path  []string // the first send step naming it
	kind  string
	kinds map[string][]string // kind → first step path of that kind
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
		kind := campaigns.KindMarketing
		if s.Transactional() {
			kind = campaigns.KindTransactional
		}
		s.Steps = c.steps(sub(p, "steps"), r.Steps, kind)
		s.Exits = c.exitRules(sub(p, "exit"), r.Exit)
		s.Moved = c.moved(sub(p, "moved"), r.Moved, s)
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
	taken := map[string]bool{}
	for i, r := range rs {
		if r.Name != "" {
			if j, dup := explicit[r.Name]; dup {
				c.errorf(sub(p, itoa(i), "name"), "NRT110", fmt.Sprintf("step %d has this name already; step names are unique in a sequence", j+1),
					"duplicate step name %q", r.Name)
			}
			explicit[r.Name] = i
			taken[r.Name] = true
		}
	}
	counts := map[string]int{}
	for i, r := range rs {
		sp := sub(p, itoa(i))
		st := c.step(sp, r, kind)
		counts[st.Kind]++
		st.Name = r.Name
		if st.Name == "" {
			st.Name = defaultStepName(st, counts[st.Kind], taken)
			taken[st.Name] = true
		}
		steps = append(steps, st)
	}
	return steps
}

// defaultStepName names a step its author left unnamed: a send after its
// email's file name, others after their kind and ordinal.
func defaultStepName(st campaigns.Step, ordinal int, taken map[string]bool) string {
	base := fmt.Sprintf("%s_%d", st.Kind, ordinal)
	if st.Kind == campaigns.StepSend && len(st.Send) == 1 {
		if n := slug(st.Send[0].Email); n != "" {
			base = n
		}
	}
	name := base
	for k := 2; taken[name]; k++ {
		name = fmt.Sprintf("%s_%d", base, k)
	}
	return name
}

// slug turns "emails/welcome/01-Getting started.md" into "getting_started".
func slug(file string) string {
	base := strings.TrimSuffix(path.Base(file), path.Ext(file))
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9' && b.Len() > 0:
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
	if r.Demote && st.Kind != campaigns.StepSet {
		c.errorf(sub(p, "demote"), "NRT209", "demote goes with a set step that moves the stage back", "a %s step has no demote", st.Kind)
	}
	if (r.Then != nil || r.Else != nil) && st.Kind != campaigns.StepWaitFor && st.Kind != campaigns.StepBranch {
		c.errorf(sub(p, thenOrElse(r)), "NRT209", "then and else go with wait_for and branch steps", "a %s step has no then or else", st.Kind)
	}
	switch st.Kind {
	case campaigns.StepSend:
		st.Send = c.send(sub(p, "send"), r.Send, kind)
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
			Email  string `json:"email"`
			Weight int    `json:"weight"`
		} `json:"variants"`
	}
	_ = json.Unmarshal(raw, &r)
	var out []campaigns.Variant
	sum := 0
	for _, name := range sortedKeys(r.Variants) {
		v := r.Variants[name]
		email := c.useEmail(sub(p, "variants", name, "email"), v.Email, kind)
		out = append(out, campaigns.Variant{Name: name, Email: email, Weight: v.Weight})
		sum += v.Weight
	}
	if len(out) < 2 {
		c.errorf(sub(p, "variants"), "NRT204", "an A/B test has two variants or more; for one email write send: \"path.md\"", "an A/B send with %d variant", len(out))
	} else if sum != 100 {
		c.errorf(sub(p, "variants"), "NRT204", "weights are percentages of contacts: make them add up to 100", "A/B weights sum to %d, not 100", sum)
	}
	return out
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
		u = &emailUse{path: p, kind: kind, kinds: map[string][]string{}}
		c.emails[clean] = u
	}
	if _, ok := u.kinds[kind]; !ok {
		u.kinds[kind] = p
	}
	return clean
}
