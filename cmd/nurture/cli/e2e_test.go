package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/mail"
	"github.com/nurture-dev/nurture/runtime/track"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// TestEndToEnd runs examples/b2b-saas on its sample contacts against real
// peers: ticks deliver over SMTP to a server in the test, and the
// tracking server takes the clicks and unsubscribes a person would make.
// One head of data clicks the case study in the second email of the
// leaders' nurture, and the next ticks take the branch that click leads
// to (the demo invitation); one who does not click gets the governance
// story instead; one unsubscribes with the one-click header and gets
// nothing more.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	st, prog, _, clock := exampleStore(t, start, false)

	mb := startMailbox(t)
	cfg, err := mail.ParseSMTPURL("smtp://"+mb.Addr+"?tls=none&pool=2", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	keys, err := worker.TrackingKeys(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	// People act on their mail an hour after it arrives.
	srv := &track.Server{Store: st, Now: func() time.Time { return (*clock).Add(time.Hour) }}
	srv.SetKeys(keys)
	srv.SetProgram(prog)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := prog.Sender.TrackingURL
	// local turns a tracked URL of the programme's base into the test
	// server's.
	local := func(u string) string {
		if !strings.HasPrefix(u, base+"/") {
			t.Fatalf("%s is not under the tracking base %s", u, base)
		}
		return hs.URL + strings.TrimPrefix(u, base)
	}

	const (
		first    = "emails/leaders/01-the-monday-report.md"
		second   = "emails/leaders/02-how-ledgerly-did-it.md"
		demo     = "emails/leaders/03-see-it-on-your-data.md"
		security = "emails/leaders/04-security-and-governance.md"
	)
	// got says whether m is the email of that path, by its ledger row.
	got := func(m received, email string) bool {
		var e string
		err := st.DB().QueryRow(`SELECT email FROM sends WHERE message_id = ?`, strings.Trim(m.Header.Get("Message-ID"), "<>")).Scan(&e)
		if err != nil {
			t.Fatalf("message %s to %s is not in the ledger: %v", m.Header.Get("Message-ID"), m.To, err)
		}
		return e == email
	}
	out := &delivery{sender: sender}
	var clicker, silent, leaver string
	var clickedAt, leftAt time.Time
	for now := start; now.Before(start.AddDate(0, 0, 45)); now = now.Add(4 * time.Hour) {
		*clock = now
		res, err := tickOnce(ctx, st, out, "e2e", now, false)
		if err != nil {
			t.Fatalf("tick at %s: %v", now, err)
		}
		if d := res.Delivered; d != nil && d.Failed+d.Unknown+d.Deferred > 0 {
			t.Fatalf("tick at %s: %+v", now, *d)
		}
		// The first three heads of data to get the case study: one
		// clicks, one stays silent, one unsubscribes.
		msgs := mb.All()
		slices.SortStableFunc(msgs, func(a, b received) int { return strings.Compare(a.To, b.To) })
		for _, m := range msgs {
			if !got(m, second) || m.To == clicker || m.To == silent || m.To == leaver {
				continue
			}
			switch {
			case clicker == "":
				clicker, clickedAt = m.To, now
				links := regexp.MustCompile(regexp.QuoteMeta(base)+`/c/[A-Za-z0-9_-]+`).FindAllString(m.HTML, -1)
				if len(links) == 0 {
					t.Fatalf("no tracked link in the case study:\n%s", m.HTML)
				}
				resp, err := client.Get(local(links[0]))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				dest, _ := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != http.StatusFound || dest == nil || dest.Query().Get("utm_campaign") == "" || strings.HasPrefix(dest.String(), base) {
					t.Fatalf("click: %s to %q", resp.Status, resp.Header.Get("Location"))
				}
			case silent == "":
				silent = m.To
			case leaver == "":
				leaver, leftAt = m.To, now
				target := ""
				for _, u := range strings.Split(m.Header.Get("List-Unsubscribe"), ",") {
					if u = strings.Trim(strings.TrimSpace(u), "<>"); strings.HasPrefix(u, "https://") {
						target = u
					}
				}
				if target == "" || m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
					t.Fatalf("unsubscribe headers: %q, %q", m.Header.Get("List-Unsubscribe"), m.Header.Get("List-Unsubscribe-Post"))
				}
				for range 2 { // one-click is idempotent
					resp, err := client.Post(local(target), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("one-click unsubscribe: %s", resp.Status)
					}
				}
			}
		}
	}
	if clicker == "" || silent == "" || leaver == "" {
		t.Fatalf("too few heads of data got the case study: %q %q %q", clicker, silent, leaver)
	}
	sent := func(to, email string) bool {
		return slices.ContainsFunc(mb.To(to), func(m received) bool { return got(m, email) })
	}
	if !sent(clicker, demo) {
		t.Errorf("%s clicked the case study at %s and never got the demo invitation", clicker, clickedAt)
	}
	if sent(silent, demo) || !sent(silent, security) {
		t.Errorf("%s did not click: demo invitation %v (want false), governance story %v (want true)", silent, sent(silent, demo), sent(silent, security))
	}
	// After the unsubscribe: nothing, from any sequence.
	var after []string
	for _, m := range mb.To(leaver) {
		if d, _ := m.Header.Date(); d.After(leftAt) {
			after = append(after, m.Header.Get("Subject"))
		}
	}
	if len(after) > 0 {
		t.Errorf("%s unsubscribed at %s and still got %q", leaver, leftAt, after)
	}
	var reason string
	if err := st.DB().QueryRow(`SELECT x.reason FROM suppressions x WHERE x.email = ?`, leaver).Scan(&reason); err != nil || reason != runtime.ReasonUnsubscribed {
		t.Errorf("%s's suppression: %q, %v", leaver, reason, err)
	}
	var clicks int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM events e JOIN contacts c ON c.id = e.contact_id WHERE c.email = ? AND e.name = 'email.clicked'`, clicker).Scan(&clicks); err != nil || clicks != 1 {
		t.Errorf("%s's clicks recorded: %d, %v", clicker, clicks, err)
	}

	// Every message on the wire: its Message-ID is the ledger's, headers
	// carry the one-click unsubscribe, the text part the postal address.
	for _, m := range mb.All() {
		var key, mid string
		if err := st.DB().QueryRow(`SELECT s.key, s.message_id FROM sends s WHERE s.message_id = ?`, strings.Trim(m.Header.Get("Message-ID"), "<>")).Scan(&key, &mid); err != nil {
			t.Fatalf("message %s to %s is not in the ledger: %v", m.Header.Get("Message-ID"), m.To, err)
		}
		if mid != mail.MessageID(key, prog.Sender.FromEmail) {
			t.Errorf("%s: Message-ID %s, not derived from its ledger row", key, mid)
		}
		if !strings.Contains(m.Text, prog.Sender.Address) || !strings.Contains(m.HTML, "/o/") {
			t.Errorf("%s: no postal address in the text, or no open pixel in the HTML", key)
		}
	}
	t.Logf("%d messages delivered over SMTP; %s clicked, %s stayed silent, %s unsubscribed", len(mb.All()), clicker, silent, leaver)
}
