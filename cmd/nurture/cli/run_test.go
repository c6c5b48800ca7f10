package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer the daemon's logger and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestRunTicksOnScheduleAndStops(t *testing.T) {
	dir := progCopy(t)
	path := seedStore(t, time.Now())
	store := "--store=sqlite:" + path
	if _, errOut, code := run(t, "apply", dir, store, "--auto-approve"); code != 0 {
		t.Fatal(errOut)
	}
	addr := freeAddr(t)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- execute(ctx, []string{"run", store, "--every", "200ms", "--listen", addr, "--sender", "file:" + out, "--worker", "test-1"}, io.Discard, &stderr)
	}()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get("/metrics")
		if code == 200 && strings.Contains(body, `nurture_ticks_total{outcome="done"} 3`) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no third tick in 10s; metrics %d:\n%s\nlog:\n%s", code, body, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	// Two new signups enter welcome. Run ticks on the wall clock, so
	// their first email either went out (and was delivered) or waits for
	// New York's sending window.
	_, metrics := get("/metrics")
	if !strings.Contains(metrics, `nurture_enrollments_total{sequence="welcome"} 2`) {
		t.Errorf("metrics lack the two enrollments:\n%s", metrics)
	}
	sent := strings.Contains(metrics, "nurture_emails_planned_total 2") && strings.Contains(metrics, `nurture_emails_delivered_total{status="accepted"} 2`)
	held := strings.Contains(metrics, "nurture_emails_planned_total 0") && !strings.Contains(metrics, "nurture_emails_deferred_total 0")
	if !sent && !held {
		t.Errorf("metrics show neither two emails delivered nor two held back:\n%s", metrics)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop on cancel")
	}
	// The log is JSON (stderr is not a terminal), a line a record.
	var ticks int
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["msg"] == "tick" {
			ticks++
			if _, ok := rec["looked"]; ok == (rec["full"] == true) {
				t.Errorf("a tick's log line says looked only when the tick was not full: %s", line)
			}
		}
		if k := duplicateKey(t, line); k != "" {
			t.Errorf("log line names %q twice: %s", k, line)
		}
	}
	if ticks < 3 || !strings.Contains(stderr.String(), `"msg":"stopping"`) {
		t.Errorf("log:\n%s", stderr.String())
	}
}

// duplicateKey returns a key a flat JSON log record holds twice, which a
// map would hide.
func duplicateKey(t *testing.T, line string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	seen := map[string]bool{}
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		k := tok.(string)
		if seen[k] {
			return k
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return ""
}
