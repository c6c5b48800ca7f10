package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// rehearser is a store that can run work whose writes are all rolled
// back: a plan's prediction of the next tick.
type rehearser interface {
	Rehearse(ctx context.Context) (runtime.Store, error)
}

// A rehearsal reads what it wrote, a failed transaction inside it undoes
// only itself, and nothing of it is left once it is closed.
func testRehearse(t *testing.T, o Opener) {
	ctx := context.Background()
	s, p := open(t, o)
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{rec(2, "ann@acme.example", "industry", "saas")}, "test"); err != nil {
		t.Fatal(err)
	}
	rs, ok := s.(rehearser)
	if !ok {
		t.Fatalf("%T cannot rehearse", s)
	}
	r, err := rs.Rehearse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{rec(3, "bo@acme.example", "industry", "saas")}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, runtime.Version{Hash: "sha256:aa", AppliedAt: Now, AppliedBy: "plan", Program: []byte(`{"a":1}`)}, campaigns.PlanBase{}, nil); err != nil {
		t.Fatal(err)
	}
	// An apply on a stale base fails and rolls back its own transaction,
	// not the rehearsal's.
	if _, err := r.Apply(ctx, runtime.Version{Hash: "sha256:bb", AppliedAt: Now, AppliedBy: "plan", Program: []byte(`{"b":1}`)}, campaigns.PlanBase{}, nil); !errors.Is(err, runtime.ErrStale) {
		t.Fatalf("a second apply on no base = %v; want ErrStale", err)
	}
	if got := len(contacts(t, r)); got != 2 {
		t.Errorf("the rehearsal sees %d contacts; want its own write too (2)", got)
	}
	if v, err := r.Applied(ctx); err != nil || v == nil || v.Hash != "sha256:aa" {
		t.Errorf("the rehearsal's version in force = %+v, %v; want sha256:aa", v, err)
	}
	// Meanwhile the store sees none of it, and can be written beside it
	// once the rehearsal is over.
	if got := len(contacts(t, s)); got != 1 {
		t.Errorf("the store sees %d contacts during a rehearsal; want 1", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Applied(ctx); err != nil || v != nil {
		t.Errorf("after the rehearsal the version in force = %+v, %v; want none", v, err)
	}
	if got := len(contacts(t, s)); got != 1 {
		t.Errorf("after the rehearsal the store has %d contacts; want 1", got)
	}
	if _, err := s.AcquireLock(ctx, runtime.Lock{Name: "tick", Holder: "next"}, time.Minute); err != nil {
		t.Errorf("the store after a rehearsal: %v", err)
	}
}
