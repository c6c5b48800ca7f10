package compiler

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// topics reads sender.topics: a label, or {label, description}, in the
// order written, which the preference page keeps. The order is the
// position of each topic in the user's files: CUE's exported JSON is a
// map, and the page should not list topics by key.
func (c *checker) topics(raw map[string]json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	s := &c.prog.Sender
	s.Topics = map[string]string{}
	for name, v := range raw {
		var label string
		if json.Unmarshal(v, &label) != nil {
			var t struct {
				Label       string `json:"label"`
				Description string `json:"description"`
			}
			_ = json.Unmarshal(v, &t)
			label = t.Label
			if t.Description != "" {
				if s.TopicNotes == nil {
					s.TopicNotes = map[string]string{}
				}
				s.TopicNotes[name] = t.Description
			}
		}
		s.Topics[name] = label
		s.TopicOrder = append(s.TopicOrder, name)
	}
	slices.SortFunc(s.TopicOrder, func(a, b string) int {
		pa, pb := c.src.pathPos([]string{"sender", "topics", a}), c.src.pathPos([]string{"sender", "topics", b})
		return cmp.Or(cmp.Compare(pa.File, pb.File), cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Col, pb.Col), cmp.Compare(a, b))
	})
	if slices.IsSorted(s.TopicOrder) {
		// The page's order without it: a programme that wrote its
		// topics by name keeps the hash it had.
		s.TopicOrder = nil
	}
}

// Pause choices: at least a day, at most a year. Shorter is no pause
// worth a page; longer is an unsubscribe, which the page offers beside.
const (
	minPause = 24 * time.Hour
	maxPause = 365 * 24 * time.Hour
)

// preferences reads what the preference page offers (NRT212, NRT213).
func (c *checker) preferences() {
	r := c.raw.Preferences
	if r == nil {
		return
	}
	p := &campaigns.Preferences{}
	path := []string{"preferences"}
	seen := map[string]bool{}
	for i, f := range r.Frequencies {
		fp := sub(path, "frequencies", itoa(i))
		fr := campaigns.Frequency{Name: f.Name, Label: f.Label, Limit: campaigns.Limit{Max: f.Max, Per: c.durationString(sub(fp, "per"), f.Per)}}
		if seen[f.Name] {
			c.errorf(sub(fp, "name"), "NRT212", "give each frequency its own name: a contact's choice is stored by name",
				"frequency %s is declared twice", f.Name)
			continue
		}
		seen[f.Name] = true
		for j, l := range c.prog.Cadence.Limits {
			if l.Per >= fr.Limit.Per && l.Max <= fr.Limit.Max {
				c.warnf(sub(fp, "per"), "NRT212",
					fmt.Sprintf("a contact who chooses it gets what every contact gets: make it stricter than the cadence's %d per %s, or remove it", l.Max, l.Per),
					"frequency %s (%s) changes nothing: cadence.limits[%d] already allows at most %d per %s", f.Name, fr.Describe(), j, l.Max, l.Per)
				break
			}
		}
		p.Frequencies = append(p.Frequencies, fr)
	}
	pauses := map[campaigns.Duration]bool{}
	for i, s := range r.Pause {
		pp := sub(path, "pause", itoa(i))
		d := c.durationString(pp, s)
		switch {
		case d.Std() < minPause || d.Std() > maxPause:
			c.errorf(pp, "NRT213", "offer a pause of a day to a year: \"30d\", \"90d\"; to stop for good the page offers unsubscribing",
				"pause %q is not between a day and a year", s)
			continue
		case pauses[d]:
			c.errorf(pp, "NRT213", "remove the second one", "pause %q is offered twice", s)
			continue
		}
		pauses[d] = true
		p.Pause = append(p.Pause, d)
	}
	c.prog.Preferences = p
}

// scenarioPreferences checks a scenario's choice on the preference page
// against what the page offers.
func (c *checker) scenarioPreferences(path []string, frequency, pause string, resume bool, x *campaigns.Happening) {
	if frequency != "" {
		var names []string
		for _, f := range c.prog.Frequencies() {
			names = append(names, f.Name)
		}
		if !slices.Contains(names, frequency) {
			c.errorf(sub(path, "frequency"), "NRT212", c.suggest(frequency, names, "the page offers "+strings.Join(names, ", ")),
				"the preference page offers no frequency %q", frequency)
		}
	}
	if pause == "" {
		return
	}
	d := c.durationString(sub(path, "pause"), pause)
	if resume {
		c.errorf(sub(path, "resume"), "NRT213", "write two happenings: one that pauses, a later one that resumes", "a happening cannot both pause and resume")
	}
	if !slices.Contains(c.prog.PauseChoices(), d) {
		var offered []string
		for _, o := range c.prog.PauseChoices() {
			offered = append(offered, o.String())
		}
		detail := "declare preferences: pause: [\"" + pause + "\"] for the page to offer it"
		if len(offered) > 0 {
			detail = "the page offers " + strings.Join(offered, ", ") + "; declare it under preferences.pause"
		}
		c.errorf(sub(path, "pause"), "NRT213", detail, "the preference page offers no pause of %s", pause)
	}
	x.Pause = d
}

// StaleFrequencies warns of the frequencies contacts chose that prog no
// longer offers (NRT318), from chosen, the store's count of contacts by
// their choice, placed by pos at preferences.frequencies when given.
// validate has no store: the plan, which counts it, warns.
func StaleFrequencies(prog *campaigns.Program, chosen map[string]int, pos func(path ...string) Pos) Diagnostics {
	var ds Diagnostics
	strictest := campaigns.Strictest(prog.Frequencies())
	for _, name := range slices.Sorted(mapKeysOf(chosen)) {
		if _, offered, ok := prog.Frequency(name); !ok || offered || chosen[name] == 0 {
			continue
		}
		var at Pos
		if pos != nil {
			at = pos("preferences", "frequencies")
		}
		n := chosen[name]
		who := fmt.Sprintf("%d contacts", n)
		if n == 1 {
			who = "1 contact"
		}
		ds = append(ds, Diagnostic{Pos: at, Severity: Warning, Code: "NRT318",
			Summary: fmt.Sprintf("%s chose frequency %s, which the preference page no longer offers: they are held to the strictest, %s (%s), until they choose again", who, name, strictest.Name, strictest.Describe()),
			Detail:  fmt.Sprintf("keep a frequency named %s if it was renamed, or accept that they get less email", name)})
	}
	return ds.Sort()
}

func mapKeysOf[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
