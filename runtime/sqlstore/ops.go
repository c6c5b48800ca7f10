package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nurture-dev/nurture/runtime"
)

// notPaused is the condition that the sequence in col is not paused, nor
// all sending: enrollments and planned sends it holds back wait where
// they are until the pause is lifted.
func notPaused(col string) string {
	return `NOT EXISTS (SELECT 1 FROM pauses p WHERE p.sequence = ` + col + ` OR p.sequence = '')`
}

// Queued lists the active enrollments standing at the given steps, the
// earliest next check first; those with none come last. limit 0: all.
func (s *Store) Queued(ctx context.Context, steps []runtime.StepRef, limit int) ([]runtime.Queued, error) {
	if len(steps) == 0 {
		return nil, nil
	}
	var conds []string
	args := []any{stateActive}
	for _, st := range steps {
		conds = append(conds, "(e.sequence = ? AND e.step = ?)")
		args = append(args, st.Sequence, st.Step)
	}
	q := `SELECT e.id, e.contact_id, c.email, e.sequence, COALESCE(e.step, ''), e.next_check_at, COALESCE(e.waiting, '')
FROM enrollments e JOIN contacts c ON c.id = e.contact_id
WHERE e.state = ? AND (` + strings.Join(conds, " OR ") + `)
ORDER BY CASE WHEN e.next_check_at IS NULL THEN 1 ELSE 0 END, e.next_check_at, e.id`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.Queued
	for rows.Next() {
		var r runtime.Queued
		var next any
		if err := rows.Scan(&r.Enrollment, &r.Contact, &r.Address, &r.Sequence, &r.Step, &next, &r.Waiting); err != nil {
			return nil, err
		}
		r.NextCheckAt, _ = s.scanTime(next)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ContactEvents lists a contact's events, oldest first.
func (s *Store) ContactEvents(ctx context.Context, id int64) ([]runtime.ContactEvent, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT id, name, at, props FROM events WHERE contact_id = ? ORDER BY at, id`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.ContactEvent
	for rows.Next() {
		var e runtime.ContactEvent
		var at, props any
		if err := rows.Scan(&e.ID, &e.Name, &at, &props); err != nil {
			return nil, err
		}
		e.At, _ = s.scanTime(at)
		var err error
		if e.Props, err = decodeProps(props); err != nil {
			return nil, fmt.Errorf("event %s: reading its properties: %w", e.ID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// decodeProps reads an event's properties as the store holds them, a
// JSON object as text or bytes; nil when there are none.
func decodeProps(v any) (map[string]any, error) {
	var raw []byte
	switch p := v.(type) {
	case string:
		raw = []byte(p)
	case []byte:
		raw = p
	}
	var props map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &props); err != nil {
			return nil, err
		}
	}
	if len(props) == 0 {
		return nil, nil
	}
	return props, nil
}

// Pause records a pause of p.Sequence (runtime.AllSending: every
// sequence). A sequence already paused keeps its first record; Pause
// reports whether it was new.
func (s *Store) Pause(ctx context.Context, p runtime.Pause) (bool, error) {
	r, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO pauses (sequence, paused_by, reason, paused_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		p.Sequence, p.By, p.Reason, s.t(p.At))
	if err != nil {
		return false, err
	}
	n, err := r.RowsAffected()
	return n > 0, err
}

// Resume lifts the pause of sequence (runtime.AllSending: the pause of
// all sending; the pauses of single sequences stay) and returns it, or
// nil when there was none.
func (s *Store) Resume(ctx context.Context, sequence string) (*runtime.Pause, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var p runtime.Pause
	var at any
	err = tx.QueryRowContext(ctx, s.rebind(`DELETE FROM pauses WHERE sequence = ? RETURNING sequence, paused_by, reason, paused_at`), sequence).
		Scan(&p.Sequence, &p.By, &p.Reason, &at)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	p.At, _ = s.scanTime(at)
	return &p, tx.Commit()
}

// Pauses lists the pauses in force, all sending first, then by sequence.
func (s *Store) Pauses(ctx context.Context) ([]runtime.Pause, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sequence, paused_by, reason, paused_at FROM pauses ORDER BY sequence`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.Pause
	for rows.Next() {
		var p runtime.Pause
		var at any
		if err := rows.Scan(&p.Sequence, &p.By, &p.Reason, &at); err != nil {
			return nil, err
		}
		p.At, _ = s.scanTime(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// erasable are the tables that hold a contact's personal data by its ID,
// in the order they are emptied (the contact row last).
var erasable = []string{"events", "scores", "enrollments", "sends", "handoffs", "preferences", "stage_changes"}

// Erase removes a contact and everything the store holds about it — its
// attributes, events, scores, enrollments, sends, hand-offs, preferences,
// consent records and events waiting for it — and suppresses the address,
// in one transaction, so that it is never mailed again. The erasure is
// logged without the address.
func (s *Store) Erase(ctx context.Context, e runtime.Erasure) (runtime.Erased, error) {
	out := runtime.Erased{Removed: map[string]int{}}
	key := runtime.EmailKey(e.Email)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return out, err
	}
	defer tx.Rollback()
	count := func(table string, r sql.Result) {
		if n, _ := r.RowsAffected(); n > 0 {
			out.Removed[table] += int(n)
		}
	}
	var id int64
	switch err := tx.QueryRowContext(ctx, s.rebind(`SELECT id FROM contacts WHERE email_key = ?`), key).Scan(&id); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return out, err
	default:
		out.Found = true
		// An account hand-off the contact made stays the account's, and
		// is erased with its contact: the others who joined it lose it.
		for _, q := range []string{
			`UPDATE account_handoffs SET handoff_id = NULL WHERE handoff_id IN (SELECT id FROM handoffs WHERE contact_id = ?)`,
			`DELETE FROM handoff_contacts WHERE contact_id = ? OR handoff_id IN (SELECT id FROM handoffs WHERE contact_id = ?)`,
		} {
			args := []any{id}
			if strings.Count(q, "?") == 2 {
				args = append(args, id)
			}
			if _, err := tx.ExecContext(ctx, s.rebind(q), args...); err != nil {
				return out, fmt.Errorf("erasing hand-offs: %w", err)
			}
		}
		for _, t := range erasable {
			r, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM `+t+` WHERE contact_id = ?`), id)
			if err != nil {
				return out, fmt.Errorf("erasing from %s: %w", t, err)
			}
			count(t, r)
		}
		r, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM contacts WHERE id = ?`), id)
		if err != nil {
			return out, err
		}
		count("contacts", r)
	}
	for _, t := range []string{"consents", "pending_events"} {
		r, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM `+t+` WHERE email_key = ?`), key)
		if err != nil {
			return out, fmt.Errorf("erasing from %s: %w", t, err)
		}
		count(t, r)
	}
	// The suppressions for other reasons stay: they are the record of
	// why the address was not mailed, and hold nothing but it.
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO suppressions (email_key, email, reason, source, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (email_key, reason) DO NOTHING`),
		key, key, runtime.ReasonErased, "erasure", s.t(e.At)); err != nil {
		return out, err
	}
	var parts []string
	for _, t := range append(erasable, "contacts", "consents", "pending_events") {
		if n := out.Removed[t]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", t, n))
		}
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO erasures (erased_at, erased_by, reason, removed) VALUES (?, ?, ?, ?)`),
		s.t(e.At), e.By, e.Reason, strings.Join(parts, ", ")); err != nil {
		return out, err
	}
	return out, tx.Commit()
}
