package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/render"
	"github.com/nurture-dev/nurture/runtime/track"
)

// Engine executes one applied programme version against a store.
type Engine struct {
	Store   Store
	Program *campaigns.Program
	Version int64
	// Since is when the previous tick ran: sequences entered by an event
	// take the contacts whose event came after it. Zero: the version's
	// apply, or the beginning of time for a first programme.
	Since time.Time
	// ChangedSince is when the previous tick began by the store's clock,
	// which stamps imports, events and the changes decisions make; zero
	// when it is Since. The two differ when ticks run at a time given by
	// hand: changes count by the store's clock.
	ChangedSince time.Time
	// Full looks at every contact, not only those that changed or came
	// due since Since: the first tick of a version, and a reconciliation
	// asked for by hand. A zero Since is always full.
	Full bool
	// Batch is how many enrollments or contacts one read takes.
	Batch int
	// Planned reads the programme of an earlier applied version, so that
	// a send planned under it goes out as it was planned; nil renders
	// every send from Program.
	Planned func(version int64) (*campaigns.Program, error)
	// Keys sign the tracked links of the email delivered; nil leaves
	// links untracked.
	Keys *track.Keys
	// Breaker pauses delivery on too many bounces or complaints.
	Breaker Breaker
	// Log receives what delivery resolved by rule, one line each.
	Log func(string)
	// Observe, when set, is told of every decision and deferral with
	// what led to it (see Trace).
	Observe func(Trace)
	// Variants fixes the A/B arm of send steps, "sequence.step" → the
	// variant's name, where a scenario test asks for one arm; other
	// steps take the arm Variant gives the contact.
	Variants map[string]string
	// Arms fixes the holdout arm of sequences, sequence → arm, where a
	// scenario test asks for one; other sequences take the arm Arm gives
	// the contact.
	Arms map[string]string

	// AppliedAt is when the version was applied: a wait_for never counts
	// an event from before it. Zero: no floor.
	AppliedAt time.Time

	// Resume is the last phase (PhaseScored, PhaseExited, PhaseEnrolled)
	// a tick at the same time completed before it was interrupted: this
	// tick runs only the phases after it. Each phase decides on the
	// store as the phases before it left it; run again on a store a
	// later phase had begun to change, it could decide otherwise.
	Resume string
	// Reached, when set, is told each phase the tick completes before
	// the next begins; an error stops the tick.
	Reached func(ctx context.Context, phase string) error

	// touched holds the contacts this tick's exits decided about: they
	// may enter another sequence in the same tick.
	touched map[int64]bool
	// logMu keeps Log's lines whole when delivery logs from two
	// goroutines.
	logMu sync.Mutex
}

// The phases of a tick, in order, after which Reached is told.
const (
	// PhaseScored: contacts are scored.
	PhaseScored = "scored"
	// PhaseExited: exit rules and suppressions have ended enrollments,
	// and the leads sales returned are taken back.
	PhaseExited = "exited"
	// PhaseEnrolled: entry segments and events have enrolled contacts.
	// What remains is moving due enrollments on, which a tick run again
	// takes up where it stopped: each enrollment says in the store
	// whether it has had its first decision (see runtime.WaitingEntry).
	PhaseEnrolled = "enrolled"
)

// phases lists the phases in order.
var phases = []string{PhaseScored, PhaseExited, PhaseEnrolled}

// done reports whether phase was completed before the tick resumed.
func (e *Engine) done(phase string) bool {
	return slices.Index(phases, phase) <= slices.Index(phases, e.Resume)
}

// reached tells Reached that phase is complete.
func (e *Engine) reached(ctx context.Context, phase string) error {
	if e.Reached == nil || e.done(phase) {
		return nil
	}
	return e.Reached(ctx, phase)
}

// Report counts what one tick decided.
type Report struct {
	// Full is set when the tick looked at every contact; otherwise
	// Looked counts the contacts that changed or came due.
	Full     bool
	Looked   int
	Scored   int
	Exited   map[string]int // by reason
	Enrolled map[string]int // by sequence
	Returned int            // leads sales handed back
	Planned  int            // emails planned in the ledger
	Deferred int            // sends a cap or the sending window held back
	HeldOut  int            // sends a holdout kept from its control group
	Steps    int            // decisions written
}

func (e *Engine) batch() int { return cmp.Or(e.Batch, 500) }

// Tick makes every decision due at now: it scores contacts, ends the
// enrollments an exit rule or a suppression ends, takes back the leads
// sales returned, enrolls the contacts the sequences' entry segments
// admit, and moves every due enrollment on through its steps, planning
// the emails they send. Exits, returns and entries look at every contact
// on a full tick, and otherwise at those that changed or that time moved
// across a condition since Since (see watch).
func (e *Engine) Tick(ctx context.Context, now time.Time) (Report, error) {
	r := Report{Exited: map[string]int{}, Enrolled: map[string]int{}}
	if e.Resume != "" && !slices.Contains(phases, e.Resume) {
		return r, fmt.Errorf("resuming a tick after an unknown phase %q", e.Resume)
	}
	if !e.done(PhaseScored) {
		if err := e.rescore(ctx, now, &r); err != nil {
			return r, fmt.Errorf("scoring: %w", err)
		}
		if err := e.reached(ctx, PhaseScored); err != nil {
			return r, err
		}
	}
	e.touched = map[int64]bool{}
	defer func() { e.touched = nil }()
	if !e.done(PhaseEnrolled) {
		sc, err := e.scope(ctx, now)
		if err != nil {
			return r, fmt.Errorf("finding the contacts to look at: %w", err)
		}
		r.Full, r.Looked = sc.all, len(sc.ids)
		if !e.done(PhaseExited) {
			if err := e.exits(ctx, now, sc, &r); err != nil {
				return r, err
			}
			if err := e.returns(ctx, now, sc, &r); err != nil {
				return r, err
			}
			if err := e.reached(ctx, PhaseExited); err != nil {
				return r, err
			}
		}
		// On a tick resumed after its exits, the contacts they touched
		// are in the scope already: they exited since the last tick.
		if err := e.enroll(ctx, now, sc.add(e.touched), &r); err != nil {
			return r, err
		}
		if err := e.reached(ctx, PhaseEnrolled); err != nil {
			return r, err
		}
	}
	checked := map[int64]bool{}
	for {
		due, err := e.Store.Due(ctx, now, e.batch())
		if err != nil {
			return r, err
		}
		if len(due) == 0 {
			return r, nil
		}
		// Apply the exit rules to an enrollment no decision has moved yet
		// before its first step, then read the page again without those
		// that ended. One a decision started meets every check (no entry
		// condition checked it); one an entry segment admitted, the rules
		// its entry could not settle (see admits). The store says which,
		// so that a tick run again after an interruption checks the
		// same.
		var started, entered []int64
		for _, a := range due {
			switch {
			case checked[a.ID]:
			case a.Waiting == runtime.WaitingStart:
				started = append(started, a.Contact)
			case a.Waiting == runtime.WaitingEntry:
				entered = append(entered, a.Contact)
			default:
				continue
			}
			checked[a.ID] = true
		}
		if len(started)+len(entered) > 0 {
			// Nil ids would mean every contact: call only with some.
			for _, c := range []struct {
				ids       []int64
				unsettled bool
			}{{started, false}, {entered, true}} {
				if len(c.ids) == 0 {
					continue
				}
				if err := e.exitChunk(ctx, now, c.ids, &r, c.unsettled); err != nil {
					return r, err
				}
			}
			continue
		}
		if err := e.advanceAll(ctx, due, now, &r); err != nil {
			return r, err
		}
	}
}

// page holds what deciding a page of enrollments reads and writes: the
// contacts and their recent sends, read in two queries, and the
// decisions, written in one transaction.
type page struct {
	contacts map[int64]*runtime.Contact
	sent     map[int64][]runtime.Sent
	// accounts holds the sends of each account the page's contacts
	// belong to, when the cadence caps accounts.
	accounts map[string][]runtime.Sent
	ds       []runtime.Decision
	// waited holds the answers of the page's wait_for steps, found
	// for many contacts at once before the page is advanced (see
	// prefetchWaits); an answer not there is asked for alone.
	waited map[waitKey]bool
}

// waitKey names the question a wait_for step asks of a contact: any of
// the step's event since a time.
type waitKey struct {
	contact        int64
	sequence, step string
	since          time.Time
}

// advanceAll moves a page of enrollments on and writes the decisions.
func (e *Engine) advanceAll(ctx context.Context, as []runtime.Active, now time.Time, r *Report) error {
	ids := make([]int64, len(as))
	for i, a := range as {
		ids[i] = a.Contact
	}
	var span time.Duration
	for _, seq := range e.Program.Sequences {
		span = max(span, e.capSpan(seq))
	}
	// A wait_for reads the enrollment's last email, which may be older
	// than any cap looks back.
	from := now.Add(-span)
	for _, a := range as {
		if seq := e.Program.Sequences[a.Sequence]; seq != nil {
			if hasWaitFor(seq) && a.EnteredAt.Before(from) {
				from = a.EnteredAt
			}
		}
	}
	pg := &page{}
	var err error
	if pg.contacts, err = e.Store.ContactsByID(ctx, ids); err != nil {
		return err
	}
	if pg.sent, err = e.Store.SendsOf(ctx, ids, from); err != nil {
		return err
	}
	if len(e.Program.Cadence.PerAccount) > 0 {
		var accts []string
		seen := map[string]bool{}
		for _, c := range pg.contacts {
			if a, _ := c.Values[campaigns.AttrAccount].(string); a != "" && !seen[a] {
				seen[a] = true
				accts = append(accts, a)
			}
		}
		var aspan time.Duration
		for _, l := range e.Program.Cadence.PerAccount {
			aspan = max(aspan, l.Per.Std())
		}
		if pg.accounts, err = e.Store.AccountSends(ctx, accts, now.Add(-aspan)); err != nil {
			return err
		}
	}
	if err := e.prefetchWaits(ctx, as, now, pg); err != nil {
		return err
	}
	for _, a := range as {
		if err := e.advance(ctx, a, now, r, pg); err != nil {
			return fmt.Errorf("contact %d in %s: %w", a.Contact, a.Sequence, err)
		}
	}
	return e.decideAll(ctx, pg.ds)
}

// metSinceEntered evaluates p, counting only the events since each
// enrollment began, for a page of enrollments: one query for each time
// at which some of them entered. It returns the enrollments whose
// contacts meet it.
func (e *Engine) metSinceEntered(ctx context.Context, p campaigns.Predicate, as []runtime.Active, now time.Time) (map[int64]bool, error) {
	type group struct {
		entered time.Time
		as      []runtime.Active
	}
	var groups []*group
	byTime := map[int64]*group{}
	for _, a := range as {
		k := a.EnteredAt.UnixNano()
		g := byTime[k]
		if g == nil {
			g = &group{entered: a.EnteredAt}
			byTime[k] = g
			groups = append(groups, g)
		}
		g.as = append(g.as, a)
	}
	out := map[int64]bool{}
	for _, g := range groups {
		ids := make([]int64, len(g.as))
		for i, a := range g.as {
			ids[i] = a.Contact
		}
		met, err := e.Store.MatchesEach(ctx, e.Program, ids, sinceEntered(p, g.entered, now), now)
		if err != nil {
			return nil, err
		}
		for _, a := range g.as {
			out[a.ID] = met[a.Contact]
		}
	}
	return out, nil
}

// prefetchWaits answers, one query per step and time for the whole
// page, the wait_for steps the page's enrollments are likely to reach:
// it follows each enrollment from its step through the emails it is
// due to be sent (assuming each goes now), the waits that are over and
// the steps that ask nothing of the store, to the first wait_for. A
// wait_for's events are none the tick writes, so the answers hold while
// the page is advanced; a guess that proves wrong (an email held back)
// costs only its share of the query, and the step asks alone.
func (e *Engine) prefetchWaits(ctx context.Context, as []runtime.Active, now time.Time, pg *page) error {
	type question struct {
		sequence, step string
		since          time.Time
	}
	asked := map[question][]int64{}
	var order []question
	for _, a := range as {
		seq := e.Program.Sequences[a.Sequence]
		i := -1
		if seq != nil {
			i = seq.StepIndex(a.Step)
		}
		if i < 0 {
			continue
		}
		sent, stepSince := pg.sent[a.Contact], a.StepSince
	walk:
		for ; i < len(seq.Steps); i++ {
			switch st := seq.Steps[i]; st.Kind {
			case campaigns.StepWaitFor:
				q := question{a.Sequence, st.Name, e.waitSince(a, sent, now)}
				if _, ok := asked[q]; !ok {
					order = append(order, q)
				}
				asked[q] = append(asked[q], a.Contact)
				break walk
			case campaigns.StepSend:
				sent = append(slices.Clone(sent), runtime.Sent{Sequence: a.Sequence, At: now})
				stepSince = now
			case campaigns.StepWait:
				due := stepSince.Add(st.Wait.Std())
				if due.After(now) {
					break walk
				}
				stepSince = due
			case campaigns.StepSet, campaigns.StepHandoff, campaigns.StepEnroll:
				stepSince = now
			default:
				break walk
			}
		}
	}
	for _, q := range order {
		ids := asked[q]
		if len(ids) < 2 {
			continue // asked alone when reached
		}
		seq := e.Program.Sequences[q.sequence]
		wf := seq.Steps[seq.StepIndex(q.step)].WaitFor
		met, err := e.Store.MatchesEach(ctx, e.Program, ids, eventSince(wf.Event, q.since, now), now)
		if err != nil {
			return fmt.Errorf("step %s of %s: %w", q.step, q.sequence, err)
		}
		if pg.waited == nil {
			pg.waited = map[waitKey]bool{}
		}
		for _, id := range ids {
			pg.waited[waitKey{id, q.sequence, q.step, q.since}] = met[id]
		}
	}
	return nil
}

// waitSince is when the events a wait_for counts begin: at the
// enrollment's last email, or its entry when it sent none; never before
// the version was applied.
func (e *Engine) waitSince(a runtime.Active, sent []runtime.Sent, now time.Time) time.Time {
	since := a.EnteredAt
	for _, s := range sent {
		if s.Sequence == a.Sequence && s.At.After(since) && !s.At.After(now) {
			since = s.At
		}
	}
	if e.AppliedAt.After(since) {
		since = e.AppliedAt
	}
	return since
}

// decideAll writes decisions, noting the contacts whose enrollments they
// end or start.
func (e *Engine) decideAll(ctx context.Context, ds []runtime.Decision) error {
	if err := e.Store.DecideAll(ctx, ds); err != nil {
		return err
	}
	for _, d := range ds {
		if d.Exit != "" && e.touched != nil {
			e.touched[d.Contact] = true
		}
	}
	return nil
}

// rescore scores every contact on a first tick and on the first tick of
// each hour — decay and windows move every score a little as time passes —
// and in between only the contacts that changed or got events since the
// last tick.
func (e *Engine) rescore(ctx context.Context, now time.Time, r *Report) error {
	if len(e.Program.Scoring) == 0 {
		return nil
	}
	if e.Since.IsZero() || now.Truncate(time.Hour).After(e.Since.Truncate(time.Hour)) {
		n, err := e.Store.Rescore(ctx, e.Program, nil, now)
		r.Scored += n
		return err
	}
	var after int64
	for {
		ids, err := e.Store.Changed(ctx, e.changedSince(), after, e.batch())
		if err != nil || len(ids) == 0 {
			return err
		}
		n, err := e.Store.Rescore(ctx, e.Program, ids, now)
		if err != nil {
			return err
		}
		r.Scored += n
		after = ids[len(ids)-1]
	}
}

// sequences in the order they claim contacts: highest priority first.
func (e *Engine) sequences() []string {
	var names []string
	for n := range e.Program.Sequences {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		pa, pb := e.Program.Sequences[a].Priority, e.Program.Sequences[b].Priority
		if pa != pb {
			return cmp.Compare(pb, pa)
		}
		return cmp.Compare(a, b)
	})
	return names
}

// enroll admits the contacts each entry segment holds. A contact is in at
// most one marketing sequence at a time: sequences take contacts in order
// of priority, and a sequence of higher priority takes a contact from one
// of lower priority (see ReasonInterrupted). Suppressed contacts, those
// marketing has no lawful basis to mail and those an exit rule of the
// sequence would end enter none; re-entry follows each sequence's policy.
func (e *Engine) enroll(ctx context.Context, now time.Time, sc scope, r *Report) error {
	for _, ids := range sc.chunks() {
		if err := e.enrollChunk(ctx, now, ids, r); err != nil {
			return err
		}
	}
	return nil
}

// activeIn is the condition that the contact is active in one of the
// marketing sequences keep admits, other than name.
func (e *Engine) activeIn(name string, keep func(*campaigns.Sequence) bool) (campaigns.Predicate, bool) {
	var in []campaigns.Predicate
	for _, other := range e.sequences() {
		if q := e.Program.Sequences[other]; other != name && !q.Transactional() && keep(q) {
			in = append(in, campaigns.Predicate{Op: campaigns.OpEnrolled, Enrolled: &campaigns.Enrolled{Sequence: other, Active: true}})
		}
	}
	return campaigns.Predicate{Op: campaigns.OpAny, Args: in}, len(in) > 0
}

// enrollChunk enrolls the contacts of one chunk of the scope.
func (e *Engine) enrollChunk(ctx context.Context, now time.Time, ids []int64, r *Report) error {
	for _, name := range e.sequences() {
		seq := e.Program.Sequences[name]
		var entry campaigns.Predicate
		var trigger *campaigns.EventCondition
		switch {
		case len(seq.Steps) == 0:
			continue
		case seq.Entry.Segment != "":
			entry = campaigns.Predicate{Op: campaigns.OpSegment, Segment: seq.Entry.Segment}
		case seq.Entry.Event != nil:
			// The condition holds now, and an event that makes it came
			// since the last tick.
			ev := *seq.Entry.Event
			since := eventSince(campaigns.EventCondition{Name: ev.Name, Where: ev.Where}, e.Since, now)
			entry = campaigns.All(campaigns.Predicate{Op: campaigns.OpEvent, Event: &ev}, since)
			if w := seq.Entry.When; w != nil {
				// Only a contact who meets it as the event is acted on.
				entry = campaigns.All(entry, *w)
			}
			// The event that entered the contact is the latest that
			// came since the last tick.
			trigger = since.Event
		default:
			continue // entered only by steps, exit rules and hand-offs
		}
		in := &campaigns.Enrolled{Sequence: name, Active: true}
		switch seq.Reentry.Policy {
		case campaigns.ReentryNever:
			in = &campaigns.Enrolled{Sequence: name}
		case campaigns.ReentryAfter:
			in = &campaigns.Enrolled{Sequence: name, Within: seq.Reentry.After}
		}
		conds := []campaigns.Predicate{
			entry,
			campaigns.Not(campaigns.Predicate{Op: campaigns.OpEnrolled, Enrolled: in}),
		}
		conds = append(conds, e.admits(name)...)
		if seq.Transactional() {
			n, err := e.Store.EnrollWhere(ctx, e.Program, within(ids, campaigns.All(conds...)), trigger, name, seq.Steps[0].Name, e.Version, now)
			if err != nil {
				return fmt.Errorf("entering %s: %w", name, err)
			}
			r.Enrolled[name] += n
			continue
		}
		if higher, ok := e.activeIn(name, func(q *campaigns.Sequence) bool { return q.Priority >= seq.Priority }); ok {
			conds = append(conds, campaigns.Not(higher))
		}
		// Contacts this sequence admits leave the sequences of lower
		// priority they are in for this one, in the decision that ends
		// them. One query first asks whether there are any: mostly there
		// are none, and then one query stands for one per sequence.
		if lower, ok := e.activeIn(name, func(q *campaigns.Sequence) bool { return q.Priority < seq.Priority }); ok {
			p := within(ids, campaigns.All(append(slices.Clone(conds), lower)...))
			some, err := e.Store.ContactsWhere(ctx, e.Program, p, now, 0, 1)
			if err != nil {
				return fmt.Errorf("%s interrupting: %w", name, err)
			}
			for _, l := range e.sequences() {
				if q := e.Program.Sequences[l]; len(some) == 0 || l == name || q.Transactional() || q.Priority >= seq.Priority {
					continue
				}
				if err := e.interrupt(ctx, now, l, name, within(ids, campaigns.All(conds...)), r); err != nil {
					return err
				}
			}
		}
		if lower, ok := e.activeIn(name, func(*campaigns.Sequence) bool { return true }); ok {
			conds = append(conds, campaigns.Not(lower))
		}
		// One statement: the store selects and enrolls the contacts in one
		// pass, with nothing of them held here.
		n, err := e.Store.EnrollWhere(ctx, e.Program, within(ids, campaigns.All(conds...)), trigger, name, seq.Steps[0].Name, e.Version, now)
		if err != nil {
			return fmt.Errorf("entering %s: %w", name, err)
		}
		r.Enrolled[name] += n
	}
	return nil
}

// admits is what a contact must meet, beside the entry condition, to
// enter sequence name: no exit rule of it that only ends the journey
// holds, and, for marketing, the address is not suppressed, marketing
// has a lawful basis to mail it, and it has not opted out of the topic.
// The same checks end an enrollment later (see exitChunk). A rule that
// does something when it fires — a hand-off, an enrollment, a
// suppression — does not keep the contact out: the contact enters and
// the rule ends the enrollment before its first step (see Tick), so that
// what it does happens. No email goes out either way.
func (e *Engine) admits(name string) []campaigns.Predicate {
	seq := e.Program.Sequences[name]
	var conds []campaigns.Predicate
	for _, x := range e.exitRules(name) {
		if x.Rule.When == nil || acts(x.Rule) {
			continue // none yet in the sequence; or it acts when it fires
		}
		if p := atEntry(*x.Rule.When); !(p.Op == campaigns.OpAny && len(p.Args) == 0) {
			conds = append(conds, campaigns.Not(p))
		}
	}
	if seq.Transactional() {
		return conds
	}
	conds = append(conds, campaigns.Not(campaigns.Predicate{Op: campaigns.OpSuppressed}))
	if l := e.Program.Sender.Lawful(); l != nil {
		conds = append(conds, *l)
	}
	if seq.Topic != "" {
		conds = append(conds, campaigns.Not(optedOut(seq.Topic)))
	}
	return conds
}

// acts reports whether an exit rule does something when it fires beside
// ending the enrollment.
func acts(r campaigns.ExitRule) bool { return r.Handoff != "" || r.Enroll != "" || r.Suppress }

// atEntry is what p says of a contact entering a sequence: an event
// condition without a window of its own counts the events since the
// contact entered, and there are none yet.
func atEntry(p campaigns.Predicate) campaigns.Predicate {
	if p.Op == campaigns.OpEvent && p.Event != nil && p.Event.Within == 0 {
		if p.Event.MinCount == 0 {
			return campaigns.All()
		}
		return campaigns.Predicate{Op: campaigns.OpAny}
	}
	if len(p.Args) > 0 {
		args := make([]campaigns.Predicate, len(p.Args))
		for i, a := range p.Args {
			args[i] = atEntry(a)
		}
		p.Args = args
	}
	return p
}

// ReasonInterrupted ends a marketing enrollment when a sequence of higher
// priority admits the contact: the decision that ends it starts the
// contact in that sequence, which the trace and the enrollments record.
const ReasonInterrupted = "interrupted"

// interrupt ends the enrollments in sequence lower of the contacts that
// meet p, the entry of sequence by, and starts them in by.
func (e *Engine) interrupt(ctx context.Context, now time.Time, lower, by string, p campaigns.Predicate, r *Report) error {
	var after int64
	for {
		as, err := e.Store.ActiveWhere(ctx, e.Program, lower, "", time.Time{}, p, now, after, e.batch())
		if err != nil {
			return fmt.Errorf("%s interrupting %s: %w", by, lower, err)
		}
		if len(as) == 0 {
			return nil
		}
		ds := make([]runtime.Decision, 0, len(as))
		for _, a := range as {
			after = a.ID
			d := e.decision(a, now)
			d.Exit, d.Enroll = ReasonInterrupted, e.starts(by)
			ds = append(ds, d)
			r.Exited[ReasonInterrupted]++
			r.Enrolled[by]++
			r.Steps++
			e.trace(Trace{At: now, Contact: a.Contact, Sequence: lower, Rule: PriorityRef(by), Decision: d})
		}
		if err := e.decideAll(ctx, ds); err != nil {
			return err
		}
	}
}

// PriorityRef names the priority of a sequence that interrupted another,
// where a trace names the exit rule that fired.
func PriorityRef(sequence string) string { return "sequences." + sequence + ".priority" }

// indexedRule is an exit rule with its index for RuleRef.
type indexedRule struct {
	I    int
	Rule campaigns.ExitRule
}

// exitRules are the rules that end an enrollment in sequence name, in
// the order they are tried: its own, then the programme's that do not
// spare it.
func (e *Engine) exitRules(name string) []indexedRule {
	seq := e.Program.Sequences[name]
	var out []indexedRule
	for i, rule := range append(slices.Clone(seq.Exits), e.Program.Exits...) {
		if i >= len(seq.Exits) && rule.Spares(name) {
			continue
		}
		out = append(out, indexedRule{i, rule})
	}
	return out
}

// exits ends the active enrollments whose exit rules fire, and every
// marketing enrollment of a suppressed contact; and moves on the contacts
// waiting for an event that came. Each rule is one query over the
// sequence's active enrollments, in the rules' order, so that the first
// rule that fires is the one that counts.
func (e *Engine) exits(ctx context.Context, now time.Time, sc scope, r *Report) error {
	for _, ids := range sc.chunks() {
		if err := e.exitChunk(ctx, now, ids, r, false); err != nil {
			return err
		}
	}
	return nil
}

// exitChunk applies the exit rules to the contacts of one chunk of the
// scope. With unsettled, only the rules an entry condition could not
// settle: those that act when they fire, and those that count events
// since entry.
func (e *Engine) exitChunk(ctx context.Context, now time.Time, ids []int64, r *Report, unsettled bool) error {
	for _, name := range e.sequences() {
		seq := e.Program.Sequences[name]
		fire := func(rule campaigns.ExitRule, ref string, p campaigns.Predicate, enteredBy time.Time, confirm bool) error {
			var after int64
			for {
				as, err := e.Store.ActiveWhere(ctx, e.Program, name, "", enteredBy, within(ids, p), now, after, e.batch())
				if err != nil {
					return fmt.Errorf("exit rule %q of %s: %w", rule.Reason, name, err)
				}
				if len(as) == 0 {
					return nil
				}
				var met map[int64]bool
				if confirm {
					// Events before the contact entered do not count:
					// asked once for the contacts of the page that
					// entered at the same time.
					if met, err = e.metSinceEntered(ctx, *rule.When, as, now); err != nil {
						return err
					}
				}
				var ds []runtime.Decision
				for _, a := range as {
					after = a.ID
					if confirm && !met[a.ID] {
						continue
					}
					d := e.decision(a, now)
					d.Exit = rule.Reason
					e.handoff(&d, rule.Handoff)
					if rule.Suppress {
						d.Suppress = rule.Reason
					}
					if rule.Enroll != "" {
						d.Enroll = e.starts(rule.Enroll)
					}
					ds = append(ds, d)
					r.Exited[rule.Reason]++
					r.Steps++
				}
				if err := e.keepStages(ctx, ds); err != nil {
					return err
				}
				for _, d := range ds {
					e.trace(Trace{At: now, Contact: d.Contact, Sequence: name, Rule: ref, Decision: d})
				}
				if err := e.decideAll(ctx, ds); err != nil {
					return err
				}
			}
		}
		for _, x := range e.exitRules(name) {
			var err error
			rule, ref := x.Rule, RuleRef(e.Program, name, x.I)
			if unsettled && (rule.When == nil || !acts(rule) && !hasOpenEvent(*rule.When)) {
				continue
			}
			switch {
			case rule.When != nil:
				err = fire(rule, ref, *rule.When, time.Time{}, hasOpenEvent(*rule.When))
			case rule.Inactive > 0:
				// Inactive, and in the sequence at least as long.
				err = fire(rule, ref, campaigns.Predicate{Op: campaigns.OpInactive, Inactive: rule.Inactive}, now.Add(-rule.Inactive.Std()), false)
			case rule.After > 0:
				err = fire(rule, ref, campaigns.Predicate{Op: campaigns.OpAll}, now.Add(-rule.After.Std()), false)
			}
			if err != nil {
				return err
			}
		}
		if unsettled {
			continue
		}
		// The rules the programme writes come first, so that its own
		// reason and what follows it (a hand-off, a suppression) apply
		// when one fires, say on the unsubscribe itself; a suppressed
		// address or a topic opted out of ends what they leave.
		if !seq.Transactional() {
			if err := fire(campaigns.ExitRule{Reason: ReasonSuppressed}, "", campaigns.Predicate{Op: campaigns.OpSuppressed}, time.Time{}, false); err != nil {
				return err
			}
			if l := e.Program.Sender.Lawful(); l != nil {
				if err := fire(campaigns.ExitRule{Reason: ReasonNoConsent}, "", campaigns.Not(*l), time.Time{}, false); err != nil {
					return err
				}
			}
		}
		if seq.Topic != "" {
			if err := fire(campaigns.ExitRule{Reason: ReasonOptedOut}, "", optedOut(seq.Topic), time.Time{}, false); err != nil {
				return err
			}
		}
		// A contact waiting for an event that has come goes on now rather
		// than at the timeout.
		for _, st := range seq.Steps {
			if st.Kind != campaigns.StepWaitFor {
				continue
			}
			var after int64
			for {
				as, err := e.Store.ActiveWhere(ctx, e.Program, name, st.Name, time.Time{}, within(ids, eventSince(st.WaitFor.Event, e.Since, now)), now, after, e.batch())
				if err != nil {
					return err
				}
				if len(as) == 0 {
					break
				}
				after = as[len(as)-1].ID
				if err := e.advanceAll(ctx, as, now, r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// hasOpenEvent reports whether p has an event condition without a window
// of its own: those count only the events since the contact entered.
func hasOpenEvent(p campaigns.Predicate) bool {
	found := false
	p.Walk(func(q *campaigns.Predicate) {
		if q.Op == campaigns.OpEvent && q.Event != nil && q.Event.Within == 0 {
			found = true
		}
	})
	return found
}

// ReasonSuppressed ends the enrollments of a contact whose address is
// suppressed: unsubscribed, bounced, complained or listed by hand.
const ReasonSuppressed = "suppressed"

// ReasonNoConsent ends the marketing enrollments of a contact marketing
// has no lawful basis to mail: no consent record for the address, and no
// legitimate interest the sender declares.
const ReasonNoConsent = "no_consent"

// ReasonOptedOut ends the enrollments of a contact who opted out of the
// sequence's topic on the preference page.
const ReasonOptedOut = "opted_out"

func optedOut(topic string) campaigns.Predicate {
	return campaigns.Predicate{Op: campaigns.OpOptedOut, Topic: topic}
}

// sinceEntered limits the event conditions of an exit rule that have no
// window of their own to the events since the contact entered: a demo
// requested last year does not end this year's nurture.
func sinceEntered(p campaigns.Predicate, entered, now time.Time) campaigns.Predicate {
	if p.Op == campaigns.OpEvent && p.Event != nil && p.Event.Within == 0 {
		ev := *p.Event
		ev.Within = campaigns.Duration(max(now.Sub(entered), time.Millisecond))
		p.Event = &ev
	}
	if len(p.Args) > 0 {
		args := make([]campaigns.Predicate, len(p.Args))
		for i, a := range p.Args {
			args[i] = sinceEntered(a, entered, now)
		}
		p.Args = args
	}
	return p
}

// eventSince is the condition that ev happened after since and by now
// (ever, when since is zero). An event at since itself was the last
// tick's to see: the window leaves its first millisecond out, the unit
// the stores keep times in.
func eventSince(ev campaigns.EventCondition, since, now time.Time) campaigns.Predicate {
	ev.Within = 0
	if !since.IsZero() {
		// A zero window would mean "ever": since is this instant.
		ev.Within = campaigns.Duration(max(now.Sub(since)-time.Millisecond, time.Millisecond))
	}
	ev.MinCount = max(ev.MinCount, 1)
	return campaigns.Predicate{Op: campaigns.OpEvent, Event: &ev}
}

// keepStage drops from d.Set a move of the stage back down
// contact.stages from current, which only a step that says demote may
// make: a hand-off that set sql stays sql when a later step of another
// sequence sets mql.
func (e *Engine) keepStage(d *runtime.Decision, current any, demote bool) {
	to, ok := d.Set[campaigns.AttrStage]
	if !ok || demote {
		return
	}
	cur, _ := current.(string)
	order := e.Program.Contact.Stages
	from, at := slices.Index(order, cur), slices.Index(order, fmt.Sprint(to))
	if from < 0 || at < 0 || at >= from {
		return
	}
	set := maps.Clone(d.Set)
	delete(set, campaigns.AttrStage)
	d.Set = set
	if len(set) == 0 {
		d.Set = nil
	}
}

// keepStages applies keepStage to decisions of exit rules, whose
// contacts the engine has not read.
func (e *Engine) keepStages(ctx context.Context, ds []runtime.Decision) error {
	var ids []int64
	for _, d := range ds {
		if _, ok := d.Set[campaigns.AttrStage]; ok {
			ids = append(ids, d.Contact)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	cs, err := e.Store.ContactsByID(ctx, ids)
	if err != nil {
		return err
	}
	for i := range ds {
		if c := cs[ds[i].Contact]; c != nil {
			e.keepStage(&ds[i], c.Values[campaigns.AttrStage], false)
		}
	}
	return nil
}

// handoff hands the lead to sales with the decision, and moves it to
// the hand-off's stage.
func (e *Engine) handoff(d *runtime.Decision, name string) {
	if name == "" {
		return
	}
	d.Handoff = name
	if h := e.Program.Handoffs[name]; h.ForAccount() {
		d.HandoffAccount = true
		if h.Cooldown > 0 {
			d.HandoffUntil = d.At.Add(h.Cooldown.Std())
		}
	}
	if h := e.Program.Handoffs[name]; h != nil && h.Stage != "" {
		set := map[string]any{campaigns.AttrStage: h.Stage}
		for k, v := range d.Set {
			set[k] = v
		}
		d.Set = set
	}
}

func (e *Engine) starts(sequence string) []runtime.Start {
	seq := e.Program.Sequences[sequence]
	if seq == nil || len(seq.Steps) == 0 {
		return nil
	}
	return []runtime.Start{{Sequence: sequence, Step: seq.Steps[0].Name}}
}

func (e *Engine) decision(a runtime.Active, now time.Time) runtime.Decision {
	return runtime.Decision{Enrollment: a.ID, Contact: a.Contact, At: now, Step: a.Step, StepSince: a.StepSince,
		Sequence: a.Sequence, Version: e.Version, Trigger: a.Trigger, Arm: a.Arm}
}

// ReasonCompleted ends an enrollment that ran past its last step.
const ReasonCompleted = "completed"

// complete ends an enrollment that ran past its last step. When the
// sequence declares an exit rule with the reason "completed" — say, after
// 50 days, then enroll in the monthly digest — its hand-off, enrollment
// and suppression apply now: a contact who finished the steps has
// completed the sequence whatever that rule's condition.
func (e *Engine) complete(seq *campaigns.Sequence, d *runtime.Decision) (rule string) {
	d.Exit = ReasonCompleted
	for i, r := range seq.Exits {
		if r.Reason != ReasonCompleted {
			continue
		}
		rule = RuleRef(e.Program, d.Sequence, i)
		e.handoff(d, r.Handoff)
		if r.Enroll != "" {
			d.Enroll = e.starts(r.Enroll)
		}
		if r.Suppress {
			d.Suppress = r.Reason
		}
		return rule
	}
	return ""
}

// advance moves one due enrollment through its steps until it has to
// wait, writing a decision at each step.
func (e *Engine) advance(ctx context.Context, a runtime.Active, now time.Time, r *Report, pg *page) error {
	seq := e.Program.Sequences[a.Sequence]
	if seq == nil {
		return nil
	}
	c := pg.contacts[a.Contact]
	if c == nil {
		return nil // gone since the page was read
	}
	e.assignArm(&a, c)
	tz, _ := c.Values[campaigns.AttrTimezone].(string)
	loc := Location(tz, e.Program.Cadence.DefaultTimezone)
	for range 2*len(seq.Steps) + 2 { // a goto loop without a wait stops here
		i := seq.StepIndex(a.Step)
		if i < 0 {
			d := e.decision(a, now)
			d.Exit = campaigns.ExitStepRemoved
			r.Exited[d.Exit]++
			pg.ds = append(pg.ds, d)
			e.trace(Trace{At: now, Contact: a.Contact, Sequence: a.Sequence, Step: a.Step, Decision: d})
			return nil
		}
		st := seq.Steps[i]
		d := e.decision(a, now)
		t := Trace{At: now, Contact: a.Contact, Sequence: a.Sequence, Step: st.Name}
		next := func(since time.Time) {
			if i+1 < len(seq.Steps) {
				d.Step, d.StepSince, d.NextCheck = seq.Steps[i+1].Name, since, now
			} else {
				t.Rule = e.complete(seq, &d)
			}
		}
		act := func(x campaigns.Action, since time.Time) {
			switch {
			case x.Exit != "":
				d.Exit = x.Exit
			case x.Goto != "":
				d.Step, d.StepSince, d.NextCheck = x.Goto, since, now
			default:
				next(since)
			}
		}
		waitUntil := func(due time.Time, why string) {
			d.NextCheck, d.Waiting = due, why
		}
		switch st.Kind {
		case campaigns.StepSend:
			if campaigns.HeldOut(a.Arm) {
				// A control walks on as if the email had gone, on the
				// same clock as the treatment, and gets nothing: no
				// ledger row, so nothing can be claimed or delivered,
				// and nothing the caps count.
				r.HeldOut++
				t.HeldOut, t.Email = a.Arm, e.variant(st, a).Email
				next(now)
				break
			}
			// A send-time arm waits, as a wait_until step would, for its
			// time after the contact reached the step; then the caps and
			// the sending window have their say as over any send.
			if v := e.variant(st, a); v.WaitUntil != nil {
				if due := WaitUntil(*v.WaitUntil, a.StepSince, loc); due.After(now) {
					waitUntil(due, "arm "+v.Name+" sends at "+due.In(loc).Format("Mon 15:04 MST"))
					t.Email = v.Email
					break
				}
			}
			// all: the marketing email the contact got, which the
			// programme's caps count; mine: this sequence's, which its
			// own caps count, transactional or not.
			var all, mine []time.Time
			for _, s := range pg.sent[a.Contact] {
				if s.Sequence == a.Sequence {
					mine = append(mine, s.At)
				}
				if q := e.Program.Sequences[s.Sequence]; q == nil || !q.Transactional() {
					all = append(all, s.At)
				}
			}
			// The account's marketing email, which per-account caps count.
			account, _ := c.Values[campaigns.AttrAccount].(string)
			var team []time.Time
			for _, s := range pg.accounts[account] {
				if q := e.Program.Sequences[s.Sequence]; q == nil || !q.Transactional() {
					team = append(team, s.At)
				}
			}
			perAccount := e.Program.Cadence.PerAccount
			if account == "" {
				perAccount = nil
			}
			limits := e.marketingLimits(c)
			var at time.Time
			held, why := HeldSequenceCap, "held back by the sequence's cap"
			if seq.Transactional() {
				// Exempt from the cadence and the sending window; its own
				// cap still holds.
				at = CapFree(seq.Cap, mine, now)
			} else {
				w := e.window(c, loc)
				// A pause the contact chose holds everything until it
				// ends; then the caps and the window count as ever.
				at = now
				paused := c.Prefs.Paused(now)
				if paused {
					at = c.Prefs.PausedUntil
				}
				for {
					later := SendTime(w, limits, all, CapFree(seq.Cap, mine, CapFree(perAccount, team, at)), false)
					if later.Equal(at) {
						break
					}
					at = later
				}
				// The reason is the limit that frees the send last: the
				// one that decides when it goes.
				latest := CapFree(seq.Cap, mine, now)
				for _, l := range []struct {
					free      time.Time
					held, why string
				}{
					{CapFree(e.Program.Cadence.Limits, all, now), HeldCadence, "held back by the cadence caps"},
					{CapFree(limits, all, now), HeldPreferences, "held back by the contact's preferences (" + e.frequencyWhy(c) + ")"},
					{CapFree(perAccount, team, now), HeldAccountCap, "held back by the account's cap (" + account + ")"},
				} {
					if l.free.After(latest) {
						latest, held, why = l.free, l.held, l.why
					}
				}
				if paused && !latest.After(c.Prefs.PausedUntil) {
					latest, held, why = c.Prefs.PausedUntil, HeldPaused, "paused by the contact until "+c.Prefs.PausedUntil.UTC().Format(time.RFC3339)
				}
				if !latest.After(now) {
					held, why = HeldWindow, "outside the sending window in "+loc.String()
				}
				// A blackout date decides when the send goes when the
				// window without it would have opened sooner, once
				// every limit was free.
				if at.After(now) && w.Blackouts() {
					if open := w.Unblacked().Next(latest); w.Next(latest).After(open) {
						_, date := w.blackout(open)
						held, why = HeldBlackout, "held back by the blackout date "+date+" in "+loc.String()
					}
				}
			}
			v := e.variant(st, a)
			if at.After(now) {
				waitUntil(at, why)
				r.Deferred++
				t.Deferred, t.Email, t.Until, t.Held, t.Why = true, v.Email, at, held, why
				break
			}
			d.Send = &runtime.Send{Key: fmt.Sprintf("%d/%s/%s/%d", a.Contact, a.Sequence, st.Name, e.Version),
				Sequence: a.Sequence, Step: st.Name, Email: v.Email, Trigger: a.Trigger}
			if len(st.Send) > 1 {
				d.Send.Variant = v.Name
			}
			if em := e.Program.Emails[v.Email]; em != nil {
				d.Send.SubjectVariant = render.SubjectVariant(em, d.Send.Key)
			}
			pg.sent[a.Contact] = append(pg.sent[a.Contact], runtime.Sent{Sequence: a.Sequence, At: now})
			if account != "" && pg.accounts != nil {
				pg.accounts[account] = append(pg.accounts[account], runtime.Sent{Sequence: a.Sequence, At: now})
			}
			r.Planned++
			next(now)
		case campaigns.StepWait:
			if due := a.StepSince.Add(st.Wait.Std()); due.After(now) {
				waitUntil(due, "wait "+st.Wait.String())
			} else {
				next(due)
			}
		case campaigns.StepWaitUntil:
			if due := WaitUntil(*st.WaitUntil, a.StepSince, loc); due.After(now) {
				waitUntil(due, "wait until "+due.In(loc).Format("Mon 15:04 MST"))
			} else {
				next(due)
			}
		case campaigns.StepWaitFor:
			wf := st.WaitFor
			// The events since the enrollment's last email count, or
			// since entry when it sent none: a click on that email during
			// the wait before this step answers it. Never one from
			// before the version was applied.
			since := e.waitSince(a, pg.sent[a.Contact], now)
			met, ok := pg.waited[waitKey{a.Contact, a.Sequence, st.Name, since}]
			if !ok {
				m, err := e.Store.Matches(ctx, e.Program, a.Contact, []campaigns.Predicate{eventSince(wf.Event, since, now)}, now)
				if err != nil {
					return err
				}
				met = m[0]
			}
			timeout := a.StepSince.Add(wf.Within.Std())
			switch {
			case met:
				// The event that answered is the trigger from here on.
				id, err := e.Store.LatestEvent(ctx, e.Program, a.Contact, *eventSince(wf.Event, since, now).Event, now)
				if err != nil {
					return err
				}
				if id != "" {
					a.Trigger, d.Trigger = id, id
				}
				t.Outcome = OutcomeThen
				act(wf.Then, now)
			case !now.Before(timeout):
				t.Outcome = OutcomeElse
				act(wf.Else, timeout)
			default:
				waitUntil(timeout, "waiting for "+wf.Event.Name+" until "+timeout.UTC().Format(time.RFC3339))
			}
		case campaigns.StepBranch:
			met, err := e.Store.Matches(ctx, e.Program, a.Contact, []campaigns.Predicate{st.Branch.When}, now)
			if err != nil {
				return err
			}
			if met[0] {
				t.Outcome = OutcomeThen
				act(st.Branch.Then, now)
			} else {
				t.Outcome = OutcomeElse
				act(st.Branch.Else, now)
			}
		case campaigns.StepSet:
			d.Set = st.Set
			next(now)
		case campaigns.StepHandoff:
			e.handoff(&d, st.Handoff)
			next(now)
		case campaigns.StepEnroll:
			d.Enroll = e.starts(st.Enroll)
			next(now)
		case campaigns.StepGoto:
			act(campaigns.Action{Goto: st.Goto}, now)
		case campaigns.StepExit:
			d.Exit = st.Exit
		case campaigns.StepSuppress:
			d.Suppress, d.Exit = st.Suppress, st.Suppress
		default:
			return fmt.Errorf("step %s: unknown kind %q", st.Name, st.Kind)
		}
		if len(d.Set) > 0 {
			e.keepStage(&d, c.Values[campaigns.AttrStage], st.Kind == campaigns.StepSet && st.Demote)
			// Later steps, of this enrollment or another of the page,
			// read the contact as it now is.
			maps.Copy(c.Values, d.Set)
		}
		pg.ds = append(pg.ds, d)
		if e.Observe != nil {
			t.Decision = d
			e.Observe(t)
		}
		if len(d.Set) > 0 {
			// Later steps may read what this one set: write it now.
			if err := e.decideAll(ctx, pg.ds); err != nil {
				return err
			}
			pg.ds = pg.ds[:0]
		}
		r.Steps++
		if d.Exit != "" {
			r.Exited[d.Exit]++
			return nil
		}
		if d.NextCheck.After(now) {
			return nil
		}
		a.Step, a.StepSince, a.Trigger = d.Step, d.StepSince, d.Trigger
	}
	// Steps that loop without ever waiting: look again in an hour rather
	// than spin.
	d := e.decision(a, now)
	d.NextCheck, d.Waiting = now.Add(time.Hour), "steps that loop without a wait"
	pg.ds = append(pg.ds, d)
	return nil
}

// variant is the arm of a send step the contact gets: the one the
// engine was told to take, or the contact's own.
func (e *Engine) variant(st campaigns.Step, a runtime.Active) campaigns.Variant {
	if name, ok := e.Variants[a.Sequence+"."+st.Name]; ok {
		for _, v := range st.Send {
			if v.Name == name {
				return v
			}
		}
	}
	return Variant(st.Send, a.Contact, a.Sequence, st.Name)
}

func hasWaitFor(seq *campaigns.Sequence) bool {
	for _, st := range seq.Steps {
		if st.Kind == campaigns.StepWaitFor {
			return true
		}
	}
	return false
}

// capSpan is the longest window any cap on seq looks back over.
func (e *Engine) capSpan(seq *campaigns.Sequence) time.Duration {
	var span time.Duration
	for _, ls := range [][]campaigns.Limit{e.Program.Cadence.Limits, seq.Cap} {
		for _, l := range ls {
			span = max(span, l.Per.Std())
		}
	}
	for _, f := range e.Program.Frequencies() {
		span = max(span, f.Limit.Per.Std())
	}
	return span
}

// marketingLimits are the limits a contact's marketing email is counted
// against: the programme's cadence caps, and the contact's own choice of
// frequency.
func (e *Engine) marketingLimits(c *runtime.Contact) []campaigns.Limit {
	limits := e.Program.Cadence.Limits
	if pref := runtime.FrequencyLimit(e.Program, c.Prefs.Frequency); pref != nil {
		limits = append(slices.Clone(limits), pref...)
	}
	return limits
}

// frequencyWhy names the contact's chosen frequency and what it means
// under the programme: "biweekly: at most 1 per 14d". A choice the
// programme no longer offers says which one holds it instead.
func (e *Engine) frequencyWhy(c *runtime.Contact) string {
	f, offered, ok := e.Program.Frequency(c.Prefs.Frequency)
	switch {
	case !ok:
		return ""
	case !offered:
		return c.Prefs.Frequency + ", no longer offered: held to " + f.Name + ", " + f.Describe()
	}
	return f.Name + ": " + f.Describe()
}

// window is the sending window of contact c's marketing email, in loc:
// the cadence's quiet hours and days, and the blackout dates, the
// contact's country's too.
func (e *Engine) window(c *runtime.Contact, loc *time.Location) Window {
	country := ""
	if e.Program.Contact.Attributes[campaigns.AttrCountry] != nil {
		country, _ = c.Values[campaigns.AttrCountry].(string)
	}
	return NewWindow(e.Program.Cadence, loc, country)
}
