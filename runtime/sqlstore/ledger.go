package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/runtime"
)

// OptOutSerial is a counter the store moves in every transaction that
// writes a suppression or a preference (by trigger). Delivery compares
// it before each message and re-reads the opt-outs only when it moved.
func (s *Store) OptOutSerial(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT serial FROM optout_serial WHERE id = 1`).Scan(&n)
	return n, err
}

// OptOuts says, for each of the contacts that has one, what keeps them
// from email now: a suppressed address, or topics opted out of.
func (s *Store) OptOuts(ctx context.Context, ids []int64) (map[int64]runtime.OptOut, error) {
	out := map[int64]runtime.OptOut{}
	for i := 0; i < len(ids); i += 500 {
		cond, args := s.idsIn("c.id", ids[i:min(i+500, len(ids))])
		rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT c.id,
  EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = c.email_key),
  COALESCE((SELECT p.topics_out FROM preferences p WHERE p.contact_id = c.id), '')
FROM contacts c WHERE `+cond), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var o runtime.OptOut
			var topics string
			if err := rows.Scan(&id, &o.Suppressed, &topics); err != nil {
				rows.Close()
				return nil, err
			}
			if topics != "" {
				o.TopicsOut = strings.FieldsFunc(topics, func(r rune) bool { return r == ',' })
			}
			if o.Suppressed || len(o.TopicsOut) > 0 {
				out[id] = o
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Ledger lists sends matching f, oldest planned first.
func (s *Store) Ledger(ctx context.Context, f runtime.SendFilter) ([]runtime.LedgerRow, error) {
	var where []string
	var args []any
	switch f.State {
	case "":
	case "held":
		where, args = append(where, "s.status = ? AND s.planned_at > ?"), append(args, runtime.SendPlanned, s.t(f.Now))
	case runtime.SendPlanned:
		where, args = append(where, "s.status = ? AND s.planned_at <= ?"), append(args, runtime.SendPlanned, s.t(f.Now))
	default:
		where, args = append(where, "s.status = ?"), append(args, f.State)
	}
	if f.Sequence != "" {
		where, args = append(where, "s.sequence = ?"), append(args, f.Sequence)
	}
	if f.Email != "" {
		where, args = append(where, "c.email_key = ?"), append(args, runtime.EmailKey(f.Email))
	}
	q := `SELECT s.id, s.key, c.email, s.sequence, s.step, s.email, s.status, s.planned_at, s.claimed_at, COALESCE(s.claimed_by, ''),
  s.sent_at, COALESCE(s.message_id, ''), s.attempts, COALESCE(s.error, '')
FROM sends s JOIN contacts c ON c.id = s.contact_id`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY s.planned_at, s.id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.LedgerRow
	for rows.Next() {
		var r runtime.LedgerRow
		var planned, claimed, sent any
		if err := rows.Scan(&r.ID, &r.Key, &r.Address, &r.Sequence, &r.Step, &r.Email, &r.Status, &planned, &claimed, &r.ClaimedBy,
			&sent, &r.MessageID, &r.Attempts, &r.Error); err != nil {
			return nil, err
		}
		r.PlannedAt, _ = s.scanTime(planned)
		r.ClaimedAt, _ = s.scanTime(claimed)
		r.SentAt, _ = s.scanTime(sent)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RequeueSend plans an unknown send again at at, on an operator's word
// that it never reached the server; why is kept in its error text. It
// reports whether the send was unknown.
func (s *Store) RequeueSend(ctx context.Context, id int64, at time.Time, why string) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`UPDATE sends SET status = ?, planned_at = ?, claimed_at = NULL, claimed_by = NULL, sent_at = NULL,
  error = COALESCE(error, '') || ? WHERE id = ? AND status = ?`),
		runtime.SendPlanned, s.t(at), "; requeued: "+why, id, runtime.SendUnknown)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
