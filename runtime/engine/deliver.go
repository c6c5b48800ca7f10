package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/mail"
	"github.com/nurture-dev/nurture/runtime/render"
	"github.com/nurture-dev/nurture/runtime/track"
)

// Sender hands one message on: to a file, to an SMTP server. Send may be
// called from several goroutines at once; a sender that says its
// Concurrency gets that many.
type Sender interface {
	Send(ctx context.Context, m *mail.Outgoing) error
}

// Ledger is what delivery needs of the store.
type Ledger interface {
	// ClaimSends claims up to limit planned sends and writes each one's
	// Message-ID, messageID of its key, with the claim.
	ClaimSends(ctx context.Context, worker string, now time.Time, limit int, messageID func(key string) string) ([]runtime.Claim, error)
	FinishSend(ctx context.Context, id int64, status, messageID, failure string, now time.Time) error
	RetrySend(ctx context.Context, id int64, at time.Time, failure string) error
	ContactsByID(ctx context.Context, ids []int64) (map[int64]*runtime.Contact, error)
	Suppress(ctx context.Context, batch []runtime.Suppression) (int, error)
	RecordEvents(ctx context.Context, batch []runtime.Event) (runtime.EventResult, error)
	DeliveryStats(ctx context.Context, since time.Time) (runtime.DeliveryStats, error)
	// OptOutSerial moves whenever a suppression or a preference is
	// written; OptOuts reads them for some contacts.
	OptOutSerial(ctx context.Context) (int64, error)
	OptOuts(ctx context.Context, contacts []int64) (map[int64]runtime.OptOut, error)
	// HandOver durably marks the sends of marks (by ID, with their
	// Message-IDs) that worker still holds as about to be handed over,
	// writing their Message-IDs, and records the sends of accepted as
	// accepted, in one commit; it returns the IDs marked and the
	// opt-out serial as of the commit.
	HandOver(ctx context.Context, worker string, marks, accepted map[int64]string, now time.Time) (marked []int64, serial int64, err error)
	// HandedOver lists the contacts' emails handed over since a time;
	// HoldSend plans a claimed send again for later, attempts unchanged.
	HandedOver(ctx context.Context, contacts []int64, since time.Time) (map[int64][]runtime.Handed, error)
	HoldSend(ctx context.Context, worker string, id int64, until time.Time, why string) error
	// ReleaseSends plans again, as they were, sends worker claimed and
	// did not hand over, marked or not.
	ReleaseSends(ctx context.Context, worker string, ids []int64) error
	// RecoverSends settles the claims of stopped workers: planned again
	// if never marked as handed over (failed after maxAttempts tries),
	// unknown if they were.
	RecoverSends(ctx context.Context, now time.Time, maxAttempts int) (runtime.Recovered, error)
}

// Delivered counts what one delivery pass did.
type Delivered struct {
	Accepted int
	// Failed were refused for good; Bounced of them were hard bounces,
	// whose addresses are now suppressed.
	Failed, Bounced int
	// Deferred the server asked to try again later; they are planned
	// again.
	Deferred int
	// Unknown lost the connection after the message was handed over.
	Unknown int
	// Withheld were claimed but not handed over: the address was
	// suppressed, or the contact opted out of the topic, while they
	// waited. They are cancelled.
	Withheld int
	// Held were claimed and planned again for later: the contact's last
	// email went late, and counted as it went, the caps hold this one
	// back (see gaps).
	Held int
	// Paused says why the breaker stopped sending, when it did.
	Paused string
}

// DeliveryStopped is the error of a delivery pass the server stopped: it
// could not be reached, refused the connection, or refused the sender's
// own settings (login, TLS). Every email not handed over stays planned.
type DeliveryStopped struct {
	// Server names the server, as host:port, when the sender says.
	Server string
	Err    error
}

func (e *DeliveryStopped) Error() string {
	server := "the mail server"
	if e.Server != "" {
		server = "the mail server " + e.Server
	}
	return fmt.Sprintf("delivery stopped: %s failed: %v; the emails not sent stay planned", server, e.Err)
}

func (e *DeliveryStopped) Unwrap() error { return e.Err }

// Breaker pauses delivery while the share of hard bounces or complaints
// among the emails sent over Window passes a limit: a list gone bad or a
// message reported as spam stops before it costs the sending domain its
// reputation. Zero rates turn it off.
type Breaker struct {
	MaxBounceRate    float64 // e.g. 0.05
	MaxComplaintRate float64 // e.g. 0.003
	Window           time.Duration
	// MinSent is how many emails the window must hold before a rate
	// counts: two bounces in the first ten emails are not a trend.
	MinSent int
}

// DefaultBreaker is what nurture run uses unless told otherwise.
var DefaultBreaker = Breaker{MaxBounceRate: 0.05, MaxComplaintRate: 0.003, Window: 24 * time.Hour, MinSent: 200}

// trip says why sending must pause, or "".
func (b Breaker) trip(st runtime.DeliveryStats) string {
	if st.Sent < max(b.MinSent, 1) {
		return ""
	}
	rate := func(n int) float64 { return float64(n) / float64(st.Sent) }
	switch {
	case b.MaxBounceRate > 0 && rate(st.Bounced) > b.MaxBounceRate:
		return fmt.Sprintf("hard bounces are %.1f%% of the %d emails sent in the last %s (limit %.1f%%)",
			100*rate(st.Bounced), st.Sent, campaigns.Duration(b.Window), 100*b.MaxBounceRate)
	case b.MaxComplaintRate > 0 && rate(st.Complained) > b.MaxComplaintRate:
		return fmt.Sprintf("complaints are %.2f%% of the %d emails sent in the last %s (limit %.2f%%)",
			100*rate(st.Complained), st.Sent, campaigns.Duration(b.Window), 100*b.MaxComplaintRate)
	}
	return ""
}

// breakerEvery is how many claims go between two looks at the breaker's
// rates: the look is a count over the window, too dear for every claim.
const breakerEvery = 50

// maxAttempts is how many times a send the server keeps deferring is
// tried, about a day and a half with the backoff of retryAt, before it
// fails.
const maxAttempts = 8

// retryAt is when a send deferred for the n-th time (from 0) is tried
// again: 15 minutes doubling to at most 6 hours, with jitter so that a
// server's deferrals do not come back all at once.
func retryAt(now time.Time, n int) time.Time {
	d := min(15*time.Minute<<min(n, 5), 6*time.Hour)
	return now.Add(d/2 + rand.N(d/2+1))
}

// Deliver claims the sends planned by now and hands them to the sender,
// as many at once as it says its Concurrency is, recording how each
// ended. Before each claim the breaker weighs the bounces and complaints
// of its window (every breakerEvery claims).
//
// Claims run ahead of the connections (claimAhead pools' worth), so that
// a connection finishing a message always finds the next one rendered
// and waiting: claiming, reading contacts and rendering happen beside
// the SMTP transactions instead of between them. A claim is not the mark
// that a message may be in flight; the hand-over mark is. As a
// connection takes a send it is durably marked as being handed over,
// with its Message-ID, and no message is handed over before its mark is
// written (see optGate); the same statement records the sends that
// connection and the others had accepted since. So at any moment at most
// one message a connection is marked and not yet recorded. Right before
// each is handed over (after DATA, for SMTP), the opt-outs are checked
// again: the store's opt-out serial is read, and the opt-outs of the
// contacts claimed re-read only when it moved. A message whose address
// was suppressed, or whose contact opted out of its topic, meanwhile is
// withheld and cancelled. Sends claimed but not taken by a connection
// when the pass stops (the server stopped, the breaker tripped, ctx was
// cancelled) are released, planned again as they were.
//
// Each pass begins by recovering the claims of workers that stopped
// (older than runtime.ClaimLease): one never marked as handed over
// provably never reached the server and is planned again; one marked
// may have, and becomes unknown. So a crash leaves unknown at most the
// messages that were on the connections, and loses none.
//
// An unknown send, one whose connection was lost after the message was
// handed over, is never sent again: the rule is that it counts as sent
// (against the caps, and its sequence has moved on) until evidence
// resolves it — a click or open makes it accepted, a bounce by its
// Message-ID makes it failed. Each is logged with its Message-ID, to
// look up in the mail server's log.
//
// When the server cannot be reached or refuses the connection, the pass
// stops at the first such failure with a *DeliveryStopped error; what
// was not handed over stays planned.
func (e *Engine) Deliver(ctx context.Context, l Ledger, s Sender, worker string, now time.Time) (Delivered, error) {
	conc := 1
	if c, ok := s.(interface{ Concurrency() int }); ok {
		conc = max(1, c.Concurrency())
	}
	depth := conc * claimAhead
	_, late := s.(interface{ GatesLate() })
	if f, ok := l.(interface{ FreshenStatistics(context.Context) error }); ok {
		if err := f.FreshenStatistics(ctx); err != nil {
			return Delivered{}, err
		}
	}
	rc, err := l.RecoverSends(ctx, now, maxAttempts)
	if err != nil {
		return Delivered{}, err
	}
	if rc.Requeued > 0 {
		e.logf("%d sends claimed by stopped workers were never handed over: planned again", rc.Requeued)
	}
	if rc.Failed > 0 {
		e.logf("%d sends claimed by stopped workers were never handed over and had been tried %d times: failed", rc.Failed, maxAttempts)
	}
	if rc.Unknown > 0 {
		e.logf("%d sends claimed by stopped workers may have been handed over: unknown, never sent again automatically; nurture sends --state unknown lists them", rc.Unknown)
	}
	from := e.Program.Sender.FromEmail
	messageID := func(key string) string { return mail.MessageID(key, from) }
	type result struct {
		job
		err error
	}
	// Outcomes are written even when ctx is cancelled: the messages
	// went, or did not.
	rec := context.WithoutCancel(ctx)
	g := newOptGate(l, worker, now)
	// halt tells the connections to take nothing more: what is still
	// queued goes back unsent.
	var halt atomic.Bool
	jobs := make(chan job, depth)
	results := make(chan result, depth)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if halt.Load() || ctx.Err() != nil {
					results <- result{j, errNotTaken}
					continue
				}
				id, contact, mid := j.c.ID, j.c.Contact, messageID(j.c.Key)
				// Marked as the connection takes it: the mark's commit
				// runs beside the connection's MAIL, RCPT and DATA.
				m := g.mark(ctx, id, mid)
				j.o.Gate = func(ctx context.Context) error { return g.check(ctx, m, id, contact, j.topic, j.marketing) }
				var err error
				if !late {
					err = j.o.Gate(ctx)
					if err != nil {
						err = &mail.Withheld{Err: err}
					}
				}
				if err == nil {
					err = s.Send(ctx, j.o)
				}
				// The outcome is recorded after the mark, never beside it.
				<-m.done
				var se *mail.SendError
				switch {
				case err == nil:
					// Recorded with the next mark.
					g.accepted(id, mid)
				case errors.As(err, &se) && (se.Setup || se.Connect):
					// Every email would fail alike: the others take
					// nothing more.
					halt.Store(true)
				}
				results <- result{j, err}
			}
		}()
	}
	var d Delivered
	var stopped *DeliveryStopped
	var unsent []int64
	// inflight counts the sends given to the connections and not yet
	// recorded; the producer claims more while it is at most half the
	// depth, and the recording below wakes it as it falls.
	var inflight atomic.Int64
	wake := make(chan struct{}, 1)
	// The producer claims, reads the contacts and renders ahead of the
	// connections, in a goroutine of its own, so that neither the
	// connections nor the recording of outcomes wait on a claim. Its
	// counts are pd, added to d when it is done.
	var pd Delivered
	var prodErr error
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		prodErr = e.produce(ctx, l, worker, now, depth, messageID, g, &halt, &inflight, wake, func(j job) { jobs <- j }, &pd)
		if prodErr != nil {
			// The connections take nothing more; what they hold is
			// recorded and the rest released below.
			halt.Store(true)
		}
	}()
	finished := false
	defer func() {
		halt.Store(true)
		select {
		case wake <- struct{}{}:
		default:
		}
		<-prodDone
		close(jobs)
		wg.Wait()
		if finished {
			return
		}
		// An early return, on an error of the store: what was accepted
		// is recorded and what no connection took released, if the store
		// lets us; the rest waits for recovery.
		close(results)
		for r := range results {
			if errors.Is(r.err, errNotTaken) {
				unsent = append(unsent, r.c.ID)
			}
		}
		g.flush(rec)
		l.ReleaseSends(rec, worker, unsent)
	}()
	// handle records one outcome.
	handle := func(r result) error {
		defer g.release(r.c.Contact)
		if errors.Is(r.err, errNotTaken) {
			// Queued, or stopped at the gate: never handed over.
			unsent = append(unsent, r.c.ID)
			return nil
		}
		if errors.Is(r.err, errClaimLost) {
			// Not handed over, and no longer ours to record.
			e.logf("send %s to %s not handed over: %v", r.c.Key, r.o.To, r.err)
			return nil
		}
		if r.err == nil {
			d.Accepted++
			return nil
		}
		var pu pausedUntil
		if errors.As(r.err, &pu) {
			d.Held++
			e.logf("send %s to %s held before hand-over: %s", r.c.Key, r.o.To, pu.why)
			return l.HoldSend(rec, worker, r.c.ID, pu.until, pu.why)
		}
		var out withheldFor
		if errors.As(r.err, &out) {
			d.Withheld++
			e.logf("send %s to %s withheld before hand-over: %s", r.c.Key, r.o.To, out)
			return l.FinishSend(rec, r.c.ID, runtime.SendCancelled, "", "withheld before hand-over: "+string(out), now)
		}
		var wh *mail.Withheld
		if errors.As(r.err, &wh) {
			// The check itself failed: not handed over, so planned again.
			return l.RetrySend(rec, r.c.ID, now, r.err.Error())
		}
		var se *mail.SendError
		if errors.As(r.err, &se) && (se.Setup || se.Connect) {
			// The server or our settings: every email would fail alike.
			// This one and the rest stay planned.
			if stopped == nil {
				server := ""
				if sv, ok := s.(interface{ Server() string }); ok {
					server = sv.Server()
				}
				stopped = &DeliveryStopped{Server: server, Err: r.err}
				halt.Store(true)
			}
			return l.RetrySend(rec, r.c.ID, now, r.err.Error())
		}
		if stopped != nil && mail.KindOf(r.err) == mail.Temporary {
			return l.RetrySend(rec, r.c.ID, now, r.err.Error())
		}
		return e.record(rec, l, r.c, r.o, r.err, now, &d)
	}
	take := func(r result) error {
		err := handle(r)
		inflight.Add(-1)
		select {
		case wake <- struct{}{}:
		default:
		}
		return err
	}
	// Record outcomes as they come until the producer is done, then the
	// rest.
	for done := false; !done; {
		select {
		case r := <-results:
			if err := take(r); err != nil {
				return d, err
			}
		case <-prodDone:
			done = true
		}
	}
	for inflight.Load() > 0 {
		if err := take(<-results); err != nil {
			return d, err
		}
	}
	d.add(pd)
	finished = true
	if err := g.flush(rec); err != nil {
		return d, err
	}
	if len(unsent) > 0 {
		if err := l.ReleaseSends(rec, worker, unsent); err != nil {
			return d, fmt.Errorf("releasing %d sends claimed and not handed over: %w", len(unsent), err)
		}
	}
	if prodErr != nil {
		return d, prodErr
	}
	if stopped != nil {
		return d, stopped
	}
	return d, ctx.Err()
}

// add counts o's outcomes in d.
func (d *Delivered) add(o Delivered) {
	d.Accepted += o.Accepted
	d.Failed += o.Failed
	d.Bounced += o.Bounced
	d.Deferred += o.Deferred
	d.Unknown += o.Unknown
	d.Withheld += o.Withheld
	d.Held += o.Held
	d.Paused = cmp.Or(d.Paused, o.Paused)
}

// job is a claimed send rendered and waiting for a connection, with the
// topic its contact may have opted out of.
type job struct {
	c     runtime.Claim
	o     *mail.Outgoing
	topic string
	// marketing: a pause of the contact's holds it.
	marketing bool
}

// produce claims the sends planned by now, reads their contacts and
// renders them, and gives each to put, keeping up to depth given and not
// yet recorded (inflight): it claims again when half of them were
// recorded, as wake says. It stops when nothing more is planned, halt is
// set, the breaker trips or ctx is cancelled. Its counts (sends held back,
// failed to render, the breaker's pause) go to d.
func (e *Engine) produce(ctx context.Context, l Ledger, worker string, now time.Time, depth int, messageID func(string) string,
	g *optGate, halt *atomic.Bool, inflight *atomic.Int64, wake <-chan struct{}, put func(job), d *Delivered) error {
	// Outcomes are written even when ctx is cancelled.
	rec := context.WithoutCancel(ctx)
	gp := &gaps{e: e, handed: map[int64][]runtime.Handed{}, loaded: map[int64]bool{}}
	sinceBreaker := breakerEvery
	for {
		// Claim more while the connections still have as much again
		// queued as they can send at once.
		for inflight.Load() > int64(depth/2) && !halt.Load() && ctx.Err() == nil {
			select {
			case <-wake:
			case <-ctx.Done():
			}
		}
		if halt.Load() || ctx.Err() != nil {
			return nil
		}
		if e.Breaker.Window > 0 && sinceBreaker >= breakerEvery {
			sinceBreaker = 0
			if err := g.flush(rec); err != nil {
				return err
			}
			st, err := l.DeliveryStats(ctx, now.Add(-e.Breaker.Window))
			if err != nil {
				return err
			}
			if d.Paused = e.Breaker.trip(st); d.Paused != "" {
				halt.Store(true)
				return nil
			}
		}
		n, err := g.before(ctx)
		if err != nil {
			return err
		}
		claims, err := l.ClaimSends(ctx, worker, now, depth-int(inflight.Load()), messageID)
		if err != nil {
			return err
		}
		if len(claims) == 0 {
			return nil
		}
		sinceBreaker += len(claims)
		ids := make([]int64, len(claims))
		for i, c := range claims {
			ids[i] = c.Contact
		}
		contacts, err := l.ContactsByID(ctx, ids)
		if err != nil {
			return err
		}
		g.hold(n, claims, contacts)
		if err := gp.load(ctx, l, ids, now); err != nil {
			return err
		}
		for _, c := range claims {
			if until, why := gp.hold(c, contacts[c.Contact], now); !until.IsZero() {
				g.release(c.Contact)
				d.Held++
				e.logf("send %s held until %s: %s", c.Key, until.Format(time.RFC3339), why)
				if err := l.HoldSend(rec, worker, c.ID, until, why); err != nil {
					return err
				}
				continue
			}
			o, err := e.outgoing(c, contacts[c.Contact], now)
			if err != nil {
				// Never handed over: it fails as it is.
				g.release(c.Contact)
				if err := e.record(rec, l, c, o, err, now, d); err != nil {
					return err
				}
				continue
			}
			topic := ""
			if seq := e.Program.Sequences[c.Sequence]; seq != nil {
				topic = seq.Topic
			}
			inflight.Add(1)
			put(job{c, o, topic, gp.marketing(c.Sequence)})
		}
	}
}

// lateBy is how much later than planned an email must have gone for
// delivery to count it at the time it went rather than the time it was
// planned. Ticks a few minutes apart and a pool working through a
// backlog hand email over well within it; later than that, delivery had
// stopped (the server was down, sending paused, no worker ran).
const lateBy = time.Hour

// gapWindow is how far back delivery looks for a contact's emails.
const gapWindow = 31 * 24 * time.Hour

// gaps holds the caps at hand-over. The engine plans a contact's emails
// against its cadence caps and frequency by their planned times, and
// plans a step when the email before it is planned, not sent: after an
// outage or a pause, a contact's next step comes due with the step
// before it, and both would go in one pass. So when one of the contact's
// marketing emails went more than lateBy late, its later emails are
// counted against the same caps, and the sending window, with that one
// at the time it went, and wait for the moment they fit. Transactional
// email neither waits nor counts; on time, nothing changes.
type gaps struct {
	e *Engine
	// handed are, by contact, the marketing emails handed over, from
	// the store or in this pass.
	handed map[int64][]runtime.Handed
	loaded map[int64]bool
}

func (gp *gaps) marketing(sequence string) bool {
	q := gp.e.Program.Sequences[sequence]
	return q == nil || !q.Transactional()
}

// load reads the emails handed over to the contacts not read yet.
func (gp *gaps) load(ctx context.Context, l Ledger, contacts []int64, now time.Time) error {
	var ids []int64
	for _, id := range contacts {
		if !gp.loaded[id] {
			gp.loaded[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	handed, err := l.HandedOver(ctx, ids, now.Add(-gapWindow))
	if err != nil {
		return err
	}
	for id, hs := range handed {
		for _, h := range hs {
			if gp.marketing(h.Sequence) {
				gp.handed[id] = append(gp.handed[id], h)
			}
		}
	}
	return nil
}

// hold says until when claim c, to contact ct, must wait, and why, or
// zero when it may go now; one that goes is remembered for the emails
// after it.
func (gp *gaps) hold(c runtime.Claim, ct *runtime.Contact, now time.Time) (time.Time, string) {
	if !gp.marketing(c.Sequence) || ct == nil {
		return time.Time{}, ""
	}
	var times []time.Time
	var late *runtime.Handed
	for i, h := range gp.handed[c.Contact] {
		at := h.Planned
		if h.Sent.Sub(h.Planned) > lateBy {
			at, late = h.Sent, &gp.handed[c.Contact][i]
		}
		times = append(times, at)
	}
	if late != nil {
		tz, _ := ct.Values[campaigns.AttrTimezone].(string)
		loc := Location(tz, gp.e.Program.Cadence.DefaultTimezone)
		if until := SendTime(gp.e.window(ct, loc), gp.e.marketingLimits(ct), times, now, false); until.After(now) {
			return until, fmt.Sprintf("held back by the caps counted as the email went: the contact's email of %s went %s late, at %s",
				late.Sequence, campaigns.Duration(late.Sent.Sub(late.Planned).Round(time.Minute)), late.Sent.UTC().Format(time.RFC3339))
		}
	}
	gp.handed[c.Contact] = append(gp.handed[c.Contact], runtime.Handed{Sequence: c.Sequence, Planned: c.Planned, Sent: now})
	return time.Time{}, ""
}

// claimAhead is how many pools' worth of sends delivery keeps claimed
// and rendered ahead of the connections.
const claimAhead = 8

// optGate is the last check of a message before it is handed over: is
// its address suppressed, or its contact opted out of its topic? It holds
// the opt-outs of the contacts whose messages are claimed, as of the
// store's opt-out serial, and re-reads them only when the serial moved.
//
// It also marks each send, durably, as possibly handed over, with its
// Message-ID (Ledger.HandOver), as a connection takes it, and records in
// the same commit the sends accepted since (pending). No message is
// handed over before its mark is written, and a connection takes its next
// message only when the last one ended, so at any moment at most one
// message a connection is marked and unfinished. The mark's commit runs
// beside the connection's MAIL, RCPT and DATA, off the message's path;
// at the check, after the server's 354, only the serial is read: a read,
// not a commit. The marks of connections taking messages at once share
// one statement, and so do the reads of connections checking at once (see
// shared).
type optGate struct {
	l      Ledger
	worker string
	now    time.Time
	mu     sync.Mutex
	serial int64 // -1: re-read before the next check
	// latest is the highest serial read, -1 before the first.
	latest int64
	held   map[int64]int
	outs   map[int64]runtime.OptOut

	marks, reads shared
	// pending are the sends accepted and not yet recorded, by ID with
	// their Message-IDs: the next mark records them (or a flush).
	pending map[int64]string
}

// shared runs one statement for every caller that came while the
// previous one ran. A caller joins the next run to start, never one
// already under way (a read that began before the caller came could miss
// a change committed just before it).
type shared struct {
	run     func(ctx context.Context, r *sharedRun)
	mu      sync.Mutex
	next    *sharedRun // the run the next callers join; not started
	running bool
}

// sharedRun is one run: the marks its callers asked for, and its result.
type sharedRun struct {
	marks  map[int64]string // by send ID, its Message-ID
	done   chan struct{}
	n      int64          // the serial read
	marked map[int64]bool // the sends marked
	err    error
}

// joinAll adds a caller, with the marks it asks for, to the next run,
// starting runs if none are going, and returns the run to wait for.
func (q *shared) joinAll(ctx context.Context, marks map[int64]string) *sharedRun {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.next
	if r == nil {
		r = &sharedRun{done: make(chan struct{}), marks: map[int64]string{}}
		q.next = r
		if !q.running {
			q.running = true
			go q.loop(context.WithoutCancel(ctx))
		}
	}
	maps.Copy(r.marks, marks)
	return r
}

func (q *shared) loop(ctx context.Context) {
	for {
		q.mu.Lock()
		r := q.next
		q.next = nil
		if r == nil {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		q.run(ctx, r)
		close(r.done)
	}
}

func newOptGate(l Ledger, worker string, now time.Time) *optGate {
	g := &optGate{l: l, worker: worker, now: now, serial: -1, latest: -1, held: map[int64]int{}, outs: map[int64]runtime.OptOut{}, pending: map[int64]string{}}
	g.marks.run = func(ctx context.Context, r *sharedRun) {
		acc := g.takeAccepted()
		var marked []int64
		marked, r.n, r.err = l.HandOver(ctx, worker, r.marks, acc, now)
		if r.err != nil {
			g.mu.Lock()
			maps.Copy(g.pending, acc)
			g.mu.Unlock()
			return
		}
		r.marked = make(map[int64]bool, len(marked))
		for _, id := range marked {
			r.marked[id] = true
		}
		g.read(r.n)
	}
	g.reads.run = func(ctx context.Context, r *sharedRun) {
		r.n, r.err = l.OptOutSerial(ctx)
		if r.err == nil {
			g.read(r.n)
		}
	}
	return g
}

// read notes a serial read.
func (g *optGate) read(n int64) {
	g.mu.Lock()
	g.latest = max(g.latest, n)
	g.mu.Unlock()
}

// accepted notes a send the server accepted, with its Message-ID, for
// the next mark to record.
func (g *optGate) accepted(id int64, messageID string) {
	g.mu.Lock()
	g.pending[id] = messageID
	g.mu.Unlock()
}

// flush records the sends accepted and not yet recorded, in the
// sequence of the marks' statements: one recorded elsewhere could be
// recorded after a later mark of its connection, and a crash between
// the two would leave two of the connection's messages unknown.
func (g *optGate) flush(ctx context.Context) error {
	r := g.marks.joinAll(ctx, nil)
	<-r.done
	return r.err
}

// takeAccepted returns the sends accepted and not recorded, and forgets
// them: the marks' statement records them.
func (g *optGate) takeAccepted() map[int64]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.pending) == 0 {
		return nil
	}
	p := g.pending
	g.pending = map[int64]string{}
	return p
}

// before is a serial read before now: the latest read, which costs
// nothing, or a fresh read before the first.
func (g *optGate) before(ctx context.Context) (int64, error) {
	g.mu.Lock()
	n := g.latest
	g.mu.Unlock()
	if n >= 0 {
		return n, nil
	}
	return g.l.OptOutSerial(ctx)
}

// hold adds the contacts of newly claimed sends, read (claims checked
// against the suppressions, contacts with their preferences) after the
// serial was n.
func (g *optGate) hold(n int64, claims []runtime.Claim, contacts map[int64]*runtime.Contact) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range claims {
		g.held[c.Contact]++
		if ct := contacts[c.Contact]; ct != nil {
			g.outs[c.Contact] = runtime.OptOut{TopicsOut: ct.Prefs.TopicsOut, PausedUntil: ct.Prefs.PausedUntil}
		}
	}
	if n != g.serial {
		// What the gate held before is older than n.
		g.serial = -1
		if len(g.held) == len(claims) {
			g.serial = n
		}
	}
}

func (g *optGate) release(contact int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held[contact]--; g.held[contact] <= 0 {
		delete(g.held, contact)
		delete(g.outs, contact)
	}
}

// mark joins send id, with its Message-ID mid, to the next statement
// marking sends as possibly handed over, and returns the run to wait for.
func (g *optGate) mark(ctx context.Context, id int64, mid string) *sharedRun {
	return g.marks.joinAll(ctx, map[int64]string{id: mid})
}

// check waits for send id's mark m to be written and says why contact's
// message on topic must not go, or nil. A change committed before check
// began is seen: the serial is read after it began, and the opt-outs
// re-read when it moved.
func (g *optGate) check(ctx context.Context, m *sharedRun, id, contact int64, topic string, marketing bool) error {
	// The runs are not cancelled with ctx, and short: wait for the
	// mark, so that one it made is known to be ours to release.
	<-m.done
	if ctx.Err() != nil {
		// Stopped before the hand-over: released, marked or not.
		return errNotTaken
	}
	if m.err != nil {
		return fmt.Errorf("marking the hand-over: %w", m.err)
	}
	if !m.marked[id] {
		return errClaimLost
	}
	r := g.reads.joinAll(ctx, nil)
	<-r.done
	if ctx.Err() != nil {
		return errNotTaken
	}
	if r.err != nil {
		return fmt.Errorf("reading the opt-out serial: %w", r.err)
	}
	n := r.n
	g.mu.Lock()
	defer g.mu.Unlock()
	if n != g.serial {
		ids := make([]int64, 0, len(g.held))
		for id := range g.held {
			ids = append(ids, id)
		}
		outs, err := g.l.OptOuts(ctx, ids)
		if err != nil {
			return fmt.Errorf("checking the opt-outs: %w", err)
		}
		g.outs, g.serial = outs, n
	}
	o := g.outs[contact]
	if why := o.Withholds(topic, false, g.now); why != "" {
		return withheldFor(why)
	}
	if why := o.Withholds(topic, marketing, g.now); why != "" {
		// Only paused: the message waits for the pause to end.
		return pausedUntil{o.PausedUntil, why}
	}
	return nil
}

// pausedUntil is the gate's answer for a marketing message to a contact
// who paused marketing email meanwhile: it is planned again for when the
// pause ends, as the engine would have held it.
type pausedUntil struct {
	until time.Time
	why   string
}

func (p pausedUntil) Error() string { return p.why }

// errNotTaken is the outcome of a send claimed that no connection
// handed over because the pass stopped first: it was queued, or reached
// the gate as ctx was cancelled. It is released, not sent.
var errNotTaken = errors.New("not taken: the delivery pass stopped first")

// errClaimLost is the gate's answer for a send the worker no longer
// holds: its claim outlived the lease and was recovered, and the send
// may be claimed by another worker now.
var errClaimLost = errors.New("its claim lapsed before the hand-over and was recovered; another delivery sends it")

// withheldFor is why the gate withheld a message for good.
type withheldFor string

func (o withheldFor) Error() string { return string(o) }

// record writes to the ledger how one failed send ended.
func (e *Engine) record(ctx context.Context, l Ledger, c runtime.Claim, o *mail.Outgoing, err error, now time.Time, d *Delivered) error {
	var se *mail.SendError
	errors.As(err, &se)
	switch mail.KindOf(err) {
	case mail.Temporary:
		if c.Attempts+1 < maxAttempts {
			d.Deferred++
			return l.RetrySend(ctx, c.ID, retryAt(now, c.Attempts), err.Error())
		}
		d.Failed++
		return l.FinishSend(ctx, c.ID, runtime.SendFailed, "", fmt.Sprintf("deferred %d times: %v", c.Attempts+1, err), now)
	case mail.Unknown:
		d.Unknown++
		mid := o.MessageID()
		e.logf("send %s to %s is unknown: %v. It counts as sent and is not sent again; look for Message-ID <%s> in the mail server's log", c.Key, o.To, err, mid)
		return l.FinishSend(ctx, c.ID, runtime.SendUnknown, mid, err.Error()+" (counts as sent; never sent again automatically)", now)
	}
	d.Failed++
	if err := l.FinishSend(ctx, c.ID, runtime.SendFailed, "", err.Error(), now); err != nil {
		return err
	}
	if se == nil || !se.Recipient || o == nil {
		return nil
	}
	// A hard bounce: the address does not take mail. It is suppressed
	// and the bounce recorded, so that the programme and the breaker see
	// it.
	d.Bounced++
	if _, err := l.Suppress(ctx, []runtime.Suppression{{Email: o.To, Reason: runtime.ReasonBounced, Source: "smtp", At: now}}); err != nil {
		return err
	}
	_, err = l.RecordEvents(ctx, []runtime.Event{{ID: "bounce/" + c.Key, Email: o.To, Name: campaigns.EventBounced, At: now,
		Props: map[string]any{"kind": "hard", "email": c.Email, "sequence": c.Sequence, "step": c.Step, "variant": c.Variant}}})
	return err
}

func (e *Engine) logf(format string, args ...any) {
	if e.Log != nil {
		// Delivery's producer and its recording both log.
		e.logMu.Lock()
		defer e.logMu.Unlock()
		e.Log(fmt.Sprintf(format, args...))
	}
}

// outgoing renders a claimed send for its contact, with tracked links
// signed for this send when the engine holds tracking keys.
func (e *Engine) outgoing(c runtime.Claim, ct *runtime.Contact, now time.Time) (*mail.Outgoing, error) {
	p, err := e.plannedUnder(c.Version)
	if err != nil {
		return nil, err
	}
	em := p.Emails[c.Email]
	if em == nil {
		return nil, fmt.Errorf("version %d of the programme has no email %s", c.Version, c.Email)
	}
	if ct == nil {
		return nil, fmt.Errorf("contact %d is gone", c.Contact)
	}
	o := track.SendOptions(p, e.Keys, c.ID, c.Contact, c.Sequence, c.Step)
	if o.UnsubscribeURL == "" && p.Sender.UnsubscribeMail != "" {
		// Without a tracking server the way out is the unsubscribe
		// mailbox.
		o.UnsubscribeURL = "mailto:" + p.Sender.UnsubscribeMail + "?subject=" + url.QueryEscape("unsubscribe "+ct.Email)
	}
	o.SenderFor(e.Program, c.Sequence, c.Step, ct.Values)
	m := render.Render(em, render.WithTrigger(ct.Values, c.TriggerProps), c.Key, o)
	out := render.Envelope(p, em, m, o, c.Key, ct.Email, now)
	if strings.ContainsAny(out.To, "\r\n") {
		return nil, fmt.Errorf("contact %d has an address with a line break", c.Contact)
	}
	return out, nil
}

// plannedUnder is the programme a send planned under version v goes out
// as: the email and the sequence's UTM of that version — what the plan a
// reviewer approved showed — with the sender of the version in force,
// whose postal address, unsubscribe and tracking settings are the ones
// that hold now.
func (e *Engine) plannedUnder(v int64) (*campaigns.Program, error) {
	if v == e.Version || v == 0 || e.Planned == nil {
		return e.Program, nil
	}
	old, err := e.Planned(v)
	if err != nil {
		return nil, fmt.Errorf("reading version %d, which the send was planned under: %w", v, err)
	}
	p := *old
	p.Sender = e.Program.Sender
	return &p, nil
}
