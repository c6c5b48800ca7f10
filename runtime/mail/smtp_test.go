package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
)

// What arrives is what was meant: parsed back with the standard library.
func TestSMTPDeliversMessageIntact(t *testing.T) {
	ts := (&testServer{}).start(t, "plain")
	s, _ := newSender(t, ts.url(""), nil)

	long := strings.Repeat("0123456789", 200) // one 2000-character line
	o := testOutgoing("intact", "Lead Person <lead@example.com>")
	o.Subject = "Grüße aus Köln\r\nBcc: x@evil.example"
	o.Text = "Hi Ada,\n.a line that starts with a dot\n.\n..two dots\n" + long + "\nbye\n"
	o.HTML = "<p>Grüße</p>\n.<b>dot</b>\n<p>" + long + "</p>\n"
	if err := s.Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := ts.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	r := got[0]
	if r.from != "ada@sender.example" || r.to != "lead@example.com" {
		t.Errorf("envelope %q → %q, want ada@sender.example → lead@example.com", r.from, r.to)
	}
	for i, line := range strings.Split(string(r.data), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d octets long; RFC 5322 allows 998", i+1, len(line))
		}
	}
	// The dot lines must have crossed the wire as lines that start with
	// a dot, or the test would not exercise dot-stuffing.
	if !bytes.Contains(r.data, []byte("\r\n.a line that starts with a dot\r\n")) || !bytes.Contains(r.data, []byte("\r\n.\r\n")) {
		t.Errorf("the lines starting with a dot were encoded, not sent as they are:\n%s", r.data)
	}

	msg, err := netmail.ReadMessage(bytes.NewReader(r.data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if _, ok := h["Bcc"]; ok {
		t.Errorf("a Bcc header came through the subject: %q", h["Bcc"])
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Grüße aus Köln Bcc: x@evil.example"; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	if raw := h.Get("Subject"); strings.ContainsFunc(raw, func(r rune) bool { return r > 127 }) {
		t.Errorf("subject not RFC 2047-encoded: %q", raw)
	}
	from, err := (&netmail.AddressParser{WordDecoder: &dec}).Parse(h.Get("From"))
	if err != nil || from.Name != "Ada Émile" || from.Address != "ada@sender.example" {
		t.Errorf("From %q parses to %v, %v", h.Get("From"), from, err)
	}
	for name, want := range map[string]string{
		"Message-Id":            "<" + MessageID("intact", "ada@sender.example") + ">",
		"List-Unsubscribe":      "<mailto:unsub@sender.example?subject=unsubscribe>, <https://sender.example/u/intact>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"Mime-Version":          "1.0",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}

	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for _, want := range []struct{ typ, body string }{{"text/plain", o.Text}, {"text/html", o.HTML}} {
		p, err := mr.NextPart() // decodes quoted-printable
		if err != nil {
			t.Fatalf("part %s: %v", want.typ, err)
		}
		typ, ps, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil || typ != want.typ || !strings.EqualFold(ps["charset"], "utf-8") {
			t.Errorf("part Content-Type %q, want %s; charset=UTF-8", p.Header.Get("Content-Type"), want.typ)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != want.body {
			t.Errorf("%s body (-want +got):\n%s", want.typ, cmp.Diff(want.body, got))
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("a third part, or a broken end: %v", err)
	}
}

// Deferrals, and connections lost before the message was whole, are
// retried inside Send with a growing backoff, and then accepted.
func TestSMTPRetriesDeferrals(t *testing.T) {
	tests := []struct {
		name      string
		fault     func(ts *testServer)
		wantConns int32 // 421 and lost connections are dialled anew
	}{
		{"421 at RCPT twice", func(ts *testServer) {
			ts.rcpt = func(n int, _ string) error {
				if n <= 2 {
					return smtpErr(421, [3]int{4, 3, 2}, "Too busy, come back later")
				}
				return nil
			}
		}, 3},
		{"450 at RCPT twice", func(ts *testServer) {
			ts.rcpt = func(n int, _ string) error {
				if n <= 2 {
					return smtpErr(450, [3]int{4, 2, 1}, "Mailbox busy")
				}
				return nil
			}
		}, 1},
		{"451 after DATA twice", func(ts *testServer) {
			ts.data = func(n int, _ *gosmtp.Conn, _ []byte) error {
				if n <= 2 {
					return smtpErr(451, [3]int{4, 3, 0}, "Queue trouble")
				}
				return nil
			}
		}, 1},
		{"421 after DATA twice", func(ts *testServer) {
			ts.data = func(n int, _ *gosmtp.Conn, _ []byte) error {
				if n <= 2 {
					return smtpErr(421, [3]int{4, 3, 2}, "Shutting down")
				}
				return nil
			}
		}, 3},
		{"connection dropped at RCPT twice", func(ts *testServer) {
			ts.rcpt = func(n int, _ string) error {
				if n <= 2 {
					return errDrop
				}
				return nil
			}
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := &testServer{}
			tt.fault(ts)
			ts.start(t, "plain")
			s, slept := newSender(t, ts.url("retries=3"), nil)
			if err := s.Send(context.Background(), testOutgoing("retry", "lead@example.com")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := len(ts.received()); got != 1 {
				t.Errorf("server accepted %d messages, want 1", got)
			}
			if got := ts.conns.Load(); got != tt.wantConns {
				t.Errorf("%d connections, want %d", got, tt.wantConns)
			}
			// Full jitter picks up to 500ms, then up to 1s; the test's
			// jitter picks the longest.
			want := []time.Duration{500*time.Millisecond - 1, time.Second - 1}
			if diff := cmp.Diff(want, slept.all()); diff != "" {
				t.Errorf("backoffs (-want +got):\n%s", diff)
			}
		})
	}
}

// A deferral that outlasts the attempts is Temporary, with the server's
// codes.
func TestSMTPGivesUpOnDeferralAsTemporary(t *testing.T) {
	ts := &testServer{rcpt: func(int, string) error { return smtpErr(450, [3]int{4, 2, 1}, "Mailbox busy") }}
	ts.start(t, "plain")
	s, slept := newSender(t, ts.url("retries=3"), nil)
	err := s.Send(context.Background(), testOutgoing("busy", "lead@example.com"))
	se := sendError(t, err)
	if se.Kind != Temporary || se.Code != 450 || se.Enhanced != "4.2.1" || se.Recipient {
		t.Errorf("got %+v, want Temporary 450 4.2.1, not the recipient's fault", se)
	}
	if _, rcpt, _ := ts.counts(); rcpt != 3 {
		t.Errorf("%d RCPT TO, want 3 (retries=3)", rcpt)
	}
	if n := len(slept.all()); n != 2 {
		t.Errorf("%d backoffs, want 2", n)
	}
	if !containsAll(err.Error(), "attempt 3 of 3", "RCPT TO", "450 4.2.1 Mailbox busy") {
		t.Errorf("error %q does not say what happened", err)
	}
}

// One refused address among many is that message's hard bounce and no
// other's; the connections go on being used.
func TestSMTPHardBounceAmongBatch(t *testing.T) {
	ts := &testServer{rcpt: func(_ int, to string) error {
		if to == "gone@example.com" {
			return smtpErr(550, [3]int{5, 1, 1}, "No such user")
		}
		return nil
	}}
	ts.start(t, "plain")
	s, _ := newSender(t, ts.url("pool=2"), nil)
	to := []string{"a@example.com", "b@example.com", "gone@example.com", "c@example.com", "d@example.com",
		"e@example.com", "f@example.com", "g@example.com", "h@example.com", "i@example.com"}
	errs := make([]error, len(to))
	var wg sync.WaitGroup
	for i := range to {
		wg.Go(func() { errs[i] = s.Send(context.Background(), testOutgoing(to[i], to[i])) })
	}
	wg.Wait()
	for i, err := range errs {
		if to[i] != "gone@example.com" {
			if err != nil {
				t.Errorf("%s: %v", to[i], err)
			}
			continue
		}
		se := sendError(t, err)
		if se.Kind != Permanent || !se.Recipient || se.Code != 550 || se.Enhanced != "5.1.1" {
			t.Errorf("%s: %+v, want Permanent 550 5.1.1 for the recipient", to[i], se)
		}
	}
	if got := len(ts.received()); got != len(to)-1 {
		t.Errorf("server accepted %d, want %d", got, len(to)-1)
	}
	if got := ts.conns.Load(); got > 2 {
		t.Errorf("%d connections for a pool of 2", got)
	}
	if _, rcpt, _ := ts.counts(); rcpt != len(to) {
		t.Errorf("%d RCPT TO for %d messages: a refusal was retried", rcpt, len(to))
	}
}

// 5xx is Permanent, never retried; a hard bounce only when RCPT TO
// refused the address itself.
func TestSMTPRefusals(t *testing.T) {
	tests := []struct {
		name          string
		fault         func(ts *testServer)
		wantCode      int
		wantEnhanced  string
		wantRecipient bool
	}{
		{"unknown user at RCPT", func(ts *testServer) {
			ts.rcpt = func(int, string) error { return smtpErr(550, [3]int{5, 1, 1}, "No such user") }
		}, 550, "5.1.1", true},
		{"mailbox disabled at RCPT", func(ts *testServer) {
			ts.rcpt = func(int, string) error { return smtpErr(550, [3]int{5, 2, 1}, "Mailbox disabled") }
		}, 550, "5.2.1", true},
		{"relay denied at RCPT", func(ts *testServer) {
			ts.rcpt = func(int, string) error { return smtpErr(554, [3]int{5, 7, 1}, "Relay access denied") }
		}, 554, "5.7.1", false},
		{"mailbox full at RCPT", func(ts *testServer) {
			ts.rcpt = func(int, string) error { return smtpErr(552, [3]int{5, 2, 2}, "Mailbox full") }
		}, 552, "5.2.2", false},
		{"sender refused at MAIL", func(ts *testServer) {
			ts.mail = func(int) error { return smtpErr(553, [3]int{5, 1, 8}, "Sender domain unknown") }
		}, 553, "5.1.8", false},
		{"message refused after DATA", func(ts *testServer) {
			ts.data = func(int, *gosmtp.Conn, []byte) error { return smtpErr(554, [3]int{5, 7, 1}, "Looks like spam") }
		}, 554, "5.7.1", false},
		{"bad address after DATA", func(ts *testServer) {
			ts.data = func(int, *gosmtp.Conn, []byte) error { return smtpErr(550, [3]int{5, 1, 1}, "No such user") }
		}, 550, "5.1.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := &testServer{}
			tt.fault(ts)
			ts.start(t, "plain")
			s, slept := newSender(t, ts.url("retries=3&pool=1"), nil)
			se := sendError(t, s.Send(context.Background(), testOutgoing("refused", "lead@example.com")))
			want := SendError{Kind: Permanent, Code: tt.wantCode, Enhanced: tt.wantEnhanced, Recipient: tt.wantRecipient}
			if got := (SendError{Kind: se.Kind, Code: se.Code, Enhanced: se.Enhanced, Recipient: se.Recipient}); got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if n := len(slept.all()); n != 0 {
				t.Errorf("a refusal was retried %d times", n)
			}
			// The session survives a refusal (RSET): the next message
			// goes over the same connection.
			ts.mu.Lock()
			ts.rcpt, ts.mail, ts.data = nil, nil, nil
			ts.mu.Unlock()
			if err := s.Send(context.Background(), testOutgoing("next", "lead@example.com")); err != nil {
				t.Fatal(err)
			}
			if got := ts.conns.Load(); got != 1 {
				t.Errorf("%d connections, want 1: the connection was not reused after the refusal", got)
			}
		})
	}
}

// The connection lost after the message went out whole, before the
// server's reply: Unknown, never sent again.
func TestSMTPLostAfterDataIsUnknown(t *testing.T) {
	ts := &testServer{data: func(_ int, c *gosmtp.Conn, _ []byte) error {
		c.Conn().Close() // the server has the message and dies before replying
		return nil
	}}
	ts.start(t, "plain")
	s, slept := newSender(t, ts.url("retries=3"), nil)
	err := s.Send(context.Background(), testOutgoing("lost", "lead@example.com"))
	se := sendError(t, err)
	if se.Kind != Unknown {
		t.Fatalf("got %v, want Unknown", err)
	}
	if got := len(ts.received()); got != 1 {
		t.Errorf("the server took %d messages; the test means it to have taken the one", got)
	}
	if _, _, data := ts.counts(); data != 1 || len(slept.all()) != 0 {
		t.Errorf("%d messages handed over, %d backoffs: an Unknown was retried", data, len(slept.all()))
	}
	if !strings.Contains(err.Error(), "may have been delivered") {
		t.Errorf("error %q does not say the message may have gone", err)
	}
	// The pool recovers: the next message goes over a new connection.
	ts.mu.Lock()
	ts.data = nil
	ts.mu.Unlock()
	if err := s.Send(context.Background(), testOutgoing("after", "lead@example.com")); err != nil {
		t.Fatal(err)
	}
}

// A server that stops answering costs at most the timeout, and the kind
// says whether the message may have gone.
func TestSMTPHangingServer(t *testing.T) {
	t.Run("silent from the start", func(t *testing.T) {
		addr := silentServer(t)
		s, _ := newSender(t, "smtp://"+addr+"?tls=none&timeout=200ms&retries=1", nil)
		err := sendWithin(t, context.Background(), s, testOutgoing("silent", "lead@example.com"), 10*time.Second)
		if se := sendError(t, err); se.Kind != Temporary || !strings.Contains(err.Error(), "no answer within 200ms") {
			t.Errorf("got %v, want Temporary after no answer within 200ms", err)
		}
	})
	t.Run("stops at RCPT", func(t *testing.T) {
		ts := &testServer{}
		ts.rcpt = func(int, string) error { <-ts.release; return nil }
		ts.start(t, "plain")
		s, _ := newSender(t, ts.url("timeout=200ms&retries=1"), nil)
		err := sendWithin(t, context.Background(), s, testOutgoing("rcpt", "lead@example.com"), 10*time.Second)
		if se := sendError(t, err); se.Kind != Temporary {
			t.Errorf("got %v, want Temporary", err)
		}
	})
	t.Run("stops after the message", func(t *testing.T) {
		ts := &testServer{}
		ts.data = func(int, *gosmtp.Conn, []byte) error { <-ts.release; return nil }
		ts.start(t, "plain")
		s, slept := newSender(t, ts.url("timeout=200ms&retries=3"), nil)
		err := sendWithin(t, context.Background(), s, testOutgoing("data", "lead@example.com"), 10*time.Second)
		if se := sendError(t, err); se.Kind != Unknown {
			t.Errorf("got %v, want Unknown", err)
		}
		if _, _, data := ts.counts(); data != 1 || len(slept.all()) != 0 {
			t.Errorf("%d messages handed over, %d backoffs: an Unknown was retried", data, len(slept.all()))
		}
	})
	t.Run("cancelled while silent", func(t *testing.T) {
		addr := silentServer(t)
		s, _ := newSender(t, "smtp://"+addr+"?tls=none&timeout=1m&retries=3", nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		err := sendWithin(t, ctx, s, testOutgoing("cancel", "lead@example.com"), 10*time.Second)
		if se := sendError(t, err); se.Kind != Temporary || !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want Temporary, cancelled", err)
		}
	})
	t.Run("cancelled awaiting the reply", func(t *testing.T) {
		ts := &testServer{}
		inData := make(chan struct{})
		ts.data = func(int, *gosmtp.Conn, []byte) error { close(inData); <-ts.release; return nil }
		ts.start(t, "plain")
		s, _ := newSender(t, ts.url("timeout=1m"), nil)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-inData; cancel() }()
		err := sendWithin(t, ctx, s, testOutgoing("cancel", "lead@example.com"), 10*time.Second)
		if se := sendError(t, err); se.Kind != Unknown || !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want Unknown, cancelled", err)
		}
	})
}

func TestSMTPTLS(t *testing.T) {
	t.Run("STARTTLS", func(t *testing.T) {
		ts := (&testServer{}).start(t, "starttls")
		s, _ := newSender(t, ts.url(""), nil)
		if err := s.Send(context.Background(), testOutgoing("starttls", "lead@example.com")); err != nil {
			t.Fatal(err)
		}
		if got := ts.received(); len(got) != 1 || !got[0].tls {
			t.Errorf("received %d messages, first over TLS: %v", len(got), len(got) > 0 && got[0].tls)
		}
	})
	t.Run("implicit TLS", func(t *testing.T) {
		ts := (&testServer{}).start(t, "tls")
		s, _ := newSender(t, ts.url(""), nil)
		if err := s.Send(context.Background(), testOutgoing("smtps", "lead@example.com")); err != nil {
			t.Fatal(err)
		}
		if got := ts.received(); len(got) != 1 || !got[0].tls {
			t.Errorf("received %d messages, first over TLS: %v", len(got), len(got) > 0 && got[0].tls)
		}
	})
	t.Run("certificate verified against trusted roots", func(t *testing.T) {
		ts := (&testServer{}).start(t, "starttls")
		s, _ := newSender(t, strings.Replace(ts.url(""), "insecure=true", "insecure=false", 1), nil)
		s.tlsConfig.RootCAs = ts.roots
		if err := s.Send(context.Background(), testOutgoing("verified", "lead@example.com")); err != nil {
			t.Fatal(err)
		}
	})
	for _, mode := range []string{"starttls", "tls"} {
		t.Run("untrusted certificate over "+mode, func(t *testing.T) {
			ts := (&testServer{}).start(t, mode)
			s, slept := newSender(t, strings.Replace(ts.url("retries=3"), "insecure=true", "insecure=false", 1), nil)
			err := s.Send(context.Background(), testOutgoing("untrusted", "lead@example.com"))
			if se := sendError(t, err); se.Kind != Permanent || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("got %v, want Permanent about the certificate", err)
			}
			if len(slept.all()) != 0 {
				t.Errorf("retried a certificate that will not become trusted")
			}
		})
	}
	t.Run("STARTTLS required, not offered", func(t *testing.T) {
		ts := (&testServer{}).start(t, "plain")
		s, _ := newSender(t, strings.Replace(ts.url(""), "tls=none", "tls=starttls", 1), nil)
		err := s.Send(context.Background(), testOutgoing("cleartext", "lead@example.com"))
		if se := sendError(t, err); se.Kind != Permanent || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("got %v, want Permanent about STARTTLS", err)
		}
		if len(ts.received()) != 0 {
			t.Error("the message went in the clear")
		}
	})
	t.Run("TLS spoken to a plain-text server", func(t *testing.T) {
		ts := (&testServer{}).start(t, "plain")
		s, _ := newSender(t, fmt.Sprintf("smtps://%s:%d?insecure=true&retries=3", ts.host, ts.port), nil)
		err := s.Send(context.Background(), testOutgoing("mismatch", "lead@example.com"))
		if se := sendError(t, err); se.Kind != Permanent {
			t.Errorf("got %v, want Permanent", err)
		}
	})
}

func TestSMTPAuth(t *testing.T) {
	env := map[string]string{EnvSMTPPassword: "s3cret"}
	t.Run("right password", func(t *testing.T) {
		ts := (&testServer{user: "ada", pass: "s3cret"}).start(t, "starttls")
		s, _ := newSender(t, strings.Replace(ts.url(""), "://", "://ada@", 1), env)
		if err := s.Send(context.Background(), testOutgoing("auth", "lead@example.com")); err != nil {
			t.Fatal(err)
		}
		if got := ts.received(); len(got) != 1 || got[0].user != "ada" {
			t.Errorf("received %+v, want one message from user ada", got)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		ts := (&testServer{user: "ada", pass: "other"}).start(t, "starttls")
		s, slept := newSender(t, strings.Replace(ts.url("retries=3"), "://", "://ada@", 1), env)
		err := s.Send(context.Background(), testOutgoing("auth", "lead@example.com"))
		se := sendError(t, err)
		if se.Kind != Permanent || se.Code != 535 || se.Recipient {
			t.Errorf("got %v, want Permanent 535, not the recipient's fault", err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
		if got := ts.conns.Load(); got != 1 || len(slept.all()) != 0 {
			t.Errorf("%d connections, %d backoffs: a refused login was retried", got, len(slept.all()))
		}
	})
	t.Run("no credentials where the server wants them", func(t *testing.T) {
		ts := (&testServer{user: "ada", pass: "s3cret"}).start(t, "starttls")
		s, _ := newSender(t, ts.url(""), nil)
		se := sendError(t, s.Send(context.Background(), testOutgoing("auth", "lead@example.com")))
		if se.Kind != Permanent || se.Code != 530 || se.Recipient {
			t.Errorf("got %+v, want Permanent 530, not the recipient's fault", se)
		}
	})
}

// Connections are dialled once and reused: N messages over a pool of 2
// use 2 connections.
func TestSMTPReusesConnections(t *testing.T) {
	// The first two messages wait for each other at DATA, so both
	// connections are open at once; the rest flow freely.
	var once sync.Once
	both := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(2)
	ts := &testServer{data: func(n int, _ *gosmtp.Conn, _ []byte) error {
		if n <= 2 {
			arrived.Done()
			once.Do(func() { go func() { arrived.Wait(); close(both) }() })
			select {
			case <-both:
			case <-time.After(5 * time.Second):
				return errors.New("the second connection never came")
			}
		}
		return nil
	}}
	ts.start(t, "plain")
	s, _ := newSender(t, ts.url("pool=2"), nil)
	if s.Concurrency() != 2 {
		t.Errorf("Concurrency() = %d, want the pool's 2", s.Concurrency())
	}
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := "reuse-" + string(rune('a'+i))
			errs <- s.Send(context.Background(), testOutgoing(key, key+"@example.com"))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := len(ts.received()); got != n {
		t.Errorf("server accepted %d, want %d", got, n)
	}
	if got := ts.conns.Load(); got != 2 {
		t.Errorf("%d connections for %d messages over a pool of 2, want 2", got, n)
	}
}

// A pooled connection the server has closed while idle is dialled again
// without costing an attempt.
func TestSMTPRedialsStaleConnection(t *testing.T) {
	for _, how := range []string{"closed silently", "closed with 421"} {
		t.Run(how, func(t *testing.T) {
			ts := &testServer{afterMessage: func(n int, c *gosmtp.Conn) {
				if n == 1 {
					if how == "closed with 421" {
						io.WriteString(c.Conn(), "421 4.4.2 localhost Error: timeout exceeded\r\n")
					}
					c.Conn().Close()
				}
			}}
			ts.start(t, "plain")
			s, _ := newSender(t, ts.url("retries=1&pool=1"), nil)
			for _, key := range []string{"first", "second"} {
				if err := s.Send(context.Background(), testOutgoing(key, "lead@example.com")); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
			}
			if got := ts.conns.Load(); got != 2 {
				t.Errorf("%d connections, want 2", got)
			}
		})
	}
}

// Rates are kept by the sender's clock: a fake one shows the waits
// exactly.
func TestSMTPRateLimits(t *testing.T) {
	ts := (&testServer{}).start(t, "plain")
	fake := func(s *SMTP) *[]time.Duration {
		var mu sync.Mutex
		now := time.Unix(1_700_000_000, 0)
		var waits []time.Duration
		s.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		s.sleep = func(ctx context.Context, d time.Duration) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(d)
			waits = append(waits, d)
			return nil
		}
		return &waits
	}
	near := func(got []time.Duration, want ...time.Duration) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if d := got[i] - want[i]; d < -time.Microsecond || d > time.Microsecond {
				return false
			}
		}
		return true
	}
	ms := time.Millisecond

	t.Run("global", func(t *testing.T) {
		s, _ := newSender(t, ts.url("rate=10/s"), nil)
		waits := fake(s)
		for i := range 5 {
			if err := s.Send(context.Background(), testOutgoing("g", "lead@example.com")); err != nil {
				t.Fatal(i, err)
			}
		}
		if !near(*waits, 100*ms, 100*ms, 100*ms, 100*ms) {
			t.Errorf("waits %v, want 4 × 100ms for 5 messages at 10/s", *waits)
		}
	})
	t.Run("per minute", func(t *testing.T) {
		s, _ := newSender(t, ts.url("rate=30/m"), nil)
		waits := fake(s)
		for range 3 {
			if err := s.Send(context.Background(), testOutgoing("m", "lead@example.com")); err != nil {
				t.Fatal(err)
			}
		}
		if !near(*waits, 2*time.Second, 2*time.Second) {
			t.Errorf("waits %v, want 2 × 2s for 3 messages at 30/m", *waits)
		}
	})
	t.Run("per recipient domain", func(t *testing.T) {
		s, _ := newSender(t, ts.url("domain_rate=slow.example:2/s"), nil)
		waits := fake(s)
		for _, to := range []string{"a@slow.example", "a@fast.example", "b@SLOW.example", "b@fast.example", "c@slow.example", "c@fast.example"} {
			if err := s.Send(context.Background(), testOutgoing("d", to)); err != nil {
				t.Fatal(err)
			}
		}
		if !near(*waits, 500*ms, 500*ms) {
			t.Errorf("waits %v, want 2 × 500ms: only the 2nd and 3rd message to slow.example wait", *waits)
		}
	})
	t.Run("a cancelled wait gives its place back", func(t *testing.T) {
		s, _ := newSender(t, ts.url("rate=1/s"), nil)
		waits := fake(s)
		if err := s.Send(context.Background(), testOutgoing("c1", "lead@example.com")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := s.Send(ctx, testOutgoing("c2", "lead@example.com"))
		if se := sendError(t, err); se.Kind != Temporary || !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want Temporary, cancelled", err)
		}
		if err := s.Send(context.Background(), testOutgoing("c3", "lead@example.com")); err != nil {
			t.Fatal(err)
		}
		if !near(*waits, time.Second) {
			t.Errorf("waits %v, want one of 1s: the cancelled message's place was not given back", *waits)
		}
	})
}

func TestSMTPClose(t *testing.T) {
	ts := (&testServer{}).start(t, "plain")
	s, _ := newSender(t, ts.url("pool=3"), nil)
	if err := s.Send(context.Background(), testOutgoing("before", "lead@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	err := s.Send(context.Background(), testOutgoing("after", "lead@example.com"))
	if se := sendError(t, err); se.Kind != Temporary || !errors.Is(err, errSMTPClosed) {
		t.Errorf("Send after Close: %v, want Temporary, closed", err)
	}
	if got := len(ts.received()); got != 1 {
		t.Errorf("server received %d, want 1", got)
	}
}

// A message that cannot be built fails the same way every time.
func TestSMTPBadOutgoingIsPermanent(t *testing.T) {
	s, _ := newSender(t, "smtp://127.0.0.1:1?tls=none", nil)
	err := s.Send(context.Background(), testOutgoing("bad", "not an address"))
	if err == nil || KindOf(err) != Permanent {
		t.Errorf("got %v, want a Permanent error", err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code      int
		enhanced  string
		recipient bool
	}{
		{550, "5.1.1", true},
		{550, "5.1.10", true},
		{553, "5.1.3", true},
		{550, "5.1.7", false},
		{550, "5.1.8", false},
		{550, "5.2.1", true},
		{552, "5.2.2", false},
		{554, "5.7.1", false},
		{550, "5.7.1", false},
		{550, "", true},
		{550, "5.0.0", true},
		{551, "", true},
		{553, "", true},
		{554, "", false},
		{554, "5.0.0", false},
		{530, "", false},
	}
	for _, tt := range tests {
		if got := recipientFault(tt.code, tt.enhanced); got != tt.recipient {
			t.Errorf("recipientFault(%d, %q) = %v, want %v", tt.code, tt.enhanced, got, tt.recipient)
		}
	}
	for msg, want := range map[string]string{
		"5.1.1 No such user": "5.1.1",
		"4.7.0 Try later":    "4.7.0",
		"5.1.10 null MX":     "5.1.10",
		"No such user":       "",
		"5.1 short":          "",
		"6.1.1 bad class":    "",
		"5.x.1 bad":          "",
		"":                   "",
	} {
		if got := enhancedCode(msg); got != want {
			t.Errorf("enhancedCode(%q) = %q, want %q", msg, got, want)
		}
	}
}

// TestComposeKeepsEncodedWordsLiteral: contact data that looks like an
// RFC 2047 encoded word reaches the reader as the text it is, not as
// what a client would decode it to.
func TestComposeKeepsEncodedWordsLiteral(t *testing.T) {
	for _, subject := range []string{
		"Hi =?utf-8?q?Your_CEO?=, a word",
		"=?UTF-8?B?U2VjdXJpdHkgYWxlcnQ=?=",
		strings.Repeat("Grüße =?x?q?y?= ", 12),
		"Plain subject, no words",
	} {
		o := &Outgoing{Key: "k", FromName: "Acme =?utf-8?q?Bank?=", From: "news@acme.example", To: "ann@example.com", Subject: subject, Text: "hi", Date: time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)}
		m, err := Compose(o)
		if err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		if _, err := m.WriteTo(&raw); err != nil {
			t.Fatal(err)
		}
		msg, err := netmail.ReadMessage(&raw)
		if err != nil {
			t.Fatal(err)
		}
		var dec mime.WordDecoder
		got, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(OneLine(subject), got); diff != "" {
			t.Errorf("the subject as a client shows it (-want +got):\n%s\nheader: %q", diff, msg.Header.Get("Subject"))
		}
		from, err := msg.Header.AddressList("From")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff("Acme =?utf-8?q?Bank?=", from[0].Name); diff != "" {
			t.Errorf("the sender's name as a client shows it (-want +got):\n%s", diff)
		}
	}
}

// TestSMTPGateWithholdsAtTheLastMoment: the Gate is asked after the
// server took DATA, and a refusal leaves the server without the message;
// the next message goes out over a new connection.
func TestSMTPGateWithholdsAtTheLastMoment(t *testing.T) {
	ts := (&testServer{}).start(t, "plain")
	s, _ := newSender(t, ts.url(""), nil)
	var asked []string
	optedOut := errors.New("lead@example.com unsubscribed")
	o := testOutgoing("withheld", "Lead Person <lead@example.com>")
	o.Gate = func(context.Context) error {
		mails, rcpts, _ := ts.counts()
		asked = append(asked, fmt.Sprintf("asked after %d MAIL and %d RCPT", mails, rcpts))
		return optedOut
	}
	err := s.Send(context.Background(), o)
	var wh *Withheld
	if !errors.As(err, &wh) || !errors.Is(err, optedOut) || KindOf(err) != KindWithheld {
		t.Fatalf("Send = %v, want it withheld for the opt-out", err)
	}
	next := testOutgoing("next", "Other <other@example.com>")
	next.Gate = func(context.Context) error { return nil }
	if err := s.Send(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range ts.received() {
		got = append(got, r.to)
	}
	if diff := cmp.Diff([]string{"other@example.com"}, got); diff != "" {
		t.Errorf("messages the server took (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"asked after 1 MAIL and 1 RCPT"}, asked); diff != "" {
		t.Errorf("when the gate was asked (-want +got):\n%s", diff)
	}
}

// Mail from an account owner's address goes out from and replies to
// that address, and keeps the Message-ID the claim stored, which takes
// the programme's domain (IDFrom): a bounce still finds its send.
func TestSMTPSendsFromAnOwner(t *testing.T) {
	ts := (&testServer{}).start(t, "plain")
	s, _ := newSender(t, ts.url(""), nil)
	o := testOutgoing("owned", "lead@example.com")
	o.FromName, o.From, o.ReplyTo, o.IDFrom = "Dana Ortiz", "dana@owner.example", "dana@owner.example", "ada@sender.example"
	if err := s.Send(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := ts.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if got[0].from != "dana@owner.example" {
		t.Errorf("envelope sender %q, want the owner's dana@owner.example", got[0].from)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(got[0].data))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"From":       `"Dana Ortiz" <dana@owner.example>`,
		"Reply-To":   "<dana@owner.example>",
		"Message-Id": "<" + MessageID("owned", "ada@sender.example") + ">",
	} {
		if got := msg.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if o.MessageID() != MessageID("owned", "ada@sender.example") {
		t.Errorf("Outgoing.MessageID() = %q; want the programme domain's", o.MessageID())
	}
}
