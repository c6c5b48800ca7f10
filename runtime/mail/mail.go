// Package mail turns a rendered email into a MIME message and hands it to
// a sender. FileSink writes each message as an .eml file under a
// directory; SMTP delivers it to a server and says, by the SendError's
// kind, whether the server took it. It decides nothing about whom to
// send what: that is the engine's.
package mail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Outgoing is one email ready to go.
type Outgoing struct {
	// Key is the ledger key of the send; the Message-ID derives from it.
	Key       string
	FromName  string
	From      string
	ReplyTo   string
	To        string
	Subject   string
	Preheader string
	HTML      string
	Text      string
	// ListUnsubscribe holds the <…> targets of the List-Unsubscribe
	// header, mailto: or https:.
	ListUnsubscribe []string
	// OneClick adds List-Unsubscribe-Post (RFC 8058); set it only when
	// one of the targets is an https URL that unsubscribes on POST.
	OneClick bool
	Bulk     bool
	Date     time.Time
}

// MessageID is the Message-ID of a send: derived from its ledger key, so
// that a message sent twice by mistake is recognisably the same one.
func MessageID(key, from string) string {
	sum := sha256.Sum256([]byte(key))
	domain := "nurture.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i+1 < len(from) {
		domain = from[i+1:]
	}
	return hex.EncodeToString(sum[:12]) + "@" + domain
}

// Compose builds the MIME message: a plain-text part and an HTML
// alternative, headers from o. go-mail encodes the subject and folds the
// headers; no value carries CR or LF into them.
func Compose(o *Outgoing) (*gomail.Msg, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.FromFormat(o.FromName, o.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", o.From, err)
	}
	if err := m.To(o.To); err != nil {
		return nil, fmt.Errorf("to %q: %w", o.To, err)
	}
	if o.ReplyTo != "" {
		if err := m.ReplyTo(o.ReplyTo); err != nil {
			return nil, fmt.Errorf("reply-to %q: %w", o.ReplyTo, err)
		}
	}
	m.Subject(OneLine(o.Subject))
	m.SetMessageIDWithValue(MessageID(o.Key, o.From))
	m.SetDateWithValue(o.Date)
	if o.Bulk {
		m.SetBulk()
	}
	if len(o.ListUnsubscribe) > 0 {
		targets := make([]string, len(o.ListUnsubscribe))
		for i, t := range o.ListUnsubscribe {
			targets[i] = "<" + OneLine(t) + ">"
		}
		m.SetGenHeader(gomail.HeaderListUnsubscribe, strings.Join(targets, ", "))
		if o.OneClick {
			m.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
		}
	}
	m.SetBodyString(gomail.TypeTextPlain, o.Text)
	if o.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, o.HTML)
	}
	return m, nil
}

// OneLine joins the lines of s with spaces: no CR or LF from any value
// ever reaches a header.
func OneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

// FileSink writes each message to Dir as KEY.eml, the key made safe for a
// file name. Writing the same send again replaces its file.
type FileSink struct {
	Dir string
	// DKIM signs each message when set, as SMTP would.
	DKIM *DKIMConfig
}

// Send writes o's message.
func (f FileSink) Send(ctx context.Context, o *Outgoing) error {
	m, err := Compose(o)
	if err != nil {
		return err
	}
	data, err := messageBytes(m, f.DKIM)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return err
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, o.Key)
	tmp, err := os.CreateTemp(f.Dir, ".sending-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(f.Dir, name+".eml"))
}
