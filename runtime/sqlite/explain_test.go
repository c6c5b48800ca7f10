package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

// TestQueryPlans checks that the store's hot queries use the indexes the
// migrations create for them, as SQLite's planner reports.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := storetest.Program()
	if err := s.SyncSchema(ctx, &p.Contact); err != nil {
		t.Fatal(err)
	}
	pricing := campaigns.Predicate{Op: campaigns.OpEvent, Event: &campaigns.EventCondition{
		Name: "page_view", Within: campaigns.MustDuration("7d"), MinCount: 2,
		Where: []campaigns.Condition{{Field: "path", Cmp: campaigns.CmpEq, Value: "/pricing"}},
	}}
	score := campaigns.Predicate{Op: campaigns.OpScore, Score: &campaigns.ScoreCondition{Model: "lead", Cmp: campaigns.CmpGte, Value: 50}}
	account := campaigns.Predicate{Op: campaigns.OpAccount, Account: &campaigns.AccountCount{Min: 2}, Args: []campaigns.Predicate{pricing}}
	p.Accounts.Attributes = map[string]*campaigns.Attribute{"tier": {Type: campaigns.TypeString}}
	p.Accounts.Score = &campaigns.AccountScore{Model: "lead", Rollup: campaigns.RollupTop, Top: 3}
	if err := s.SyncAccountSchema(ctx, p.Accounts.Attributes); err != nil {
		t.Fatal(err)
	}
	tier := campaigns.Predicate{Op: campaigns.OpAccountAttr, Cond: &campaigns.Condition{Field: "tier", Cmp: campaigns.CmpEq, Value: "enterprise"}}
	accountScore := campaigns.Predicate{Op: campaigns.OpAccountScore, Score: &campaigns.ScoreCondition{Cmp: campaigns.CmpGte, Value: 100}}
	for _, tc := range []struct {
		name string
		sql  string
		args []any
		want string
	}{
		{"event count in a window", "", nil, "events_name_at"},
		{"score threshold", "", nil, "scores_model_score"},
		{"contacts of an account", "", nil, "contacts_account"},
		// The accounts that meet it, scanned once, find their contacts.
		{"an attribute of the account", "", nil, "contacts_account"},
		{"the account score", "", nil, "scores_model_score"},
		{"contact by address", `SELECT id FROM contacts WHERE email_key IN (?, ?)`, []any{"a", "b"}, "sqlite_autoindex_contacts"},
		{"events of a contact", `SELECT at FROM events WHERE contact_id = ? AND name = ? AND at >= ?`, []any{1, "page_view", 0}, "events_contact"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := tc.sql, tc.args
			if q == "" {
				pred := pricing
				switch tc.name {
				case "score threshold":
					pred = score
				case "contacts of an account":
					pred = account
				case "an attribute of the account":
					pred = tier
				case "the account score":
					pred = accountScore
				}
				where, a, err := s.Where(p, pred, storetest.Now)
				if err != nil {
					t.Fatal(err)
				}
				q, args = "SELECT COUNT(*) FROM contacts c WHERE "+where, a
			}
			rows, err := s.DB().QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if got := strings.Join(plan, "\n"); !strings.Contains(got, tc.want) {
				t.Errorf("plan does not use %s:\n%s\nfor %s", tc.want, got, q)
			}
		})
	}
}
