// Package worker owns one tick of the applied programme end to end: the
// store's tick lock and its lease, which events count as new, the
// engine's decisions (scoring, exits, returns, enrollment, steps),
// delivery, hand-offs and the record of the tick. nurture tick, nurture
// run, the scenario tests and simulate all drive this one Worker, so
// that what one of them shows is what the others do.
//
// It must not parse flags, print, or open stores: commands do that and
// hand it a Store.
package worker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/track"
)

// Store is everything a tick reads and writes. Both adapters have all of
// it, checked at compile time beside each.
type Store interface {
	runtime.Store
	engine.Store
	engine.Ledger
	engine.HandoffStore
	// LastTick is when the last recorded tick ran (its --now), when it
	// began by the store's clock, and on which version.
	LastTick(ctx context.Context) (at, started time.Time, version int64, err error)
	// RecordTick records a finished tick and removes the marks of
	// unfinished ones.
	RecordTick(ctx context.Context, at, started time.Time, worker string, version int64, report string) error
	// MarkTick records how far a tick that has not finished got;
	// TickMark is the latest such mark, or nil. LastTick ignores marks.
	MarkTick(ctx context.Context, m runtime.TickMark) error
	TickMark(ctx context.Context) (*runtime.TickMark, error)
	// RenewLock extends a lease the holder still has by ttl from now; it
	// returns a *runtime.LockedError when the lease was lost.
	RenewLock(ctx context.Context, l runtime.Lock, ttl time.Duration) (runtime.Lock, error)
	// TrackingKeys are the keys that sign tracked links, made on first
	// use.
	TrackingKeys(ctx context.Context) ([]runtime.TrackingKey, error)
	// Clock is the store's own clock, which stamps imports and events.
	Clock() time.Time
	// Pauses are the sequences an operator paused, and whether all
	// sending is. The store itself keeps their enrollments from coming
	// due and their planned email from being claimed, so that every
	// tick, rehearsal and delivery pass honours them alike.
	Pauses(ctx context.Context) ([]runtime.Pause, error)
}

// LockName is the lease every tick holds: one tick at a time per store.
const LockName = "tick"

// DefaultLease is how long a tick's lock lasts unless renewed. The lock
// is renewed every third of it while the tick runs, so a worker killed
// mid-tick frees the store within this long.
const DefaultLease = 30 * time.Second

// Worker runs ticks of the programme applied to Store.
type Worker struct {
	Store Store
	// Name is what locks, claims and the tick record say ran the tick.
	Name string
	// Sender hands planned email on; nil leaves it planned for a tick
	// that has one.
	Sender engine.Sender
	// TrackingURL, when set, overrides the programme's tracking base URL
	// (a staging or local nurture serve).
	TrackingURL string
	// Breaker pauses delivery on too many bounces or complaints.
	Breaker engine.Breaker
	// HTTP posts hand-off webhooks; nil: a client with a 20s timeout.
	HTTP *http.Client
	// Log receives what delivery resolved by rule, one line each.
	Log func(string)
	// Lease is the tick lock's lease; zero: DefaultLease.
	Lease time.Duration
	// Program, when set, is the programme the applied version holds,
	// already decoded: a scenario's or a simulation's own.
	Program *campaigns.Program
	// Configure, when set, adjusts each tick's engine before it runs: a
	// scenario test fixes A/B arms, observes decisions and watches
	// enrollments through it.
	Configure func(*engine.Engine)

	prog   *campaigns.Program
	serial int64
	// older holds the earlier versions sends were planned under, decoded
	// once each.
	older map[int64]*campaigns.Program
	// rehearsal runs on a store whose writes are rolled back (Predict):
	// it takes no lock, since nothing it decides is kept.
	rehearsal bool
}

// Result is what one tick did.
type Result struct {
	Version   int64             `json:"version"`
	At        time.Time         `json:"at"`
	Report    engine.Report     `json:"report"`
	Delivered *engine.Delivered `json:"delivered,omitempty"`
	// HandedOff counts hand-offs delivered to sales; HandoffsFailed
	// those that failed for good.
	HandedOff      int `json:"handed_off"`
	HandoffsFailed int `json:"handoffs_failed"`
	// Paused lists the sequences a pause held during the tick, "*" for
	// all sending: their enrollments were not advanced and their email
	// not delivered. Exit rules and suppressions still ended theirs.
	Paused []string `json:"paused,omitempty"`
}

// PausedAll is how Result.Paused names a pause of all sending.
const PausedAll = "*"

// ErrNothingApplied is returned by Tick on a store with no programme.
var ErrNothingApplied = errors.New("nothing is applied to this store: nurture apply DIR installs a programme first")

// Tick makes every decision due at now under the store's tick lock and
// delivers what it planned. full looks at every contact rather than those
// that changed or came due; the first tick of a version always does.
//
// When another worker holds the lock, Tick returns its
// *runtime.LockedError and does nothing.
func (w *Worker) Tick(ctx context.Context, now time.Time, full bool) (Result, error) {
	now = now.UTC()
	res := Result{At: now}
	v, err := w.Store.Applied(ctx)
	if err != nil {
		return res, err
	}
	if v == nil {
		return res, ErrNothingApplied
	}
	res.Version = v.Serial
	prog, err := w.program(v)
	if err != nil {
		return res, err
	}
	unlock := func() {}
	if !w.rehearsal {
		if ctx, unlock, err = w.lock(ctx); err != nil {
			return res, err
		}
	}
	defer unlock()
	res, err = w.tick(ctx, res, v, prog, now, full)
	if c := context.Cause(ctx); err != nil && c != nil && !errors.Is(err, c) {
		// The lease was lost: say so rather than "context canceled".
		err = fmt.Errorf("%w: %w", c, err)
	}
	return res, err
}

func (w *Worker) tick(ctx context.Context, res Result, v *runtime.Version, prog *campaigns.Program, now time.Time, full bool) (Result, error) {

	started := w.Store.Clock()
	last, changedSince, lastVersion, err := w.Store.LastTick(ctx)
	if err != nil {
		return res, err
	}
	pauses, err := w.Store.Pauses(ctx)
	if err != nil {
		return res, err
	}
	for _, p := range pauses {
		res.Paused = append(res.Paused, cmp.Or(p.Sequence, PausedAll))
	}
	eng := &engine.Engine{Store: w.Store, Program: prog, Version: v.Serial,
		Since: Since(last, v.AppliedAt, now), ChangedSince: changedSince,
		// No event before the apply moves a wait_for on. A tick dated
		// before the apply (a replay on a virtual clock) has no such
		// floor: its first tick's Since already kept the history out,
		// and a floor of each tick's own now would blind every wait.
		AppliedAt: appliedFloor(v.AppliedAt, now),
		// The first tick of a version looks at every contact: the
		// programme it judges them by is new.
		Full: full || lastVersion != v.Serial}
	if !w.rehearsal {
		// A tick at the same time on the same version was interrupted
		// (killed, its disk full): this one takes up after the last
		// phase it completed, on the same contacts, rather than decide
		// again on a store that phase had begun to change. It counts
		// changes from when that one began, which saw fewer of them.
		mark, err := w.Store.TickMark(ctx)
		if err != nil {
			return res, err
		}
		if mark != nil && mark.At.Equal(now) && mark.Version == v.Serial {
			eng.Resume, eng.Full = mark.Reached, eng.Full || mark.Full
			if !mark.Started.IsZero() && mark.Started.Before(started) {
				started = mark.Started
			}
		}
		eng.Reached = func(ctx context.Context, phase string) error {
			return w.Store.MarkTick(ctx, runtime.TickMark{At: now, Started: started, Worker: w.Name, Version: v.Serial, Reached: phase, Full: eng.Full})
		}
	}
	if w.Configure != nil {
		w.Configure(eng)
	}
	if res.Report, err = eng.Tick(ctx, now); err != nil {
		return res, err
	}
	var sendErr error
	if w.Sender != nil {
		if w.TrackingURL != "" {
			prog.Sender.TrackingURL = w.TrackingURL
		}
		if eng.Keys, err = TrackingKeys(ctx, w.Store); err != nil {
			return res, err
		}
		eng.Breaker, eng.Log = w.Breaker, w.Log
		eng.Planned = func(serial int64) (*campaigns.Program, error) { return w.version(ctx, serial) }
		d, err := eng.Deliver(ctx, w.Store, w.Sender, w.Name, now)
		res.Delivered = &d
		// The decisions are saved whatever became of the email: a server
		// that stopped taking mail is reported once the tick is recorded,
		// and the next tick sends what stays planned.
		var stopped *engine.DeliveryStopped
		if errors.As(err, &stopped) {
			sendErr = err
		} else if err != nil {
			return res, err
		}
	}
	// A rehearsal tells no CRM: its hand-offs are rolled back with the
	// rest.
	if !w.rehearsal {
		hc := w.HTTP
		if hc == nil {
			hc = &http.Client{Timeout: 20 * time.Second}
		}
		if res.HandedOff, res.HandoffsFailed, err = eng.Handoffs(ctx, w.Store, hc, w.Sender, now); err != nil {
			return res, err
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return res, err
	}
	if err := w.Store.RecordTick(ctx, now, started, w.Name, v.Serial, string(b)); err != nil {
		return res, err
	}
	return res, sendErr
}

// Since is the moment after which events are new to a tick at now: those
// since the last tick, or, on a store's first tick, those since the
// version was applied. A tick run with a --now before the apply (a
// replay of sample data, a scenario) takes now itself as that moment:
// the history before it is never acted on as if it had just happened.
func Since(lastTick, appliedAt, now time.Time) time.Time {
	switch {
	case !lastTick.IsZero():
		return lastTick
	case appliedAt.IsZero() || appliedAt.After(now):
		return now
	}
	return appliedAt
}

// appliedFloor is the apply time when it is in the tick's past, else zero.
func appliedFloor(appliedAt, now time.Time) time.Time {
	if appliedAt.After(now) {
		return time.Time{}
	}
	return appliedAt
}

// program decodes the applied version's programme once per version.
func (w *Worker) program(v *runtime.Version) (*campaigns.Program, error) {
	if w.Program != nil {
		return w.Program, nil
	}
	if w.prog != nil && w.serial == v.Serial {
		return w.prog, nil
	}
	prog := new(campaigns.Program)
	if err := json.Unmarshal(v.Program, prog); err != nil {
		return nil, fmt.Errorf("reading applied version %d: %w", v.Serial, err)
	}
	w.prog, w.serial = prog, v.Serial
	return prog, nil
}

// version decodes an earlier applied version, once.
func (w *Worker) version(ctx context.Context, serial int64) (*campaigns.Program, error) {
	if p := w.older[serial]; p != nil {
		return p, nil
	}
	v, err := w.Store.Version(ctx, serial)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("the store has no version %d", serial)
	}
	p := new(campaigns.Program)
	if err := json.Unmarshal(v.Program, p); err != nil {
		return nil, fmt.Errorf("reading applied version %d: %w", serial, err)
	}
	if w.older == nil {
		w.older = map[int64]*campaigns.Program{}
	}
	w.older[serial] = p
	return p, nil
}

// lock takes the tick lock and renews its lease while the tick runs. The
// context it returns is cancelled when the lease is lost, so that a
// worker that stalled past its lease stops deciding beside the one that
// took over.
func (w *Worker) lock(ctx context.Context) (context.Context, func(), error) {
	lease := w.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	l, err := w.Store.AcquireLock(ctx, runtime.Lock{Name: LockName, Holder: w.Name, Operation: "tick"}, lease)
	if err != nil {
		return ctx, nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				renewed, err := w.Store.RenewLock(context.WithoutCancel(ctx), l, lease)
				var locked *runtime.LockedError
				switch {
				case errors.As(err, &locked):
					cancel(fmt.Errorf("lost the tick lock to %s: this tick stopped", locked.Lock.Holder))
					return
				case err != nil:
					// A store that cannot be reached cannot be decided
					// in either; the lease runs out if this goes on.
					continue
				}
				l = renewed
			}
		}
	}()
	return ctx, func() {
		close(done)
		<-stopped
		cancel(nil)
		// Released even when ctx was cancelled: the work under it is
		// done.
		w.Store.ReleaseLock(context.WithoutCancel(ctx), l.Name, l.ID)
	}, nil
}

// TrackingKeys reads the store's tracking keys into the signer of links.
func TrackingKeys(ctx context.Context, st interface {
	TrackingKeys(ctx context.Context) ([]runtime.TrackingKey, error)
}) (*track.Keys, error) {
	keys, err := st.TrackingKeys(ctx)
	if err != nil {
		return nil, err
	}
	secrets := make([][]byte, len(keys))
	for i, k := range keys {
		secrets[i] = k.Secret
	}
	return track.NewKeys(secrets...)
}

// Schedule says when Run ticks.
type Schedule struct {
	// Every is the time between the starts of two ticks.
	Every time.Duration
	// FullEvery is the time between two ticks that look at every
	// contact: a reconciliation that also catches changes made to the
	// store by hand.
	FullEvery time.Duration
}

// Run ticks at once and then every s.Every, by the wall clock, until ctx
// ends; the first tick, and then one every s.FullEvery, looks at every
// contact. Ticks never overlap: one that overruns is followed by the
// next at once. A tick under way when ctx ends finishes first, so that
// what it claimed is delivered or recorded. done hears of each tick.
func (w *Worker) Run(ctx context.Context, s Schedule, done func(res Result, took time.Duration, err error)) error {
	if s.Every <= 0 {
		return fmt.Errorf("a schedule needs a period between ticks")
	}
	next := time.Now()
	var lastFull time.Time
	for {
		t0 := time.Now()
		full := lastFull.IsZero() || t0.Sub(lastFull) >= s.FullEvery
		res, err := w.Tick(context.WithoutCancel(ctx), t0, full)
		if err == nil && res.Report.Full {
			lastFull = t0
		}
		done(res, time.Since(t0), err)
		next = next.Add(s.Every)
		if now := time.Now(); next.Before(now) {
			next = now
		}
		// A tick that overran leaves no wait: the select below would
		// choose at random between a cancelled ctx and the next tick.
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
	}
}
