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
	h.created_at, h.next_at, h.done_at, COALESCE(h.last_error, '')
FROM handoffs h JOIN contacts c ON c.id = h.contact_id`
	var where []string
	var args []any
	if f.Contact != 0 {
		where, args = append(where, "h.contact_id = ?"), append(args, f.Contact)
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
			&created, &next, &done, &h.LastError); err != nil {
			return nil, err
		}
		h.CreatedAt, _ = s.scanTime(created)
		h.NextAt, _ = s.scanTime(next)
		h.DoneAt, _ = s.scanTime(done)
		out = append(out, h)
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
