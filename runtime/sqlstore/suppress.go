package sqlstore

import (
	"context"

	"github.com/nurture-dev/nurture/runtime"
)

// Suppress adds the batch's suppressions; ones already held keep their
// first record.
func (s *Store) Suppress(ctx context.Context, batch []runtime.Suppression) (int, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows := make([][]any, 0, len(batch))
	for _, x := range batch {
		rows = append(rows, []any{runtime.EmailKey(x.Email), x.Email, x.Reason, x.Source, s.t(x.At)})
	}
	n, err := s.insertCount(ctx, tx, "suppressions", []string{"email_key", "email", "reason", "source", "at"},
		[]string{str, str, str, str, tim}, ` ON CONFLICT (email_key, reason) DO NOTHING`, rows)
	if err != nil {
		return 0, err
	}
	// The contacts behind the addresses have something new for the
	// engine: every marketing enrollment of theirs ends.
	now := s.t(s.Now())
	for i := 0; i < len(rows); i += 500 {
		part := rows[i:min(i+500, len(rows))]
		args := []any{now}
		for _, r := range part {
			args = append(args, r[0])
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE contacts SET changed_at = ? WHERE email_key IN (`+placeholders(len(part))+`)`), args...); err != nil {
			return 0, err
		}
	}
	return int(n), tx.Commit()
}

// Suppressions calls fn for every suppression, by address and reason.
func (s *Store) Suppressions(ctx context.Context, fn func(runtime.Suppression) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT email, reason, source, at FROM suppressions ORDER BY email_key, reason`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var x runtime.Suppression
		var at any
		if err := rows.Scan(&x.Email, &x.Reason, &x.Source, &at); err != nil {
			return err
		}
		x.At, _ = s.scanTime(at)
		if err := fn(x); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Unsubscribed reports whether the address is suppressed because its
// owner unsubscribed, by whatever way.
func (s *Store) Unsubscribed(ctx context.Context, email string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM suppressions WHERE email_key = ? AND reason = ?`),
		runtime.EmailKey(email), runtime.ReasonUnsubscribed).Scan(&n)
	return n > 0, err
}

// Resubscribe lifts an unsubscribe its owner made on the tracking
// server's page (source), which the same page offers to undo. Bounces,
// complaints and unsubscribes that came any other way stay. It reports
// whether there was one to lift. The engine's opt-out check needs no
// nudge: lifting only ever lets mail through later, at the next tick.
func (s *Store) Resubscribe(ctx context.Context, email, source string) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	key := runtime.EmailKey(email)
	res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM suppressions WHERE email_key = ? AND reason = ? AND source = ?`), key, runtime.ReasonUnsubscribed, source)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE contacts SET changed_at = ? WHERE email_key = ?`), s.t(s.Now()), key); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
