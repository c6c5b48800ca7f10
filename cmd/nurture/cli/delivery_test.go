package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/mail"
	"github.com/nurture-dev/nurture/runtime/track"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// A worker claims a send, begins to hand it over and dies before it
// records the outcome. The Message-ID was written with the claim, so when the provider's hard
// bounce names it, the send — unknown once the claim's lease ran out —
// is found and settled as failed, and the address suppressed.
func TestServeBounceResolvesUnknownByClaimedMessageID(t *testing.T) {
	tr := newTracked(t)
	ctx := context.Background()
	v, err := tr.st.Applied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := new(campaigns.Program)
	if err := json.Unmarshal(v.Program, p); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	if _, err := tr.st.DB().Exec(`INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at)
SELECT 'late/guide', contact_id, sequence, 'guide', version, email, 'planned', ? FROM sends WHERE contact_id = (SELECT id FROM contacts WHERE email = 'ann@acme.example')`, at.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	msgID := func(key string) string { return mail.MessageID(key, p.Sender.FromEmail) }
	claims, err := tr.st.ClaimSends(ctx, "w-dead", at, 5, msgID)
	if err != nil || len(claims) != 1 || claims[0].Key != "late/guide" {
		t.Fatalf("the dying worker's claim: %+v, %v", claims, err)
	}
	// It began to hand the message over, then died: past the lease, the
	// next delivery's recovery calls it unknown.
	if marked, _, err := tr.st.HandOver(ctx, "w-dead", map[int64]string{claims[0].ID: msgID("late/guide")}, nil, at); err != nil || len(marked) != 1 {
		t.Fatalf("marking the hand-over: %v, %v", marked, err)
	}
	if r, err := tr.st.RecoverSends(ctx, at.Add(runtime.ClaimLease+time.Minute), 8); err != nil || r != (runtime.Recovered{Unknown: 1}) {
		t.Fatalf("the next delivery's recovery: %+v, %v", r, err)
	}
	if r, _ := tr.st.SendByMessageID(ctx, msgID("late/guide")); r == nil || r.Status != runtime.SendUnknown {
		t.Fatalf("the dead worker's send: %+v", r)
	}
	body := `{"id":"p-9","type":"bounce","bounce":"hard","message_id":"<` + msgID("late/guide") + `>","reason":"5.1.1 no such user"}`
	resp, b := tr.do("POST", "/v1/bounces", body, "Authorization", "Bearer s3cret-token")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bounce: %s %s", resp.Status, b)
	}
	r, _ := tr.st.SendByMessageID(ctx, msgID("late/guide"))
	if r == nil || r.Status != runtime.SendFailed {
		t.Errorf("after the bounce: %+v, want failed", r)
	}
	if n := tr.count(`SELECT COUNT(*) FROM suppressions WHERE email = 'ann@acme.example' AND reason = 'bounced'`); n != 1 {
		t.Errorf("%d suppressions of the bounced address, want 1", n)
	}
}

// nurture run logs a stopped delivery at ERROR, naming the server, and
// counts it in a metric an alert can watch.
func TestRunLogsStoppedDeliveryAtError(t *testing.T) {
	dir := progCopy(t)
	// A weekday in the base programme's sending window, whatever day the
	// test runs on: on a weekend the tick would plan nothing.
	now := time.Now().UTC().Truncate(24 * time.Hour).Add(39 * time.Hour) // tomorrow or later: after the apply
	for now.Weekday() == time.Saturday || now.Weekday() == time.Sunday {
		now = now.Add(24 * time.Hour)
	}
	path := seedStore(t, now)
	store := "--store=sqlite:" + path
	for _, args := range [][]string{{"apply", dir, "--auto-approve"}, {"tick", "--now", now.Format(time.RFC3339)}} {
		if _, errOut, code := run(t, append(args, store)...); code != 0 {
			t.Fatal(errOut)
		}
	}
	// Whatever the wall clock's sending window said, the planned emails
	// are due now.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var planned int
	db.QueryRow(`SELECT COUNT(*) FROM sends WHERE status = 'planned'`).Scan(&planned)
	if planned == 0 {
		t.Fatal("the tick planned nothing")
	}
	if _, err := db.Exec(`UPDATE sends SET planned_at = 0`); err != nil {
		t.Fatal(err)
	}
	dead := freeAddr(t) // nothing listens there
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- execute(ctx, []string{"run", store, "--every", "200ms", "--listen", addr, "--sender", "smtp://" + dead + "?tls=none&retries=1", "--worker", "test-1"}, io.Discard, &stderr)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "nurture_delivery_stopped_total 2") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two stopped deliveries counted in 20s; log:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["msg"] == "delivery stopped" {
			found = true
			if rec["level"] != "ERROR" || rec["server"] != dead || !strings.Contains(fmt.Sprint(rec["err"]), "connecting") {
				t.Errorf("the stopped delivery's log line: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no delivery stopped in the log:\n%s", stderr.String())
	}
	db.QueryRow(`SELECT COUNT(*) FROM sends WHERE status = 'planned'`).Scan(&planned)
	var all int
	db.QueryRow(`SELECT COUNT(*) FROM sends`).Scan(&all)
	if planned != all {
		t.Errorf("%d of %d sends planned after the server could not be reached; want all", planned, all)
	}
}

// TestOptOutWinsTheRace posts one-click unsubscribes to the tracking
// server while a tick delivers the welcome email to a slow SMTP peer, on
// SQLite and PostgreSQL, half of them for emails claimed at that moment:
// no message for an address begins to reach the peer (DATA answered, the
// body free to go) after its unsubscribe was answered. The last check
// comes after DATA, so what remains is the time the body takes to cross.
func TestOptOutWinsTheRace(t *testing.T) {
	if testing.Short() {
		t.Skip("delivers to a slow SMTP peer")
	}
	const n = 160
	contacts := signups(t, n)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			cs := newCrashStore(t, kind)
			for _, args := range [][]string{
				{"contacts", "import", contacts, "--dir", "testdata/base", "--rejects", filepath.Join(t.TempDir(), "r.csv")},
				{"apply", "testdata/base", "--auto-approve", "--now", "2026-11-23T14:00:00Z"},
				{"tick", "--now", "2026-11-23T15:00:00Z"},
			} {
				if out, errOut, code := run(t, append(args, "--store", cs.spec)...); code != 0 {
					t.Fatalf("%s: %s%s", args[0], out, errOut)
				}
			}
			st, err := openEngineStore(ctx, cs.spec)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			keys, err := worker.TrackingKeys(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			srv := &track.Server{Store: st.(track.Store), Now: time.Now}
			srv.SetKeys(keys)
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			type target struct {
				email string
				path  string
			}
			var targets []target
			// Send IDs need not start at 1: a plan's rehearsal draws
			// from PostgreSQL's sequences, which no rollback gives back.
			index := map[int64]int{}
			for _, row := range cs.query(t, `SELECT s.id, c.id, c.email FROM sends s JOIN contacts c ON c.id = s.contact_id ORDER BY s.id`) {
				var send, contact int64
				var email string
				fmt.Sscan(row, &send, &contact, &email)
				index[send] = len(targets)
				targets = append(targets, target{email, "/u/" + keys.Sign(track.Token{Kind: track.Unsubscribe, Send: send, Contact: contact})})
			}
			if len(targets) != n {
				t.Fatalf("%d sends planned, want %d", len(targets), n)
			}
			// Every third contact unsubscribes, in an order of its own,
			// while the emails go out at about 4 × 1/15ms; each waits 10ms
			// between its claim and its hand-over.
			peer := startSlowPeer(t, 5*time.Millisecond)
			peer.rcptDelay = 10 * time.Millisecond
			done := make(chan string)
			go func() {
				out, errOut, _ := run(t, "tick", "--now", "2026-11-23T15:01:00Z", "--sender", "smtp://"+peer.Addr+"?tls=none&pool=4", "--store", cs.spec)
				done <- out + errOut
			}()
			answered := map[string]time.Time{}
			unsubscribe := func(i int) {
				tg := targets[i]
				if _, ok := answered[tg.email]; ok {
					return
				}
				resp, err := http.PostForm(hs.URL+tg.path, url.Values{"List-Unsubscribe": {"One-Click"}})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("unsubscribing %s: %s", tg.email, resp.Status)
				}
				answered[tg.email] = time.Now()
			}
			// In turn: a contact at random, and one whose email is claimed
			// at that moment, in flight.
			rng := rand.New(rand.NewPCG(1, 2))
			for _, i := range rng.Perm(n)[:30] {
				unsubscribe(i)
				if claimed := cs.query(t, `SELECT id FROM sends WHERE status = 'claimed' ORDER BY id`); len(claimed) > 0 {
					id, _ := strconv.ParseInt(claimed[rng.IntN(len(claimed))], 10, 64)
					unsubscribe(index[id])
				}
				time.Sleep(10 * time.Millisecond)
			}
			out := <-done
			peer.mu.Lock()
			defer peer.mu.Unlock()
			var before, withheld int
			for email, at := range answered {
				got, ok := peer.at[email]
				switch {
				case !ok:
					withheld++
				case got.After(at):
					t.Errorf("%s: its message began to reach the peer %s after the unsubscribe was answered", email, got.Sub(at))
				default:
					before++
				}
			}
			cancelled := cs.count(t, `SELECT COUNT(*) FROM sends WHERE status = 'cancelled'`)
			late := cs.count(t, `SELECT COUNT(*) FROM sends WHERE status = 'cancelled' AND error LIKE 'withheld before hand-over%'`)
			if cancelled != withheld {
				t.Errorf("%d sends cancelled, but %d unsubscribed addresses got nothing", cancelled, withheld)
			}
			if want := fmt.Sprintf("%d withheld (opted out while waiting to go; cancelled)", late); late > 0 && !strings.Contains(out, want) {
				t.Errorf("the tick's report lacks %q:\n%s", want, out)
			}
			if withheld == 0 || before == 0 || late == 0 {
				t.Errorf("%d unsubscribes came before their email, %d after, %d withheld at the last moment: the race was not run; tick said:\n%s", withheld, before, late, out)
			}
			t.Logf("%d unsubscribed while delivering: %d emails cancelled (%d of them at the last moment, claimed and waiting for a connection), %d went out before the unsubscribe", len(answered), withheld, late, before)
		})
	}
}
