package engine

import (
	"context"
	"slices"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// settle is how far before the last tick an incremental tick looks for
// changes: a write whose transaction began before the last tick read
// the changes and committed after it is seen by the next one.
const settle = time.Minute

// changedSince is the time from which a tick counts changes, by the
// store's clock, which stamps them: when the previous tick began, less
// the settling time. Taking the earlier of that and the ticks' clock
// would count every import since a tick run with an earlier --now as a
// change, and turn the next incremental tick into a full one.
func (e *Engine) changedSince() time.Time {
	since := e.ChangedSince
	if since.IsZero() {
		since = e.Since
	}
	return since.Add(-settle)
}

// scope is the contacts a tick evaluates entry and exit conditions for:
// every contact, or those listed by ID.
type scope struct {
	all bool
	ids []int64
}

// chunk is how many contacts one scoped query names.
const chunk = 2000

// chunks splits the scope into the contact lists of one query each; a
// scope of every contact is one chunk without a list.
func (s scope) chunks() [][]int64 {
	if s.all {
		return [][]int64{nil}
	}
	var out [][]int64
	for i := 0; i < len(s.ids); i += chunk {
		out = append(out, s.ids[i:min(i+chunk, len(s.ids))])
	}
	return out
}

// within narrows p to the chunk's contacts.
func within(ids []int64, p campaigns.Predicate) campaigns.Predicate {
	if ids == nil {
		return p
	}
	return campaigns.All(campaigns.Contacts(ids), p)
}

// add returns the scope with the contacts in ids too.
func (s scope) add(ids map[int64]bool) scope {
	if s.all || len(ids) == 0 {
		return s
	}
	out := slices.Clone(s.ids)
	for id := range ids {
		if _, found := slices.BinarySearch(s.ids, id); !found {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return scope{ids: out}
}

// scope finds the contacts this tick looks at. A full tick looks at all;
// an incremental one at those that changed since the last tick, and those
// time alone moved across an entry or exit condition since.
func (e *Engine) scope(ctx context.Context, now time.Time) (scope, error) {
	if e.Full || e.Since.IsZero() {
		return scope{all: true}, nil
	}
	w, ok := e.watch()
	if !ok {
		return scope{all: true}, nil
	}
	w.Since, w.Now, w.Changed = e.Since.Add(-settle), now, e.changedSince()
	ids, err := e.Store.Candidates(ctx, w)
	if err != nil || len(ids) <= chunk {
		return scope{ids: ids}, err
	}
	// A scope of many chunks costs each query once per chunk, where a
	// full tick costs it once: past a share of the list, looking at
	// every contact is cheaper, and decides the same. One count of the
	// list, only for a scope this large.
	n, err := e.Store.Counts(ctx, e.Program, []campaigns.Predicate{campaigns.All()}, now)
	if err != nil {
		return scope{}, err
	}
	if len(ids)*fullShare >= n[0] {
		return scope{all: true}, nil
	}
	return scope{ids: ids}, nil
}

// fullShare: a scope of more than one contact in fullShare of the list
// is looked at as a full tick. In BenchmarkTick at 20,000 contacts a
// scope of every contact took 0.8x as long as the whole cold tick in
// chunks of 2,000.
const fullShare = 4

// watch lists the conditions time alone turns among those a tick
// evaluates over many contacts: entry segments, re-entry and exit rules.
// It reports false when one turns in a way no stored time tells — a
// window on an event's property — and every contact must be looked at.
//
// What it leaves out turns only with new data, which marks the contact
// changed: attributes, events without a window, suppressions, and scores,
// whose stored value marks a change when it crosses a tested threshold.
func (e *Engine) watch() (runtime.Watch, bool) {
	var w runtime.Watch
	ok := true
	seen := map[any]bool{}
	add := func(k any) bool {
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	walk := func(p campaigns.Predicate) {
		p = e.Program.Inline(p)
		p.Walk(func(q *campaigns.Predicate) {
			switch q.Op {
			case campaigns.OpAccount, campaigns.OpAccountScore:
				// A change to one contact turns the condition for every
				// contact of the account, which the changed contacts do
				// not tell: look at everyone. (A change to the account's
				// own attributes marks its contacts changed.)
				ok = false
			case campaigns.OpEvent:
				ev := q.Event
				for _, c := range ev.Where {
					if c.Cmp == campaigns.CmpWithin || c.Cmp == campaigns.CmpOlderThan {
						ok = false
					}
				}
				if x := (runtime.EventSpan{Event: ev.Name, Span: ev.Within.Std()}); ev.Within > 0 && add(x) {
					w.Events = append(w.Events, x)
				}
			case campaigns.OpAttr:
				c := q.Cond
				if x := (runtime.AttrSpan{Field: c.Field, Span: c.Span.Std()}); (c.Cmp == campaigns.CmpWithin || c.Cmp == campaigns.CmpOlderThan) && add(x) {
					w.Attrs = append(w.Attrs, x)
				}
			case campaigns.OpInactive:
				if x := q.Inactive.Std(); add(x) {
					w.Inactive = append(w.Inactive, x)
				}
			}
		})
	}
	for _, h := range e.Program.Handoffs {
		if h.ForAccount() && (h.ReturnStage != "" || h.ReturnEnroll != "") {
			// Sales returns an account through any of its contacts, and
			// takes back the others too: look at everyone.
			ok = false
		}
	}
	for _, name := range e.sequences() {
		seq := e.Program.Sequences[name]
		if seq.Entry.Segment != "" {
			walk(campaigns.Predicate{Op: campaigns.OpSegment, Segment: seq.Entry.Segment})
		}
		if x := (runtime.SequenceSpan{Sequence: name, Span: seq.Reentry.After.Std()}); seq.Reentry.Policy == campaigns.ReentryAfter && add(exited(x)) {
			w.Exited = append(w.Exited, x)
		}
		for _, rule := range append(slices.Clone(seq.Exits), e.Program.Exits...) {
			var span time.Duration
			switch {
			case rule.When != nil:
				walk(*rule.When)
			case rule.Inactive > 0:
				walk(campaigns.Predicate{Op: campaigns.OpInactive, Inactive: rule.Inactive})
				span = rule.Inactive.Std() // and in the sequence as long
			case rule.After > 0:
				span = rule.After.Std()
			}
			if x := (runtime.SequenceSpan{Sequence: name, Span: span}); span > 0 && add(x) {
				w.Entered = append(w.Entered, x)
			}
		}
	}
	return w, ok
}

// Watch lists the spans after stored times at which time alone turns a
// condition the engine evaluates: a virtual clock ticks at those moments
// rather than at every minute between.
func (e *Engine) Watch() runtime.Watch {
	w, _ := e.watch()
	return w
}

// exited keys a re-entry span apart from an entered one.
type exited runtime.SequenceSpan
