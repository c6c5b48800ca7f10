package compiler

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
)

// Diff compares the applied programme (nil when nothing was applied) with
// a new one and returns what changes, object by object in a stable order,
// and what becomes of the contacts in renamed or removed steps. It looks
// at definitions only; the audience impact is the runtime's to count.
func Diff(old, new *campaigns.Program) ([]campaigns.Change, []campaigns.Migration) {
	if old == nil {
		old = &campaigns.Program{}
	}
	var d differ
	d.single("sender", "sender", old.Sender, new.Sender, old.FormatVersion == 0, diffFields)
	d.single("contact", "contact", old.Contact, new.Contact, old.FormatVersion == 0, diffContact)
	d.single("accounts", "accounts", old.Accounts, new.Accounts, old.FormatVersion == 0, diffFields)
	d.single("cadence", "cadence", old.Cadence, new.Cadence, old.FormatVersion == 0, diffCadence)
	d.single("exits", "exits", old.Exits, new.Exits, old.FormatVersion == 0 && len(new.Exits) > 0, diffExits)
	if old.Layout != nil || new.Layout != nil {
		d.single("layout", "layout", old.Layout, new.Layout, old.FormatVersion == 0, diffFields)
	}
	if old.Goals != nil || new.Goals != nil {
		d.single("goals", "goals", old.Goals, new.Goals, old.FormatVersion == 0, diffFields)
	}
	if old.Preferences != nil || new.Preferences != nil {
		d.single("preferences", "preferences", old.Preferences, new.Preferences, old.FormatVersion == 0, diffFields)
	}
	if old.Holdout != 0 || new.Holdout != 0 {
		d.single("holdout", "holdout", old.Holdout, new.Holdout, old.FormatVersion == 0, diffHoldout)
	}
	named(&d, "events", "event", declared(old.Events), declared(new.Events), diffEvent)
	named(&d, "scoring", "scoring_model", old.Scoring, new.Scoring, diffScoring)
	named(&d, "segments", "segment", old.Segments, new.Segments, diffSegment)
	named(&d, "sequences", "sequence", old.Sequences, new.Sequences, diffSequence)
	named(&d, "handoffs", "handoff", old.Handoffs, new.Handoffs, func(a, b *campaigns.Handoff) []campaigns.Detail { return diffFields(a, b) })
	named(&d, "emails", "email", old.Emails, new.Emails, diffEmail)
	return d.changes, migrations(old, new)
}

// Summarize counts changes by action.
func Summarize(changes []campaigns.Change) campaigns.PlanSummary {
	var s campaigns.PlanSummary
	for _, c := range changes {
		switch c.Action {
		case campaigns.ActionAdd:
			s.Add++
		case campaigns.ActionRemove:
			s.Remove++
		default:
			s.Change++
		}
	}
	return s
}

type differ struct{ changes []campaigns.Change }

// single compares an object every programme has once. A first plan shows
// it as added.
func (d *differ) single(addr, kind string, a, b any, first bool, details func(a, b any) []campaigns.Detail) {
	if first {
		d.changes = append(d.changes, campaigns.Change{Address: addr, Kind: kind, Action: campaigns.ActionAdd, Details: details(nil, b)})
		return
	}
	if campaigns.Hash(a) == campaigns.Hash(b) {
		return
	}
	ds := details(a, b)
	if len(ds) == 0 {
		return // only what no reviewer reads changed (null for an empty list, say)
	}
	d.changes = append(d.changes, campaigns.Change{Address: addr, Kind: kind, Action: campaigns.ActionChange, Details: ds})
}

// named compares a map of named objects: added, changed, removed, by name.
func named[T any](d *differ, group, kind string, old, new map[string]*T, details func(a, b *T) []campaigns.Detail) {
	names := map[string]bool{}
	for n := range old {
		names[n] = true
	}
	for n := range new {
		names[n] = true
	}
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	}) {
		a, b := old[n], new[n]
		c := campaigns.Change{Address: group + "." + n, Kind: kind, Name: n}
		switch {
		case a == nil:
			c.Action, c.Details = campaigns.ActionAdd, details(nil, b)
		case b == nil:
			c.Action = campaigns.ActionRemove
		case campaigns.Hash(a) != campaigns.Hash(b):
			c.Action, c.Details = campaigns.ActionChange, details(a, b)
			if len(c.Details) == 0 {
				continue // only what no reviewer reads changed (key order, say)
			}
		default:
			continue
		}
		d.changes = append(d.changes, c)
	}
}

// lines is an ordered list of path → one-line description: what a part of
// an object does, in words. Comparing two such lists gives the details.
type lines []line

type line struct{ path, text string }

func (ls *lines) add(path, text string) { *ls = append(*ls, line{path, text}) }

// compare returns the details between two descriptions of an object: the
// paths added, changed and removed, in the order of b, removals after.
func compare(a, b lines) []campaigns.Detail {
	old := map[string]string{}
	for _, l := range a {
		old[l.path] = l.text
	}
	seen := map[string]bool{}
	var out []campaigns.Detail
	for _, l := range b {
		seen[l.path] = true
		before, ok := old[l.path]
		switch {
		case !ok:
			out = append(out, campaigns.Detail{Action: campaigns.ActionAdd, Path: l.path, After: l.text})
		case before != l.text:
			out = append(out, campaigns.Detail{Action: campaigns.ActionChange, Path: l.path, Before: before, After: l.text})
		}
	}
	for _, l := range a {
		if !seen[l.path] {
			out = append(out, campaigns.Detail{Action: campaigns.ActionRemove, Path: l.path, Before: l.text})
		}
	}
	return out
}

// diffFields describes objects with no better words field by field, in
// canonical JSON, a line per leaf.
func diffFields(a, b any) []campaigns.Detail {
	return compare(fieldLines(a), fieldLines(b))
}

// fieldLines flattens v's canonical JSON into one line per leaf field;
// maps and objects nest with dots, lists stay on one line.
func fieldLines(v any) lines {
	var ls lines
	if v == nil {
		return ls
	}
	var tree any
	b, _ := campaigns.Canonical(v)
	_ = json.Unmarshal(b, &tree)
	var walk func(prefix string, t any)
	walk = func(prefix string, t any) {
		m, ok := t.(map[string]any)
		if !ok || len(m) == 0 {
			if prefix != "" {
				ls.add(prefix, canonicalLine(t))
			}
			return
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		}) {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, m[k])
		}
	}
	walk("", tree)
	return ls
}

func diffExits(a, b any) []campaigns.Detail {
	describe := func(v any) lines {
		var ls lines
		rs, _ := v.([]campaigns.ExitRule)
		for i, r := range rs {
			ls.add(fmt.Sprintf("exit[%d]", i+1), describeExit(r))
		}
		return ls
	}
	return compare(describe(a), describe(b))
}

func describeAttr(a *campaigns.Attribute) string {
	s := a.Type
	if len(a.Values) > 0 {
		s += " " + canonicalLine(a.Values)
	}
	if a.Required {
		s += ", required"
	}
	if a.Description != "" {
		s += " — " + a.Description
	}
	return s
}

func diffContact(a, b any) []campaigns.Detail {
	describe := func(v any) lines {
		var ls lines
		c, ok := v.(campaigns.ContactSchema)
		if !ok {
			return ls
		}
		ls.add("stages", strings.Join(c.Stages, " → "))
		for _, n := range sortedKeys(c.Attributes) {
			if at := c.Attributes[n]; !at.Builtin || len(at.Values) > 0 {
				ls.add("attributes."+n, describeAttr(at))
			}
		}
		return ls
	}
	return compare(describe(a), describe(b))
}

func diffEvent(a, b *campaigns.EventType) []campaigns.Detail {
	describe := func(e *campaigns.EventType) lines {
		var ls lines
		if e == nil {
			return ls
		}
		if len(e.Properties) == 0 {
			ls.add("properties", "none")
		}
		for _, n := range sortedKeys(e.Properties) {
			ls.add("properties."+n, describeAttr(e.Properties[n]))
		}
		if e.Description != "" {
			ls.add("description", strconv.Quote(e.Description))
		}
		return ls
	}
	return compare(describe(a), describe(b))
}

func diffCadence(a, b any) []campaigns.Detail {
	describe := func(v any) lines {
		var ls lines
		c, ok := v.(campaigns.Cadence)
		if !ok {
			return ls
		}
		if len(c.Limits) > 0 {
			ls.add("limits", describeLimits(c.Limits))
		}
		if len(c.PerAccount) > 0 {
			ls.add("per_account", describeLimits(c.PerAccount))
		}
		if q := c.QuietHours; q != nil {
			ls.add("quiet_hours", q.From.String()+"–"+q.To.String())
		}
		if len(c.BusinessDays) > 0 {
			ls.add("business_days", strings.Join(c.BusinessDays, ","))
		}
		ls.add("default_timezone", c.DefaultTimezone)
		if b := c.Blackout; b != nil {
			if len(b.Dates) > 0 {
				ls.add("blackout.dates", describeSpans(b.Dates))
			}
			for _, code := range sortedKeys(b.Countries) {
				ls.add("blackout.countries."+code, describeSpans(b.Countries[code]))
			}
		}
		return ls
	}
	return compare(describe(a), describe(b))
}

// describeSpans lists blackout dates as a programme writes them.
func describeSpans(ss []campaigns.DateSpan) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.String()
	}
	return strings.Join(out, ", ")
}

func diffScoring(a, b *campaigns.ScoringModel) []campaigns.Detail {
	describe := func(m *campaigns.ScoringModel) lines {
		var ls lines
		if m == nil {
			return ls
		}
		for _, n := range sortedKeys(m.Fit) {
			ls.add("fit."+n, describeFit(m.Fit[n]))
		}
		for _, n := range sortedKeys(m.Behavior) {
			ls.add("behavior."+n, describeBehavior(m.Behavior[n]))
		}
		if m.HalfLife != 0 {
			ls.add("decay.half_life", m.HalfLife.String())
		}
		ls.add("max", strconv.Itoa(m.Max))
		for _, n := range sortedKeys(m.Thresholds) {
			ls.add("thresholds."+n, describeValue(m.Thresholds[n]))
		}
		if m.Description != "" {
			ls.add("description", strconv.Quote(m.Description))
		}
		return ls
	}
	return compare(describe(a), describe(b))
}

func diffSegment(a, b *campaigns.Segment) []campaigns.Detail {
	describe := func(s *campaigns.Segment) lines {
		var ls lines
		if s == nil {
			return ls
		}
		ls.add("when", describePredicate(s.When))
		if s.Description != "" {
			ls.add("description", strconv.Quote(s.Description))
		}
		return ls
	}
	return compare(describe(a), describe(b))
}

// diffHoldout compares two programme-wide holdouts.
func diffHoldout(a, b any) []campaigns.Detail {
	describe := func(v any) lines {
		var ls lines
		if h, _ := v.(campaigns.Share); h > 0 {
			ls.add("holdout", h.String())
		}
		return ls
	}
	return compare(describe(a), describe(b))
}

// diffSequence compares two sequences: settings and exits as lines, and
// steps by name — added, changed, removed, renamed (moved) and reordered.
func diffSequence(a, b *campaigns.Sequence) []campaigns.Detail {
	settings := func(s *campaigns.Sequence) lines {
		var ls lines
		if s == nil {
			return ls
		}
		switch {
		case s.Entry.Segment != "":
			ls.add("entry", "segment "+s.Entry.Segment)
		case s.Entry.Event != nil && s.Entry.When != nil:
			ls.add("entry", "event "+describeEvent(*s.Entry.Event)+" when "+describePredicate(*s.Entry.When))
		case s.Entry.Event != nil:
			ls.add("entry", "event "+describeEvent(*s.Entry.Event))
		default:
			ls.add("entry", "manual")
		}
		re := s.Reentry.Policy
		if s.Reentry.Policy == campaigns.ReentryAfter {
			re = "after " + s.Reentry.After.String()
		}
		ls.add("reentry", re)
		ls.add("priority", strconv.Itoa(s.Priority))
		if s.TransactionalReason != "" {
			ls.add("transactional", strconv.Quote(s.TransactionalReason))
		}
		if len(s.Cap) > 0 {
			ls.add("cap", describeLimits(s.Cap))
		}
		if s.Topic != "" {
			ls.add("topic", s.Topic)
		}
		if s.Sender != nil {
			ls.add("sender", describeFrom(*s.Sender))
		}
		if s.Holdout > 0 {
			ls.add("holdout", s.Holdout.String())
		}
		for i, e := range s.Exits {
			ls.add(fmt.Sprintf("exit[%d]", i+1), describeExit(e))
		}
		if s.Description != "" {
			ls.add("description", strconv.Quote(s.Description))
		}
		ls.add("utm", canonicalLine(s.UTM))
		if s.Layout != nil {
			for _, l := range fieldLines(s.Layout) {
				ls.add("layout."+l.path, l.text)
			}
		}
		return ls
	}
	out := compare(settings(a), settings(b))
	if b == nil {
		return out
	}
	var oldSteps []campaigns.Step
	if a != nil {
		oldSteps = a.Steps
	}
	// Match each new step to the old one it continues: the same name, or
	// the name it was moved from.
	from := map[string]string{} // new name → old name
	for _, st := range b.Steps {
		if a != nil && a.StepIndex(st.Name) >= 0 {
			from[st.Name] = st.Name
		}
	}
	for o, n := range b.Moved {
		if a != nil && a.StepIndex(o) >= 0 {
			from[n] = o
		}
	}
	var steps []campaigns.Detail
	matched := map[string]bool{}
	var order []int // old index of each matched new step, in new order
	for i, st := range b.Steps {
		path := "steps." + st.Name
		o, ok := from[st.Name]
		if !ok {
			steps = append(steps, campaigns.Detail{Action: campaigns.ActionAdd, Path: path,
				After: fmt.Sprintf("#%d %s", i+1, describeStep(st))})
			continue
		}
		matched[o] = true
		old := oldSteps[a.StepIndex(o)]
		order = append(order, a.StepIndex(o))
		if o != st.Name {
			steps = append(steps, campaigns.Detail{Action: campaigns.ActionMove, Path: path,
				Before: "steps." + o, After: path})
		}
		old.Name = st.Name
		if !cmp.Equal(old, st) {
			steps = append(steps, campaigns.Detail{Action: campaigns.ActionChange, Path: path,
				Before: describeStep(old), After: describeStep(st)})
		}
	}
	for _, st := range oldSteps {
		if !matched[st.Name] {
			steps = append(steps, campaigns.Detail{Action: campaigns.ActionRemove, Path: "steps." + st.Name,
				Before: describeStep(st)})
		}
	}
	if a != nil && !sort.IntsAreSorted(order) {
		names := func(ss []campaigns.Step, keep func(campaigns.Step) bool) string {
			var ns []string
			for _, s := range ss {
				if keep(s) {
					ns = append(ns, s.Name)
				}
			}
			return strings.Join(ns, ", ")
		}
		steps = append(steps, campaigns.Detail{Action: campaigns.ActionMove, Path: "steps",
			Before: names(a.Steps, func(s campaigns.Step) bool { return matched[s.Name] }),
			After:  names(b.Steps, func(s campaigns.Step) bool { _, ok := from[s.Name]; return ok })})
	}
	return append(out, steps...)
}

func diffEmail(a, b *campaigns.Email) []campaigns.Detail {
	meta := func(e *campaigns.Email) lines {
		var ls lines
		if e == nil {
			return ls
		}
		ls.add("kind", e.Kind)
		for _, s := range e.Subjects {
			path := "subject"
			if len(e.Subjects) > 1 {
				path = "subject." + s.Name
			}
			text := describeTemplate(s.Subject)
			if len(e.Subjects) > 1 {
				text += fmt.Sprintf(" (%d%%)", s.Weight)
			}
			ls.add(path, text)
		}
		if len(e.Preheader) > 0 {
			ls.add("preheader", describeTemplate(e.Preheader))
		}
		if e.Metric != "" {
			ls.add("metric", e.Metric)
		}
		// The look it was compiled in: a layout change changes the email.
		if e.Layout != nil {
			var parts []string
			for _, l := range fieldLines(e.Layout) {
				parts = append(parts, l.path+" "+l.text)
			}
			ls.add("layout", strings.Join(parts, ", "))
		}
		return ls
	}
	out := compare(meta(a), meta(b))
	if a == nil && b != nil {
		n := strings.Count(strings.TrimSuffix(b.Source, "\n"), "\n") + 1
		out = append(out, campaigns.Detail{Action: campaigns.ActionAdd, Path: "body", After: fmt.Sprintf("%s of Markdown, %s", count(n, "line"), count(len(b.Links), "link"))})
		return out
	}
	var before string
	if a != nil {
		before = a.Source
	}
	if b != nil && before != b.Source {
		out = append(out, campaigns.Detail{Action: campaigns.ActionChange, Path: "body", Diff: textDiff(before, b.Source)})
	}
	return out
}

// textDiff is a unified diff of two texts, without file headers.
func textDiff(a, b string) string {
	if a != "" && !strings.HasSuffix(a, "\n") {
		a += "\n"
	}
	if b != "" && !strings.HasSuffix(b, "\n") {
		b += "\n"
	}
	edits := udiff.Strings(a, b)
	u, err := udiff.ToUnified("before", "after", a, edits, 3)
	if err != nil {
		return ""
	}
	// Drop the ---/+++ header: the plan names the email.
	_, body, _ := strings.Cut(u, "+++ after\n")
	return body
}

// migrations works out what becomes of the contacts in each step of old
// that new renames or removes, and in each sequence new removes. A
// removal the programme declares goes as declared; one it does not is
// marked, with the added step it most likely became, so that a plan can
// refuse to move contacts nobody said where to put.
func migrations(old, new *campaigns.Program) []campaigns.Migration {
	var out []campaigns.Migration
	for _, name := range sortedKeys(old.Sequences) {
		a, b := old.Sequences[name], new.Sequences[name]
		if b == nil {
			out = append(out, campaigns.Migration{Sequence: name, Exit: campaigns.ExitSequenceRemoved, Why: "sequence removed"})
			continue
		}
		for i, st := range a.Steps {
			if b.StepIndex(st.Name) >= 0 {
				continue
			}
			if to, ok := b.Moved[st.Name]; ok {
				out = append(out, campaigns.Migration{Sequence: name, Step: st.Name, To: to, Why: "step renamed (moved)"})
				continue
			}
			m := campaigns.Migration{Sequence: name, Step: st.Name}
			decl, declared := b.Removed[st.Name]
			if decl != campaigns.RemovedExit {
				// The next old step that survives, under its new name.
				for _, next := range a.Steps[i+1:] {
					if to := survivor(b, next.Name); to != "" {
						m.To = to
						break
					}
				}
			}
			if m.To == "" {
				m.Exit = campaigns.ExitStepRemoved
			}
			switch {
			case decl == campaigns.RemovedExit:
				m.Why = "step removed (declared: exit)"
			case declared && m.To != "":
				m.Why = "step removed (declared: next)"
			case declared:
				m.Why = "step removed (declared: next); no later step remains"
			default:
				m.Undeclared = true
				m.Like = sameAs(a, b, st)
				m.Why = "step removed; contacts go on to the next remaining step"
				if m.To == "" {
					m.Why = "step removed; no later step remains"
				}
				if m.Like != "" {
					m.Why += fmt.Sprintf("; added step %s does the same: if it is a rename, declare moved: %s: %q", m.Like, st.Name, m.Like)
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// sameAs is the step b adds (one a does not have and b does not move a
// step into) that does what st did, if exactly one does.
func sameAs(a, b *campaigns.Sequence, st campaigns.Step) string {
	into := map[string]bool{}
	for _, to := range b.Moved {
		into[to] = true
	}
	like := ""
	for _, n := range b.Steps {
		if a.StepIndex(n.Name) >= 0 || into[n.Name] {
			continue
		}
		added := n.Name
		n.Name = st.Name
		if cmp.Equal(n, st) {
			if like != "" {
				return ""
			}
			like = added
		}
	}
	return like
}

// survivor is the name step has in b, if b keeps it.
func survivor(b *campaigns.Sequence, step string) string {
	if b.StepIndex(step) >= 0 {
		return step
	}
	return b.Moved[step]
}

// declared leaves out the built-in events, which no programme changes.
func declared(events map[string]*campaigns.EventType) map[string]*campaigns.EventType {
	out := map[string]*campaigns.EventType{}
	for n, e := range events {
		if !e.Builtin {
			out[n] = e
		}
	}
	return out
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
