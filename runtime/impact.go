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
// changes, before and after, with who enters and leaves; the enrollments
// a changed entry lets in; and what becomes of contacts in changed,
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
	changedSeg := map[string]bool{}
	for _, name := range unionKeys(old.Segments, new.Segments) {
		a, inOld := meaning(old, name)
		b, inNew := meaning(new, name)
		if inOld && inNew && campaigns.Hash(a) == campaigns.Hash(b) {
			continue
		}
		changedSeg[name] = true
		si := campaigns.SegmentImpact{Segment: name}
		never := campaigns.Predicate{Op: campaigns.OpAny}
		if !inOld {
			a = never
		}
		if !inNew {
			b = never
		}
		count := func(p campaigns.Predicate, n *int, who *[]string) error {
			c, cs, err := s.Audience(ctx, new, p, now, sample)
			if err != nil {
				return fmt.Errorf("segment %s: %w", name, err)
			}
			*n = c
			if who != nil {
				*who = emails(cs)
			}
			return nil
		}
		not := func(p campaigns.Predicate) campaigns.Predicate {
			return campaigns.Predicate{Op: campaigns.OpNot, Args: []campaigns.Predicate{p}}
		}
		and := func(x, y campaigns.Predicate) campaigns.Predicate {
			return campaigns.Predicate{Op: campaigns.OpAll, Args: []campaigns.Predicate{x, y}}
		}
		for _, q := range []struct {
			ok  bool
			p   campaigns.Predicate
			n   *int
			who *[]string
		}{
			{inOld, a, &si.Before, nil},
			{inNew, b, &si.After, nil},
			{inNew, and(b, not(a)), &si.Entering, &si.Enter},
			{inOld, and(a, not(b)), &si.Leaving, &si.Leave},
		} {
			if !q.ok {
				continue
			}
			if err := count(q.p, q.n, q.who); err != nil {
				return nil, err
			}
		}
		imp.Segments = append(imp.Segments, si)
	}

	for _, name := range sortedNames(new.Sequences) {
		seq := new.Sequences[name]
		if seq.Entry.Segment == "" {
			continue
		}
		prev := old.Sequences[name]
		if prev != nil && prev.Entry.Segment == seq.Entry.Segment && !changedSeg[seq.Entry.Segment] &&
			prev.Reentry == seq.Reentry {
			continue
		}
		p, _ := meaning(new, seq.Entry.Segment)
		args := []campaigns.Predicate{p, {Op: campaigns.OpNot, Args: []campaigns.Predicate{
			{Op: campaigns.OpEnrolled, Enrolled: &campaigns.Enrolled{Sequence: name, Active: seq.Reentry.Policy != campaigns.ReentryNever}}}}}
		n, cs, err := s.Audience(ctx, new, campaigns.Predicate{Op: campaigns.OpAll, Args: args}, now, sample)
		if err != nil {
			return nil, fmt.Errorf("sequence %s: %w", name, err)
		}
		if n > 0 || prev == nil {
			imp.Entries = append(imp.Entries, campaigns.EntryImpact{Sequence: name, Segment: seq.Entry.Segment, Contacts: n, Sample: emails(cs)})
		}
	}

	counts, err := s.StepCounts(ctx)
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
	for _, sc := range counts {
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
