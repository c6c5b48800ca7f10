package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
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
	ClaimSends(ctx context.Context, worker string, now time.Time, limit int) ([]runtime.Claim, error)
	FinishSend(ctx context.Context, id int64, status, messageID, failure string, now time.Time) error
	// AcceptSends records many accepted sends at once, by ID with their
	// Message-IDs.
	AcceptSends(ctx context.Context, ids map[int64]string, now time.Time) error
	RetrySend(ctx context.Context, id int64, at time.Time, failure string) error
	ContactsByID(ctx context.Context, ids []int64) (map[int64]*runtime.Contact, error)
	Suppress(ctx context.Context, batch []runtime.Suppression) (int, error)
	RecordEvents(ctx context.Context, batch []runtime.Event) (runtime.EventResult, error)
	DeliveryStats(ctx context.Context, since time.Time) (runtime.DeliveryStats, error)
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
	// Paused says why the breaker stopped sending, when it did.
	Paused string
}

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

// claimBatch is how many planned emails a worker claims at a time.
const claimBatch = 50

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
// ended. The suppression list is checked again when claiming. Before
// each claim the breaker weighs the bounces and complaints of its window.
//
// An unknown send, one whose connection was lost after the message was
// handed over, is never sent again: the rule is that it counts as sent
// (against the caps, and its sequence has moved on) until evidence
// resolves it — a click or open makes it accepted, a bounce by its
// Message-ID makes it failed. Each is logged with its Message-ID, to
// look up in the mail server's log.
func (e *Engine) Deliver(ctx context.Context, l Ledger, s Sender, worker string, now time.Time) (Delivered, error) {
	conc := 1
	if c, ok := s.(interface{ Concurrency() int }); ok {
		conc = max(1, c.Concurrency())
	}
	type job struct {
		c   runtime.Claim
		o   *mail.Outgoing
		err error // from rendering
	}
	type result struct {
		job
		err error
	}
	// sending stops on cancel; what was sent is still recorded on ctx.
	sending, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job, claimBatch)
	results := make(chan result, claimBatch)
	var d Delivered
	var claimErr error
	// One goroutine claims and renders, conc send, and this one records.
	go func() {
		defer close(jobs)
		for {
			if e.Breaker.Window > 0 {
				st, err := l.DeliveryStats(sending, now.Add(-e.Breaker.Window))
				if err != nil {
					claimErr = err
					return
				}
				if why := e.Breaker.trip(st); why != "" {
					d.Paused = why
					return
				}
			}
			claims, err := l.ClaimSends(sending, worker, now, claimBatch)
			if err != nil {
				claimErr = err
				return
			}
			if len(claims) == 0 {
				return
			}
			ids := make([]int64, len(claims))
			for i, c := range claims {
				ids[i] = c.Contact
			}
			contacts, err := l.ContactsByID(sending, ids)
			if err != nil {
				claimErr = err
				return
			}
			for i, c := range claims {
				o, err := e.outgoing(c, contacts[c.Contact], now)
				select {
				case jobs <- job{c, o, err}:
				case <-sending.Done():
					// Stopped: what was claimed and not handed over goes
					// back to the ledger as planned.
					for _, c := range claims[i:] {
						if err := l.RetrySend(ctx, c.ID, now, "not sent: delivery stopped"); err != nil && claimErr == nil {
							claimErr = err
						}
					}
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				err := j.err
				if err == nil {
					err = s.Send(sending, j.o)
				}
				results <- result{j, err}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	// Accepted sends are recorded a batch at a time, or every 200ms when
	// they come slowly; the rest as they come.
	var recErr, setupErr error
	accepted := map[int64]string{}
	flush := func() {
		if len(accepted) > 0 && recErr == nil {
			if recErr = l.AcceptSends(ctx, accepted, now); recErr != nil {
				cancel()
			}
		}
		clear(accepted)
	}
	every := time.NewTicker(200 * time.Millisecond)
	defer every.Stop()
	for open := true; open; {
		var r result
		select {
		case <-every.C:
			flush()
			continue
		case r, open = <-results:
			if !open {
				continue
			}
		}
		if recErr != nil {
			continue // drain: the claimed rows become unknown after their lease
		}
		if r.err == nil {
			d.Accepted++
			accepted[r.c.ID] = mail.MessageID(r.c.Key, r.o.From)
			if len(accepted) >= claimBatch {
				flush()
			}
			continue
		}
		// The sender's own settings are wrong: every email would fail
		// alike. Sending stops; this and what was under way stay planned.
		var se *mail.SendError
		if errors.As(r.err, &se) && se.Setup && setupErr == nil {
			setupErr = r.err
			cancel()
		}
		if setupErr != nil {
			if err := l.RetrySend(ctx, r.c.ID, now, r.err.Error()); err != nil {
				recErr = err
			}
			continue
		}
		if err := e.record(ctx, l, r.c, r.o, r.err, now, &d); err != nil {
			recErr = err
			cancel()
		}
	}
	flush()
	switch {
	case recErr != nil:
		return d, recErr
	case setupErr != nil:
		return d, fmt.Errorf("sending stopped, the emails stay planned: %w", setupErr)
	case claimErr != nil && !errors.Is(claimErr, context.Canceled):
		return d, claimErr
	}
	return d, ctx.Err()
}

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
		mid := mail.MessageID(c.Key, o.From)
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
		e.Log(fmt.Sprintf(format, args...))
	}
}

// outgoing renders a claimed send for its contact, with tracked links
// signed for this send when the engine holds tracking keys.
func (e *Engine) outgoing(c runtime.Claim, ct *runtime.Contact, now time.Time) (*mail.Outgoing, error) {
	p := e.Program
	em := p.Emails[c.Email]
	if em == nil {
		return nil, fmt.Errorf("the programme has no email %s", c.Email)
	}
	if ct == nil {
		return nil, fmt.Errorf("contact %d is gone", c.Contact)
	}
	utm := campaigns.UTM{Source: p.Sender.UTM.Source, Medium: p.Sender.UTM.Medium, Campaign: p.Sender.UTM.Campaign, Content: c.Step}
	if seq := p.Sequences[c.Sequence]; seq != nil {
		utm = seq.UTM
		if utm.Content == "" {
			utm.Content = c.Step
		}
	}
	o := render.Options{UTM: utm}
	if base := p.Sender.TrackingURL; base != "" && e.Keys != nil {
		sign := func(t track.Token) string { return track.URL(base, t.Kind, e.Keys.Sign(t)) }
		o.TrackLink = func(n int, u string) string {
			return sign(track.Token{Kind: track.Click, Send: c.ID, Contact: c.Contact, Link: n, URL: u})
		}
		o.OpenPixel = sign(track.Token{Kind: track.Open, Send: c.ID, Contact: c.Contact})
		o.UnsubscribeURL = sign(track.Token{Kind: track.Unsubscribe, Send: c.ID, Contact: c.Contact})
		o.PreferencesURL = sign(track.Token{Kind: track.Preferences, Send: c.ID, Contact: c.Contact})
	} else if p.Sender.UnsubscribeMail != "" {
		// Without a tracking server the way out is the unsubscribe
		// mailbox.
		o.UnsubscribeURL = "mailto:" + p.Sender.UnsubscribeMail + "?subject=" + url.QueryEscape("unsubscribe "+ct.Email)
	}
	m := render.Render(em, ct.Values, c.Key, o)
	out := render.Envelope(p, em, m, o, c.Key, ct.Email, now)
	if strings.ContainsAny(out.To, "\r\n") {
		return nil, fmt.Errorf("contact %d has an address with a line break", c.Contact)
	}
	return out, nil
}
