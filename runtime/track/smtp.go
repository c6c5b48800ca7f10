package track

import (
	"context"
	"io"
	"net/mail"
	"strings"
	"time"

	smtp "github.com/emersion/go-smtp"
)

// SMTP limits of the inbound listener: a reply is one message to one or
// two of the programme's addresses, sent promptly.
const (
	smtpMaxRecipients = 20
	smtpTimeout       = time.Minute
)

// SMTP returns an SMTP server that takes the programme's inbound mail,
// as the MX of its reply-to and unsubscribe domains: replies and
// requests to the unsubscribe mailbox, each handed to Receive as
// POST /v1/inbound hands it. It takes mail only for addresses in the
// domains of the programme's senders (from, reply-to, the unsubscribe
// mailbox, each sequence's and step's), refuses messages over
// MaxInbound, and answers a store error with a temporary failure so
// that the sending server tries again. hostname is the name it greets
// with.
func (s *Server) SMTP(hostname string) *smtp.Server {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &inboundSession{s: s}, nil }))
	srv.Domain = hostname
	srv.MaxMessageBytes = MaxInbound
	srv.MaxRecipients = smtpMaxRecipients
	srv.ReadTimeout = smtpTimeout
	srv.WriteTimeout = smtpTimeout
	return srv
}

// Domains are the mail domains the programme in force sends as, lower
// case: those of its senders' from and reply-to addresses and of its
// unsubscribe mailbox.
func (s *Server) Domains() map[string]bool {
	p := s.prog.Load()
	out := map[string]bool{}
	if p == nil {
		return out
	}
	add := func(addr string) {
		if _, d, ok := strings.Cut(addr, "@"); ok && d != "" {
			out[strings.ToLower(d)] = true
		}
	}
	add(p.Sender.FromEmail)
	add(p.Sender.ReplyTo)
	add(p.Sender.UnsubscribeMail)
	for _, seq := range p.Sequences {
		if seq.Sender != nil {
			add(seq.Sender.Email)
			add(seq.Sender.ReplyTo)
		}
		for _, st := range seq.Steps {
			if st.Sender != nil {
				add(st.Sender.Email)
				add(st.Sender.ReplyTo)
			}
		}
	}
	return out
}

// inboundSession is one SMTP transaction at a time of one connection.
type inboundSession struct {
	s *Server
	// null marks the null reverse-path, MAIL FROM:<>: a bounce or an
	// automatic reply (RFC 3834 §3.3 asks responders to use it).
	null bool
	to   []string
}

func (x *inboundSession) Reset()        { x.null, x.to = false, nil }
func (x *inboundSession) Logout() error { return nil }

func (x *inboundSession) Mail(from string, _ *smtp.MailOptions) error {
	x.null = from == ""
	return nil
}

func (x *inboundSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	a, err := mail.ParseAddress(to)
	if err != nil {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "not an address"}
	}
	_, domain, _ := strings.Cut(a.Address, "@")
	if !x.s.Domains()[strings.ToLower(domain)] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relay denied: this server takes mail for the programme's domains only"}
	}
	x.to = append(x.to, a.Address)
	return nil
}

func (x *inboundSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // go-smtp answers ErrDataTooLarge with 552
	}
	n, err := ReadMessage(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: oneLine("unreadable message: " + err.Error())}
	}
	n.To = append(n.To, x.to...)
	if x.null {
		// A bounce or an automatic reply: neither a reply nor a request.
		n.Auto, n.report = true, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), smtpTimeout)
	defer cancel()
	if _, err := x.s.Receive(ctx, n); err != nil {
		x.s.log().Error("recording an inbound message", "message_id", n.ID, "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot record the message now; try again later"}
	}
	return nil
}

// oneLine keeps an SMTP reply on one line.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 400 {
		s = s[:400]
	}
	return s
}
