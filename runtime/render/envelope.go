package render

import (
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/mail"
)

// Envelope addresses a rendered message: sender and reply address from
// o when it names them, else from the programme; the ledger key the Message-ID derives from, the
// recipient and the date.
//
// Marketing email is bulk mail and says how to leave it (RFC 2369): the
// unsubscribe URL of o when it is an http(s) URL, with one-click
// unsubscribe (RFC 8058), then the sender's unsubscribe mailbox when it
// has one. Transactional email carries no List-Unsubscribe: there is no
// list to leave.
func Envelope(p *campaigns.Program, e *campaigns.Email, m Message, o Options, key, to string, date time.Time) *mail.Outgoing {
	out := &mail.Outgoing{
		Key:      key,
		FromName: p.Sender.FromName, From: p.Sender.FromEmail, ReplyTo: p.Sender.ReplyTo,
		To:      to,
		Subject: m.Subject, Preheader: m.Preheader, HTML: m.HTML, Text: m.Text,
		Date: date,
	}
	if o.From != "" {
		out.FromName, out.From, out.ReplyTo = o.FromName, o.From, o.ReplyTo
		out.IDFrom = p.Sender.FromEmail
	}
	if e.Kind != campaigns.KindMarketing {
		return out
	}
	out.Bulk = true
	if isWeb(o.UnsubscribeURL) {
		out.ListUnsubscribe = append(out.ListUnsubscribe, o.UnsubscribeURL)
		out.OneClick = true
	}
	if p.Sender.UnsubscribeMail != "" {
		out.ListUnsubscribe = append(out.ListUnsubscribe, "mailto:"+p.Sender.UnsubscribeMail+"?subject=unsubscribe")
	}
	return out
}
