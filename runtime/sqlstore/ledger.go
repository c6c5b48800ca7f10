package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// FreshenStatistics refreshes what the database knows of the sends
// table, where its dialect says to (Dialect.FreshenSends): delivery
// asks before it claims.
func (s *Store) FreshenStatistics(ctx context.Context) error {
	if s.d.FreshenSends == "" {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.d.FreshenSends); err != nil {
		return fmt.Errorf("refreshing the statistics of sends: %w", err)
	}
	return nil
}

// HandOver marks the claimed sends of marks (by ID, with their
// Message-IDs), those of them worker still holds, as about to be handed
// to the mail server at now, and writes their Message-IDs; it returns
// the IDs it marked, and the opt-out serial (see OptOutSerial) as of
// the mark. With them it records the sends of accepted (by ID, with
// their Message-IDs) as accepted at now: one commit for all three, which delivery pays once a message
// (or once for the messages of several connections). The mark is
// durable before it returns: a claim that outlives its lease without it
// provably never reached the server (see RecoverSends), and a bounce
// naming the Message-ID of one with it finds the send. A send whose
// claim worker no longer holds (its lease ran out and recovery planned
// it again, or another worker claimed it since) is not marked and must
// not be handed over.
func (s *Store) HandOver(ctx context.Context, worker string, marks, accepted map[int64]string, now time.Time) (marked []int64, serial int64, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("marking %d sends as handed over: %w", len(marks), err)
		}
	}()
	if s.d.WritableCTE && s.d.AnyArray {
		// One statement of one text whatever the number of sends, so
		// the server plans it once for the connection, not once a
		// message: the sends come as arrays.
		accIDs, accMIDs := idsAndMessageIDs(accepted)
		markIDs, markMIDs := idsAndMessageIDs(marks)
		// Without a ServerEpoch the commit waits for the disk, as
		// always; with one, set_config(…, true) lasts to the end of the
		// statement's own transaction, whose commit it makes
		// asynchronous (see Dialect.ServerEpoch).
		async := "off"
		if s.d.ServerEpoch == "" {
			async = "on"
		}
		rows, err := s.db.QueryContext(ctx, s.rebind(`WITH commit_mode AS (SELECT set_config('synchronous_commit', ?, true)),
accepted AS (
  UPDATE sends SET status = ?, sent_at = ?, error = NULL, message_id = a.mid
  FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[])) AS a(id, mid)
  WHERE sends.id = a.id AND sends.status = ?),
marked AS (
  UPDATE sends SET handover_at = ?, message_id = m.mid
  FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[])) AS m(id, mid)
  WHERE sends.id = m.id AND sends.status = ? AND sends.claimed_by = ?
  RETURNING sends.id)
SELECT m.id, o.serial FROM optout_serial o CROSS JOIN commit_mode LEFT JOIN marked m ON TRUE WHERE o.id = 1`),
			async, runtime.SendAccepted, s.t(now), accIDs, accMIDs, runtime.SendClaimed,
			s.t(now), markIDs, markMIDs, runtime.SendClaimed, worker)
		if err != nil {
			return nil, 0, err
		}
		defer rows.Close()
		// One snapshot: the serial read as the marks are made. The
		// accepted and the marked are different sends.
		for rows.Next() {
			var id sql.NullInt64
			if err := rows.Scan(&id, &serial); err != nil {
				return nil, 0, err
			}
			if id.Valid {
				marked = append(marked, id.Int64)
			}
		}
		return marked, serial, rows.Err()
	}
	// Without writable WITHs (SQLite): a transaction of statements
	// prepared once, a row each, rather than statements of as many
	// parameters as rows parsed anew for every message.
	acceptOne, err := s.stmt(ctx, `UPDATE sends SET status = ?, sent_at = ?, error = NULL, message_id = ? WHERE id = ? AND status = ?`)
	if err != nil {
		return nil, 0, err
	}
	markOne, err := s.stmt(ctx, `UPDATE sends SET handover_at = ?, message_id = ? WHERE id = ? AND status = ? AND claimed_by = ? RETURNING id`)
	if err != nil {
		return nil, 0, err
	}
	readSerial, err := s.stmt(ctx, `SELECT serial FROM optout_serial WHERE id = 1`)
	if err != nil {
		return nil, 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	for id, mid := range accepted {
		if _, err := tx.StmtContext(ctx, acceptOne).ExecContext(ctx, runtime.SendAccepted, s.t(now), mid, id, runtime.SendClaimed); err != nil {
			return nil, 0, fmt.Errorf("recording %d accepted sends: %w", len(accepted), err)
		}
	}
	for id, mid := range marks {
		var got int64
		switch err := tx.StmtContext(ctx, markOne).QueryRowContext(ctx, s.t(now), mid, id, runtime.SendClaimed, worker).Scan(&got); {
		case err == nil:
			marked = append(marked, got)
		case !errors.Is(err, sql.ErrNoRows):
			return nil, 0, err
		}
	}
	// The write lock is this transaction's: no suppression commits
	// between the marks and this read.
	if err := tx.StmtContext(ctx, readSerial).QueryRowContext(ctx).Scan(&serial); err != nil {
		return nil, 0, err
	}
	return marked, serial, tx.Commit()
}

// ReleaseSends plans again, as they were, the sends of ids that worker
// claimed and did not hand over: delivery claimed them ahead of its
// connections, or marked one and stopped at the last check, and the pass
// ended first. Their attempts and planned times stay as they were, and
// a mark is cleared: the caller knows the message never went.
func (s *Store) ReleaseSends(ctx context.Context, worker string, ids []int64) error {
	for i := 0; i < len(ids); i += 500 {
		cond, args := s.idsIn("id", ids[i:min(i+500, len(ids))])
		if _, err := s.db.ExecContext(ctx, s.rebind(`UPDATE sends SET status = ?, claimed_at = NULL, claimed_by = NULL, handover_at = NULL
WHERE `+cond+` AND status = ? AND claimed_by = ?`), append(append([]any{runtime.SendPlanned}, args...), runtime.SendClaimed, worker)...); err != nil {
			return err
		}
	}
	return nil
}

// HoldSend plans again, at until and with why as its note, a send worker
// claimed and did not hand over: delivery found it would go sooner after
// the contact's last email than the engine planned. Its attempts stay
// as they were.
func (s *Store) HoldSend(ctx context.Context, worker string, id int64, until time.Time, why string) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`UPDATE sends SET status = ?, planned_at = ?, error = ?, claimed_at = NULL, claimed_by = NULL, handover_at = NULL
WHERE id = ? AND status = ? AND claimed_by = ?`), runtime.SendPlanned, s.t(until), why, id, runtime.SendClaimed, worker)
	return err
}

// HandedOver lists, by contact, the emails handed over to the mail
// server (accepted, or unknown) since a time: when each was planned and
// when it went.
func (s *Store) HandedOver(ctx context.Context, ids []int64, since time.Time) (map[int64][]runtime.Handed, error) {
	out := map[int64][]runtime.Handed{}
	for i := 0; i < len(ids); i += 500 {
		cond, arg := s.idsList("contact_id", ids[i:min(i+500, len(ids))])
		st, err := s.stmt(ctx, `SELECT contact_id, sequence, planned_at, sent_at FROM sends
WHERE `+cond+` AND status IN (?, ?) AND sent_at >= ?`)
		if err != nil {
			return nil, err
		}
		rows, err := st.QueryContext(ctx, arg, runtime.SendAccepted, runtime.SendUnknown, s.t(since))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var h runtime.Handed
			var planned, sent any
			if err := rows.Scan(&id, &h.Sequence, &planned, &sent); err != nil {
				rows.Close()
				return nil, err
			}
			h.Planned, _ = s.scanTime(planned)
			h.Sent, _ = s.scanTime(sent)
			out[id] = append(out[id], h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RecoverSends settles the claims of workers that stopped: claims older
// than runtime.ClaimLease at now. One that was marked as handed over (see
// HandOver) may have reached the server and becomes unknown, never sent
// again blindly. One that was not provably never did: it is planned again
// with one more attempt, or fails once it has had maxAttempts.
func (s *Store) RecoverSends(ctx context.Context, now time.Time, maxAttempts int) (runtime.Recovered, error) {
	var r runtime.Recovered
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	lapsed := `status = ? AND claimed_at < ?`
	lapsedArgs := []any{runtime.SendClaimed, s.t(now.Add(-runtime.ClaimLease))}
	type update struct {
		n    *int
		set  string
		args []any
		cond string
	}
	var updates []update
	if s.d.ServerEpoch != "" {
		// A claim made before the server last started may have lost
		// its mark with the restart (marks commit asynchronously): it
		// may have been handed over.
		updates = append(updates, update{&r.Unknown, `status = ?, error = 'claimed by ' || claimed_by || ' before the database server restarted, which may have lost the mark of its hand-over; check the mail server before sending it again'`,
			[]any{runtime.SendUnknown}, `handover_at IS NULL AND claimed_epoch IS DISTINCT FROM ` + s.d.ServerEpoch})
	}
	for _, u := range append(updates, []update{
		{&r.Unknown, `status = ?, error = 'claimed by ' || claimed_by || ' and never finished: the worker stopped after it began to hand the message over; check the mail server before sending it again'`,
			[]any{runtime.SendUnknown}, `handover_at IS NOT NULL`},
		{&r.Failed, `status = ?, attempts = attempts + 1, error = 'tried ' || CAST(attempts + 1 AS TEXT) || ' times; the last claim, by ' || claimed_by || ', was never handed over: the worker stopped'`,
			[]any{runtime.SendFailed}, `handover_at IS NULL AND attempts + 1 >= ` + fmt.Sprint(maxAttempts)},
		{&r.Requeued, `status = ?, attempts = attempts + 1, claimed_at = NULL, claimed_by = NULL, error = 'claimed by ' || claimed_by || ', which stopped before handing it over; planned again'`,
			[]any{runtime.SendPlanned}, `handover_at IS NULL`},
	}...) {
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE sends SET `+u.set+` WHERE `+lapsed+` AND `+u.cond), append(u.args, lapsedArgs...)...)
		if err != nil {
			return r, fmt.Errorf("recovering the claims of stopped workers: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return r, err
		}
		*u.n += int(n)
	}
	return r, tx.Commit()
}

// OptOuts says, for each of the contacts that has one, what keeps them
// from email now: a suppressed address, topics opted out of, or a pause
// (one that ended is returned too; OptOut.Withholds judges it).
func (s *Store) OptOuts(ctx context.Context, ids []int64) (map[int64]runtime.OptOut, error) {
	out := map[int64]runtime.OptOut{}
	for i := 0; i < len(ids); i += 500 {
		cond, args := s.idsIn("c.id", ids[i:min(i+500, len(ids))])
		rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT c.id,
  EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = c.email_key),
  COALESCE(p.topics_out, ''), p.paused_until
FROM contacts c LEFT JOIN preferences p ON p.contact_id = c.id WHERE `+cond), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var o runtime.OptOut
			var topics string
			var paused any
			if err := rows.Scan(&id, &o.Suppressed, &topics, &paused); err != nil {
				rows.Close()
				return nil, err
			}
			if topics != "" {
				o.TopicsOut = strings.FieldsFunc(topics, func(r rune) bool { return r == ',' })
			}
			o.PausedUntil, _ = s.scanTime(paused)
			if o.Suppressed || len(o.TopicsOut) > 0 || !o.PausedUntil.IsZero() {
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
	res, err := s.db.ExecContext(ctx, s.rebind(`UPDATE sends SET status = ?, planned_at = ?, claimed_at = NULL, claimed_by = NULL, sent_at = NULL, handover_at = NULL,
  error = COALESCE(error, '') || ? WHERE id = ? AND status = ?`),
		runtime.SendPlanned, s.t(at), "; requeued: "+why, id, runtime.SendUnknown)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// idsAndMessageIDs splits sends by ID with their Message-IDs into two
// arrays, for the statements that take them as arrays.
func idsAndMessageIDs(sends map[int64]string) ([]int64, []string) {
	ids, mids := make([]int64, 0, len(sends)), make([]string, 0, len(sends))
	for id, mid := range sends {
		ids = append(ids, id)
		mids = append(mids, mid)
	}
	return ids, mids
}
