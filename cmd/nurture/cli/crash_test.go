package cli

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestTickKilledMidDelivery kills a real nurture tick process with
// SIGKILL while it delivers — after its decisions are committed, between
// claiming emails and recording them sent — and runs the next tick. No
// decision is lost: every contact's email is in the ledger, and every
// planned one goes out. None is sent twice: the emails the killed worker
// had claimed become unknown, for a person to resolve, instead of being
// sent again, and no file the killed worker wrote is written again.
func TestTickKilledMidDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nurture as a child process")
	}
	dir := t.TempDir()
	const n = 3000
	var csv strings.Builder
	csv.WriteString("email,company,industry,employees,signup_at,first_name,consent_at,consent_source,consent_wording\n")
	for i := range n {
		fmt.Fprintf(&csv, "c%04d@acme.example,Acme,saas,500,2026-11-20T09:00:00Z,C%d,2026-11-20T09:00:00Z,signup_form,v1\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "contacts.csv"), []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "nurture.db")
	store := "--store=sqlite:" + db
	for _, args := range [][]string{
		{"contacts", "import", filepath.Join(dir, "contacts.csv"), "--dir", "testdata/base", "--rejects", filepath.Join(dir, "r.csv")},
		{"apply", "testdata/base", "--auto-approve", "--now", "2026-11-23T14:00:00Z"},
	} {
		if out, errOut, code := run(t, append(args, store)...); code != 0 {
			t.Fatalf("%s: %s%s", args[0], out, errOut)
		}
	}
	// The test binary is nurture when called by that name.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "nurture")
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	var output bytes.Buffer
	defer func() {
		if t.Failed() {
			t.Logf("the ticks' output:\n%s", output.String())
		}
	}()
	tick := func(at string) *exec.Cmd {
		cmd := exec.Command(bin, "tick", "--now", at, "--sender", "file:"+out, "--worker", "w-"+at, store)
		cmd.Stdout, cmd.Stderr = &output, &output
		return cmd
	}

	ledger, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer ledger.Close()
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		for range 50 { // the killed or running writer may hold the lock a moment
			if err = ledger.QueryRow(q, args...).Scan(&n); err == nil {
				return n
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: %v", q, err)
		return 0
	}

	// Monday 10:00 in New York: every contact is due its welcome email.
	child := tick("2026-11-23T15:00:00Z")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for count(`SELECT COUNT(*) FROM sends WHERE status = 'accepted'`) == 0 {
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatal("the tick delivered nothing in two minutes")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = child.Wait()
	if ws, ok := child.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the tick ended before it was killed (%v): make the test's list longer", err)
	}

	planned := count(`SELECT COUNT(*) FROM sends`)
	claimed := count(`SELECT COUNT(*) FROM sends WHERE status = 'claimed'`)
	accepted := count(`SELECT COUNT(*) FROM sends WHERE status = 'accepted'`)
	if planned != n {
		t.Fatalf("%d emails in the ledger after the kill, want %d: the decisions are committed before delivery starts", planned, n)
	}
	if claimed == 0 || accepted == n {
		t.Fatalf("killed with %d claimed and %d accepted: not mid-delivery", claimed, accepted)
	}
	written := map[string]time.Time{}
	files, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		written[filepath.Base(f)] = fi.ModTime()
	}
	if len(written) < accepted || len(written) > accepted+claimed {
		t.Fatalf("%d files for %d accepted and %d claimed emails", len(written), accepted, claimed)
	}

	// The killed worker still holds the tick lock until its lease runs
	// out; the operator who knows it is dead frees it, as nurture tick's
	// message says. Twenty minutes on, past the claims' lease, the next
	// tick runs.
	var lock string
	if err := ledger.QueryRow(`SELECT id FROM locks WHERE name = 'tick'`).Scan(&lock); err != nil {
		t.Fatalf("the killed tick's lock: %v", err)
	}
	if out, errOut, code := run(t, "force-unlock", lock, store); code != 0 {
		t.Fatalf("force-unlock: %s%s", out, errOut)
	}
	if err := tick("2026-11-23T15:20:00Z").Run(); err != nil {
		t.Fatalf("the tick after the kill: %v", err)
	}
	if got := count(`SELECT COUNT(*) FROM sends`); got != n {
		t.Errorf("%d emails in the ledger, want %d: one per contact", got, n)
	}
	if got := count(`SELECT COUNT(*) FROM sends WHERE status = 'unknown'`); got != claimed {
		t.Errorf("%d unknown emails, want the %d the killed worker had claimed", got, claimed)
	}
	if got := count(`SELECT COUNT(*) FROM sends WHERE status = 'accepted'`); got != n-claimed {
		t.Errorf("%d accepted, want %d: every email not claimed by the killed worker", got, n-claimed)
	}
	files, _ = filepath.Glob(filepath.Join(out, "*.eml"))
	if len(files) > n || len(files) < n-claimed {
		t.Errorf("%d files for %d contacts, %d of them unknown", len(files), n, claimed)
	}
	for name, mod := range written {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil || !fi.ModTime().Equal(mod) {
			t.Errorf("%s was written again after the kill", name)
		}
	}
	if got := count(`SELECT COUNT(*) FROM sends s JOIN sends t ON t.contact_id = s.contact_id AND t.id < s.id`); got != 0 {
		t.Errorf("%d contacts with two emails planned", got)
	}
	t.Logf("killed with %d accepted and %d claimed of %d", accepted, claimed, n)
}
