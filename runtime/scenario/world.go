// Package scenario runs a programme on a virtual clock: scenario tests
// (nurture test) and simulations (nurture simulate). Both drive the real
// engine, against a real SQLite store of their own, through the real
// delivery path with a sender that keeps what it is given; only time is
// made up, so 120 days of a journey pass in well under a second.
//
// It must not import the compiler: it knows programmes and scenarios
// only through the campaigns model. Nothing it does leaves the machine:
// mail is captured, and hand-off webhooks are answered by a stand-in CRM
// that records each request.
package scenario

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/mail"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// Store is what a world needs of its store: everything a tick needs,
// and what a scenario reads and does besides.
type Store interface {
	worker.Store
	// NextCheck is when an active enrollment is next due, or zero.
	NextCheck(ctx context.Context) (time.Time, error)
	// SetPreferences records what a contact chose on the preference page.
	SetPreferences(ctx context.Context, contact int64, p runtime.Preferences, now time.Time) error
	Preferences(ctx context.Context, contact int64) (runtime.Preferences, error)
}

// World is a programme applied to a SQLite store of its own, ticked on a
// virtual clock by the same worker nurture run drives.
type World struct {
	Store   Store
	Program *campaigns.Program
	// Worker runs each tick; its Configure adjusts the engine (A/B arms
	// fixed by a scenario, the observer, a watch on enrollments).
	Worker *worker.Worker
	// Mail holds every message delivered, in order.
	Mail *Mailbox
	// Webhooks holds every hand-off POST the stand-in CRM answered.
	Webhooks []Webhook
	// Ticks counts the ticks run.
	Ticks int

	now time.Time
	mu  sync.Mutex
}

// Webhook is one hand-off POST as the CRM received it.
type Webhook struct {
	At   time.Time
	URL  string
	Body []byte
}

// Open makes a world in dir: a new SQLite store there, the programme
// applied to it at start. observe, when set, is told of everything the
// engine does (see engine.Trace).
func Open(ctx context.Context, dir string, prog *campaigns.Program, start time.Time, observe func(engine.Trace)) (*World, error) {
	st, err := sqlite.Open(ctx, filepath.Join(dir, "nurture.db"))
	if err != nil {
		return nil, err
	}
	w := &World{Store: st, Program: prog, Mail: &Mailbox{}, now: start}
	// The store stamps what it records by the world's clock.
	st.Now = func() time.Time { return w.now }
	if err := w.apply(ctx, start); err != nil {
		st.Close()
		return nil, err
	}
	w.Worker = &worker.Worker{Store: st, Name: "scenario", Program: prog, Sender: w.Mail,
		HTTP:      &http.Client{Transport: roundTripper(w.answer)},
		Configure: func(e *engine.Engine) { e.Observe = observe }}
	return w, nil
}

func (w *World) apply(ctx context.Context, start time.Time) error {
	if err := w.Store.SyncSchema(ctx, &w.Program.Contact); err != nil {
		return err
	}
	if err := w.Store.SyncAccountSchema(ctx, w.Program.Accounts.Attributes); err != nil {
		return err
	}
	b, err := campaigns.Canonical(w.Program)
	if err != nil {
		return err
	}
	if _, err := w.Store.Apply(ctx, runtime.Version{Hash: w.Program.Hash(), AppliedAt: start, AppliedBy: "scenario", Program: b}, campaigns.PlanBase{}, nil); err != nil {
		return fmt.Errorf("applying the programme: %w", err)
	}
	return nil
}

// Close closes the store.
func (w *World) Close() error { return w.Store.Close() }

// Now is the world's clock.
func (w *World) Now() time.Time { return w.now }

// SetClock moves the store's clock, which stamps imports and events, to t
// without ticking.
func (w *World) SetClock(t time.Time) { w.now = t }

// Watch lists the spans after stored times at which time alone turns a
// condition of the programme (see engine.Engine.Watch).
func (w *World) Watch() runtime.Watch {
	return (&engine.Engine{Program: w.Program}).Watch()
}

// Tick runs one tick at now, as nurture run does: the worker decides,
// delivers to the mailbox and hands leads to the stand-in CRM.
func (w *World) Tick(ctx context.Context, now time.Time) (engine.Report, error) {
	w.now = now
	res, err := w.Worker.Tick(ctx, now, false)
	if err != nil {
		return res.Report, fmt.Errorf("tick at %s: %w", now.Format(time.RFC3339), err)
	}
	w.Ticks++
	return res.Report, nil
}

// NextCheck is when the engine next has something due, or zero.
func (w *World) NextCheck(ctx context.Context) (time.Time, error) {
	return w.Store.NextCheck(ctx)
}

// answer is the stand-in CRM: it records the POST and accepts it.
func (w *World) answer(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
	}
	w.mu.Lock()
	w.Webhooks = append(w.Webhooks, Webhook{At: w.now, URL: req.URL.String(), Body: body})
	w.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{},
		Body: io.NopCloser(bytes.NewReader(nil)), Request: req}, nil
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Mailbox is a sender that keeps every message it is given.
type Mailbox struct {
	mu   sync.Mutex
	msgs []*mail.Outgoing
	keys map[string]*mail.Outgoing
}

// Send keeps m.
func (b *Mailbox) Send(_ context.Context, m *mail.Outgoing) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys == nil {
		b.keys = map[string]*mail.Outgoing{}
	}
	b.msgs = append(b.msgs, m)
	if m.Key != "" {
		b.keys[m.Key] = m
	}
	return nil
}

// Messages returns the messages kept, in the order they came.
func (b *Mailbox) Messages() []*mail.Outgoing {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*mail.Outgoing(nil), b.msgs...)
}

// ByKey returns the message of a ledger key, or nil.
func (b *Mailbox) ByKey(key string) *mail.Outgoing {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.keys[key]
}
