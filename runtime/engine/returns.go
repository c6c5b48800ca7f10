package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// ReasonReturned ends the marketing enrollment of a lead sales handed
// back, when its hand-off's return enrolls it elsewhere.
const ReasonReturned = "returned"

// returns acts on the leads sales handed back since the last tick: a
// handoff.returned event names the hand-off, and its return says the
// stage the lead goes back to and the sequence it re-enters. A lead
// still in a marketing sequence leaves it for that one, so that it is in
// one at a time.
func (e *Engine) returns(ctx context.Context, now time.Time, sc scope, r *Report) error {
	if e.Program.Events[campaigns.EventReturned] == nil {
		return nil // compiled before returns existed: apply it again
	}
	for _, name := range slices.Sorted(maps.Keys(e.Program.Handoffs)) {
		h := e.Program.Handoffs[name]
		if h.ReturnStage == "" && h.ReturnEnroll == "" {
			continue
		}
		match := []campaigns.Predicate{returnedTo(campaigns.CmpEq, name, e.Since, now)}
		if len(e.Program.Handoffs) == 1 {
			// The only hand-off: an event that names none means it.
			match = append(match, returnedTo(campaigns.CmpExists, false, e.Since, now))
		}
		p := campaigns.Predicate{Op: campaigns.OpAny, Args: match}
		if h.ForAccount() {
			// Sales returns the account: a return on any of its contacts
			// takes back every contact of it that reached the hand-off.
			p = campaigns.Predicate{Op: campaigns.OpAccount, Args: []campaigns.Predicate{p}, Account: &campaigns.AccountCount{Min: 1}}
		}
		for _, ids := range sc.chunks() {
			var after int64
			for {
				cs, err := e.Store.ContactsWhere(ctx, e.Program, within(ids, p), now, after, e.batch())
				if err != nil {
					return fmt.Errorf("leads returned from %s: %w", name, err)
				}
				if len(cs) == 0 {
					break
				}
				after = cs[len(cs)-1]
				if h.ForAccount() {
					in, err := e.Store.ReachedHandoff(ctx, name, cs)
					if err != nil {
						return err
					}
					cs = slices.DeleteFunc(cs, func(c int64) bool { return !in[c] })
				}
				ds, err := e.takeBack(ctx, name, h, cs, now, r)
				if err != nil {
					return err
				}
				if err := e.decideAll(ctx, ds); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// takeBack decides the return of a page of leads to hand-off h: each
// goes to its return stage and sequence. When that sequence is a
// marketing one, a lead leaves the marketing sequence it is in first.
func (e *Engine) takeBack(ctx context.Context, name string, h *campaigns.Handoff, cs []int64, now time.Time, r *Report) ([]runtime.Decision, error) {
	var ds []runtime.Decision
	if len(cs) == 0 {
		return nil, nil
	}
	if seq := e.Program.Sequences[h.ReturnEnroll]; seq != nil && !seq.Transactional() {
		for _, other := range e.sequences() {
			if other == h.ReturnEnroll || e.Program.Sequences[other].Transactional() {
				continue
			}
			as, err := e.Store.ActiveWhere(ctx, e.Program, other, "", time.Time{}, campaigns.Contacts(cs), now, 0, len(cs))
			if err != nil {
				return nil, err
			}
			for _, a := range as {
				x := e.decision(a, now)
				x.Exit = ReasonReturned
				ds = append(ds, x)
				r.Exited[ReasonReturned]++
				e.trace(Trace{At: now, Contact: a.Contact, Sequence: other, Decision: ds[len(ds)-1]})
			}
		}
	}
	for _, c := range cs {
		d := runtime.Decision{Contact: c, At: now, Version: e.Version, Enroll: e.starts(h.ReturnEnroll)}
		if h.ReturnStage != "" {
			d.Set = map[string]any{campaigns.AttrStage: h.ReturnStage}
		}
		if h.ForAccount() {
			d.Returned = name // the account's hand-off closes
		}
		ds = append(ds, d)
		e.trace(Trace{At: now, Contact: c, Decision: ds[len(ds)-1]})
		r.Returned++
		r.Steps++
	}
	return ds, nil
}

// returnedTo is the condition that a handoff.returned event whose
// handoff property compares so with v came between since and now.
func returnedTo(cmp string, v any, since, now time.Time) campaigns.Predicate {
	return eventSince(campaigns.EventCondition{Name: campaigns.EventReturned,
		Where: []campaigns.Condition{{Field: "handoff", Cmp: cmp, Value: v}}}, since, now)
}
