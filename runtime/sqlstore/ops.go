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
		var raw []byte
		switch p := props.(type) {
		case string:
			raw = []byte(p)
		case []byte:
			raw = p
		}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &e.Props); err != nil {
				return nil, fmt.Errorf("event %s: reading its properties: %w", e.ID, err)
			}
		}
		if len(e.Props) == 0 {
			e.Props = nil
		}
		out = append(out, e)
	}
	return out, rows.Err()
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
