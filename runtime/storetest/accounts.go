package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// accountAttrs are the account attributes the account tests declare.
func accountAttrs() map[string]*campaigns.Attribute {
	return map[string]*campaigns.Attribute{
		"tier":   {Type: campaigns.TypeEnum, Values: []string{"enterprise", "smb"}, Required: true},
		"target": {Type: campaigns.TypeBool},
		"owner":  {Type: campaigns.TypeString},
		"seats":  {Type: campaigns.TypeInt},
	}
}

func accountRec(line int, key string, kv ...any) runtime.AccountRecord {
	r := runtime.AccountRecord{Line: line, Key: key, Values: map[string]any{}}
	for i := 0; i < len(kv); i += 2 {
		r.Values[kv[i].(string)] = kv[i+1]
	}
	return r
}

// Accounts upsert by key, a new one needing its required attributes, and
// keep what a row leaves out; an import that changes an account marks its
// contacts changed, and one that changes nothing does not.
func testAccountUpsert(t *testing.T, o Opener) {
	ctx := context.Background()
	f := newFixture(t, o, team()...)
	attrs := accountAttrs()
	if err := f.s.SyncAccountSchema(ctx, attrs); err != nil {
		t.Fatalf("SyncAccountSchema: %v", err)
	}
	res, err := f.s.UpsertAccounts(ctx, attrs, []runtime.AccountRecord{
		accountRec(2, "acme", "tier", "enterprise", "target", true, "owner", "Olivia", "seats", int64(40)),
		accountRec(3, "beta", "tier", "smb"),
		accountRec(4, "acme", "tier", "smb"),
		accountRec(5, "gamma", "target", true),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.UpsertResult{Inserted: 2, Rejected: []runtime.Rejected{
		{Line: 4, Email: "acme", Reason: "the same account as line 2"},
		{Line: 5, Email: "gamma", Reason: "a new account needs tier, which is required"},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("first import (-want +got):\n%s", diff)
	}

	old := Now.Add(-100 * 24 * time.Hour)
	for _, p := range team() {
		f.setTimes(p.name, old, old, time.Time{}, time.Time{})
	}
	res, err = f.s.UpsertAccounts(ctx, attrs, []runtime.AccountRecord{
		accountRec(2, "acme", "target", false, "owner", nil),
		accountRec(3, "beta", "tier", "smb", "owner", nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(runtime.UpsertResult{Updated: 1, Unchanged: 1}, res); diff != "" {
		t.Errorf("second import (-want +got):\n%s", diff)
	}
	a, err := f.s.Account(ctx, "acme")
	if err != nil || a == nil {
		t.Fatalf("Account(acme) = %v, %v", a, err)
	}
	if diff := cmp.Diff(map[string]any{"tier": "enterprise", "target": false, "seats": int64(40)}, a.Values); diff != "" {
		t.Errorf("acme after the second import (-want +got):\n%s", diff)
	}
	if a, err := f.s.Account(ctx, "nobody"); a != nil || err != nil {
		t.Errorf("Account(nobody) = %v, %v; want nil, nil", a, err)
	}
	// Acme changed: its contacts are looked at again; beta's are not.
	got, err := f.s.Candidates(ctx, runtime.Watch{Since: Now, Now: Now, Changed: Now.Add(-time.Hour)})
	if diff := cmp.Diff([]string{"ann", "bob"}, f.names(got)); err != nil || diff != "" {
		t.Errorf("Candidates after the account changed: %v (-want +got):\n%s", err, diff)
	}

	// A changed type is refused; an attribute the store lacks is not
	// written.
	attrs["seats"] = &campaigns.Attribute{Type: campaigns.TypeString}
	if err := f.s.SyncAccountSchema(ctx, attrs); err == nil || !strings.Contains(err.Error(), "seats is string in the programme but the store holds int values") {
		t.Errorf("changing seats from int to string: err = %v", err)
	}
	if _, err := f.s.UpsertAccounts(ctx, attrs, []runtime.AccountRecord{accountRec(7, "acme", "region", "emea")}); err == nil {
		t.Error("an account attribute without a column was upserted without complaint")
	}
}

// Conditions on the account: its attributes, compared as a contact's are
// (an account never imported has no values, a contact without an account
// meets none), and its score rolled up from its contacts' stored scores.
// The same answer per contact (Matches) as over the list.
func testAccountConditions(t *testing.T, o Opener) {
	ctx := context.Background()
	// ann, bob at acme; cara at beta; dan has no account; eve is at
	// delta, which was never imported.
	people := team()
	people[4].account = "delta"
	f := newFixture(t, o, people...)
	attrs := accountAttrs()
	f.p.Accounts.Attributes = attrs
	if err := f.s.SyncAccountSchema(ctx, attrs); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.UpsertAccounts(ctx, attrs, []runtime.AccountRecord{
		accountRec(2, "acme", "tier", "enterprise", "target", true, "seats", int64(40)),
		accountRec(3, "beta", "tier", "smb", "target", false),
	}); err != nil {
		t.Fatal(err)
	}
	o.Exec(t, f.s, `INSERT INTO scores (contact_id, model, score, computed_at) VALUES (?, 'lead', 50, ?), (?, 'lead', 30, ?), (?, 'lead', 45, ?), (?, 'lead', 90, ?)`,
		f.id["ann"], Now, f.id["bob"], Now, f.id["cara"], Now, f.id["dan"], Now)

	acct := func(field, cmp string, v any) campaigns.Predicate {
		p := attr(field, cmp, v)
		p.Op = campaigns.OpAccountAttr
		return p
	}
	score := func(cmp string, v float64) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpAccountScore, Score: &campaigns.ScoreCondition{Cmp: cmp, Value: v}}
	}
	sum := &campaigns.AccountScore{Model: "lead", Rollup: campaigns.RollupSum}
	top1 := &campaigns.AccountScore{Model: "lead", Rollup: campaigns.RollupTop, Top: 1}
	max := &campaigns.AccountScore{Model: "lead", Rollup: campaigns.RollupMax}
	for _, c := range []struct {
		name  string
		score *campaigns.AccountScore
		p     campaigns.Predicate
		want  []string
	}{
		{"tier is enterprise", nil, acct("tier", campaigns.CmpEq, "enterprise"), []string{"ann", "bob"}},
		{"a target account", nil, acct("target", campaigns.CmpEq, true), []string{"ann", "bob"}},
		{"tier is not enterprise: an account never imported has none, a contact without an account meets none", nil, acct("tier", campaigns.CmpNe, "enterprise"), []string{"cara", "eve"}},
		{"tier not in a list", nil, acct("tier", campaigns.CmpNotIn, []any{"smb"}), []string{"ann", "bob", "eve"}},
		{"seats known", nil, acct("seats", campaigns.CmpExists, true), []string{"ann", "bob"}},
		{"seats unknown", nil, acct("seats", campaigns.CmpExists, false), []string{"cara", "eve"}},
		{"seats at least 10", nil, acct("seats", campaigns.CmpGte, float64(10)), []string{"ann", "bob"}},
		{"beside a condition on the contact", nil, campaigns.All(attr("industry", campaigns.CmpEq, "saas"), acct("tier", campaigns.CmpEq, "enterprise")), []string{"ann"}},
		{"an attribute no account was imported with", nil, acct("owner", campaigns.CmpEq, "Olivia"), nil},
		{"no value of an attribute no account was imported with", nil, acct("owner", campaigns.CmpNe, "Olivia"), []string{"ann", "bob", "cara", "eve"}},
		{"sum of scores at least 80: acme (50+30)", sum, score(campaigns.CmpGte, 80), []string{"ann", "bob"}},
		{"sum of scores below 50: beta (45), delta (none scored)", sum, score(campaigns.CmpLt, 50), []string{"cara", "eve"}},
		{"the top one at least 50: acme", top1, score(campaigns.CmpGte, 50), []string{"ann", "bob"}},
		{"the top one below 46: beta, delta", top1, score(campaigns.CmpLt, 46), []string{"cara", "eve"}},
		{"the highest above 40: acme and beta", max, score(campaigns.CmpGt, 40), []string{"ann", "bob", "cara"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := *f.p
			p.Accounts.Score = c.score
			ids, err := f.s.ContactsWhere(ctx, &p, c.p, Now, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, f.names(ids)); diff != "" {
				t.Errorf("ContactsWhere (-want +got):\n%s", diff)
			}
			for _, who := range []string{"ann", "bob", "cara", "dan", "eve"} {
				met, err := f.s.Matches(ctx, &p, f.id[who], []campaigns.Predicate{c.p}, Now)
				if err != nil {
					t.Fatal(err)
				}
				if want := slices.Contains(c.want, who); met[0] != want {
					t.Errorf("Matches(%s) = %v, want %v", who, met[0], want)
				}
			}
		})
	}
	// Accounts with a contact meeting each condition: a contact without
	// an account counts for none.
	counts, err := f.s.AccountCounts(ctx, f.p, []campaigns.Predicate{
		campaigns.All(), attr("industry", campaigns.CmpEq, "saas"), acct("tier", campaigns.CmpEq, "enterprise"), attr("industry", campaigns.CmpEq, "none"),
	}, Now)
	if diff := cmp.Diff([]int{3, 2, 1, 0}, counts); err != nil || diff != "" {
		t.Errorf("AccountCounts: %v (-want +got):\n%s", err, diff)
	}
	for _, c := range []struct {
		score *campaigns.AccountScore
		key   string
		want  float64
		n     int
	}{
		{sum, "acme", 80, 2}, {top1, "acme", 50, 2}, {max, "beta", 45, 1}, {sum, "delta", 0, 1}, {sum, "nobody", 0, 0},
	} {
		p := *f.p
		p.Accounts.Score = c.score
		got, n, err := f.s.AccountScore(ctx, &p, c.key)
		if err != nil || got != c.want || n != c.n {
			t.Errorf("AccountScore(%s, %s) = %v, %d, %v; want %v, %d", c.score.Rollup, c.key, got, n, err, c.want, c.n)
		}
	}
}
