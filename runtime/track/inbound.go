package track

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxInbound is the largest message the server takes, over SMTP or on
// POST /v1/inbound: a reply with its quoted thread and a signature
// image fits many times over; a message larger than this is not a
// reply to a nurture email anyone needs to read here.
const MaxInbound = 10 << 20

// maxText is how much of a message's text part is read: only its first
// lines decide anything.
const maxText = 64 << 10

// ReadMessage reads a raw Internet message (RFC 5322 with MIME parts)
// as the Reply it is: its Message-ID, the Message-IDs it answers, who
// it is from and to, whether a machine sent it, and the start of its
// plain text. An error says what in the message is wrong. A message
// without a Message-ID is known by a digest of its bytes, so that the
// same message delivered twice is still recorded once.
func ReadMessage(raw []byte) (Reply, error) {
	m, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return Reply{}, fmt.Errorf("the message's header: %v", err)
	}
	h := m.Header
	var n Reply
	n.ID = strings.TrimSpace(h.Get("Message-ID"))
	if n.ID == "" || len(n.ID) > 200 {
		sum := sha256.Sum256(raw)
		n.ID = "sha256:" + hex.EncodeToString(sum[:16])
	}
	from, err := h.AddressList("From")
	switch {
	case errors.Is(err, mail.ErrHeaderNotPresent) || (err == nil && len(from) == 0):
		return Reply{}, errors.New(`header "From": missing; a message says who it is from`)
	case err != nil:
		return Reply{}, fmt.Errorf(`header "From": %v`, err)
	}
	n.From = from[0].Address
	for _, name := range []string{"To", "Cc"} {
		if h.Get(name) == "" {
			continue
		}
		list, err := h.AddressList(name)
		if err != nil {
			return Reply{}, fmt.Errorf("header %q: %v", name, err)
		}
		for _, a := range list {
			n.To = append(n.To, a.Address)
		}
	}
	n.InReplyTo = firstMsgID(h.Get("In-Reply-To"))
	n.References = msgIDs.FindAllString(h.Get("References"), 50)
	if d, err := h.Date(); err == nil {
		n.At = d.UTC()
	}
	var dec mime.WordDecoder
	n.Subject = h.Get("Subject")
	if s, err := dec.DecodeHeader(n.Subject); err == nil {
		n.Subject = s
	}
	n.Auto, n.report = autoReply(h, n.Subject)
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	text, err := plainText(ct, h.Get("Content-Transfer-Encoding"), m.Body, 0)
	if err != nil {
		return Reply{}, err
	}
	n.Text = text
	return n, nil
}

// msgIDs finds Message-IDs, <left@right>, in a header.
var msgIDs = regexp.MustCompile(`<[^<>\s]+>`)

// firstMsgID is the first Message-ID of an In-Reply-To header, or the
// header as it stands when a client left out the angle brackets.
func firstMsgID(v string) string {
	if id := msgIDs.FindString(v); id != "" {
		return id
	}
	return strings.TrimSpace(v)
}

// autoReply says whether a machine sent the message and why, by the
// signals mail software sets:
//   - Auto-Submitted other than "no" (RFC 3834: auto-replied,
//     auto-generated, auto-notified);
//   - X-Autoreply or X-Autorespond, set by older vacation programs;
//   - Precedence: auto_reply, bulk or junk, which responders set on their
//     own mail so that other responders ignore it;
//   - a delivery or read report: multipart/report (RFC 6522);
//   - a subject that begins as out-of-office notices of the common mail
//     servers do: "Automatic reply:", "Auto reply:", "Auto-reply:",
//     "Autoreply:", "Out of office", "Out of the office".
//
// report is true for a delivery or read report, which is not a person's
// request of any kind.
func autoReply(h mail.Header, subject string) (auto, report bool) {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" {
		if token, _, _ := strings.Cut(v, ";"); strings.TrimSpace(token) != "no" {
			auto = true
		}
	}
	if h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" {
		auto = true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "auto_reply", "bulk", "junk":
		auto = true
	}
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && mt == "multipart/report" {
		return true, true
	}
	s := strings.ToLower(strings.TrimSpace(subject))
	for _, p := range []string{"automatic reply:", "auto reply:", "auto-reply:", "autoreply:", "out of office", "out of the office"} {
		if strings.HasPrefix(s, p) {
			auto = true
		}
	}
	return auto, false
}

// plainText is the start of a message's first text/plain part that is
// not an attachment, decoded; "" when it has none (an HTML-only reply).
// depth bounds nested multiparts.
func plainText(contentType, encoding string, body io.Reader, depth int) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf(`header "Content-Type": %q: %v`, contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		if depth > 5 {
			return "", errors.New("the message nests multiparts more than 5 deep")
		}
		if params["boundary"] == "" {
			return "", fmt.Errorf(`header "Content-Type": %s without a boundary parameter`, mt)
		}
		mr := multipart.NewReader(body, params["boundary"])
		found := ""
		for i := 1; ; i++ {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				if i == 1 {
					return "", fmt.Errorf("%s: no parts (is the boundary %q right?)", mt, params["boundary"])
				}
				return found, nil
			}
			if err != nil {
				return "", fmt.Errorf("%s part %d: %v", mt, i, err)
			}
			if i > 100 {
				return "", fmt.Errorf("%s: more than 100 parts", mt)
			}
			if found != "" {
				continue
			}
			if d, _, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition")); d == "attachment" {
				continue
			}
			pct := p.Header.Get("Content-Type")
			if pct == "" {
				pct = "text/plain"
			}
			// multipart.Reader has already decoded a quoted-printable part
			// and dropped its Content-Transfer-Encoding.
			t, err := plainText(pct, p.Header.Get("Content-Transfer-Encoding"), p, depth+1)
			if err != nil {
				return "", fmt.Errorf("%s part %d: %v", mt, i, err)
			}
			found = t
		}
	}
	if mt != "text/plain" {
		return "", nil
	}
	var r io.Reader = body
	switch e := strings.ToLower(strings.TrimSpace(encoding)); e {
	case "", "7bit", "8bit", "binary":
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	default:
		return "", fmt.Errorf(`header "Content-Transfer-Encoding": %q is not 7bit, 8bit, binary, base64 or quoted-printable`, encoding)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxText))
	if err != nil {
		return "", fmt.Errorf("the text part's %s: %v", strings.ToLower(encoding), err)
	}
	if !utf8.Valid(b) {
		// Another charset: the ASCII words that decide anything read the
		// same in the common ones.
		b = []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
	}
	return string(b), nil
}

// unsubscribeAsks reports whether a reply's text asks to unsubscribe, by
// a deliberately narrow rule: its first line with any text that is not
// quoted (">") is, after "please" and closing punctuation are dropped,
// one of a few short requests — "unsubscribe", "unsubscribe me",
// "stop", "remove me", "remove me from your list", "opt out" and the
// like. A sentence that only mentions unsubscribing ("do not
// unsubscribe me, I just want…") is a reply and nothing more.
func unsubscribeAsks(text string) bool {
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, ">") {
			return false
		}
		l := strings.ToLower(line)
		l = strings.TrimRight(l, ".!? ")
		l = strings.TrimSpace(strings.TrimPrefix(l, "please"))
		l = strings.TrimLeft(l, ", ")
		return unsubscribeLines[l]
	}
	return false
}

var unsubscribeLines = map[string]bool{
	"unsubscribe": true, "unsubscribe me": true, "stop": true, "remove": true, "remove me": true,
	"remove me from your list": true, "remove me from this list": true, "remove me from your mailing list": true,
	"take me off your list": true, "take me off this list": true,
	"opt out": true, "opt me out": true, "opt-out": true, "stop emailing me": true, "stop sending me emails": true,
}
