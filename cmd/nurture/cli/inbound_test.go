package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/track"
)

// smtpListener serves the tracked store's inbound SMTP on a loopback
// port and returns its address.
func (tr *tracked) smtpListener() string {
	tr.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tr.t.Fatal(err)
	}
	srv := tr.srv.SMTP("mx.acme.example")
	go srv.Serve(ln)
	tr.t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// rawMessage is a raw message with CRLF line ends.
func rawMessage(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

// smtpCode is the SMTP reply code of an error of net/smtp, 0 for none.
func smtpCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

// A reply delivered over SMTP to the reply-to address is recorded as
// email.replied of the send it answers, with its arm; an out-of-office
// reply and a bounce (null sender) are counted and not recorded; mail
// for another domain is refused at RCPT, before any data.
func TestServeInboundSMTP(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, tr *tracked) {
		addr := tr.smtpListener()
		mid := tr.mail["cy@gamma.example"].Header.Get("Message-ID")
		reply := rawMessage(
			"From: Cy <cy@gamma.example>",
			"To: Acme Analytics <team@acme.example>",
			"Subject: Re: Welcome",
			"Message-ID: <reply-1@gamma.example>",
			"In-Reply-To: "+mid,
			"References: "+mid,
			"Date: Mon, 23 Nov 2026 11:30:00 -0500",
			"",
			"Thanks, this is useful. Can we talk on Thursday?",
			"",
			"> Welcome to Acme.",
		)
		if err := smtp.SendMail(addr, nil, "cy@gamma.example", []string{"team@acme.example"}, reply); err != nil {
			t.Fatalf("delivering the reply: %v", err)
		}
		// Delivered twice (a retrying server): recorded once.
		if err := smtp.SendMail(addr, nil, "cy@gamma.example", []string{"team@acme.example"}, reply); err != nil {
			t.Fatalf("delivering the reply again: %v", err)
		}
		ooo := rawMessage(
			"From: cy@gamma.example",
			"To: team@acme.example",
			"Subject: Automatic reply: Welcome",
			"Message-ID: <ooo-1@gamma.example>",
			"In-Reply-To: "+mid,
			"Auto-Submitted: auto-replied",
			"",
			"I am out of the office until Monday.",
		)
		if err := smtp.SendMail(addr, nil, "cy@gamma.example", []string{"team@acme.example"}, ooo); err != nil {
			t.Fatalf("delivering the automatic reply: %v", err)
		}
		bounce := rawMessage(
			"From: MAILER-DAEMON@gamma.example",
			"To: team@acme.example",
			"Subject: Undeliverable",
			"Message-ID: <dsn-1@gamma.example>",
			"In-Reply-To: "+mid,
			"",
			"stop",
		)
		if err := smtp.SendMail(addr, nil, "", []string{"team@acme.example"}, bounce); err != nil {
			t.Fatalf("delivering a bounce: %v", err)
		}
		err := smtp.SendMail(addr, nil, "spammer@evil.example", []string{"victim@elsewhere.example"}, reply)
		if code := smtpCode(err); code != 550 || !strings.Contains(err.Error(), "programme's domains") {
			t.Errorf("relaying to another domain: %v, want 550", err)
		}

		if n := tr.events(campaigns.EventReplied); n != 1 {
			t.Errorf("%d replies recorded, want 1 (the automatic reply and the bounce left out)", n)
		}
		var props, email string
		if err := tr.st.DB().QueryRow(`SELECT c.email, e.props FROM events e JOIN contacts c ON c.id = e.contact_id WHERE e.id = 'reply/<reply-1@gamma.example>'`).Scan(&email, &props); err != nil {
			t.Fatal(err)
		}
		if p := strings.ReplaceAll(props, " ", ""); email != "cy@gamma.example" || !strings.Contains(p, `"sequence":"welcome"`) || !strings.Contains(p, `"email":"emails/welcome/hello.md"`) {
			t.Errorf("the reply's event: %s %s", email, props)
		}
		if n := tr.count(`SELECT COUNT(*) FROM suppressions`); n != 0 {
			t.Errorf("%d suppressions: a bounce whose text reads \"stop\" unsubscribed", n)
		}
	})
}

// Mail to the List-Unsubscribe mailto: address unsubscribes its From as
// the one-click POST does: the suppression moves the opt-out serial, the
// event names the request's Message-ID, the next tick ends the
// enrollment and nothing more goes to the address. Only From is trusted:
// the addresses a message names in its text are not.
func TestServeInboundUnsubscribeMailto(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, tr *tracked) {
		addr := tr.smtpListener()
		var mailto string
		for _, u := range strings.Split(tr.mail["ann@acme.example"].Header.Get("List-Unsubscribe"), ",") {
			if u = strings.Trim(strings.TrimSpace(u), "<>"); strings.HasPrefix(u, "mailto:") {
				mailto, _, _ = strings.Cut(strings.TrimPrefix(u, "mailto:"), "?")
			}
		}
		if mailto != "unsubscribe@acme.example" {
			t.Fatalf("List-Unsubscribe %q has no mailto: of the programme", tr.mail["ann@acme.example"].Header.Get("List-Unsubscribe"))
		}
		serial := tr.count(`SELECT serial FROM optout_serial WHERE id = 1`)
		req := rawMessage(
			"From: Ann <Ann@Acme.example>",
			"To: "+mailto,
			"Subject: unsubscribe",
			"Message-ID: <unsub-1@acme.example>",
			"",
			"This message was sent by Ann's mail client to unsubscribe cy@gamma.example too.",
		)
		if err := smtp.SendMail(addr, nil, "ann@acme.example", []string{mailto}, req); err != nil {
			t.Fatalf("mailing the unsubscribe address: %v", err)
		}
		if n := tr.count(`SELECT COUNT(*) FROM suppressions WHERE email_key = 'ann@acme.example' AND reason = 'unsubscribed' AND source = 'mail'`); n != 1 {
			t.Errorf("Ann is not suppressed by mail (%d rows)", n)
		}
		if n := tr.count(`SELECT COUNT(*) FROM suppressions WHERE email_key <> 'ann@acme.example'`); n != 0 {
			t.Errorf("an address the text names was suppressed")
		}
		if tr.count(`SELECT serial FROM optout_serial WHERE id = 1`) == serial {
			t.Errorf("the opt-out serial did not move: delivery's last check would not see the unsubscribe")
		}
		var props string
		if err := tr.st.DB().QueryRow(`SELECT props FROM events WHERE name = 'email.unsubscribed'`).Scan(&props); err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(props), &p); err != nil || p["message_id"] != "<unsub-1@acme.example>" {
			t.Errorf("the unsubscribe event does not name the request's Message-ID: %s", props)
		}
		// A click on the page's undo cannot lift an unsubscribe asked for by
		// mail.
		resp, body := tr.do("POST", tr.link("ann@acme.example", track.Unsubscribe), "undo=1", "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "cannot be undone here") {
			t.Errorf("undo of a mail unsubscribe: %s\n%s", resp.Status, body)
		}
		o, e, code := run(t, "tick", "--now", "2026-11-30T15:00:00Z", "--sender", "file:"+t.TempDir(), tr.store)
		if code != 0 || !strings.Contains(o, "delivered: 1 accepted") {
			t.Errorf("tick after the unsubscribe: %s%s", o, e)
		}
		if n := tr.count(`SELECT COUNT(*) FROM enrollments e JOIN contacts c ON c.id = e.contact_id WHERE c.email = 'ann@acme.example' AND e.exit_reason = 'suppressed'`); n != 1 {
			t.Errorf("Ann's enrollment did not end as suppressed")
		}
		if n := tr.count(`SELECT COUNT(*) FROM sends s JOIN contacts c ON c.id = s.contact_id WHERE c.email = 'ann@acme.example'`); n != 1 {
			t.Errorf("%d sends to Ann, want only the welcome before the unsubscribe", n)
		}
	})
}

// A reply whose first line asks to unsubscribe unsubscribes the address
// the email went to, found through the send, whatever its From says; one
// that answers no send, or only mentions unsubscribing, unsubscribes
// nobody.
func TestServeInboundReplyAsksToUnsubscribe(t *testing.T) {
	t.Parallel()
	tr := newTracked(t)
	mid := tr.mail["cy@gamma.example"].Header.Get("Message-ID")
	post := func(raw []byte) (int, string) {
		resp, b := tr.do("POST", "/v1/inbound", string(raw), "Authorization", "Bearer s3cret-token", "Content-Type", "message/rfc822")
		return resp.StatusCode, b
	}
	for i, c := range []struct{ from, inReplyTo, text string }{
		{"someone@elsewhere.example", "<nothing@acme.example>", "Unsubscribe"},
		{"cy@gamma.example", mid, "Please don't unsubscribe me, I only want fewer emails."},
		{"cy@gamma.example", mid, "> stop\r\nThanks!"},
	} {
		raw := rawMessage("From: "+c.from, "To: team@acme.example", fmt.Sprintf("Message-ID: <keep-%d@x.example>", i), "In-Reply-To: "+c.inReplyTo, "", c.text)
		if code, b := post(raw); code != http.StatusOK || !strings.Contains(b, `"unsubscribed":0`) {
			t.Errorf("%q: %d %s, want nobody unsubscribed", c.text, code, b)
		}
	}
	// Cy's address forwards to a colleague, who answers from their own.
	raw := rawMessage("From: Dee <dee@gamma.example>", "To: team@acme.example", "Message-ID: <stop-1@gamma.example>", "In-Reply-To: "+mid,
		"Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable", "",
		"  STOP!  ", "", "On Mon, Nov 23, 2026 Acme wrote:", "> Welcome to Acme=2E")
	if code, b := post(raw); code != http.StatusOK || b != `{"recorded":1,"duplicate":0,"matched":1,"auto_replies":0,"unknown_address":0,"unsubscribed":1}`+"\n" {
		t.Errorf("a reply that asks to stop: %d %s", code, b)
	}
	if n := tr.count(`SELECT COUNT(*) FROM suppressions WHERE email_key = 'cy@gamma.example' AND source = 'mail'`); n != 1 {
		t.Errorf("cy@gamma.example, the address the email went to, is not suppressed")
	}
	if n := tr.count(`SELECT COUNT(*) FROM suppressions`); n != 1 {
		t.Errorf("%d suppressions, want cy's alone", n)
	}
}

// POST /v1/inbound reads raw MIME as the SMTP listener does: a multipart
// reply's text part, and a clear 400 naming what is wrong with a message
// it cannot read; an oversized one is refused whole, on HTTP and SMTP.
func TestServeInboundMIME(t *testing.T) {
	t.Parallel()
	tr := newTracked(t)
	mid := tr.mail["ann@acme.example"].Header.Get("Message-ID")
	post := func(raw []byte) (int, string) {
		resp, b := tr.do("POST", "/v1/inbound", string(raw), "Authorization", "Bearer s3cret-token")
		return resp.StatusCode, b
	}
	if resp, _ := tr.do("POST", "/v1/inbound", "From: a@b.example\r\n\r\nhi"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %s", resp.Status)
	}
	multi := rawMessage(
		"From: =?utf-8?q?Ann_M=C3=BCller?= <ann@acme.example>",
		"To: team@acme.example",
		"Subject: =?utf-8?q?Re:_Welcome?=",
		"Message-ID: <multi-1@acme.example>",
		"References: <older@acme.example> "+mid,
		"MIME-Version: 1.0",
		`Content-Type: multipart/mixed; boundary="outer"`,
		"",
		"--outer",
		`Content-Type: multipart/alternative; boundary="inner"`,
		"",
		"--inner",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: base64",
		"",
		"dW5zdWJzY3JpYmUNCg==",
		"--inner",
		"Content-Type: text/html; charset=utf-8",
		"",
		"<p>unsubscribe</p>",
		"--inner--",
		"--outer",
		"Content-Type: image/png",
		"Content-Disposition: attachment; filename=logo.png",
		"Content-Transfer-Encoding: base64",
		"",
		"iVBORw0KGgo=",
		"--outer--",
	)
	if code, b := post(multi); code != http.StatusOK || b != `{"recorded":1,"duplicate":0,"matched":1,"auto_replies":0,"unknown_address":0,"unsubscribed":1}`+"\n" {
		t.Errorf("a multipart reply: %d %s", code, b)
	}
	if n := tr.count(`SELECT COUNT(*) FROM events e JOIN contacts c ON c.id = e.contact_id WHERE e.id = 'reply/<multi-1@acme.example>' AND c.email = 'ann@acme.example'`); n != 1 {
		t.Errorf("the multipart reply is not recorded as Ann's")
	}
	for name, c := range map[string]struct {
		raw  []byte
		want string
	}{
		"no header":       {[]byte("just some text without a header"), "the message's header"},
		"no From":         {rawMessage("To: team@acme.example", "", "hi"), `header \"From\": missing`},
		"bad From":        {rawMessage("From: not an address", "", "hi"), `header \"From\"`},
		"bad To":          {rawMessage("From: a@b.example", "To: <<<", "", "hi"), `header \"To\"`},
		"no boundary":     {rawMessage("From: a@b.example", "Content-Type: multipart/mixed", "", "hi"), "multipart/mixed without a boundary parameter"},
		"bad type":        {rawMessage("From: a@b.example", "Content-Type: text/plain; charset", "", "hi"), `header \"Content-Type\"`},
		"wrong boundary":  {rawMessage("From: a@b.example", `Content-Type: multipart/mixed; boundary="x"`, "", "--y", "", "hi", "--y--"), "no parts"},
		"bad encoding":    {rawMessage("From: a@b.example", "Content-Transfer-Encoding: uuencode", "", "hi"), `header \"Content-Transfer-Encoding\": \"uuencode\"`},
		"bad base64":      {rawMessage("From: a@b.example", "Content-Transfer-Encoding: base64", "", "!!!not base64!!!"), "the text part's base64"},
		"bad part base64": {rawMessage("From: a@b.example", `Content-Type: multipart/mixed; boundary="b"`, "", "--b", "Content-Transfer-Encoding: base64", "", "%%%", "--b--"), "multipart/mixed part 1: the text part's base64"},
	} {
		code, b := post(c.raw)
		if code != http.StatusBadRequest || !strings.Contains(b, c.want) || !strings.Contains(b, "not a message nurture can read") {
			t.Errorf("%s: %d %s, want 400 naming %s", name, code, b, c.want)
		}
	}
	big := append(rawMessage("From: ann@acme.example", "To: team@acme.example", "Message-ID: <big@acme.example>", "In-Reply-To: "+mid, ""),
		bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), track.MaxInbound/64+1)...)
	if code, b := post(big); code != http.StatusRequestEntityTooLarge || !strings.Contains(b, "over 10485760 bytes") {
		t.Errorf("an oversized message: %d %s", code, b)
	}
	err := smtp.SendMail(tr.smtpListener(), nil, "ann@acme.example", []string{"team@acme.example"}, big)
	if code := smtpCode(err); code != 552 {
		t.Errorf("an oversized message over SMTP: %v, want 552", err)
	}
	if n := tr.count(`SELECT COUNT(*) FROM events WHERE id = 'reply/<big@acme.example>'`); n != 0 {
		t.Errorf("the oversized message was recorded")
	}
}

// nurture serve --smtp-listen takes a reply over SMTP beside its HTTP
// server, and stops both when asked.
func TestServeSMTPListen(t *testing.T) {
	t.Parallel()
	tr := newTracked(t)
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	httpAddr, smtpAddr := free(), free()
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, &log, serveFlags{store: strings.TrimPrefix(tr.store, "--store="), listen: httpAddr, smtpListen: smtpAddr,
			refresh: time.Minute, keepUnknown: "30d"})
	}()
	var c *smtp.Client
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		conn, err := net.Dial("tcp", smtpAddr)
		if err == nil {
			if c, err = smtp.NewClient(conn, "127.0.0.1"); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not listen on %s: %v\n%s", smtpAddr, <-done, log.String())
		}
	}
	mid := tr.mail["ann@acme.example"].Header.Get("Message-ID")
	for _, step := range []func() error{
		func() error { return c.Hello("mail.acme.example") },
		func() error { return c.Mail("ann@acme.example") },
		func() error { return c.Rcpt("team@acme.example") },
		func() error {
			w, err := c.Data()
			if err != nil {
				return err
			}
			w.Write(rawMessage("From: ann@acme.example", "To: team@acme.example", "Message-ID: <served-1@acme.example>", "In-Reply-To: "+mid, "", "Yes, let's talk."))
			return w.Close()
		},
		c.Quit,
	} {
		if err := step(); err != nil {
			t.Fatalf("SMTP: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, log.String())
	}
	if n := tr.count(`SELECT COUNT(*) FROM events WHERE id = 'reply/<served-1@acme.example>'`); n != 1 {
		t.Errorf("the reply over serve's SMTP listener is not recorded")
	}
	if !strings.Contains(log.String(), "taking inbound mail") || !strings.Contains(log.String(), `"domains":"acme.example"`) {
		t.Errorf("serve's log does not say where it takes mail:\n%s", log.String())
	}
}
