package scenario

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/importer"
	"github.com/nurture-dev/nurture/runtime/ingest"
)

// SimOptions say what to simulate.
type SimOptions struct {
	Program *campaigns.Program
	// Start is the first tick; Days how many days the run lasts, counted
	// in Location so that a midnight start gives whole days.
	Start time.Time
	Days  int
	// Every is the time between ticks; 4h when zero.
	Every time.Duration
	// Location cuts the run into days; the programme's default time zone
	// when nil, so a "day" is the one the senders and readers mostly live in.
	Location *time.Location
	// Contacts are imported at Start; Events, when set, are recorded up
	// front when dated at or before Start and at their time during the run
	// otherwise.
	Contacts *ingest.ContactReader
	Events   *ingest.EventReader
	// Accounts, when set, are imported at Start before the contacts.
	Accounts *ingest.AccountReader
	// ContactRejects and EventRejects receive every row that was not
	// stored, by the reader or the store; an error from them stops the run.
	// Observe, when set, is told of every decision too, as the report's
	// tally is (see engine.Trace).
	Observe        func(engine.Trace)
	ContactRejects func(*ingest.Reject) error
	EventRejects   func(*ingest.Reject) error
	AccountRejects func(*ingest.Reject) error
	// Engagement, when set, has the recipients answer the email they get
	// at its rates, through the tracking server's endpoints.
	Engagement *Engagement
	// Keep, when set, is given the simulation's store after the last
	// tick, before it is removed: to copy it for nurture report.
	Keep func(ctx context.Context, st Store) error
}

// SimReport is what a simulation counted, by day and by sequence.
//
// Emails are sends the engine planned (each delivered in the same tick).
// HeldBack counts the sends a cap or the sending window held back: in the
// totals (Total, Sequences) each send once however long it waited, by
// what held it first; on a day, each send held back that day, so a send
// held back on two days counts on each of them. Deferrals counts every
// time the engine held a send back, repeats included.
type SimReport struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Days     int       `json:"days"`
	Every    string    `json:"every"`
	Timezone string    `json:"timezone"`
	Ticks    int       `json:"ticks"`
	// Contacts imported; Events recorded before the start and during the run.
	Contacts     int `json:"contacts"`
	EventsBefore int `json:"events_before"`
	EventsDuring int `json:"events_during"`
	// Rejected rows of the contacts and events given.
	ContactsRejected int `json:"contacts_rejected"`
	EventsRejected   int `json:"events_rejected"`
	// Accounts imported, and the rows of them rejected.
	Accounts         int `json:"accounts,omitempty"`
	AccountsRejected int `json:"accounts_rejected,omitempty"`

	Total SimCounts `json:"total"`
	// Sequences holds every sequence of the programme, highest priority
	// first, with its totals.
	Sequences []SimSequence `json:"sequences"`
	Daily     []SimDay      `json:"daily"`
	// Busiest is the day with the most emails (the first of equals).
	Busiest *SimDay `json:"busiest,omitempty"`
	// Engagement counts what the recipients did, by kind (open, click,
	// reply, unsubscribe, bounce, complaint), when the run drew it at
	// declared rates; Rates are those rates.
	Engagement      EngageCounts `json:"engagement,omitempty"`
	EngagementRates *Engagement  `json:"engagement_rates,omitempty"`
}

// SimCounts are the counts of a day, a sequence, or a sequence on a day.
type SimCounts struct {
	Emails    int `json:"emails"`
	HeldBack  int `json:"held_back"`
	Deferrals int `json:"deferrals"`
	Enrolled  int `json:"enrolled"`
	Exits     int `json:"exits"`
	// HeldBackBy splits HeldBack by what held the send (engine.Held…):
	// cadence_caps, sequence_cap, account_cap, preferences, sending_window,
	// blackout_dates, paused.
	HeldBackBy map[string]int `json:"held_back_by,omitempty"`
	// ExitsBy splits Exits by reason.
	ExitsBy map[string]int `json:"exits_by,omitempty"`
	// Control counts the enrollments a holdout assigned to a control
	// arm (first seen that day), and HeldOut the emails their steps
	// would have sent and did not: they are in Enrolled and Exits with
	// the others, and never in Emails.
	Control int `json:"control,omitempty"`
	HeldOut int `json:"held_out,omitempty"`
}

// SimSequence is one sequence's totals.
type SimSequence struct {
	Name          string `json:"name"`
	Transactional bool   `json:"transactional,omitempty"`
	SimCounts
}

// SimDay is one day of the run, in the report's time zone.
type SimDay struct {
	Date string `json:"date"` // 2006-01-02
	SimCounts
	// BySequence holds the sequences that did something that day.
	BySequence map[string]*SimCounts `json:"by_sequence,omitempty"`
}

func (c *SimCounts) add(o SimCounts) {
	c.Emails += o.Emails
	c.HeldBack += o.HeldBack
	c.Deferrals += o.Deferrals
	c.Enrolled += o.Enrolled
	c.Exits += o.Exits
	c.HeldBackBy = addMap(c.HeldBackBy, o.HeldBackBy)
	c.ExitsBy = addMap(c.ExitsBy, o.ExitsBy)
	c.Control += o.Control
	c.HeldOut += o.HeldOut
}

func addMap(into, m map[string]int) map[string]int {
	for k, v := range m {
		if into == nil {
			into = map[string]int{}
		}
		into[k] += v
	}
	return into
}

func inc(m *map[string]int, k string) {
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[k]++
}

// tally collects the traces of a run into days.
type tally struct {
	loc   *time.Location
	first time.Time // midnight of the first day in loc
	days  []SimDay
	// held remembers the sends counted as held back on each day, so that a
	// send deferred again the same day counts once.
	held []map[string]bool
	// waiting is the step of each contact's sequence whose send is held
	// back now ("contact/sequence" → step), so that the run counts it
	// once until it goes out or the contact leaves.
	waiting map[string]string
	// heldOnce counts, per sequence, the sends held back at least once.
	heldOnce map[string]*SimCounts
	// controls holds the enrollments counted as held out.
	controls map[int64]bool
}

func (t *tally) day(at time.Time) (int, *SimDay) {
	y, m, d := at.In(t.loc).Date()
	i := int(time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Sub(time.Date(t.first.Year(), t.first.Month(), t.first.Day(), 12, 0, 0, 0, time.UTC)) / (24 * time.Hour))
	for len(t.days) <= i {
		date := t.first.AddDate(0, 0, len(t.days))
		t.days = append(t.days, SimDay{Date: date.Format(time.DateOnly), BySequence: map[string]*SimCounts{}})
		t.held = append(t.held, map[string]bool{})
	}
	return i, &t.days[i]
}

func (d *SimDay) seq(name string) *SimCounts {
	c := d.BySequence[name]
	if c == nil {
		c = &SimCounts{}
		d.BySequence[name] = c
	}
	return c
}

func (t *tally) observe(tr engine.Trace) {
	i, d := t.day(tr.At)
	if id := tr.Decision.Enrollment; campaigns.HeldOut(tr.Decision.Arm) && !t.controls[id] {
		if t.controls == nil {
			t.controls = map[int64]bool{}
		}
		t.controls[id] = true
		d.seq(cmp.Or(tr.Sequence, tr.Decision.Sequence)).Control++
	}
	switch {
	case tr.HeldOut != "":
		d.seq(tr.Sequence).HeldOut++
	case tr.Deferred:
		c := d.seq(tr.Sequence)
		c.Deferrals++
		key := fmt.Sprintf("%d/%s/%s", tr.Contact, tr.Sequence, tr.Step)
		if !t.held[i][key] {
			t.held[i][key] = true
			c.HeldBack++
			inc(&c.HeldBackBy, tr.Held)
		}
		if t.waiting == nil {
			t.waiting, t.heldOnce = map[string]string{}, map[string]*SimCounts{}
		}
		who := fmt.Sprintf("%d/%s", tr.Contact, tr.Sequence)
		if step, ok := t.waiting[who]; !ok || step != tr.Step {
			t.waiting[who] = tr.Step
			once := t.heldOnce[tr.Sequence]
			if once == nil {
				once = &SimCounts{}
				t.heldOnce[tr.Sequence] = once
			}
			once.HeldBack++
			inc(&once.HeldBackBy, tr.Held)
		}
	case tr.Decision.Send != nil:
		seq := cmp.Or(tr.Decision.Send.Sequence, tr.Sequence)
		d.seq(seq).Emails++
		delete(t.waiting, fmt.Sprintf("%d/%s", tr.Contact, seq))
	}
	if tr.Decision.Exit != "" {
		delete(t.waiting, fmt.Sprintf("%d/%s", tr.Contact, cmp.Or(tr.Sequence, tr.Decision.Sequence)))
		c := d.seq(cmp.Or(tr.Sequence, tr.Decision.Sequence))
		c.Exits++
		inc(&c.ExitsBy, tr.Decision.Exit)
	}
	// Enrollments a decision starts (an exit's "then enroll", an enroll
	// step, a lead sales returned); entry by segment or event comes in the
	// tick's report instead.
	for _, s := range tr.Decision.Enroll {
		d.seq(s.Sequence).Enrolled++
	}
}

// Simulate runs the programme over the contacts for opt.Days days on a
// virtual clock, against a SQLite store in a temporary directory that is
// removed after, and counts what the engine did.
func Simulate(ctx context.Context, opt SimOptions) (*SimReport, error) {
	if opt.Program == nil || opt.Contacts == nil {
		return nil, errors.New("simulate: a programme and contacts are required")
	}
	if opt.Days <= 0 {
		return nil, fmt.Errorf("simulate: %d days: want 1 or more", opt.Days)
	}
	every := cmp.Or(opt.Every, 4*time.Hour)
	if every <= 0 {
		return nil, fmt.Errorf("simulate: a tick every %s: want a positive duration", every)
	}
	loc := opt.Location
	if loc == nil {
		loc = engine.Location("", opt.Program.Cadence.DefaultTimezone)
	}
	start := opt.Start
	end := start.In(loc).AddDate(0, 0, opt.Days)
	y, m, d := start.In(loc).Date()
	t := &tally{loc: loc, first: time.Date(y, m, d, 0, 0, 0, 0, loc)}

	dir, err := os.MkdirTemp("", "nurture-simulate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	observe := t.observe
	if opt.Observe != nil {
		observe = func(tr engine.Trace) { t.observe(tr); opt.Observe(tr) }
	}
	w, err := Open(ctx, dir, opt.Program, start, observe)
	if err != nil {
		return nil, err
	}
	defer w.Close()

	rep := &SimReport{Start: start, End: end, Days: opt.Days, Every: every.String(), Timezone: loc.String()}
	rejects := func(f func(*ingest.Reject) error, n *int) func(*ingest.Reject) error {
		return func(r *ingest.Reject) error {
			*n++
			if f != nil {
				return f(r)
			}
			return nil
		}
	}
	// The store's clock is at start: the contacts are created then, and
	// inactivity counts from it.
	w.SetClock(start)
	if opt.Accounts != nil {
		sum, err := importer.Accounts(ctx, w.Store, opt.Program.Accounts.Attributes, opt.Accounts, importer.Options{Reject: rejects(opt.AccountRejects, &rep.AccountsRejected)})
		if err != nil {
			return nil, err
		}
		rep.Accounts = sum.Inserted + sum.Updated + sum.Unchanged
	}
	sum, err := importer.Contacts(ctx, w.Store, &opt.Program.Contact, opt.Contacts, importer.Options{Who: "nurture simulate", Reject: rejects(opt.ContactRejects, &rep.ContactsRejected)})
	if err != nil {
		return nil, err
	}
	rep.Contacts = sum.Inserted + sum.Updated + sum.Unchanged

	var later []runtime.Event
	if opt.Events != nil {
		evRejects := rejects(opt.EventRejects, &rep.EventsRejected)
		var before []runtime.Event
		for {
			ev, rej, err := opt.Events.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			if rej != nil {
				if err := evRejects(rej); err != nil {
					return nil, err
				}
				continue
			}
			if ev.At.After(start) {
				later = append(later, ev)
			} else {
				before = append(before, ev)
			}
		}
		if rep.EventsBefore, err = record(ctx, w, before, evRejects); err != nil {
			return nil, err
		}
		slices.SortStableFunc(later, func(a, b runtime.Event) int { return a.At.Compare(b.At) })
	}

	var eng *engager
	if opt.Engagement != nil {
		if eng, err = newEngager(ctx, w, opt.Engagement); err != nil {
			return nil, err
		}
	}
	for now := start; now.Before(end); now = now.Add(every) {
		// The events that came since the last tick, recorded at the time
		// the last of them came, so the tick sees them as changes.
		n := 0
		for n < len(later) && !later[n].At.After(now) {
			n++
		}
		if n > 0 {
			w.SetClock(later[n-1].At)
			k, err := record(ctx, w, later[:n], rejects(opt.EventRejects, &rep.EventsRejected))
			if err != nil {
				return nil, err
			}
			rep.EventsDuring += k
			later = later[n:]
		}
		if eng != nil {
			if err := eng.until(ctx, now); err != nil {
				return nil, err
			}
		}
		r, err := w.Tick(ctx, now)
		if err != nil {
			return nil, err
		}
		if eng != nil {
			if err := eng.delivered(ctx, now); err != nil {
				return nil, err
			}
		}
		_, day := t.day(now)
		for seq, k := range r.Enrolled {
			day.seq(seq).Enrolled += k
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if eng != nil {
		// What recipients do after the last tick and before the end is
		// recorded too, as it would be between ticks: the store kept
		// for a report holds it.
		if err := eng.until(ctx, end); err != nil {
			return nil, err
		}
	}
	rep.Ticks = w.Ticks
	rep.finish(opt.Program, t.days, t.heldOnce)
	if eng != nil {
		rep.Engagement, rep.EngagementRates = eng.summary(), opt.Engagement
	}
	if opt.Keep != nil {
		if err := opt.Keep(ctx, w.Store); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// record stores events in batches, giving the store's rejects to reject;
// it returns how many were new.
func record(ctx context.Context, w *World, evs []runtime.Event, reject func(*ingest.Reject) error) (int, error) {
	var n int
	for batch := range slices.Chunk(evs, importer.DefaultBatch) {
		res, err := w.Store.RecordEvents(ctx, batch)
		if err != nil {
			return n, err
		}
		n += res.Inserted
		for _, r := range res.Rejected {
			if err := reject(&ingest.Reject{Line: r.Line, Email: r.Email, Reason: r.Reason}); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// finish totals the days by day and by sequence and finds the busiest;
// heldOnce are the sends held back, each once, by sequence.
func (rep *SimReport) finish(prog *campaigns.Program, days []SimDay, heldOnce map[string]*SimCounts) {
	names := make([]string, 0, len(prog.Sequences))
	for name := range prog.Sequences {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(prog.Sequences[b].Priority, prog.Sequences[a].Priority), cmp.Compare(a, b))
	})
	index := map[string]int{}
	for _, name := range names {
		index[name] = len(rep.Sequences)
		rep.Sequences = append(rep.Sequences, SimSequence{Name: name, Transactional: prog.Sequences[name].Transactional()})
	}
	rep.Daily = days
	for i := range rep.Daily {
		d := &rep.Daily[i]
		for name, c := range d.BySequence {
			d.SimCounts.add(*c)
			j, ok := index[name]
			if !ok {
				// Not a sequence of the programme: a lead's return that
				// names none, say. Counted, under its own name.
				j = len(rep.Sequences)
				index[name] = j
				rep.Sequences = append(rep.Sequences, SimSequence{Name: name})
			}
			rep.Sequences[j].add(*c)
		}
		rep.Total.add(d.SimCounts)
		if d.Emails > 0 && (rep.Busiest == nil || d.Emails > rep.Busiest.Emails) {
			rep.Busiest = d
		}
	}
	if rep.Busiest != nil {
		b := *rep.Busiest
		rep.Busiest = &b
	}
	// The totals count each send held back once, not once per day.
	rep.Total.HeldBack, rep.Total.HeldBackBy = 0, nil
	for i := range rep.Sequences {
		s := &rep.Sequences[i]
		s.HeldBack, s.HeldBackBy = 0, nil
		if once := heldOnce[s.Name]; once != nil {
			s.HeldBack, s.HeldBackBy = once.HeldBack, maps.Clone(once.HeldBackBy)
			rep.Total.HeldBack += once.HeldBack
			rep.Total.HeldBackBy = addMap(rep.Total.HeldBackBy, once.HeldBackBy)
		}
	}
}
