package importer_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/importer"
	"github.com/nurture-dev/nurture/runtime/ingest"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

// failing is a real store whose UpsertContacts fails from its nth call on.
type failing struct {
	runtime.Store
	calls, failFrom int
}

var errDisk = errors.New("disk full")

func (f *failing) UpsertContacts(ctx context.Context, s *campaigns.ContactSchema, b []runtime.ContactRecord, who string) (runtime.UpsertResult, error) {
	f.calls++
	if f.calls >= f.failFrom {
		return runtime.UpsertResult{}, errDisk
	}
	return f.Store.UpsertContacts(ctx, s, b, who)
}

const file = `email,industry,employees
a@acme.example,saas,1
b@acme.example,,2
c@acme.example,saas,x
d@acme.example,other,4
e@acme.example,saas,5
f@acme.example,saas,6
`

func TestContacts(t *testing.T) {
	ctx := context.Background()
	p := storetest.Program()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nurture.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SyncSchema(ctx, &p.Contact); err != nil {
		t.Fatal(err)
	}
	read := func() *ingest.ContactReader {
		r, err := ingest.NewContactReader(strings.NewReader(file), "c.csv", ingest.CSV, &p.Contact, ingest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// The store fails on the second batch of two: the first is stored,
	// and the error names the line the failed batch starts on.
	var rejects []*ingest.Reject
	opt := importer.Options{Batch: 2, Reject: func(r *ingest.Reject) error { rejects = append(rejects, r); return nil }}
	sum, err := importer.Contacts(ctx, &failing{Store: st, failFrom: 2}, &p.Contact, read(), opt)
	var se *importer.StoreError
	if !errors.As(err, &se) || se.Line != 5 || !errors.Is(err, errDisk) {
		t.Fatalf("err = %v, want a StoreError at line 5 wrapping %v", err, errDisk)
	}
	if sum.Inserted != 1 || sum.Rejected != 2 {
		t.Errorf("summary %+v, want 1 inserted (a) and 2 rejected (b, new without industry; c, not a number)", sum)
	}

	// Again, with a working store: the rest lands; b, new and without the
	// required industry, is rejected by the store with its row as read.
	rejects = nil
	sum, err = importer.Contacts(ctx, st, &p.Contact, read(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if want := (importer.Summary{Inserted: 3, Unchanged: 1, Rejected: 2}); sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	// The store's reject comes as its batch is written, before c's.
	if len(rejects) != 2 || rejects[0].Line != 3 || strings.Join(rejects[0].Raw, ",") != "b@acme.example,,2" ||
		!strings.Contains(rejects[0].Reason, "industry") || rejects[1].Line != 4 {
		for _, r := range rejects {
			t.Logf("reject %+v", *r)
		}
		t.Error("rejects are not b (line 3, from the store, with its cells) then c (line 4)")
	}

	// A cancelled import stops before its next batch.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = importer.Contacts(cctx, st, &p.Contact, read(), opt)
	if !errors.As(err, &se) || se.Line != 2 || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}
