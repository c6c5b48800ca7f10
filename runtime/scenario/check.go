package scenario

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// checkStates checks the expectations about the contact's state at now:
// score, stage and segment, right after the tick at that moment.
func (r *run) checkStates(ctx context.Context, now time.Time) error {
	for i, x := range r.sc.Expect {
		if !x.State() || !x.At.Equal(now) {
			continue
		}
		c := Check{Expectation: x, Entry: -1}
		switch x.Kind {
		case campaigns.ExpectScore:
			c.OK = true
			var got []string
			for _, sc := range x.Scores {
				b, err := r.w.Store.ScoreBreakdown(ctx, r.prog, sc.Model, r.contact, now)
				if err != nil {
					return err
				}
				if !compare(b.Score, sc.Cmp, sc.Value) {
					c.OK = false
				}
				if g := fmt.Sprintf("%s score was %.1f", sc.Model, b.Score); !slices.Contains(got, g) {
					got = append(got, g)
				}
			}
			c.Got = strings.Join(got, ", ")
		case campaigns.ExpectStage:
			ct, err := r.w.Store.Contact(ctx, r.email)
			if err != nil {
				return err
			}
			stage, _ := ct.Values[campaigns.AttrStage].(string)
			c.OK = stage == x.Stage
			c.Got = "the stage was " + cmp.Or(stage, "unset")
		case campaigns.ExpectSegment:
			met, err := r.w.Store.Matches(ctx, r.prog, r.contact, []campaigns.Predicate{{Op: campaigns.OpSegment, Segment: x.Segment}}, now)
			if err != nil {
				return err
			}
			c.OK = met[0] == x.In
			c.Got = "the contact was not in " + x.Segment
			if met[0] {
				c.Got = "the contact was in " + x.Segment
			}
		}
		r.states[i] = c
	}
	return nil
}

func compare(v float64, cmp string, want float64) bool {
	switch cmp {
	case campaigns.CmpGt:
		return v > want
	case campaigns.CmpGte:
		return v >= want
	case campaigns.CmpLt:
		return v < want
	case campaigns.CmpLte:
		return v <= want
	}
	return v == want
}

// matches reports whether a timeline entry is what x expects, whenever.
func matches(x *campaigns.Expectation, e *Entry) bool {
	switch x.Kind {
	case campaigns.ExpectEmail, campaigns.ExpectNever:
		return e.Kind == EntrySend && e.Email == x.Email && (x.Sequence == "" || e.Sequence == x.Sequence) &&
			(x.Variant == "" || e.Variant == x.Variant) && (x.Subject == "" || strings.Contains(e.Subject, x.Subject)) &&
			(x.Sender == "" || strings.EqualFold(e.From, x.Sender))
	case campaigns.ExpectDeferred:
		return e.Kind == EntryDeferred && e.Email == x.Email && (x.Sequence == "" || e.Sequence == x.Sequence)
	case campaigns.ExpectEnter:
		return e.Kind == EntryEnter && e.Sequence == x.Sequence
	case campaigns.ExpectExit:
		return e.Kind == EntryExit && e.Reason == x.Reason && (x.Sequence == "" || e.Sequence == x.Sequence)
	case campaigns.ExpectHandoff:
		return e.Kind == EntryHandoff && e.Handoff == x.Handoff
	}
	return false
}

// within reports whether t lies in the expectation's window.
func within(x *campaigns.Expectation, t time.Time) bool {
	return (x.From.IsZero() || !t.Before(x.From)) && (x.To.IsZero() || t.Before(x.To))
}

// check meets each expectation with the timeline: each entry meets at
// most one expectation, ordered expectations meet entries in their order,
// and in a strict scenario every email must meet one.
func (r *run) check() {
	res := r.res
	used := map[int]bool{}
	var after time.Time // ordered: the time the last expectation was met
	for i := range r.sc.Expect {
		x := &r.sc.Expect[i]
		if x.State() {
			c, ok := r.states[i]
			if !ok {
				c = Check{Expectation: *x, Entry: -1, Got: "the run did not reach " + res.Day(x.At)}
			}
			res.Checks = append(res.Checks, c)
			if r.sc.Ordered && c.OK && x.At.After(after) {
				after = x.At
			}
			continue
		}
		c := Check{Expectation: *x, Entry: -1}
		if x.Kind == campaigns.ExpectNever {
			c.OK = true
			for j := range res.Timeline {
				if e := &res.Timeline[j]; matches(x, e) && within(x, e.At) {
					c.OK, c.Entry, c.Got = false, j, "it came on "+res.Day(e.At)
					break
				}
			}
			res.Checks = append(res.Checks, c)
			continue
		}
		var early, outside *Entry
		for j := range res.Timeline {
			e := &res.Timeline[j]
			if used[j] || !matches(x, e) {
				continue
			}
			switch {
			case !within(x, e.At):
				if outside == nil {
					outside = e
				}
			case r.sc.Ordered && e.At.Before(after):
				if early == nil {
					early = e
				}
			default:
				c.OK, c.Entry = true, j
			}
			if c.OK {
				used[j] = true
				break
			}
		}
		switch {
		case c.OK:
			if r.sc.Ordered {
				after = res.Timeline[c.Entry].At
			}
		case early != nil:
			c.Got = fmt.Sprintf("it came on %s, before what the expectation above it met (%s)", res.Day(early.At), res.Day(after))
		case outside != nil:
			c.Got = "it came on " + res.Day(outside.At)
		default:
			c.Got = "it never came"
			if x.Kind == campaigns.ExpectEmail {
				if d := r.deferredUntilEnd(x); d != nil {
					c.Got = "it never came; " + d.Detail
				}
			}
			if x.Subject != "" || x.Sender != "" {
				// The email came, in the window, with another subject
				// or from another address.
				y := *x
				y.Subject, y.Sender = "", ""
				for j := range res.Timeline {
					if e := &res.Timeline[j]; !used[j] && matches(&y, e) && within(x, e.At) {
						c.Got = fmt.Sprintf("it came on %s from %s with the subject %q", res.Day(e.At), e.From, e.Subject)
						break
					}
				}
			}
		}
		res.Checks = append(res.Checks, c)
	}
	if r.sc.Strict {
		// An email an expectation named but met at the wrong time is
		// reported by that expectation already.
		missed := map[string]bool{}
		for _, c := range res.Checks {
			if !c.OK && c.Expectation.Kind == campaigns.ExpectEmail {
				missed[c.Expectation.Email] = true
			}
		}
		for j, e := range res.Timeline {
			if e.Kind == EntrySend && !used[j] && !missed[e.Email] {
				res.Unexpected = append(res.Unexpected, j)
			}
		}
	}
}

// deferredUntilEnd is the last deferral of the email expected, if any:
// what held it back.
func (r *run) deferredUntilEnd(x *campaigns.Expectation) *Entry {
	for j := len(r.res.Timeline) - 1; j >= 0; j-- {
		if e := &r.res.Timeline[j]; e.Kind == EntryDeferred && e.Email == x.Email {
			return e
		}
	}
	return nil
}
