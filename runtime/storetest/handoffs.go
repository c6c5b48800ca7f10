package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/runtime"
)

// Hand-offs are listed newest first by contact and state, and the failed
// ones can be tried again.
func testHandoffs(t *testing.T, o Opener) {
	ctx := context.Background()
	s, p := open(t, o)
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		rec(2, "ann@acme.example", "industry", "saas"), rec(3, "bo@acme.example", "industry", "saas"),
	}, "test"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	_ = s.Contacts(ctx, func(c runtime.Contact) error { ids[c.Email] = c.ID; return nil })
	add := func(contact, handoff, reason, status string, at time.Time, attempts int, failure any) {
		o.Exec(t, s, `INSERT INTO handoffs (contact_id, handoff, reason, sequence, status, created_at, attempts, next_at, last_error, done_at) VALUES (?, ?, ?, 'welcome', ?, ?, ?, ?, ?, ?)`,
			ids[contact], handoff, reason, status, at, attempts, at, failure, at)
	}
	add("ann@acme.example", "sales", "converted", runtime.HandoffFailed, Now.Add(-2*time.Hour), 6, "POST https://crm.example: 500 Internal Server Error")
	add("ann@acme.example", "sales", "sales_ready", runtime.HandoffDone, Now.Add(-time.Hour), 1, nil)
	add("bo@acme.example", "owner", "converted", runtime.HandoffPending, Now, 0, nil)
	all, err := s.Handoffs(ctx, runtime.HandoffFilter{})
	if err != nil || len(all) != 3 {
		t.Fatal(all, err)
	}
	failedID, doneID, pendingID := all[2].ID, all[1].ID, all[0].ID

	list := func(f runtime.HandoffFilter) []string {
		t.Helper()
		hs, err := s.Handoffs(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			out = append(out, h.Email+" "+h.Handoff+" "+h.Reason+" "+h.Status)
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    runtime.HandoffFilter
		want []string
	}{
		{"all, newest first", runtime.HandoffFilter{}, []string{"bo@acme.example owner converted pending", "ann@acme.example sales sales_ready done", "ann@acme.example sales converted failed"}},
		{"one contact's", runtime.HandoffFilter{Contact: ids["ann@acme.example"]}, []string{"ann@acme.example sales sales_ready done", "ann@acme.example sales converted failed"}},
		{"the failed", runtime.HandoffFilter{Status: runtime.HandoffFailed}, []string{"ann@acme.example sales converted failed"}},
		{"the newest", runtime.HandoffFilter{Limit: 1}, []string{"bo@acme.example owner converted pending"}},
	} {
		if diff := cmp.Diff(c.want, list(c.f)); diff != "" {
			t.Errorf("Handoffs, %s (-want +got):\n%s", c.name, diff)
		}
	}
	failed, err := s.Handoffs(ctx, runtime.HandoffFilter{Status: runtime.HandoffFailed})
	if err != nil || len(failed) != 1 {
		t.Fatal(failed, err)
	}
	if h := failed[0]; h.Attempts != 6 || h.LastError == "" || h.Sequence != "welcome" || !h.CreatedAt.Equal(Now.Add(-2*time.Hour)) {
		t.Errorf("the failed hand-off = %+v; want its attempts, error, sequence and time", h)
	}
	// Only failed hand-offs are retried: the done one stays done.
	if n, err := s.RetryHandoffs(ctx, []int64{doneID}, Now); err != nil || n != 0 {
		t.Errorf("RetryHandoffs(done) = %d, %v; want 0", n, err)
	}
	if n, err := s.RetryHandoffs(ctx, nil, Now); err != nil || n != 1 {
		t.Fatalf("RetryHandoffs(all failed) = %d, %v; want 1", n, err)
	}
	due, err := s.(interface {
		DueHandoffs(ctx context.Context, now time.Time, limit int) ([]runtime.PendingHandoff, error)
	}).DueHandoffs(ctx, Now, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, h := range due {
		got = append(got, h.ID)
		if h.ID == failedID && h.Attempts != 0 {
			t.Errorf("the retried hand-off has %d attempts; want a fresh run of retries", h.Attempts)
		}
	}
	if diff := cmp.Diff([]int64{failedID, pendingID}, got); diff != "" {
		t.Errorf("due after the retry (-want +got):\n%s", diff)
	}
}
