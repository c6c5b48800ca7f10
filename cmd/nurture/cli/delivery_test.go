package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/mail"
)

// A worker claims a send and dies before it records the outcome. The
// Message-ID was written with the claim, so when the provider's hard
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
	// Past the lease, the next worker's claim calls it unknown.
	if more, err := tr.st.ClaimSends(ctx, "w-next", at.Add(runtime.ClaimLease+time.Minute), 5, msgID); err != nil || len(more) != 0 {
		t.Fatalf("the next claim: %+v, %v", more, err)
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
	path := seedStore(t, time.Now())
	store := "--store=sqlite:" + path
	for _, args := range [][]string{{"apply", dir, "--auto-approve"}, {"tick"}} {
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
