package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/runtime"
)

// An account hand-off is made once per account while it is open: two
// contacts of one account reaching it, decided by two workers at once,
// make one hand-off the second joins; a repeated decision adds nothing;
// a return from sales or the end of a cooldown lets the next contact
// open a new one. A contact without an account is handed over alone.
func testAccountHandoffs(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	s := f.s.(interface {
		engineStore
		HandoffContacts(ctx context.Context, id int64) ([]runtime.HandoffContact, error)
	})
	// eve joins beta, cara's account.
	o.Exec(t, f.s, `UPDATE contacts SET account = 'beta' WHERE id = ?`, f.id["eve"])
	h := time.Hour
	at := Now.Add(h)
	hot := func(who string, at time.Time) runtime.Decision {
		return runtime.Decision{Contact: f.id[who], At: at, Exit: "account_hot", Sequence: "executive", Version: 1,
			Handoff: "owner", HandoffAccount: true}
	}
	decide := func(ds ...runtime.Decision) {
		t.Helper()
		if err := s.DecideAll(ctx, ds); err != nil {
			t.Fatalf("DecideAll: %v", err)
		}
	}
	// Two workers decide ann and bob of acme at once.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, who := range []string{"ann", "bob"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.DecideAll(ctx, []runtime.Decision{hot(who, at)})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("DecideAll by two workers: %v", err)
		}
	}
	// A repeated tick decides bob again; dan has no account.
	decide(hot("bob", at), hot("dan", at))

	list := func(f runtime.HandoffFilter) []string {
		t.Helper()
		hs, err := s.Handoffs(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			line := h.Email + " " + h.Handoff + " " + h.Status
			if h.Account != "" {
				line += " account " + h.Account + ":"
				for _, c := range h.Contacts {
					line += " " + c.Email
				}
			}
			out = append(out, line)
		}
		return out
	}
	acme := list(runtime.HandoffFilter{Account: "acme"})
	if len(acme) != 1 {
		t.Fatalf("acme's hand-offs = %q; want one, made by the first of ann and bob and joined by the other", acme)
	}
	if acme[0] != "ann@x.example owner pending account acme: ann@x.example bob@x.example" {
		if diff := cmp.Diff("bob@x.example owner pending account acme: bob@x.example ann@x.example", acme[0]); diff != "" {
			t.Errorf("acme's hand-off (-want +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff([]string{"dan@x.example owner pending"}, list(runtime.HandoffFilter{Contact: f.id["dan"]})); diff != "" {
		t.Errorf("dan's hand-offs, without an account (-want +got):\n%s", diff)
	}
	// Either contact of acme finds the account's hand-off among its own.
	for _, who := range []string{"ann", "bob"} {
		if got := list(runtime.HandoffFilter{Contact: f.id[who]}); len(got) != 1 || got[0] != acme[0] {
			t.Errorf("%s's hand-offs = %q; want acme's", who, got)
		}
	}
	due, err := s.DueHandoffs(ctx, at, 10)
	if err != nil {
		t.Fatal(err)
	}
	var accounts []string
	for _, d := range due {
		accounts = append(accounts, d.Account)
	}
	if diff := cmp.Diff([]string{"acme", ""}, accounts); diff != "" {
		t.Errorf("due hand-offs' accounts (-want +got):\n%s", diff)
	}
	reached, err := s.ReachedHandoff(ctx, "owner", f.ids("ann", "bob", "cara", "dan"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[int64]bool{f.id["ann"]: true, f.id["bob"]: true}, reached); diff != "" {
		t.Errorf("ReachedHandoff (-want +got):\n%s", diff)
	}

	// Sales returns acme through bob: ann reaching it again makes a new
	// hand-off.
	decide(runtime.Decision{Contact: f.id["bob"], At: at.Add(h), Returned: "owner", Version: 1})
	decide(hot("ann", at.Add(2*h)))
	if got := list(runtime.HandoffFilter{Account: "acme"}); len(got) != 2 || got[0] != "ann@x.example owner pending account acme: ann@x.example" {
		t.Errorf("acme's hand-offs after its return = %q; want a new one by ann above the first", got)
	}

	// beta's hand-off is open for a day: eve joins it within the day and
	// opens another after it.
	cooled := func(who string, at time.Time) runtime.Decision {
		d := hot(who, at)
		d.HandoffUntil = at.Add(24 * h)
		return d
	}
	decide(cooled("cara", at))
	decide(cooled("eve", at.Add(23*h)))
	if diff := cmp.Diff([]string{"cara@x.example owner pending account beta: cara@x.example eve@x.example"}, list(runtime.HandoffFilter{Account: "beta"})); diff != "" {
		t.Errorf("beta's hand-offs within the cooldown (-want +got):\n%s", diff)
	}
	decide(cooled("eve", at.Add(25*h)))
	if diff := cmp.Diff([]string{
		"eve@x.example owner pending account beta: eve@x.example",
		"cara@x.example owner pending account beta: cara@x.example eve@x.example",
	}, list(runtime.HandoffFilter{Account: "beta"})); diff != "" {
		t.Errorf("beta's hand-offs after the cooldown (-want +got):\n%s", diff)
	}
	cs, err := s.HandoffContacts(ctx, mustHandoffs(t, s, "beta")[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[1].Reason != "account_hot" || cs[1].Sequence != "executive" || !cs[1].At.Equal(at.Add(23*h)) {
		t.Errorf("beta's first hand-off's contacts = %+v; want eve joined with her reason, sequence and time", cs)
	}

	// Erasing the contact that made a hand-off erases the hand-off.
	if _, err := f.s.(eraseStore).Erase(ctx, runtime.Erasure{Email: "cara@x.example", By: "dpo", Reason: "request", At: at}); err != nil {
		t.Fatalf("Erase of a contact that made an account hand-off: %v", err)
	}
	if got := list(runtime.HandoffFilter{Account: "beta"}); len(got) != 1 {
		t.Errorf("beta's hand-offs after erasing cara = %q; want eve's alone", got)
	}
}

func mustHandoffs(t *testing.T, s runtime.Store, account string) []runtime.HandoffRecord {
	t.Helper()
	hs, err := s.Handoffs(context.Background(), runtime.HandoffFilter{Account: account})
	if err != nil {
		t.Fatal(err)
	}
	return hs
}
