package track

import (
	"net/mail"
	"strings"
	"testing"
)

func TestAutoReply(t *testing.T) {
	for _, c := range []struct {
		name            string
		header, subject string
		auto, report    bool
	}{
		{"a person's reply", "", "Re: Welcome", false, false},
		{"Auto-Submitted: no is a person's", "Auto-Submitted: no", "Re: Welcome", false, false},
		{"Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied", "Re: Welcome", true, false},
		{"Auto-Submitted with a parameter", "Auto-Submitted: Auto-Generated; owner-email=a@b.example", "", true, false},
		{"X-Autoreply", "X-Autoreply: yes", "Re: Welcome", true, false},
		{"X-Autorespond", "X-Autorespond: on", "Re: Welcome", true, false},
		{"Precedence: bulk", "Precedence: bulk", "Re: Welcome", true, false},
		{"Precedence: auto_reply", "Precedence: auto_reply", "Re: Welcome", true, false},
		{"Precedence: first-class is a person's", "Precedence: first-class", "Re: Welcome", false, false},
		{"an Outlook out-of-office subject", "", "Automatic reply: Welcome", true, false},
		{"an out-of-office subject", "", "Out of Office: back Monday", true, false},
		{"a subject that only mentions the office", "", "Re: our office in Berlin", false, false},
		{"a delivery report", "Content-Type: multipart/report; report-type=delivery-status; boundary=x", "Undelivered", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := mail.ReadMessage(strings.NewReader(c.header + "\r\n\r\n"))
			if c.header == "" {
				m, err = mail.ReadMessage(strings.NewReader("\r\n"))
			}
			if err != nil {
				t.Fatal(err)
			}
			auto, report := autoReply(m.Header, c.subject)
			if auto != c.auto || report != c.report {
				t.Errorf("autoReply = %v, %v; want %v, %v", auto, report, c.auto, c.report)
			}
		})
	}
}

func TestUnsubscribeAsks(t *testing.T) {
	for text, want := range map[string]bool{
		"unsubscribe":                            true,
		"Unsubscribe.\r\n\r\nSent from my phone": true,
		"\r\n\r\n  STOP!  \r\n> quoted":          true,
		"Please remove me from your list":        true,
		"please, unsubscribe me":                 true,
		"Opt out":                                true,
		"Don't unsubscribe me, I want fewer":     false,
		"Thanks! Please stop by our booth.":      false,
		"stop sending me this kind of pricing, send the enterprise one": false,
		"> unsubscribe\r\nThanks":              false,
		"On Mon, Acme wrote:\r\n> unsubscribe": false,
		"":                                     false,
	} {
		if got := unsubscribeAsks(text); got != want {
			t.Errorf("unsubscribeAsks(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestReadMessage(t *testing.T) {
	raw := "From: =?utf-8?q?Ann_M=C3=BCller?= <ann@acme.example>\r\n" +
		"To: team@acme.example, Bob <bob@acme.example>\r\nCc: unsubscribe@acme.example\r\n" +
		"Subject: =?utf-8?q?R=C3=A9:_Welcome?=\r\nIn-Reply-To: <a@acme.example> (sent Monday)\r\n" +
		"References: <z@x.example>\r\n <a@acme.example>\r\nDate: Mon, 23 Nov 2026 11:30:00 -0500\r\n\r\nHello\r\n"
	n, err := ReadMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if n.From != "ann@acme.example" || strings.Join(n.To, " ") != "team@acme.example bob@acme.example unsubscribe@acme.example" ||
		n.Subject != "Ré: Welcome" || n.InReplyTo != "<a@acme.example>" || strings.Join(n.References, " ") != "<z@x.example> <a@acme.example>" ||
		n.At.Hour() != 16 || n.Text != "Hello\r\n" || !strings.HasPrefix(n.ID, "sha256:") || n.Auto {
		t.Errorf("ReadMessage = %+v", n)
	}
	again, _ := ReadMessage([]byte(raw))
	if again.ID != n.ID {
		t.Errorf("a message without a Message-ID gets a different ID each time: %s, %s", n.ID, again.ID)
	}
}

// FuzzReadMessage: whatever arrives, ReadMessage returns a reply or an
// error, never panics, and a reply it returns has a sender and an ID.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte("From: a@b.example\r\nMessage-ID: <x@b.example>\r\n\r\nstop\r\n"))
	f.Add([]byte("From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\ndW5zdWJzY3JpYmU=\r\n--b--\r\n"))
	f.Add([]byte("From: a@b.example\r\nContent-Type: multipart/alternative; boundary=\"q\"\r\n\r\n--q\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nremove me=\r\n\r\n--q--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, err := ReadMessage(raw)
		if err != nil {
			return
		}
		if n.From == "" || n.ID == "" || len(n.Text) > maxText {
			t.Errorf("ReadMessage(%q) = %+v", raw, n)
		}
	})
}
