package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlite"
)

// progCopy is a copy of the base programme that a test may change.
func progCopy(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "prog")
	if err := copyTree("testdata/base", dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// renameWait renames the welcome sequence's wait_7d to pause, waiting
// wait, and keeps its contacts with a moved declaration.
func renameWait(t *testing.T, dir, wait string) {
	t.Helper()
	seq := filepath.Join(dir, "sequences.cue")
	b, err := os.ReadFile(seq)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), `{wait: "7d"},`, `{name: "pause", wait: "`+wait+`"},`, 1)
	changed = strings.Replace(changed, `exit: [`, "moved: wait_7d: \"pause\"\n\texit: [", 1)
	if changed == string(b) {
		t.Fatal("the base programme no longer has the wait this test renames")
	}
	if err := os.WriteFile(seq, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestApplyWaitsForTheLock(t *testing.T) {
	ctx := context.Background()
	dir := progCopy(t)
	path := filepath.Join(t.TempDir(), "nurture.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	held, err := st.AcquireLock(ctx, runtime.Lock{Name: "apply", Holder: "ci@build-7", Operation: "apply"}, time.Hour)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	store := "--store=sqlite:" + path
	_, errOut, code := run(t, "apply", dir, store, "--auto-approve", "--lock-timeout", "300ms")
	if code != 1 || !strings.Contains(errOut, "locked by ci@build-7") || !strings.Contains(errOut, "nurture force-unlock "+held.ID) {
		t.Fatalf("apply under a held lock: exit %d, stderr:\n%s", code, errOut)
	}
	if out, errOut, code := run(t, "state", "list", store); code != 0 || !strings.Contains(out, "Nothing is applied") {
		t.Fatalf("state list: %d %s%s", code, out, errOut)
	}
	if out, errOut, code := run(t, "force-unlock", held.ID, store); code != 0 || out != "Lock "+held.ID+" removed.\n" {
		t.Fatalf("force-unlock: %d %q %s", code, out, errOut)
	}
	if out, errOut, code := run(t, "apply", dir, store, "--auto-approve"); code != 0 || !strings.Contains(out, "Apply complete: version 1") {
		t.Fatalf("apply after force-unlock: %d %s%s", code, out, errOut)
	}
}

// Two applies at once: one takes the lock and applies, the other waits,
// plans afresh against the new version and finds nothing to do.
func TestConcurrentApplies(t *testing.T) {
	dir := progCopy(t)
	spec := "sqlite:" + filepath.Join(t.TempDir(), "nurture.db")
	store := "--store=" + spec
	// Create the store first so that the two do not race to migrate it
	// (state list, which only reads, no longer creates one).
	st, err := openStore(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errOut, code := run(t, "apply", dir, store, "--auto-approve", "--lock-timeout", "30s")
			if code != 0 {
				t.Errorf("apply %d: exit %d: %s", i, code, errOut)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	applied, unchanged := 0, 0
	for _, out := range outs {
		switch {
		case strings.Contains(out, "Apply complete: version 1"):
			applied++
		case strings.HasPrefix(out, "No changes. The programme matches applied version 1"):
			unchanged++
		}
	}
	if applied != 1 || unchanged != 1 {
		t.Fatalf("want one apply and one no-op; got:\n%s\n---\n%s", outs[0], outs[1])
	}
	out, _, _ := run(t, "state", "list", store)
	if strings.Count(out, "sha256:") != 1 {
		t.Errorf("state list after two applies:\n%s", out)
	}
}

// An apply that fails half-way — here the database refuses to move the
// contacts of a renamed step — leaves the previous version in force and
// the contacts where they were.
func TestInterruptedApplyKeepsThePreviousVersion(t *testing.T) {
	ctx := context.Background()
	dir := progCopy(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	path := seedStore(t, now)
	store := "--store=sqlite:" + path
	if _, errOut, code := run(t, "apply", dir, store, "--auto-approve"); code != 0 {
		t.Fatal(errOut)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db := st.DB()
	for _, q := range []string{
		`INSERT INTO enrollments (contact_id, sequence, state, step, step_since, version, entered_at) VALUES (1, 'welcome', 'active', 'wait_7d', 0, 1, 0)`,
		`CREATE TRIGGER refuse BEFORE UPDATE ON enrollments BEGIN SELECT RAISE(ABORT, 'disk full'); END`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	renameWait(t, dir, "7d")
	out, errOut, code := run(t, "apply", dir, store, "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "disk full") || !strings.Contains(errOut, "the previous version is still in force") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if vs, err := st.Versions(ctx); err != nil || len(vs) != 1 {
		t.Errorf("versions after the failed apply: %v, %v; want only the first", vs, err)
	}
	counts, err := st.StepCounts(ctx)
	if err != nil || len(counts) != 1 || counts[0].Step != "wait_7d" {
		t.Errorf("enrollments after the failed apply: %v, %v; want one in wait_7d", counts, err)
	}
	// The lock was given back.
	if _, err := st.AcquireLock(ctx, runtime.Lock{Name: "apply", Holder: "test"}, time.Minute); err != nil {
		t.Errorf("the failed apply kept the lock: %v", err)
	}
}

// Contacts in a renamed step show in the plan and follow it on apply.
func TestPlanMovesContactsOfRenamedSteps(t *testing.T) {
	ctx := context.Background()
	dir := progCopy(t)
	path := seedStore(t, time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	store := "--store=sqlite:" + path
	if _, errOut, code := run(t, "apply", dir, store, "--auto-approve"); code != 0 {
		t.Fatal(errOut)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{1, 2} {
		if _, err := st.DB().Exec(`INSERT INTO enrollments (contact_id, sequence, state, step, step_since, version, entered_at) VALUES (?, 'welcome', 'active', 'wait_7d', 0, 1, 0)`, id); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	renameWait(t, dir, "8d")
	out, errOut, code := run(t, "plan", dir, store)
	want := "Contacts now in changed steps:\n  welcome  wait_7d  2  move to pause (step renamed (moved))\n"
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("plan: exit %d, want %q in:\n%s%s", code, want, out, errOut)
	}
	out, errOut, code = run(t, "apply", dir, store, "--auto-approve")
	if code != 0 || !strings.Contains(out, "Contacts in renamed or removed steps: 2 moved on, 0 left their sequence.") {
		t.Fatalf("apply: exit %d:\n%s%s", code, out, errOut)
	}
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts, err := st.StepCounts(ctx)
	if err != nil || len(counts) != 1 || counts[0] != (runtime.StepCount{Sequence: "welcome", Step: "pause", Contacts: 2}) {
		t.Errorf("after apply: %v, %v; want 2 in pause", counts, err)
	}
}
