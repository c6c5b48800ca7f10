package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// RecordEvents stores the batch's events once each by ID and moves each
// contact's last engagement forward.
func (s *Store) RecordEvents(ctx context.Context, batch []runtime.Event) (runtime.EventResult, error) {
	return s.recordEvents(ctx, batch, time.Time{})
}

// RecordEventsPending is RecordEvents, except that an event of an address
// the store does not hold yet is kept, not rejected, until keepUntil: a
// web visitor's history that arrives before the visitor becomes a lead.
// UpsertContacts attaches a new contact's kept events to it. Events whose
// time has passed are dropped on each call; a kept event counts in
// Pending (or, given again, in Duplicate).
func (s *Store) RecordEventsPending(ctx context.Context, batch []runtime.Event, keepUntil time.Time) (runtime.EventResult, error) {
	return s.recordEvents(ctx, batch, keepUntil)
}

func (s *Store) recordEvents(ctx context.Context, batch []runtime.Event, keepUntil time.Time) (runtime.EventResult, error) {
	var res runtime.EventResult
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()

	ids := map[string]int64{}
	keys := make([]string, len(batch))
	for i, e := range batch {
		keys[i] = runtime.EmailKey(e.Email)
	}
	conds, args := s.keysIn("email_key", keys)
	for i, cond := range conds {
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT id, email_key FROM contacts WHERE `+cond), args[i]...)
		if err != nil {
			return res, err
		}
		for rows.Next() {
			var id int64
			var key string
			if err := rows.Scan(&id, &key); err != nil {
				rows.Close()
				return res, err
			}
			ids[key] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, err
		}
	}

	var rows, pending [][]any
	engaged := map[int64]time.Time{}
	for _, e := range batch {
		props := "{}"
		if len(e.Props) > 0 {
			b, err := json.Marshal(e.Props)
			if err != nil {
				return res, fmt.Errorf("line %d: properties: %w", e.Line, err)
			}
			props = string(b)
		}
		key := runtime.EmailKey(e.Email)
		id, ok := ids[key]
		if !ok && !keepUntil.IsZero() {
			pending = append(pending, []any{e.ID, key, e.Name, s.t(e.At), props, s.t(keepUntil)})
			continue
		}
		if !ok {
			res.Rejected = append(res.Rejected, runtime.Rejected{Line: e.Line, Email: e.Email,
				Reason: "no contact has this address: import the contact first"})
			continue
		}
		rows = append(rows, []any{e.ID, id, e.Name, s.t(e.At), props})
		if campaigns.Engages(e.Name, e.Props) && e.At.After(engaged[id]) {
			engaged[id] = e.At
		}
	}
	if len(rows) > 0 {
		n, err := s.insertCount(ctx, tx, "events", []string{"id", "contact_id", "name", "at", "props"},
			[]string{str, campaigns.TypeInt, str, tim, typeJSON}, ` ON CONFLICT (id) DO NOTHING`, rows)
		if err != nil {
			return res, err
		}
		res.Inserted = int(n)
		res.Duplicate = len(rows) - int(n)
	}
	if !keepUntil.IsZero() {
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM pending_events WHERE expires_at < ?`), s.t(s.Now())); err != nil {
			return res, err
		}
		n, err := s.insertCount(ctx, tx, "pending_events", []string{"id", "email_key", "name", "at", "props", "expires_at"},
			[]string{str, str, str, tim, typeJSON, tim}, ` ON CONFLICT (id) DO NOTHING`, pending)
		if err != nil {
			return res, err
		}
		res.Pending = int(n)
		res.Duplicate += len(pending) - int(n)
	}
	if err := s.markEngaged(ctx, tx, engaged); err != nil {
		return res, err
	}
	if err := s.markChanged(ctx, tx, rows); err != nil {
		return res, err
	}
	return res, tx.Commit()
}

// attachPending moves the events kept for the addresses keys, contacts
// this transaction created, to those contacts, unless they expired before
// now. It costs an import one query a batch while nothing is kept.
func (s *Store) attachPending(ctx context.Context, tx *sql.Tx, keys []string, now time.Time) error {
	var held int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM pending_events LIMIT 1) p`).Scan(&held)
	if err != nil || held == 0 {
		return err
	}
	conds, args := s.keysIn("p.email_key", keys)
	plain, _ := s.keysIn("email_key", keys)
	var rows [][]any
	engaged := map[int64]time.Time{}
	for i, cond := range conds {
		q, err := tx.QueryContext(ctx, s.rebind(`SELECT p.id, c.id, p.name, p.at, p.props FROM pending_events p
			JOIN contacts c ON c.email_key = p.email_key WHERE p.expires_at >= ? AND `+cond),
			append([]any{s.t(now)}, args[i]...)...)
		if err != nil {
			return err
		}
		for q.Next() {
			var id, name string
			var contact int64
			var at any
			var props []byte
			if err := q.Scan(&id, &contact, &name, &at, &props); err != nil {
				q.Close()
				return err
			}
			rows = append(rows, []any{id, contact, name, at, string(props)})
			if t, ok := s.scanTime(at); ok && campaigns.IsEngagement(name) && t.After(engaged[contact]) {
				engaged[contact] = t
			}
		}
		q.Close()
		if err := q.Err(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM pending_events WHERE `+plain[i]), args[i]...); err != nil {
			return err
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if _, err := s.insertCount(ctx, tx, "events", []string{"id", "contact_id", "name", "at", "props"},
		[]string{str, campaigns.TypeInt, str, tim, typeJSON}, ` ON CONFLICT (id) DO NOTHING`, rows); err != nil {
		return err
	}
	if err := s.markEngaged(ctx, tx, engaged); err != nil {
		return err
	}
	return s.markChanged(ctx, tx, rows)
}

// markEngaged moves contacts' last_engaged_at forward to the times given,
// a few hundred contacts a statement.
func (s *Store) markEngaged(ctx context.Context, tx *sql.Tx, engaged map[int64]time.Time) error {
	if len(engaged) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(engaged))
	for id := range engaged {
		ids = append(ids, id)
	}
	slices.Sort(ids) // the same lock order in every worker
	tuple := "(CAST(? AS " + s.d.Types[campaigns.TypeInt] + "), CAST(? AS " + s.d.Types[campaigns.TypeTime] + "))"
	const per = 500
	for i := 0; i < len(ids); i += per {
		part := ids[i:min(i+per, len(ids))]
		args := make([]any, 0, 2*len(part))
		for _, id := range part {
			args = append(args, id, s.t(engaged[id]))
		}
		q := `WITH v (id, at) AS (VALUES ` + strings.TrimSuffix(strings.Repeat(tuple+", ", len(part)), ", ") + `)
UPDATE contacts SET last_engaged_at = v.at FROM v
WHERE contacts.id = v.id AND (contacts.last_engaged_at IS NULL OR contacts.last_engaged_at < v.at)`
		if _, err := tx.ExecContext(ctx, s.rebind(q), args...); err != nil {
			return err
		}
	}
	return nil
}

// markChanged notes that the contacts of these event rows have new
// events, for the engine's next tick.
func (s *Store) markChanged(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	seen := map[int64]bool{}
	var ids []int64
	for _, r := range rows {
		if id := r[1].(int64); !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	now := s.t(s.Now())
	for i := 0; i < len(ids); i += 500 {
		cond, args := s.idsIn("id", ids[i:min(i+500, len(ids))])
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE contacts SET changed_at = ? WHERE `+cond), append([]any{now}, args...)...); err != nil {
			return err
		}
	}
	return nil
}
