package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Accounts live in their own table keyed by the account key, the value
// of their contacts' account attribute, with a column a_<name> for each
// account attribute, as contacts have theirs. Conditions on an account
// join through contacts.account: an account the store does not hold, or
// an attribute it has no column for yet, has no value.

func (s *Store) loadAccountAttrs(ctx context.Context) error {
	attrs, err := s.registry(ctx, s.db, "account_attributes")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.accountAttrs = attrs
	s.mu.Unlock()
	return nil
}

// accountTypes is a copy of the stored account attributes and their types.
func (s *Store) accountTypes() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]string, len(s.accountAttrs))
	for k, v := range s.accountAttrs {
		m[k] = v
	}
	return m
}

// SyncAccountSchema adds a column for each declared account attribute the
// store lacks; like SyncSchema, it keeps the columns of attributes the
// programme dropped and refuses an attribute whose type changed.
func (s *Store) SyncAccountSchema(ctx context.Context, attrs map[string]*campaigns.Attribute) error {
	if err := s.syncColumns(ctx, "accounts", "account_attributes", attrs, "the store's accounts"); err != nil {
		return err
	}
	return s.loadAccountAttrs(ctx)
}

// accountColumns are the stored account attributes, by name.
func (s *Store) accountColumns() (names []string, types map[string]string) {
	types = s.accountTypes()
	return sortedKeys(types), types
}

func (s *Store) selectAccount() string {
	names, _ := s.accountColumns()
	cols := []string{"key", "created_at", "updated_at"}
	for _, n := range names {
		cols = append(cols, column(n))
	}
	return strings.Join(cols, ", ")
}

func (s *Store) scanAccount(rows interface{ Scan(...any) error }) (runtime.Account, error) {
	names, types := s.accountColumns()
	var a runtime.Account
	var created, updated any
	vals := make([]any, len(names))
	dest := []any{&a.Key, &created, &updated}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	if err := rows.Scan(dest...); err != nil {
		return a, err
	}
	a.CreatedAt, _ = s.scanTime(created)
	a.UpdatedAt, _ = s.scanTime(updated)
	a.Values = map[string]any{}
	for i, n := range names {
		if v := s.decode(vals[i], types[n]); v != nil {
			a.Values[n] = v
		}
	}
	return a, nil
}

// Account finds an account by key, or returns nil.
func (s *Store) Account(ctx context.Context, key string) (*runtime.Account, error) {
	a, err := s.scanAccount(s.db.QueryRowContext(ctx, s.rebind(`SELECT `+s.selectAccount()+` FROM accounts WHERE key = ?`), key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// UpsertAccounts inserts the batch's new accounts and updates those whose
// values changed, in one transaction. The contacts of a changed account
// are marked changed (changed_at), so that an incremental tick looks at
// them again: a condition on their account may have turned.
func (s *Store) UpsertAccounts(ctx context.Context, attrs map[string]*campaigns.Attribute, batch []runtime.AccountRecord) (runtime.UpsertResult, error) {
	var res runtime.UpsertResult
	names, types := s.accountColumns()
	for _, rec := range batch {
		for k := range rec.Values {
			if _, ok := types[k]; !ok {
				return res, fmt.Errorf("line %d: the store has no column for account attribute %s: sync the account schema first", rec.Line, k)
			}
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()

	existing := make(map[string]runtime.Account, len(batch))
	keys := make([]string, len(batch))
	for i, r := range batch {
		keys[i] = r.Key
	}
	conds, args := s.keysIn("key", keys)
	for i, cond := range conds {
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT `+s.selectAccount()+` FROM accounts WHERE `+cond), args[i]...)
		if err != nil {
			return res, err
		}
		for rows.Next() {
			a, err := s.scanAccount(rows)
			if err != nil {
				rows.Close()
				return res, err
			}
			existing[a.Key] = a
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, err
		}
	}

	now := s.t(s.Now())
	required := requiredAttrs(&campaigns.ContactSchema{Attributes: attrs})
	seen := make(map[string]int, len(batch))
	var inserts [][]any
	var changed []string
	for _, rec := range batch {
		if line, dup := seen[rec.Key]; dup {
			res.Rejected = append(res.Rejected, runtime.Rejected{Line: rec.Line, Email: rec.Key,
				Reason: fmt.Sprintf("the same account as line %d", line)})
			continue
		}
		seen[rec.Key] = rec.Line
		old, ok := existing[rec.Key]
		if !ok {
			if missing := missingRequired(required, runtime.ContactRecord{Values: rec.Values}); missing != "" {
				res.Rejected = append(res.Rejected, runtime.Rejected{Line: rec.Line, Email: rec.Key,
					Reason: fmt.Sprintf("a new account needs %s, which is required", missing)})
				continue
			}
			row := []any{rec.Key, now, now}
			for _, n := range names {
				row = append(row, s.encode(rec.Values[n]))
			}
			inserts = append(inserts, row)
			changed = append(changed, rec.Key)
			res.Inserted++
			continue
		}
		var set []string
		var args []any
		for _, n := range names {
			v, ok := rec.Values[n]
			if !ok || sameValue(v, old.Values[n]) {
				continue
			}
			if v == nil && attrs[n] != nil && attrs[n].Required {
				continue // a required value is never cleared
			}
			set, args = append(set, column(n)+" = ?"), append(args, s.encode(v))
		}
		if len(set) == 0 {
			res.Unchanged++
			continue
		}
		set, args = append(set, "updated_at = ?"), append(args, now, rec.Key)
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE accounts SET `+strings.Join(set, ", ")+` WHERE key = ?`), args...); err != nil {
			return res, fmt.Errorf("updating line %d: %w", rec.Line, err)
		}
		changed = append(changed, rec.Key)
		res.Updated++
	}
	if len(inserts) > 0 {
		cols := []string{"key", "created_at", "updated_at"}
		ctypes := []string{str, tim, tim}
		for _, n := range names {
			cols, ctypes = append(cols, column(n)), append(ctypes, types[n])
		}
		if _, err := s.insertCount(ctx, tx, "accounts", cols, ctypes, "", inserts); err != nil {
			return res, err
		}
	}
	if len(changed) > 0 {
		conds, args := s.keysIn("account", changed)
		for i, cond := range conds {
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE contacts SET changed_at = ? WHERE `+cond), append([]any{now}, args[i]...)...); err != nil {
				return res, fmt.Errorf("marking the accounts' contacts changed: %w", err)
			}
		}
	}
	return res, tx.Commit()
}

// accountAttr is the condition that the contact's account meets c. A
// comparison an account without the value meets (ne, not_in, exists:
// false) holds unless the account is stored with a value that fails it,
// so that an account never imported has no values; a contact without an
// account meets none. The account's keys come from one scan of the
// accounts, matched back to the contacts through contacts_account.
func (b *builder) accountAttr(c campaigns.Condition) (string, error) {
	a := b.prog.Accounts.Attributes[c.Field]
	if a == nil {
		return "", fmt.Errorf("unknown account attribute %s", c.Field)
	}
	holdsAtNull := c.Cmp == campaigns.CmpNe || c.Cmp == campaigns.CmpNotIn || c.Cmp == campaigns.CmpExists && c.Value == false
	if _, ok := b.s.accountTypes()[c.Field]; !ok {
		// No account was imported with it yet: every account lacks it.
		if holdsAtNull {
			return "c.account IS NOT NULL", nil
		}
		return "1 = 0", nil
	}
	cond, err := b.compare("a."+column(c.Field), a.Type, c)
	if err != nil {
		return "", err
	}
	if holdsAtNull {
		return "(c.account IS NOT NULL AND c.account NOT IN (SELECT a.key FROM accounts a WHERE NOT " + cond + "))", nil
	}
	return "(c.account IS NOT NULL AND c.account IN (SELECT a.key FROM accounts a WHERE " + cond + "))", nil
}

// rollup is the account score query: each account key (k) with its
// contacts' stored scores under the model rolled up (v), grouped, with
// having (written over v's expression) on the groups. Contacts without a
// stored score count zero, so only scored contacts are read.
func (b *builder) rollup(having func(v string) string) (string, error) {
	as := b.prog.Accounts.Score
	if as == nil {
		return "", fmt.Errorf("the programme declares no account score")
	}
	from := "FROM scores asc_s JOIN contacts asc_c ON asc_c.id = asc_s.contact_id WHERE asc_s.model = " + b.arg(as.Model) + " AND asc_c.account IS NOT NULL"
	switch as.Rollup {
	case campaigns.RollupSum, "":
		return "SELECT asc_c.account AS k " + from + " GROUP BY asc_c.account HAVING " + having("SUM(asc_s.score)"), nil
	case campaigns.RollupMax:
		return "SELECT asc_c.account AS k " + from + " GROUP BY asc_c.account HAVING " + having("MAX(asc_s.score)"), nil
	case campaigns.RollupTop:
		ranked := "SELECT asc_c.account AS k, asc_s.score AS v, ROW_NUMBER() OVER (PARTITION BY asc_c.account ORDER BY asc_s.score DESC) AS n " + from
		return "SELECT t.k FROM (" + ranked + ") t WHERE t.n <= " + b.arg(as.Top) + " GROUP BY t.k HAVING " + having("SUM(t.v)"), nil
	}
	return "", fmt.Errorf("unknown account score roll-up %q", as.Rollup)
}

// accountScore compares the score of the contact's account. An account
// none of whose contacts is scored scores zero; a contact without an
// account meets no account score condition.
func (b *builder) accountScore(sc *campaigns.ScoreCondition) (string, error) {
	op, ok := sqlOps[sc.Cmp]
	if !ok || sc.Cmp == campaigns.CmpEq || sc.Cmp == campaigns.CmpNe {
		return "", fmt.Errorf("unknown score comparison %q", sc.Cmp)
	}
	holdsAtZero := map[string]bool{
		campaigns.CmpGt: 0 > sc.Value, campaigns.CmpGte: 0 >= sc.Value,
		campaigns.CmpLt: 0 < sc.Value, campaigns.CmpLte: 0 <= sc.Value,
	}[sc.Cmp]
	if holdsAtZero {
		q, err := b.rollup(func(v string) string { return "NOT (" + v + " " + op + " " + b.arg(sc.Value) + ")" })
		return "(c.account IS NOT NULL AND c.account NOT IN (" + q + "))", err
	}
	q, err := b.rollup(func(v string) string { return v + " " + op + " " + b.arg(sc.Value) })
	return "(c.account IS NOT NULL AND c.account IN (" + q + "))", err
}

// AccountScore is the account's score at its contacts' stored scores,
// and the number of its contacts.
func (s *Store) AccountScore(ctx context.Context, prog *campaigns.Program, key string) (float64, int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM contacts WHERE account = ?`), key).Scan(&n); err != nil {
		return 0, 0, err
	}
	as := prog.Accounts.Score
	if as == nil {
		return 0, n, fmt.Errorf("the programme declares no account score")
	}
	q := `SELECT score FROM scores s JOIN contacts c ON c.id = s.contact_id WHERE c.account = ? AND s.model = ? ORDER BY score DESC`
	rows, err := s.db.QueryContext(ctx, s.rebind(q), key, as.Model)
	if err != nil {
		return 0, n, err
	}
	defer rows.Close()
	var total float64
	i := 0
	for rows.Next() {
		var v float64
		if err := rows.Scan(&v); err != nil {
			return 0, n, err
		}
		switch {
		case as.Rollup == campaigns.RollupMax:
			if i == 0 {
				total = v
			}
		case as.Rollup == campaigns.RollupTop && i >= as.Top:
		default:
			total += v
		}
		i++
	}
	return total, n, rows.Err()
}

// AccountCounts counts, for each predicate, the accounts with at least
// one contact that meets it at now, in one scan of the contacts.
func (s *Store) AccountCounts(ctx context.Context, prog *campaigns.Program, ps []campaigns.Predicate, now time.Time) ([]int, error) {
	return s.countEach(ctx, prog, ps, now, func(where string) string {
		return "COUNT(DISTINCT CASE WHEN " + where + " THEN c.account END)"
	})
}
