package runtime

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// Impact counts in the store what a plan from old (nil: nothing applied)
// to new does to contacts: the sizes of the segments whose meaning
// changes, before and after, with who enters and leaves; and what becomes of contacts in changed,
// renamed or removed steps. Its cost grows with the changed objects, not
// with the unchanged ones: an unchanged segment is never counted.
func Impact(ctx context.Context, s Store, old, new *campaigns.Program, changes []campaigns.Change, ms []campaigns.Migration, at Clock, sample int) (*campaigns.Impact, error) {
	if old == nil {
		old = &campaigns.Program{}
	}
	now := at()
	imp := &campaigns.Impact{At: now}
	var err error
	if imp.Contacts, _, err = s.Audience(ctx, new, campaigns.Predicate{Op: campaigns.OpAll}, now, 0); err != nil {
		return nil, err
	}
	emails := func(cs []Contact) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.Email
		}
		return out
	}
	// meaning is a segment's condition with the segments it refers to
	// written out, so that a change to a segment shows in all that use it.
	meaning := func(p *campaigns.Program, name string) (campaigns.Predicate, bool) {
		seg := p.Segments[name]
		if seg == nil {
			return campaigns.Predicate{}, false
		}
		return p.Inline(seg.When), true
	}
	never := campaigns.Predicate{Op: campaigns.OpAny}

	// Every count is taken in one pass over the contacts; samples after,
	// only of what is not empty.
	var preds []campaigns.Predicate
	type sampled struct {
		p    campaigns.Predicate
		n    *int
		into *[]string
	}
	var samples []sampled
	changedSeg := map[string]bool{}
	var segs []*campaigns.SegmentImpact
	for _, name := range unionKeys(old.Segments, new.Segments) {
		a, inOld := meaning(old, name)
		b, inNew := meaning(new, name)
		if inOld && inNew && campaigns.Hash(a) == campaigns.Hash(b) {
			continue
		}
		changedSeg[name] = true
		if !inOld {
			a = never
		}
		if !inNew {
			b = never
		}
		si := &campaigns.SegmentImpact{Segment: name}
		segs = append(segs, si)
		preds = append(preds, a, b, campaigns.All(b, campaigns.Not(a)), campaigns.All(a, campaigns.Not(b)))
		samples = append(samples, sampled{campaigns.All(b, campaigns.Not(a)), &si.Entering, &si.Enter}, sampled{campaigns.All(a, campaigns.Not(b)), &si.Leaving, &si.Leave})
	}
	counts, err := s.Counts(ctx, new, preds, now)
	if err != nil {
		return nil, fmt.Errorf("counting the changed segments: %w", err)
	}
	for i, si := range segs {
		c := counts[4*i:]
		si.Before, si.After, si.Entering, si.Leaving = c[0], c[1], c[2], c[3]
	}
	for _, sm := range samples {
		if *sm.n == 0 || sample == 0 {
			continue
		}
		cs, err := s.Sample(ctx, new, sm.p, now, sample)
		if err != nil {
			return nil, err
		}
		*sm.into = emails(cs)
	}
	for _, si := range segs {
		imp.Segments = append(imp.Segments, *si)
	}
	handoffs := handoffThresholds(new)
	for _, name := range unionKeys(old.Scoring, new.Scoring) {
		a, b := old.Scoring[name], new.Scoring[name]
		if a != nil && b != nil && campaigns.Hash(a) == campaigns.Hash(b) {
			continue
		}
		sh, err := s.ScoreShift(ctx, old, new, name, now, sample)
		if err != nil {
			return nil, fmt.Errorf("scoring model %s: %w", name, err)
		}
		si := campaigns.ScoreImpact{Model: name, Higher: sh.Higher, Lower: sh.Lower, BandChanged: sh.BandChanged, Sample: sh.Sample}
		for _, t := range sh.Thresholds {
			si.Thresholds = append(si.Thresholds, campaigns.ThresholdImpact{Name: t.Name, Reach: t.Up, Fall: t.Down, Handoff: handoffs[name+"."+t.Name]})
		}
		imp.Scores = append(imp.Scores, si)
	}

	steps, err := s.StepCounts(ctx)
	if err != nil {
		return nil, err
	}
	changedStep := map[string]bool{}
	for _, c := range changes {
		for _, d := range c.Details {
			if c.Kind == "sequence" && d.Action == campaigns.ActionChange && strings.HasPrefix(d.Path, "steps.") {
				changedStep[c.Name+"."+strings.TrimPrefix(d.Path, "steps.")] = true
			}
		}
	}
	for _, sc := range steps {
		then := ""
		for _, m := range ms {
			if m.Sequence != sc.Sequence || (m.Step != "" && m.Step != sc.Step) {
				continue
			}
			if m.To != "" {
				then = "move to " + m.To + " (" + m.Why + ")"
			} else {
				then = "exit " + m.Exit + " (" + m.Why + ")"
			}
			break
		}
		if then == "" && changedStep[sc.Sequence+"."+sc.Step] {
			then = "stay; the changed step applies to them"
		}
		if then != "" {
			imp.Steps = append(imp.Steps, campaigns.StepImpact{Sequence: sc.Sequence, Step: sc.Step, Contacts: sc.Contacts, Then: then})
		}
	}
	return imp, nil
}

func unionKeys[V any](a, b map[string]V) []string {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return sortedNames(m)
}

// Clock tells the time; the engine and plans take one so that tests and
// simulations can set it.
type Clock func() time.Time

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// handoffThresholds are the model.threshold pairs an exit rule with a
// hand-off fires at.
func handoffThresholds(p *campaigns.Program) map[string]bool {
	out := map[string]bool{}
	mark := func(rs []campaigns.ExitRule) {
		for _, r := range rs {
			if r.Handoff == "" || r.When == nil {
				continue
			}
			w := p.Inline(*r.When)
			w.Walk(func(q *campaigns.Predicate) {
				if q.Op == campaigns.OpScore && q.Score != nil && q.Score.Threshold != "" {
					out[q.Score.Model+"."+q.Score.Threshold] = true
				}
			})
		}
	}
	mark(p.Exits)
	for _, s := range p.Sequences {
		mark(s.Exits)
	}
	return out
}
