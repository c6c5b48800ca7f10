package scenario

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/ingest"
)

// Floor is the longest the virtual clock goes between two ticks. Ticks
// come at every happening, every state check, whenever the engine has
// something due (so waits, caps and timeouts act at their exact time)
// and whenever time alone turns a condition the programme tests (an
// event window emptying, inactivity, time in a sequence, a re-entry
// delay: see engine.Watch). The floor is for what no stored time tells:
// a score decaying below a threshold is seen within it.
const Floor = 24 * time.Hour

// Settle is when a tick that decided something is followed by another,
// as nurture run's default schedule would: every five minutes.
const Settle = 5 * time.Minute

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Kinds of timeline entry.
const (
	EntrySend     = "send"
	EntryDeferred = "deferred"
	EntryEnter    = "enter"
	EntryExit     = "exit"
	EntryHandoff  = "handoff"
	EntryStage    = "stage"
	EntrySuppress = "suppressed"
	EntryDid      = "did" // something the scenario's contact did
)

// Entry is one thing that happened in a scenario's run.
type Entry struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"`
	Sequence string    `json:"sequence,omitempty"`
	Step     string    `json:"step,omitempty"`
	Email    string    `json:"email,omitempty"`
	Variant  string    `json:"variant,omitempty"`
	Subject  string    `json:"subject,omitempty"`
	// From is the address an email went out from.
	From    string `json:"from,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Handoff string `json:"handoff,omitempty"`
	Stage   string `json:"stage,omitempty"`
	// Detail says more: why a send was held back and until when, what
	// the contact did.
	Detail string `json:"detail,omitempty"`
	// pending marks an enrollment a decision asked for, until the store
	// is seen to have made it.
	pending bool
}

// Check is an expectation and whether the run met it.
type Check struct {
	Expectation campaigns.Expectation
	OK          bool
	// Entry is the timeline entry that met it (or, for never, broke
	// it); -1 when none.
	Entry int
	// Got says what the run did instead, for a person.
	Got string
}

// Result is a scenario's run.
type Result struct {
	Scenario *campaigns.Scenario
	Name     string
	Passed   bool
	Elapsed  time.Duration
	Ticks    int
	Timeline []Entry
	Checks   []Check
	// Unexpected are the timeline entries of emails no expectation
	// named, in a strict scenario.
	Unexpected []int
	// Problems are what stopped the run, or a happening it could not
	// carry out (a click on an email never sent); each fails it.
	Problems []Problem
	// Reached is the journey coverage: the items (see Items) the run
	// went through.
	Reached map[string]bool
}

// Problem is a failure that is not an expectation's.
type Problem struct {
	Pos     campaigns.Source
	Message string
}

// Day writes t as the scenario reads it: "day 3 10:00", in its zone.
func (r *Result) Day(t time.Time) string {
	return Day(r.Scenario, t)
}

// Day writes t relative to the scenario's start, in its zone.
func Day(s *campaigns.Scenario, t time.Time) string {
	loc, err := time.LoadLocation(s.Zone)
	if err != nil {
		loc = time.UTC
	}
	st, lt := s.Start.In(loc), t.In(loc)
	d0 := time.Date(st.Year(), st.Month(), st.Day(), 0, 0, 0, 0, time.UTC)
	d1 := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, time.UTC)
	return fmt.Sprintf("day %d %s", int(d1.Sub(d0).Hours()/24), lt.Format("15:04"))
}

// run is one scenario's run in progress.
type run struct {
	sc      *campaigns.Scenario
	prog    *campaigns.Program
	w       *World
	res     *Result
	contact int64
	email   string
	states  map[int]Check // state checks by expectation index
	// events and attrs are what the store holds of the contact that
	// time can turn a condition on (see nextTurn).
	events []runtime.Event
	attrs  map[string]time.Time
}

// Run runs one scenario in dir, which must be an empty directory of its
// own: the store is made there.
func Run(ctx context.Context, dir string, prog *campaigns.Program, sc *campaigns.Scenario) *Result {
	began := time.Now()
	res := &Result{Scenario: sc, Name: sc.Name, Reached: map[string]bool{}}
	r := &run{sc: sc, prog: prog, res: res, states: map[int]Check{}}
	if err := r.run(ctx, dir); err != nil {
		res.Problems = append(res.Problems, Problem{Pos: sc.Pos, Message: err.Error()})
	}
	if r.w != nil {
		res.Ticks = r.w.Ticks
	}
	r.check()
	res.Passed = len(res.Problems) == 0 && len(res.Unexpected) == 0
	for _, c := range res.Checks {
		res.Passed = res.Passed && c.OK
	}
	res.Elapsed = time.Since(began)
	return res
}

func (r *run) run(ctx context.Context, dir string) error {
	w, err := Open(ctx, dir, r.prog, r.sc.Start, r.observe)
	if err != nil {
		return err
	}
	defer w.Close()
	r.w = w
	w.Worker.Configure = func(e *engine.Engine) {
		e.Store = enrollWatch{e.Store, r.entered}
		e.Variants = r.sc.Variants
		e.Arms = r.sc.Arms
		e.Observe = r.observe
	}
	if err := r.arrive(ctx); err != nil {
		return err
	}

	// Every moment something is known to happen: the happenings, the
	// state checks and the end.
	end := r.sc.Start.Add(r.sc.Run.Std())
	var moments []time.Time
	for _, h := range r.sc.Timeline {
		moments = append(moments, h.At)
	}
	for _, x := range r.sc.Expect {
		if x.State() {
			moments = append(moments, x.At)
		}
	}
	slices.SortFunc(moments, time.Time.Compare)

	watch := w.Watch()
	next := 0 // the next happening
	now := r.sc.Start
	for {
		for next < len(r.sc.Timeline) && !r.sc.Timeline[next].At.After(now) {
			if err := r.happen(ctx, next, r.sc.Timeline[next]); err != nil {
				return err
			}
			next++
		}
		w.SetClock(now)
		rep, err := w.Tick(ctx, now)
		if err != nil {
			return err
		}
		if err := r.confirmEnters(ctx, now); err != nil {
			return err
		}
		if err := r.checkStates(ctx, now); err != nil {
			return err
		}
		if !now.Before(end) {
			break
		}
		// The next tick: the floor, or sooner when something is due.
		at := minTime(now.Add(Floor), end)
		if rep.Steps > 0 || rep.Returned > 0 || sum(rep.Enrolled) > 0 {
			// What a tick decided may let a rule fire that the tick
			// had already passed (an exit that looks at the sequence
			// just entered): nurture run sees it at its next tick.
			at = minTime(at, now.Add(Settle))
		}
		for _, m := range moments {
			if m.After(now) {
				at = minTime(at, m)
				break
			}
		}
		due, err := w.NextCheck(ctx)
		if err != nil {
			return err
		}
		if due.After(now) {
			at = minTime(at, due)
		}
		if t := r.nextTurn(now, watch); !t.IsZero() {
			at = minTime(at, t)
		}
		now = at
	}
	r.subjects()
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// nextTurn is the first moment after now at which time alone turns a
// condition for the contact: a stored time plus a span the engine
// watches. The contact's stored times are the scenario's own: its
// events, its enrollments, its last engagement, its time attributes.
func (r *run) nextTurn(now time.Time, w runtime.Watch) time.Time {
	var next time.Time
	consider := func(t time.Time, span time.Duration) {
		// A millisecond on, the stores' unit: some conditions turn
		// once the span has passed, not when it is reached.
		if at := t.Add(span + time.Millisecond); at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	engaged := r.sc.Start
	for _, ev := range r.events {
		for _, s := range w.Events {
			if s.Event == ev.Name {
				consider(ev.At, s.Span)
			}
		}
		if campaigns.Engages(ev.Name, ev.Props) && ev.At.After(engaged) {
			engaged = ev.At
		}
	}
	for _, span := range w.Inactive {
		consider(engaged, span)
	}
	for _, s := range w.Attrs {
		if t, ok := r.attrs[s.Field]; ok {
			consider(t, s.Span)
		}
	}
	for _, e := range r.res.Timeline {
		spans := w.Entered
		if e.Kind == EntryExit {
			spans = w.Exited
		} else if e.Kind != EntryEnter {
			continue
		}
		for _, s := range spans {
			if s.Sequence == e.Sequence {
				consider(e.At, s.Span)
			}
		}
	}
	return next
}

// note keeps what the store now holds of the contact that time can turn
// a condition on: its events and time attributes.
func (r *run) note(events []runtime.Event, values map[string]any) {
	r.events = append(r.events, events...)
	for k, v := range values {
		if t, ok := v.(time.Time); ok {
			if r.attrs == nil {
				r.attrs = map[string]time.Time{}
			}
			r.attrs[k] = t
		}
	}
}

// arrive imports the scenario's contact, typed as an import would type
// it.
func (r *run) arrive(ctx context.Context) error {
	rec, err := r.record(r.sc.Contact)
	if err != nil {
		return fmt.Errorf("the scenario's contact: %w", err)
	}
	if err := r.account(ctx); err != nil {
		return fmt.Errorf("the scenario's account: %w", err)
	}
	if !r.sc.NoConsent {
		rec.Consent = &runtime.Consent{Email: rec.Email, At: r.sc.Start, Source: "scenario", Wording: "scenario"}
	}
	res, err := r.w.Store.UpsertContacts(ctx, &r.prog.Contact, []runtime.ContactRecord{rec}, "scenario")
	if err != nil {
		return err
	}
	if len(res.Rejected) > 0 {
		return fmt.Errorf("the scenario's contact: %s", res.Rejected[0].Reason)
	}
	c, err := r.w.Store.Contact(ctx, rec.Email)
	if err != nil || c == nil {
		return fmt.Errorf("the scenario's contact was not stored: %v", err)
	}
	r.contact, r.email = c.ID, c.Email
	r.note(nil, rec.Values)
	return nil
}

// account stores the scenario's account, typed as an account import
// would type it, under the contact's account key.
func (r *run) account(ctx context.Context) error {
	if len(r.sc.Account) == 0 {
		return nil
	}
	values := map[string]any{ingest.ColumnAccount: r.sc.Contact[campaigns.AttrAccount]}
	for k, v := range r.sc.Account {
		values[k] = v
	}
	line, err := json.Marshal(values)
	if err != nil {
		return err
	}
	attrs := r.prog.Accounts.Attributes
	ar, err := ingest.NewAccountReader(strings.NewReader(string(line)+"\n"), "scenario", ingest.JSONL, attrs, ingest.Options{})
	if err != nil {
		return err
	}
	rec, rej, err := ar.Next()
	if err != nil {
		return err
	}
	if rej != nil {
		return fmt.Errorf("%s", rej.Reason)
	}
	res, err := r.w.Store.UpsertAccounts(ctx, attrs, []runtime.AccountRecord{rec})
	if err != nil {
		return err
	}
	if len(res.Rejected) > 0 {
		return fmt.Errorf("%s", res.Rejected[0].Reason)
	}
	return nil
}

// record reads contact values through the contact import's reader.
func (r *run) record(values map[string]any) (runtime.ContactRecord, error) {
	line, err := json.Marshal(values)
	if err != nil {
		return runtime.ContactRecord{}, err
	}
	cr, err := ingest.NewContactReader(strings.NewReader(string(line)+"\n"), "scenario", ingest.JSONL, &r.prog.Contact, ingest.Options{AllowRole: true})
	if err != nil {
		return runtime.ContactRecord{}, err
	}
	rec, rej, err := cr.Next()
	if err != nil {
		return rec, err
	}
	if rej != nil {
		return rec, fmt.Errorf("%s", rej.Reason)
	}
	return rec, nil
}

// happen carries out one happening of the timeline at its time.
func (r *run) happen(ctx context.Context, i int, h campaigns.Happening) error {
	w := r.w
	w.SetClock(h.At)
	id := fmt.Sprintf("scenario/%d", i)
	did := Entry{At: h.At, Kind: EntryDid}
	var events []runtime.Event
	var sup string
	switch h.Kind {
	case campaigns.HappenEvent:
		ev, err := r.event(id, h)
		if err != nil {
			return err
		}
		events = append(events, ev)
		did.Detail = describeEvent(h.Event, h.Props)
	case campaigns.HappenClick, campaigns.HappenOpen, campaigns.HappenReply:
		sent := r.lastSend(h.Email, h.At)
		if sent == nil {
			r.res.Problems = append(r.res.Problems, Problem{Pos: h.Pos,
				Message: fmt.Sprintf("the contact %s %s on %s, but it was not sent by then", thirdPerson(h.Kind), h.Email, r.res.Day(h.At))})
			return nil
		}
		name := map[string]string{campaigns.HappenClick: campaigns.EventClicked, campaigns.HappenOpen: campaigns.EventOpened,
			campaigns.HappenReply: campaigns.EventReplied}[h.Kind]
		props := sendProps(sent)
		if h.Machine {
			props["unreliable"] = true
		}
		events = append(events, runtime.Event{ID: id, Email: r.email, Name: name, At: h.At, Props: props})
		did.Detail = thirdPerson(h.Kind) + " " + h.Email
		if h.Machine {
			did.Detail = "a machine opens " + h.Email + " (unreliable)"
		}
	case campaigns.HappenUnsubscribe:
		sup, did.Detail = runtime.ReasonUnsubscribed, "unsubscribes"
		events = append(events, runtime.Event{ID: id, Email: r.email, Name: campaigns.EventUnsubscribed, At: h.At, Props: sendProps(r.lastSend("", h.At))})
	case campaigns.HappenBounce:
		sup, did.Detail = runtime.ReasonBounced, "the address bounces (hard)"
		props := sendProps(r.lastSend("", h.At))
		props["kind"] = "hard"
		events = append(events, runtime.Event{ID: id, Email: r.email, Name: campaigns.EventBounced, At: h.At, Props: props})
	case campaigns.HappenComplain:
		sup, did.Detail = runtime.ReasonComplained, "reports the email as spam"
		events = append(events, runtime.Event{ID: id, Email: r.email, Name: campaigns.EventComplained, At: h.At, Props: sendProps(r.lastSend("", h.At))})
	case campaigns.HappenPrefer:
		p, err := w.Store.Preferences(ctx, r.contact)
		if err != nil {
			return err
		}
		// A pause or a resume alone keeps the other choices, as the
		// page's pause buttons do.
		if (h.Pause == 0 && !h.Resume) || h.Frequency != "" || len(h.TopicsOut) > 0 {
			p.Frequency, p.TopicsOut = h.Frequency, h.TopicsOut
		}
		switch {
		case h.Pause > 0:
			p.PausedUntil = h.At.Add(h.Pause.Std())
			events = append(events, runtime.Event{ID: id, Email: r.email, Name: campaigns.EventPaused, At: h.At,
				Props: map[string]any{"until": p.PausedUntil.UTC().Format(time.RFC3339)}})
		case h.Resume:
			if !p.PausedUntil.After(h.At) {
				break
			}
			p.PausedUntil = time.Time{}
			events = append(events, runtime.Event{ID: id, Email: r.email, Name: campaigns.EventResumed, At: h.At})
		}
		if err := w.Store.SetPreferences(ctx, r.contact, p, h.At); err != nil {
			return err
		}
		did.Detail = "chooses on the preference page:"
		if p.Frequency != "" {
			did.Detail += " at most " + p.Frequency
		}
		if len(p.TopicsOut) > 0 {
			did.Detail += " no " + strings.Join(p.TopicsOut, ", ")
		}
		switch {
		case h.Pause > 0:
			did.Detail += " pause for " + h.Pause.String()
		case h.Resume:
			did.Detail += " resume"
		}
	case campaigns.HappenSet:
		vals := map[string]any{campaigns.AttrEmail: r.email}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(h.Set)) {
			vals[k] = h.Set[k]
			parts = append(parts, fmt.Sprintf("%s=%v", k, h.Set[k]))
		}
		rec, err := r.record(vals)
		if err != nil {
			return fmt.Errorf("%s: %w", h.Pos, err)
		}
		if _, err := w.Store.UpsertContacts(ctx, &r.prog.Contact, []runtime.ContactRecord{rec}, "scenario"); err != nil {
			return err
		}
		r.note(nil, rec.Values)
		did.Detail = "set " + strings.Join(parts, " ")
	}
	if sup != "" {
		// As the tracking server and the bounce webhook do: the address
		// is suppressed, and the event recorded.
		if _, err := w.Store.Suppress(ctx, []runtime.Suppression{{Email: r.email, Reason: sup, Source: "scenario", At: h.At}}); err != nil {
			return err
		}
	}
	if len(events) > 0 {
		res, err := w.Store.RecordEvents(ctx, events)
		if err != nil {
			return err
		}
		if len(res.Rejected) > 0 {
			return fmt.Errorf("%s: the event was refused: %s", h.Pos, res.Rejected[0].Reason)
		}
		r.note(events, nil)
	}
	r.res.Timeline = append(r.res.Timeline, did)
	return nil
}

// event types a behavioural event's properties through the events
// import's reader.
func (r *run) event(id string, h campaigns.Happening) (runtime.Event, error) {
	line, err := json.Marshal(map[string]any{"id": id, "email": r.email,
		"name": h.Event, "at": h.At.Format(time.RFC3339Nano), "properties": h.Props})
	if err != nil {
		return runtime.Event{}, err
	}
	er, err := ingest.NewEventReader(strings.NewReader(string(line)+"\n"), "scenario", ingest.JSONL, r.prog.Events, ingest.Options{})
	if err != nil {
		return runtime.Event{}, err
	}
	ev, rej, err := er.Next()
	if err != nil {
		return ev, err
	}
	if rej != nil {
		return ev, fmt.Errorf("%s: %s", h.Pos, rej.Reason)
	}
	return ev, nil
}

func describeEvent(name string, props map[string]any) string {
	s := name
	for _, k := range slices.Sorted(maps.Keys(props)) {
		s += fmt.Sprintf(" %s=%v", k, props[k])
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// lastSend is the latest email sent by at (of the given path, when one
// is given), or nil.
func (r *run) lastSend(email string, at time.Time) *Entry {
	for i := len(r.res.Timeline) - 1; i >= 0; i-- {
		e := &r.res.Timeline[i]
		if e.Kind == EntrySend && !e.At.After(at) && (email == "" || e.Email == email) {
			return e
		}
	}
	return nil
}

// sendProps are the properties an email event carries of its send.
func sendProps(e *Entry) map[string]any {
	props := map[string]any{}
	if e != nil {
		props["email"], props["sequence"], props["step"] = e.Email, e.Sequence, e.Step
		if e.Variant != "" {
			props["variant"] = e.Variant
		}
	}
	return props
}

// observe turns what the engine did into timeline entries and coverage.
func (r *run) observe(t engine.Trace) {
	d := t.Decision
	if d.Contact != r.contact {
		return
	}
	seq := cmp.Or(t.Sequence, d.Sequence)
	add := func(e Entry) {
		e.At = t.At
		r.res.Timeline = append(r.res.Timeline, e)
	}
	if t.Deferred {
		add(Entry{Kind: EntryDeferred, Sequence: seq, Step: t.Step, Email: t.Email,
			Detail: fmt.Sprintf("%s, until %s", t.Why, r.res.Day(t.Until))})
	} else if t.Step != "" {
		r.res.Reached[StepItem(seq, t.Step, t.Outcome)] = true
	}
	if t.Rule != "" {
		r.res.Reached[t.Rule] = true
	}
	if s := d.Send; s != nil {
		if s.Variant != "" {
			r.res.Reached[VariantItem(seq, s.Step, s.Variant)] = true
		}
		add(Entry{Kind: EntrySend, Sequence: seq, Step: s.Step, Email: s.Email, Variant: s.Variant, Detail: s.Key})
	}
	if st, ok := d.Set[campaigns.AttrStage].(string); ok {
		add(Entry{Kind: EntryStage, Sequence: seq, Stage: st})
	}
	if d.Handoff != "" {
		e := Entry{Kind: EntryHandoff, Sequence: seq, Handoff: d.Handoff}
		if key, _ := r.sc.Contact[campaigns.AttrAccount].(string); d.HandoffAccount && key != "" {
			e.Detail = "the account " + key // handed over once for all its contacts
		}
		add(e)
	}
	if d.Suppress != "" {
		add(Entry{Kind: EntrySuppress, Sequence: seq, Reason: d.Suppress})
	}
	if d.Exit != "" {
		add(Entry{Kind: EntryExit, Sequence: seq, Step: t.Step, Reason: d.Exit})
	}
	for _, s := range d.Enroll {
		// The store refuses an enrollment the contact already has
		// active: confirmEnters keeps only those it made.
		add(Entry{Kind: EntryEnter, Sequence: s.Sequence, pending: true})
	}
}

// confirmEnters keeps the entries into sequences that a tick's decisions
// asked for only where the store made the enrollment.
func (r *run) confirmEnters(ctx context.Context, now time.Time) error {
	if !slices.ContainsFunc(r.res.Timeline, func(e Entry) bool { return e.pending }) {
		return nil
	}
	ens, err := r.w.Store.Enrollments(ctx, r.contact)
	if err != nil {
		return err
	}
	made := map[string]bool{}
	for _, en := range ens {
		if en.EnteredAt.Equal(now) {
			made[en.Sequence] = true
		}
	}
	r.res.Timeline = slices.DeleteFunc(r.res.Timeline, func(e Entry) bool { return e.pending && !made[e.Sequence] })
	for i := range r.res.Timeline {
		r.res.Timeline[i].pending = false
	}
	return nil
}

// entered notes the enrollments a tick's entry made.
func (r *run) entered(sequence string, n int, now time.Time) {
	if n > 0 {
		r.res.Timeline = append(r.res.Timeline, Entry{At: now, Kind: EntryEnter, Sequence: sequence})
	}
}

// enrollWatch tells of every enrollment the engine's entry makes: the
// scenario's contact is the store's only one.
type enrollWatch struct {
	engine.Store
	entered func(sequence string, n int, now time.Time)
}

func (s enrollWatch) EnrollWhere(ctx context.Context, prog *campaigns.Program, p campaigns.Predicate, trigger *campaigns.EventCondition, sequence, step string, version int64, now time.Time) (int, error) {
	n, err := s.Store.EnrollWhere(ctx, prog, p, trigger, sequence, step, version, now)
	if err == nil {
		s.entered(sequence, n, now)
	}
	return n, err
}

// subjects fills in the subject each email went out with.
func (r *run) subjects() {
	for i := range r.res.Timeline {
		e := &r.res.Timeline[i]
		if e.Kind != EntrySend {
			continue
		}
		if m := r.w.Mail.ByKey(e.Detail); m != nil {
			e.Subject, e.From, e.Detail = m.Subject, m.From, ""
		} else {
			e.Detail = "planned, not delivered"
		}
	}
}

// thirdPerson is what a contact does, as a timeline line says it:
// "clicks", "opens", "replies to".
func thirdPerson(kind string) string {
	if kind == campaigns.HappenReply {
		return "replies to"
	}
	return kind + "s"
}
