package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/runtime"
)

// Handoffs lists hand-offs to sales, newest first, as f picks them.
func (s *Store) Handoffs(ctx context.Context, f runtime.HandoffFilter) ([]runtime.HandoffRecord, error) {
	q := `SELECT h.id, h.contact_id, c.email, h.handoff, h.reason, COALESCE(h.sequence, ''), h.status, h.attempts,
	h.created_at, h.next_at, h.done_at, COALESCE(h.last_error, ''), COALESCE(h.account_key, '')
FROM handoffs h JOIN contacts c ON c.id = h.contact_id`
	var where []string
	var args []any
	if f.Contact != 0 {
		// The contact's own, and the account hand-offs it joined.
		where, args = append(where, "(h.contact_id = ? OR h.id IN (SELECT handoff_id FROM handoff_contacts WHERE contact_id = ?))"), append(args, f.Contact, f.Contact)
	}
	if f.Account != "" {
		where, args = append(where, "h.account_key = ?"), append(args, f.Account)
	}
	if f.Status != "" {
		where, args = append(where, "h.status = ?"), append(args, f.Status)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY h.created_at DESC, h.id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.HandoffRecord
	for rows.Next() {
		var h runtime.HandoffRecord
		var created, next, done any
		if err := rows.Scan(&h.ID, &h.Contact, &h.Email, &h.Handoff, &h.Reason, &h.Sequence, &h.Status, &h.Attempts,
			&created, &next, &done, &h.LastError, &h.Account); err != nil {
			return nil, err
		}
		h.CreatedAt, _ = s.scanTime(created)
		h.NextAt, _ = s.scanTime(next)
		h.DoneAt, _ = s.scanTime(done)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i := range out {
		if out[i].Account == "" {
			continue
		}
		if out[i].Contacts, err = s.HandoffContacts(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// HandoffContacts lists the contacts that reached account hand-off id,
// in the order they did: the one that made it first.
func (s *Store) HandoffContacts(ctx context.Context, id int64) ([]runtime.HandoffContact, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT x.contact_id, c.email, x.reason, COALESCE(x.sequence, ''), x.at
FROM handoff_contacts x JOIN contacts c ON c.id = x.contact_id JOIN handoffs h ON h.id = x.handoff_id
WHERE x.handoff_id = ? ORDER BY CASE WHEN x.contact_id = h.contact_id THEN 0 ELSE 1 END, x.at, x.contact_id`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.HandoffContact
	for rows.Next() {
		var h runtime.HandoffContact
		var at any
		if err := rows.Scan(&h.Contact, &h.Email, &h.Reason, &h.Sequence, &at); err != nil {
			return nil, err
		}
		h.At, _ = s.scanTime(at)
		out = append(out, h)
	}
	return out, rows.Err()
}

// AccountContacts lists up to limit contacts of account key, the
// highest scored under model first (every contact scores 0 without a
// model or a score), then the most recently changed.
func (s *Store) AccountContacts(ctx context.Context, key, model string, limit int) ([]runtime.ScoredContact, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT c.id, c.email, COALESCE(sc.score, 0) FROM contacts c
LEFT JOIN scores sc ON sc.contact_id = c.id AND sc.model = ?
WHERE c.account = ? ORDER BY COALESCE(sc.score, 0) DESC, c.id LIMIT ?`), model, key, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.ScoredContact
	for rows.Next() {
		var c runtime.ScoredContact
		if err := rows.Scan(&c.Contact, &c.Email, &c.Score); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RetryHandoffs makes failed hand-offs pending again, due at now, with
// their attempts counted afresh; the last error stays until the next
// attempt replaces it.
func (s *Store) RetryHandoffs(ctx context.Context, ids []int64, now time.Time) (int, error) {
	q := `UPDATE handoffs SET status = 'pending', attempts = 0, next_at = ?, done_at = NULL WHERE status = 'failed'`
	args := []any{s.t(now)}
	var r sql.Result
	var err error
	if len(ids) == 0 {
		r, err = s.db.ExecContext(ctx, s.rebind(q), args...)
	} else {
		in, inArgs := s.idsIn("id", ids)
		r, err = s.db.ExecContext(ctx, s.rebind(q+" AND "+in), append(args, inArgs...)...)
	}
	if err != nil {
		return 0, err
	}
	n, err := r.RowsAffected()
	return int(n), err
}

// ReachedHandoff reports which of the contacts reached an account hand-off
// of this name: made it or joined it.
func (s *Store) ReachedHandoff(ctx context.Context, handoff string, ids []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	in, args := s.idsIn("x.contact_id", ids)
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT DISTINCT x.contact_id FROM handoff_contacts x JOIN handoffs h ON h.id = x.handoff_id
WHERE h.handoff = ? AND `+in), append([]any{handoff}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}
