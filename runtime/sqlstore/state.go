package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Enrollment states.
const (
	stateActive = "active"
	stateExited = "exited"
)

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

const versionCols = `serial, lineage, hash, applied_at, applied_by, COALESCE(git_commit, '')`

func (s *Store) scanVersion(row interface{ Scan(...any) error }, withProgram bool) (runtime.Version, error) {
	var v runtime.Version
	var at any
	dest := []any{&v.Serial, &v.Lineage, &v.Hash, &at, &v.AppliedBy, &v.GitCommit}
	var prog string
	if withProgram {
		dest = append(dest, &prog)
	}
	if err := row.Scan(dest...); err != nil {
		return v, err
	}
	v.AppliedAt, _ = s.scanTime(at)
	if withProgram {
		v.Program = []byte(prog)
	}
	return v, nil
}

// Applied returns the version in force, or nil.
func (s *Store) Applied(ctx context.Context) (*runtime.Version, error) {
	return s.latest(ctx, s.db)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) latest(ctx context.Context, q queryer) (*runtime.Version, error) {
	v, err := s.scanVersion(q.QueryRowContext(ctx, `SELECT `+versionCols+`, programme FROM programme_versions ORDER BY serial DESC LIMIT 1`), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Versions lists the applied versions, newest first, without programmes.
func (s *Store) Versions(ctx context.Context) ([]runtime.Version, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+versionCols+` FROM programme_versions ORDER BY serial DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.Version
	for rows.Next() {
		v, err := s.scanVersion(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Version returns one version with its programme, or nil.
func (s *Store) Version(ctx context.Context, serial int64) (*runtime.Version, error) {
	v, err := s.scanVersion(s.db.QueryRowContext(ctx, s.rebind(`SELECT `+versionCols+`, programme FROM programme_versions WHERE serial = ?`), serial), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Apply records v and migrates active enrollments, all or nothing, if the
// version in force is still base.
func (s *Store) Apply(ctx context.Context, v runtime.Version, base campaigns.PlanBase, ms runtime.Migrations) (runtime.ApplyResult, error) {
	var res runtime.ApplyResult
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	if s.d.LockApply != "" {
		if _, err := tx.ExecContext(ctx, s.d.LockApply); err != nil {
			return res, err
		}
	}
	cur, err := s.latest(ctx, tx)
	if err != nil {
		return res, err
	}
	switch {
	case cur == nil && base.Serial != 0:
		return res, fmt.Errorf("%w: it was made against version %d, and this store has none applied", runtime.ErrStale, base.Serial)
	case cur != nil && (cur.Serial != base.Serial || cur.Lineage != base.Lineage):
		if cur.Lineage != base.Lineage && base.Lineage != "" {
			return res, fmt.Errorf("%w: it was made against another store (lineage %s; this one is %s)", runtime.ErrStale, base.Lineage, cur.Lineage)
		}
		return res, fmt.Errorf("%w: it was made against version %d, and version %d (applied %s by %s) is in force now",
			runtime.ErrStale, base.Serial, cur.Serial, cur.AppliedAt.UTC().Format(time.RFC3339), cur.AppliedBy)
	}
	if v.Lineage == "" {
		if cur != nil {
			v.Lineage = cur.Lineage
		} else {
			v.Lineage = randomID(16)
		}
	}
	now := s.Now()
	var commit any
	if v.GitCommit != "" {
		commit = v.GitCommit
	}
	if err := tx.QueryRowContext(ctx, s.rebind(`INSERT INTO programme_versions (lineage, hash, programme, applied_at, applied_by, git_commit) VALUES (?, ?, ?, ?, ?, ?) RETURNING serial`),
		v.Lineage, v.Hash, string(v.Program), s.t(now), v.AppliedBy, commit).Scan(&res.Serial); err != nil {
		return res, fmt.Errorf("recording the version: %w", err)
	}
	for _, m := range ms {
		var r sql.Result
		switch {
		case m.Step == "":
			r, err = tx.ExecContext(ctx, s.rebind(`UPDATE enrollments SET state = ?, exited_at = ?, exit_reason = ?, next_check_at = NULL WHERE sequence = ? AND state = ?`),
				stateExited, s.t(now), m.Exit, m.Sequence, stateActive)
		case m.To != "":
			r, err = tx.ExecContext(ctx, s.rebind(`UPDATE enrollments SET step = ?, step_since = ?, next_check_at = ? WHERE sequence = ? AND step = ? AND state = ?`),
				m.To, s.t(now), s.t(now), m.Sequence, m.Step, stateActive)
		default:
			r, err = tx.ExecContext(ctx, s.rebind(`UPDATE enrollments SET state = ?, exited_at = ?, exit_reason = ?, next_check_at = NULL WHERE sequence = ? AND step = ? AND state = ?`),
				stateExited, s.t(now), m.Exit, m.Sequence, m.Step, stateActive)
		}
		if err != nil {
			return res, fmt.Errorf("moving the contacts of %s %s: %w", m.Sequence, m.Step, err)
		}
		n, _ := r.RowsAffected()
		moved, exited := 0, int(n)
		if m.To != "" {
			moved, exited = int(n), 0
		}
		res.Moved, res.Exited = append(res.Moved, moved), append(res.Exited, exited)
	}
	return res, tx.Commit()
}

// AcquireLock takes the named lease, or reports who holds it.
func (s *Store) AcquireLock(ctx context.Context, l runtime.Lock, ttl time.Duration) (runtime.Lock, error) {
	now := s.Now()
	l.ID, l.Created, l.Expires = randomID(8), now, now.Add(ttl)
	r, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO locks (name, id, holder, operation, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET id = excluded.id, holder = excluded.holder, operation = excluded.operation,
	created_at = excluded.created_at, expires_at = excluded.expires_at
WHERE locks.expires_at < excluded.created_at`), l.Name, l.ID, l.Holder, l.Operation, s.t(l.Created), s.t(l.Expires))
	if err != nil {
		return l, err
	}
	if n, _ := r.RowsAffected(); n == 1 {
		return l, nil
	}
	held, ok, err := s.heldLock(ctx, l.Name)
	if err != nil {
		return l, err
	}
	if !ok {
		return s.AcquireLock(ctx, l, ttl) // released in between
	}
	return l, &runtime.LockedError{Lock: held}
}

// RenewLock extends a lease its holder still has to ttl from now. A lease
// that expired and was taken over, or was removed by hand, is lost: the
// holder learns it from the *runtime.LockedError and stops.
func (s *Store) RenewLock(ctx context.Context, l runtime.Lock, ttl time.Duration) (runtime.Lock, error) {
	l.Expires = s.Now().Add(ttl)
	r, err := s.db.ExecContext(ctx, s.rebind(`UPDATE locks SET expires_at = ? WHERE name = ? AND id = ?`), s.t(l.Expires), l.Name, l.ID)
	if err != nil {
		return l, err
	}
	if n, _ := r.RowsAffected(); n == 1 {
		return l, nil
	}
	held, ok, err := s.heldLock(ctx, l.Name)
	if err != nil {
		return l, err
	}
	if !ok {
		held = runtime.Lock{Name: l.Name, Holder: "nobody (the lock was removed)"}
	}
	return l, &runtime.LockedError{Lock: held}
}

// heldLock reads the named lock, if anyone holds it.
func (s *Store) heldLock(ctx context.Context, name string) (runtime.Lock, bool, error) {
	var held runtime.Lock
	var created, expires any
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT name, id, holder, operation, created_at, expires_at FROM locks WHERE name = ?`), name).
		Scan(&held.Name, &held.ID, &held.Holder, &held.Operation, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return held, false, nil
	}
	if err != nil {
		return held, false, err
	}
	held.Created, _ = s.scanTime(created)
	held.Expires, _ = s.scanTime(expires)
	return held, true, nil
}

// ReleaseLock gives back the lease with this ID.
func (s *Store) ReleaseLock(ctx context.Context, name, id string) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM locks WHERE name = ? AND id = ?`), name, id)
	return err
}

// ForceUnlock removes the lease with this ID, whoever holds it.
func (s *Store) ForceUnlock(ctx context.Context, id string) (bool, error) {
	r, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM locks WHERE id = ?`), id)
	if err != nil {
		return false, err
	}
	n, _ := r.RowsAffected()
	return n > 0, nil
}

// StepCounts counts active enrollments by sequence and step.
func (s *Store) StepCounts(ctx context.Context) ([]runtime.StepCount, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT sequence, COALESCE(step, ''), COUNT(*) FROM enrollments WHERE state = ? GROUP BY sequence, step ORDER BY sequence, step`), stateActive)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.StepCount
	for rows.Next() {
		var c runtime.StepCount
		if err := rows.Scan(&c.Sequence, &c.Step, &c.Contacts); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Enrollments lists a contact's enrollments, newest first.
func (s *Store) Enrollments(ctx context.Context, id int64) ([]runtime.Enrollment, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT sequence, state, COALESCE(step, ''), step_since, next_check_at, version, entered_at, exited_at, COALESCE(exit_reason, ''), COALESCE(waiting, ''), COALESCE(arm, '')
FROM enrollments WHERE contact_id = ? ORDER BY entered_at DESC, id DESC`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.Enrollment
	for rows.Next() {
		var e runtime.Enrollment
		var since, next, entered, exited any
		if err := rows.Scan(&e.Sequence, &e.State, &e.Step, &since, &next, &e.Version, &entered, &exited, &e.ExitReason, &e.Waiting, &e.Arm); err != nil {
			return nil, err
		}
		e.StepSince, _ = s.scanTime(since)
		e.NextCheckAt, _ = s.scanTime(next)
		e.EnteredAt, _ = s.scanTime(entered)
		e.ExitedAt, _ = s.scanTime(exited)
		out = append(out, e)
	}
	return out, rows.Err()
}
