package compiler

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/nurture-dev/nurture/campaigns"
)

// triggerUse is one {{ trigger.PROP }} tag of an email.
type triggerUse struct {
	pos      Pos
	prop     string
	fallback bool
}

// noTrigger stands, among the events that may have brought a contact to
// a step, for none: a sequence entered by a segment or by hand, or a
// wait_for that timed out in one.
const noTrigger = ""

// triggers checks every {{ trigger.PROP }} tag against the events that
// may have brought a contact to each step sending its email: the event
// that entered the contact in the sequence, or after a wait_for that the
// event answered, that event. Each of them must declare the property; a
// step that no event reaches cannot read one.
func (c *checker) triggers() {
	if len(c.triggerUses) == 0 {
		return
	}
	enrolled := c.enrolledBy()
	for _, name := range sortedKeys(c.prog.Sequences) {
		s := c.prog.Sequences[name]
		if len(s.Steps) == 0 {
			continue
		}
		at := c.triggerFlow(name, s, enrolled[name] != "")
		for i, st := range s.Steps {
			for _, v := range st.Send {
				abs := filepath.Join(c.dir, filepath.FromSlash(v.Email))
				for _, u := range c.triggerUses[abs] {
					c.triggerUse(name, s, st.Name, at[i], enrolled[name], u)
				}
			}
		}
	}
}

// triggerUse checks one tag of an email that step of sequence name
// sends, reached with one of the events in events.
func (c *checker) triggerUse(name string, s *campaigns.Sequence, step string, events []string, enrolledBy string, u triggerUse) {
	tag := "{{ " + campaigns.TriggerPrefix + u.prop + " }}"
	var named []string
	for _, ev := range events {
		if ev != noTrigger {
			named = append(named, ev)
		}
	}
	if len(named) == 0 {
		c.diags = append(c.diags, Diagnostic{Pos: u.pos, Code: "NRT441",
			Summary: fmt.Sprintf("%s in an email of sequence %s (step %s), which no event brings contacts to", tag, name, step),
			Detail: "trigger.PROP reads the event that entered the contact in the sequence (entry: event:) or that a wait_for before the step waited for; " +
				"merge a contact attribute instead, or send this email from a sequence an event enters"})
		return
	}
	for _, ev := range named {
		et := c.prog.Events[ev]
		if et == nil {
			continue // reported where the event is named
		}
		p := et.Properties[u.prop]
		if p == nil {
			c.diags = append(c.diags, Diagnostic{Pos: u.pos, Code: "NRT442",
				Summary: fmt.Sprintf("%s: event %s, which brings contacts to step %s of sequence %s, has no property %s", tag, ev, step, name, u.prop),
				Detail:  c.suggest(u.prop, keysOf(et.Properties), "declare it under events."+ev+".properties, or merge a property the event declares")})
			continue
		}
		if !p.Required && !u.fallback {
			c.diags = append(c.diags, Diagnostic{Pos: u.pos, Severity: Warning, Code: "NRT404",
				Summary: fmt.Sprintf("optional property %s of event %s has no fallback", u.prop, ev),
				Detail:  fmt.Sprintf("an event without %s would leave a gap: write {{ trigger.%s | default \"...\" }}", u.prop, u.prop)})
		}
	}
	if slices.Contains(events, noTrigger) && !u.fallback {
		why := "a wait_for that timed out"
		if enrolledBy != "" {
			why = "enrolled by " + enrolledBy
		}
		c.diags = append(c.diags, Diagnostic{Pos: u.pos, Severity: Warning, Code: "NRT443",
			Summary: fmt.Sprintf("%s has no fallback, and some contacts reach step %s of sequence %s without a triggering event (%s)", tag, step, name, why),
			Detail:  fmt.Sprintf("they would see a gap: write {{ trigger.%s | default \"...\" }}", u.prop)})
	}
}

// triggerFlow returns, for each step of a sequence, the events that may
// have brought a contact to it (noTrigger for none), sorted: the entry
// event at the first step, then along the steps; the way a wait_for
// answered leads carries its event.
func (c *checker) triggerFlow(name string, s *campaigns.Sequence, enrolled bool) [][]string {
	g := c.graph(name, s)
	at := make([]map[string]bool, len(s.Steps))
	for i := range at {
		at[i] = map[string]bool{}
	}
	if s.Entry.Event != nil {
		at[0][s.Entry.Event.Name] = true
	}
	if s.Entry.Event == nil || enrolled {
		at[0][noTrigger] = true
	}
	for changed := true; changed; {
		changed = false
		for i, st := range s.Steps {
			for k, e := range g[i] {
				if e.to == end {
					continue
				}
				carry := at[i]
				if st.Kind == campaigns.StepWaitFor && k == 0 {
					carry = map[string]bool{st.WaitFor.Event.Name: true}
				}
				for ev := range carry {
					if !at[e.to][ev] {
						at[e.to][ev] = true
						changed = true
					}
				}
			}
		}
	}
	out := make([][]string, len(at))
	for i, m := range at {
		out[i] = sortedKeys(m)
	}
	return out
}

// enrolledBy names, for each sequence another part of the programme
// enrolls contacts in (a step, an exit rule, a hand-off's return), the
// first such place: those contacts come without a triggering event.
func (c *checker) enrolledBy() map[string]string {
	out := map[string]string{}
	note := func(seq, by string) {
		if _, ok := out[seq]; !ok && seq != "" {
			out[seq] = by
		}
	}
	for _, name := range sortedKeys(c.prog.Sequences) {
		s := c.prog.Sequences[name]
		for _, st := range s.Steps {
			if st.Kind == campaigns.StepEnroll {
				note(st.Enroll, "step "+st.Name+" of sequence "+name)
			}
		}
		for _, x := range s.Exits {
			note(x.Enroll, "exit rule "+x.Reason+" of sequence "+name)
		}
	}
	for _, x := range c.prog.Exits {
		note(x.Enroll, "exit rule "+x.Reason)
	}
	for _, name := range sortedKeys(c.prog.Handoffs) {
		note(c.prog.Handoffs[name].ReturnEnroll, "the return of hand-off "+name)
	}
	return out
}
