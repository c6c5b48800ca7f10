package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// The operator's daily commands are in the tree and in the README, by
// the name they are typed with.
func TestReadmeNamesTheDailyTools(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	root := newRoot(io.Discard, io.Discard)
	for _, args := range [][]string{
		{"queue"},
		{"explain"},
		{"pause"},
		{"resume"},
		{"backup"},
		{"contacts", "erase"},
	} {
		c, _, err := root.Find(args)
		if err != nil || c.CommandPath() != "nurture "+strings.Join(args, " ") {
			t.Errorf("nurture %s is not a command: %v", strings.Join(args, " "), err)
			continue
		}
		if !strings.Contains(readme, "`"+c.CommandPath()) {
			t.Errorf("the README never mentions `%s`", c.CommandPath())
		}
	}
	// Flags that are daily tools of their own.
	for _, flag := range []struct{ cmd, name string }{{"preview", "send-to"}} {
		c, _, _ := root.Find([]string{flag.cmd})
		if c.Flags().Lookup(flag.name) == nil {
			t.Errorf("nurture %s has no --%s", flag.cmd, flag.name)
		}
		if !strings.Contains(readme, "nurture "+flag.cmd+" --") || !strings.Contains(readme, "--"+flag.name) {
			t.Errorf("the README never shows nurture %s --%s", flag.cmd, flag.name)
		}
	}
}

// run logs what a pause holds with each tick, and sends nothing while
// all sending is paused.
func TestRunLogsPauses(t *testing.T) {
	dir := progCopy(t)
	path := seedStore(t, time.Now())
	store := "--store=sqlite:" + path
	if _, errOut, code := run(t, "apply", dir, store, "--auto-approve"); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := run(t, "pause", store, "--reason", "incident"); code != 0 {
		t.Fatal(errOut)
	}
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- execute(ctx, []string{"run", store, "--every", "100ms", "--sender", "file:" + out, "--worker", "test-1"}, io.Discard, &stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(stderr.String(), `"msg":"tick"`) < 2 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no second tick in 10s; log:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("run exited %d:\n%s", code, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["msg"] == "tick" && rec["paused"] != "all sending" {
			t.Errorf("a tick with all sending paused logs paused=%v: %s", rec["paused"], line)
		}
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("run sent %d emails with all sending paused", len(ents))
	}
}
