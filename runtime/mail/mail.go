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
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
)

// Outgoing is one email ready to go.
type Outgoing struct {
	// Key is the ledger key of the send; the Message-ID derives from it.
	Key      string
	FromName string
	From     string
	// IDFrom, when set, is the address whose domain the Message-ID
	// takes instead of From's: the programme's sender, when a sequence
	// sends from an owner's address, so that the Message-ID stored at
	// claim is the one sent.
	IDFrom    string
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
	// Gate, when set, is asked right before the message is handed over
	// (for SMTP: after the server said 354 to DATA, before the body goes);
	// an error withholds the message, which is then never handed over,
	// and Send returns that error. It is how an opt-out that commits
	// while the message waits for a connection still wins.
	Gate func(ctx context.Context) error
}

// Withheld is the error of a Send whose Gate said no: the message was
// not handed over.
type Withheld struct{ Err error }

func (e *Withheld) Error() string { return "withheld before hand-over: " + e.Err.Error() }
func (e *Withheld) Unwrap() error { return e.Err }

// gate asks o's Gate, wrapping its refusal as Withheld.
func (o *Outgoing) gate(ctx context.Context) error {
	if o.Gate == nil {
		return nil
	}
	if err := o.Gate(ctx); err != nil {
		return &Withheld{err}
	}
	return nil
}

// MessageID is the Message-ID the message goes out with.
func (o *Outgoing) MessageID() string {
	if o.IDFrom != "" {
		return MessageID(o.Key, o.IDFrom)
	}
	return MessageID(o.Key, o.From)
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
	if err := m.FromFormat(OneLine(o.FromName), o.From); err != nil {
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
	m.Subject(literalWords(OneLine(o.Subject)))
	m.SetMessageIDWithValue(o.MessageID())
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

// literalWords makes a header value that mail clients show as written.
// A value that holds "=?" (a merge field filled with "=?utf-8?q?CEO?=",
// say) would be decoded by the reader's client as RFC 2047 encoded
// words, showing text nobody wrote: such a value is sent wholly encoded
// instead, which clients decode once, back to the literal text. Values
// without "=?" are left to go-mail, which encodes only what needs it.
func literalWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	const hex = "0123456789ABCDEF"
	var out []string
	var w strings.Builder
	flush := func() {
		if w.Len() > 0 {
			out = append(out, "=?UTF-8?Q?"+w.String()+"?=")
			w.Reset()
		}
	}
	for i := 0; i < len(s); {
		// A word holds at most 75 characters (RFC 2047 2): 12 go to
		// the frame, and a rune is never split between words.
		_, n := utf8.DecodeRuneInString(s[i:])
		if w.Len()+3*n > 75-12 {
			flush()
		}
		for _, b := range []byte(s[i : i+n]) {
			switch {
			case b == ' ':
				w.WriteByte('_')
			case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
				w.WriteByte(b)
			default:
				w.WriteByte('=')
				w.WriteByte(hex[b>>4])
				w.WriteByte(hex[b&15])
			}
		}
		i += n
	}
	flush()
	return strings.Join(out, " ")
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

// GatesLate says that Send asks the Outgoing's Gate itself, right
// before the file is written.
func (f FileSink) GatesLate() {}

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
	if err := o.gate(ctx); err != nil {
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
