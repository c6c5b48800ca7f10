package cli

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// The engine's tests run the base programme compiled to JSON, as they may
// not import the compiler; this keeps that copy in step with the source.
// After changing testdata/base: nurture export cmd/nurture/cli/testdata/base > runtime/engine/testdata/base.json
func TestEngineFixtureInStep(t *testing.T) {
	res := compiler.Compile("testdata/base")
	if res.Program == nil {
		t.Fatal("the base programme does not compile")
	}
	b, err := os.ReadFile("../../../runtime/engine/testdata/base.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixture campaigns.Program
	if err := json.Unmarshal(b, &fixture); err != nil {
		t.Fatal(err)
	}
	if fixture.Hash() != res.Program.Hash() {
		t.Errorf("runtime/engine/testdata/base.json is not the compiled testdata/base; regenerate it with nurture export")
	}
}

// A tick that finds another worker's lock says who holds it and exits 3,
// so cron and CI see that nothing ran; --skip-if-locked makes it 0.
func TestTickSkippedForTheLock(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	path := seedStore(t, now)
	store := "--store=sqlite:" + path
	if out, errOut, code := run(t, "apply", "testdata/base", "--auto-approve", store); code != 0 {
		t.Fatalf("apply: %s%s", out, errOut)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.AcquireLock(ctx, runtime.Lock{Name: worker.LockName, Holder: "ann@cron", Operation: "tick"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	out, _, code := run(t, "tick", store, "--now", now.Format(time.RFC3339))
	if code != exitLocked || !regexp.MustCompile(`^Tick skipped: ann@cron has held the tick lock since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(lease to \d\d:\d\d:\d\d UTC, lock \w+\)\.\n$`).MatchString(out) {
		t.Errorf("tick under another's lock: exit %d, stdout %q; want exit %d and who holds it", code, out, exitLocked)
	}
	if out, _, code := run(t, "tick", store, "--now", now.Format(time.RFC3339), "--skip-if-locked"); code != 0 || !strings.HasPrefix(out, "Tick skipped: ann@cron") {
		t.Errorf("tick --skip-if-locked: exit %d, stdout %q; want 0 and the skip", code, out)
	}
}
