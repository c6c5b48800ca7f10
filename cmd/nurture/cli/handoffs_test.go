package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/runtime/engine"
)

// A hand-off that fails for good is not only a number in the tick line:
// nurture handoffs lists it with its last error, explain shows it beside
// the contact, and once the cause is fixed, retry queues it for the next
// tick, which delivers it.
func TestFailedHandoffListedAndRetried(t *testing.T) {
	var posts atomic.Int32
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) }))
	defer crm.Close()
	dir := progCopy(t)
	sender := filepath.Join(dir, "sender.cue")
	b, err := os.ReadFile(sender)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "https://crm.acme.example/hooks/lead", crm.URL+"/hooks/lead", 1))
	if err := os.WriteFile(sender, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// The CRM's secret is missing: every attempt fails, the second for
	// good.
	t.Setenv("CRM_WEBHOOK_SECRET", "")
	defer func(b []time.Duration) { engine.HandoffBackoff = b }(engine.HandoffBackoff)
	engine.HandoffBackoff = []time.Duration{time.Minute}

	monday := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	path := seedStore(t, monday)
	store := "--store=sqlite:" + path
	events := filepath.Join(t.TempDir(), "demo.jsonl")
	if err := os.WriteFile(events, []byte(`{"id":"d1","email":"ann@acme.example","name":"demo_requested","at":"2026-11-23T15:10:00Z"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	step := func(args ...string) string {
		t.Helper()
		out, errOut, code := run(t, append(args, store)...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	step("apply", dir, "--auto-approve")
	step("tick", "--now", monday.Format(time.RFC3339))
	step("events", "import", events, "--dir", dir)
	out := step("tick", "--now", monday.Add(15*time.Minute).Format(time.RFC3339))
	if !strings.Contains(out, "left: 1 converted") {
		t.Fatalf("the demo request did not end the journey:\n%s", out)
	}
	out = step("tick", "--now", monday.Add(20*time.Minute).Format(time.RFC3339))
	if !strings.Contains(out, "handed to sales: 0, 1 failed after every retry") {
		t.Fatalf("the second attempt did not fail for good:\n%s", out)
	}

	failed := regexp.MustCompile(`(?m)^(\d+) +2026-11-23T15:15:00Z +ann@acme\.example +sales +converted in welcome +failed after 2 attempts: \$CRM_WEBHOOK_SECRET, the webhook's signing secret, is not set$`)
	out = step("handoffs", "--state", "failed")
	m := failed.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("handoffs --state failed:\n%s", out)
	}
	out = step("explain", "ann@acme.example", "--now", monday.Add(20*time.Minute).Format(time.RFC3339))
	if !strings.Contains(out, "\nHand-offs to sales\n") || !strings.Contains(out, "failed after 2 attempts") {
		t.Errorf("explain does not show the failed hand-off:\n%s", out)
	}

	if out, _, code := run(t, "handoffs", "retry", "999", store); code != 1 || !strings.Contains(out, "1 of the IDs named no failed hand-off") {
		t.Errorf("retry of an unknown ID: exit %d\n%s", code, out)
	}
	t.Setenv("CRM_WEBHOOK_SECRET", "s3cret")
	out = step("handoffs", "retry", m[1], "--now", monday.Add(25*time.Minute).Format(time.RFC3339))
	if out != "1 failed hand-off queued again; the next tick posts them.\n" {
		t.Errorf("retry: %q", out)
	}
	out = step("tick", "--now", monday.Add(30*time.Minute).Format(time.RFC3339))
	if !strings.Contains(out, "handed to sales: 1\n") || posts.Load() != 1 {
		t.Fatalf("the retried hand-off was not delivered (%d posts):\n%s", posts.Load(), out)
	}
	if out := step("handoffs", "--state", "done"); !strings.Contains(out, "ann@acme.example") {
		t.Errorf("handoffs --state done:\n%s", out)
	}
}
