package engine

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/mail"
	"github.com/nurture-dev/nurture/runtime/render"
)

// Sender hands one message on: to a file, to an SMTP server.
type Sender interface {
	Send(ctx context.Context, m *mail.Outgoing) error
}

// Ledger is what delivery needs of the store.
type Ledger interface {
	ClaimSends(ctx context.Context, worker string, now time.Time, limit int) ([]runtime.Claim, error)
	FinishSend(ctx context.Context, id int64, status, messageID, failure string, now time.Time) error
	ContactByID(ctx context.Context, id int64) (*runtime.Contact, error)
}

// Delivered counts what one delivery pass did.
type Delivered struct {
	Accepted, Failed int
}

// claimBatch is how many planned emails a worker claims at a time.
const claimBatch = 50

// Deliver claims the sends planned by now and hands each to the sender,
// recording whether it was accepted. The suppression list is checked
// again when claiming.
func (e *Engine) Deliver(ctx context.Context, l Ledger, s Sender, worker string, now time.Time) (Delivered, error) {
	var d Delivered
	for {
		// Small claims: a worker that dies leaves at most one claim's
		// emails unknown.
		claims, err := l.ClaimSends(ctx, worker, now, claimBatch)
		if err != nil {
			return d, err
		}
		if len(claims) == 0 {
			return d, nil
		}
		for _, c := range claims {
			o, err := e.outgoing(ctx, l, c, now)
			if err == nil {
				err = s.Send(ctx, o)
			}
			if err != nil {
				d.Failed++
				if ferr := l.FinishSend(ctx, c.ID, runtime.SendFailed, "", err.Error(), now); ferr != nil {
					return d, ferr
				}
				continue
			}
			d.Accepted++
			if err := l.FinishSend(ctx, c.ID, runtime.SendAccepted, mail.MessageID(c.Key, o.From), "", now); err != nil {
				return d, err
			}
		}
	}
}

// outgoing renders a claimed send for its contact.
func (e *Engine) outgoing(ctx context.Context, l Ledger, c runtime.Claim, now time.Time) (*mail.Outgoing, error) {
	p := e.Program
	em := p.Emails[c.Email]
	if em == nil {
		return nil, fmt.Errorf("the programme has no email %s", c.Email)
	}
	ct, err := l.ContactByID(ctx, c.Contact)
	if err != nil {
		return nil, err
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
	// Until the tracking server signs unsubscribe links, the way out is
	// the unsubscribe mailbox.
	var unsub string
	var targets []string
	if p.Sender.UnsubscribeMail != "" {
		unsub = "mailto:" + p.Sender.UnsubscribeMail + "?subject=" + url.QueryEscape("unsubscribe "+ct.Email)
		targets = append(targets, unsub)
	}
	m := render.Render(em, ct.Values, c.Key, render.Options{UTM: utm, UnsubscribeURL: unsub})
	return &mail.Outgoing{
		Key: c.Key, FromName: p.Sender.FromName, From: p.Sender.FromEmail, ReplyTo: p.Sender.ReplyTo, To: ct.Email,
		Subject: m.Subject, Preheader: m.Preheader, HTML: m.HTML, Text: m.Text,
		ListUnsubscribe: targets, Bulk: em.Kind == campaigns.KindMarketing, Date: now,
	}, nil
}
