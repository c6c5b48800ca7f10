package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

// A backup taken while another connection keeps writing opens as a store
// and holds every contact committed before it began, and a consistent
// snapshot: the writer's batches are whole in it or absent.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "nurture.db")
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := storetest.Program()
	if err := st.SyncSchema(ctx, &p.Contact); err != nil {
		t.Fatal(err)
	}
	batch := func(i int) []runtime.ContactRecord {
		var rs []runtime.ContactRecord
		for j := range 10 {
			rs = append(rs, runtime.ContactRecord{Email: fmt.Sprintf("c%d-%d@acme.example", i, j), Values: map[string]any{"industry": "saas"}})
		}
		return rs
	}
	for i := range 20 {
		if _, err := st.UpsertContacts(ctx, &p.Contact, batch(i), "test"); err != nil {
			t.Fatal(err)
		}
	}
	// A second process, as nurture run would be, writes batches of ten
	// contacts until the backup is done.
	writer, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var wrote int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 20; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := writer.UpsertContacts(ctx, &p.Contact, batch(i), "test"); err != nil {
				t.Error(err)
				return
			}
			wrote++
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	copyPath := filepath.Join(dir, "backup.db")
	got, err := Backup(ctx, st, copyPath, false)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got.Contacts < 200 || got.Bytes == 0 {
		t.Errorf("Backup says the copy holds %+v; want at least the 200 contacts stored before it", got)
	}
	if wrote == 0 {
		t.Fatal("the writer wrote nothing: the backup was not taken while in use")
	}
	cp, err := Open(ctx, copyPath)
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	defer cp.Close()
	var check string
	if err := cp.DB().QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check of the backup: %q, %v", check, err)
	}
	n := 0
	perBatch := map[string]int{}
	if err := cp.Contacts(ctx, func(c runtime.Contact) error {
		n++
		perBatch[strings.SplitN(c.Email, "-", 2)[0]]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n < 200 {
		t.Errorf("the backup holds %d contacts; want at least the 200 stored before it", n)
	}
	for b, k := range perBatch {
		if k != 10 {
			t.Errorf("batch %s has %d of its 10 contacts in the backup: not a snapshot", b, k)
		}
	}
	// No temporary file is left beside it, and an existing file is kept
	// unless forced.
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".backup.db") {
				t.Errorf("left %s behind", e.Name())
			}
		}
	}
	if _, err := Backup(ctx, st, copyPath, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("a second backup to the same file: %v; want a refusal naming --force", err)
	}
	if _, err := Backup(ctx, st, copyPath, true); err != nil {
		t.Errorf("a forced backup: %v", err)
	}
}
