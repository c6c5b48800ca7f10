package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// EnrollWhere starts the contacts meeting p in a sequence, in one
// statement; those already active in it are skipped.
func (s *Store) EnrollWhere(ctx context.Context, prog *campaigns.Program, p campaigns.Predicate, trigger *campaigns.EventCondition, sequence, step string, version int64, now time.Time) (int, error) {
	b := &builder{s: s, prog: prog, now: now, types: s.attrTypes(), inSegment: map[string]bool{}}
	trig := "NULL"
	if trigger != nil {
		var err error
		if trig, err = b.latest(trigger); err != nil {
			return 0, err
		}
	}
	where, err := b.pred(p)
	if err != nil {
		return 0, err
	}
	r, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO enrollments (contact_id, sequence, state, step, step_since, next_check_at, waiting, version, entered_at, trigger_event)
SELECT c.id, ?, ?, ?, ?, ?, ?, ?, ?, `+trig+` FROM contacts c WHERE `+where+` ON CONFLICT DO NOTHING`),
		append([]any{sequence, stateActive, step, s.t(now), s.t(now), runtime.WaitingEntry, version, s.t(now)}, b.args...)...)
	if err != nil {
		return 0, err
	}
	n, err := r.RowsAffected()
	return int(n), err
}

func (s *Store) enroll(ctx context.Context, tx *sql.Tx, ids []int64, sequence, step string, version int64, now time.Time) (int, error) {
	rows := make([][]any, len(ids))
	for i, id := range ids {
		rows[i] = []any{id, sequence, stateActive, step, s.t(now), s.t(now), runtime.WaitingStart, version, s.t(now)}
	}
	n, err := s.insertCount(ctx, tx, "enrollments",
		[]string{"contact_id", "sequence", "state", "step", "step_since", "next_check_at", "waiting", "version", "entered_at"},
		[]string{campaigns.TypeInt, str, str, str, tim, tim, str, campaigns.TypeInt, tim}, " ON CONFLICT DO NOTHING", rows)
	return int(n), err
}

const activeCols = `id, contact_id, sequence, COALESCE(step, ''), step_since, entered_at, version, COALESCE(waiting, ''), COALESCE(trigger_event, ''), COALESCE(arm, '')`

func (s *Store) scanActive(rows *sql.Rows) ([]runtime.Active, error) {
	defer rows.Close()
	var out []runtime.Active
	for rows.Next() {
		var a runtime.Active
		var since, entered any
		if err := rows.Scan(&a.ID, &a.Contact, &a.Sequence, &a.Step, &since, &entered, &a.Version, &a.Waiting, &a.Trigger, &a.Arm); err != nil {
			return nil, err
		}
		a.StepSince, _ = s.scanTime(since)
		a.EnteredAt, _ = s.scanTime(entered)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Active lists active enrollments above ID after, by ID.
func (s *Store) Active(ctx context.Context, after int64, limit int) ([]runtime.Active, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT `+activeCols+` FROM enrollments WHERE state = ? AND id > ? ORDER BY id LIMIT ?`), stateActive, after, limit)
	if err != nil {
		return nil, err
	}
	return s.scanActive(rows)
}

// Due lists active enrollments whose next check has come, earliest first.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]runtime.Active, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT `+activeCols+` FROM enrollments WHERE state = ? AND next_check_at <= ? AND `+notPaused("enrollments.sequence")+` ORDER BY next_check_at, id LIMIT ?`), stateActive, s.t(now), limit)
	if err != nil {
		return nil, err
	}
	return s.scanActive(rows)
}

// DecideAll writes decisions in order, in one transaction: a page of
// them costs one commit.
func (s *Store) DecideAll(ctx context.Context, ds []runtime.Decision) error {
	if len(ds) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.d.AnyArray && len(ds) > 1 {
		// decideBulk moves every enrollment of its run before it starts
		// any. A run ends at each decision that enrolls, so that the
		// enrollments it starts meet the others as the decisions before
		// it left them, as when written in order.
		for rest := ds; len(rest) > 0 && err == nil; {
			n := 1 + slices.IndexFunc(rest, func(d runtime.Decision) bool { return len(d.Enroll) > 0 })
			if n == 0 {
				n = len(rest)
			}
			err, rest = s.decideBulk(ctx, tx, rest[:n]), rest[n:]
		}
	} else {
		var st *decideStmts
		if len(ds) > 1 {
			st = &decideStmts{}
			defer st.close()
		}
		for _, d := range ds {
			if err = s.decide(ctx, tx, st, d); err != nil {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	return tx.Commit()
}

// decideBulk writes a page of decisions in three statements and the few
// extras (attributes, hand-offs, enrollments, suppressions) one by one:
// where each statement is a round trip to a server, a page of a thousand
// decisions one at a time cost a hundred times more. Each enrollment
// ends where its last decision leaves it, or where the first that ends
// it does: written in order, the decisions after that one find it no
// longer active.
func (s *Store) decideBulk(ctx context.Context, tx *sql.Tx, ds []runtime.Decision) error {
	last := map[int64]int{}
	var order []int64
	// The arm is the first decision's; the last of an enrollment's
	// decisions on the page may not carry it.
	arms := map[int64]string{}
	for i, d := range ds {
		if d.Arm != "" && arms[d.Enrollment] == "" {
			arms[d.Enrollment] = d.Arm
		}
		j, ok := last[d.Enrollment]
		if !ok {
			order = append(order, d.Enrollment)
		} else if ds[j].Exit != "" {
			continue
		}
		last[d.Enrollment] = i
	}
	cols := make([][]any, 10)
	for _, id := range order {
		d := ds[last[id]]
		state, next, waiting, exited, reason := any(stateActive), any(nil), any(nil), any(nil), any(nil)
		if d.Exit != "" {
			state, exited, reason = stateExited, s.t(d.At), d.Exit
		} else {
			if !d.NextCheck.IsZero() {
				next = s.t(d.NextCheck)
			}
			if d.Waiting != "" {
				waiting = d.Waiting
			}
		}
		var trigger, arm any
		if d.Trigger != "" {
			trigger = d.Trigger
		}
		if a := arms[id]; a != "" {
			arm = a
		}
		for i, v := range []any{id, state, d.Step, s.t(d.StepSince), next, waiting, exited, reason, trigger, arm} {
			cols[i] = append(cols[i], v)
		}
	}
	ty := s.d.Types
	args := make([]any, len(cols))
	for i := range cols {
		args[i] = cols[i]
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE enrollments e SET state = v.state, step = v.step, step_since = v.since,
	next_check_at = v.next, waiting = v.waiting, exited_at = v.exited_at, exit_reason = v.reason, trigger_event = v.trigger,
	arm = COALESCE(e.arm, v.arm)
FROM unnest(CAST(? AS `+ty[campaigns.TypeInt]+`[]), CAST(? AS `+ty[str]+`[]), CAST(? AS `+ty[str]+`[]), CAST(? AS `+ty[tim]+`[]),
	CAST(? AS `+ty[tim]+`[]), CAST(? AS `+ty[str]+`[]), CAST(? AS `+ty[tim]+`[]), CAST(? AS `+ty[str]+`[]), CAST(? AS `+ty[str]+`[]),
	CAST(? AS `+ty[str]+`[]))
	AS v (id, state, step, since, next, waiting, exited_at, reason, trigger, arm)
WHERE e.id = v.id AND e.state = 'active'`), args...); err != nil {
		return fmt.Errorf("recording %d decisions: %w", len(order), err)
	}
	var sends [][]any
	for _, d := range ds {
		if m := d.Send; m != nil {
			var variant any
			if m.Variant != "" {
				variant = m.Variant
			}
			var trigger any
			if m.Trigger != "" {
				trigger = m.Trigger
			}
			sends = append(sends, []any{m.Key, d.Contact, m.Sequence, m.Step, d.Version, m.Email, variant, runtime.SendPlanned, s.t(d.At), trigger, nullable(m.SubjectVariant)})
		}
	}
	if _, err := s.insertCount(ctx, tx, "sends", []string{"key", "contact_id", "sequence", "step", "version", "email", "variant", "status", "planned_at", "trigger_event", "subject_variant"},
		[]string{str, campaigns.TypeInt, str, str, campaigns.TypeInt, str, str, str, tim, str, str}, " ON CONFLICT (key) DO NOTHING", sends); err != nil {
		return fmt.Errorf("planning %d sends: %w", len(sends), err)
	}
	for _, d := range ds {
		if err := s.decideExtras(ctx, tx, d); err != nil {
			return err
		}
	}
	return nil
}

// decideStmts are the statements each decision runs, prepared once for
// a page of them: in SQLite, where a statement is no round trip,
// parsing and planning it again for every decision was the larger part
// of writing it. A multi-row UPDATE … FROM (VALUES …) was measured too,
// and was slower than a page of these.
type decideStmts struct {
	exit, move, send *sql.Stmt
}

// exec runs q in tx, prepared into *slot the first time; with no slot
// (a single decision), unprepared.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, slot **sql.Stmt, q string, args ...any) error {
	if slot == nil {
		_, err := tx.ExecContext(ctx, s.rebind(q), args...)
		return err
	}
	if *slot == nil {
		p, err := tx.PrepareContext(ctx, s.rebind(q))
		if err != nil {
			return err
		}
		*slot = p
	}
	_, err := (*slot).ExecContext(ctx, args...)
	return err
}

// slots are where decide keeps its prepared statements, or nils.
func (st *decideStmts) slots() (exit, move, send **sql.Stmt) {
	if st == nil {
		return nil, nil, nil
	}
	return &st.exit, &st.move, &st.send
}

func (st *decideStmts) close() {
	for _, p := range []*sql.Stmt{st.exit, st.move, st.send} {
		if p != nil {
			p.Close()
		}
	}
}

func (s *Store) decide(ctx context.Context, tx *sql.Tx, st *decideStmts, d runtime.Decision) error {
	var err error
	exit, move, send := st.slots()
	at := s.t(d.At)
	var next, waiting, trigger, arm any
	if d.Arm != "" {
		arm = d.Arm
	}
	if !d.NextCheck.IsZero() {
		next = s.t(d.NextCheck)
	}
	if d.Waiting != "" {
		waiting = d.Waiting
	}
	if d.Trigger != "" {
		trigger = d.Trigger
	}
	if d.Exit != "" {
		err = s.exec(ctx, tx, exit, `UPDATE enrollments SET state = ?, exited_at = ?, exit_reason = ?, next_check_at = NULL, waiting = NULL, arm = COALESCE(arm, ?) WHERE id = ? AND state = ?`,
			stateExited, at, d.Exit, arm, d.Enrollment, stateActive)
	} else {
		err = s.exec(ctx, tx, move, `UPDATE enrollments SET step = ?, step_since = ?, next_check_at = ?, waiting = ?, trigger_event = ?, arm = COALESCE(arm, ?) WHERE id = ? AND state = ?`,
			d.Step, s.t(d.StepSince), next, waiting, trigger, arm, d.Enrollment, stateActive)
	}
	if err != nil {
		return fmt.Errorf("enrollment %d: %w", d.Enrollment, err)
	}
	if m := d.Send; m != nil {
		var variant, mtrigger any
		if m.Variant != "" {
			variant = m.Variant
		}
		if m.Trigger != "" {
			mtrigger = m.Trigger
		}
		if err := s.exec(ctx, tx, send, `INSERT INTO sends (key, contact_id, sequence, step, version, email, variant, status, planned_at, trigger_event, subject_variant) VALUES (?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
			m.Key, d.Contact, m.Sequence, m.Step, d.Version, m.Email, variant, at, mtrigger, nullable(m.SubjectVariant)); err != nil {
			return fmt.Errorf("planning %s: %w", m.Key, err)
		}
	}
	return s.decideExtras(ctx, tx, d)
}

// decideExtras writes what a decision brings beside the enrollment and
// the ledger: attributes, a hand-off, enrollments, a suppression.
func (s *Store) decideExtras(ctx context.Context, tx *sql.Tx, d runtime.Decision) error {
	at := s.t(d.At)
	if len(d.Set) > 0 {
		names, _ := s.contactColumns()
		known := map[string]bool{}
		for _, n := range names {
			known[n] = true
		}
		var set []string
		var args []any
		for _, k := range sortedKeys(d.Set) {
			col := column(k)
			if !known[k] && !isBuiltin(k) {
				return fmt.Errorf("the store has no column for attribute %s", k)
			}
			set, args = append(set, col+" = ?"), append(args, s.encode(d.Set[k]))
		}
		// Stamped by the store's clock, as imports are: the next tick
		// counts changes by it, whatever time this tick was run at.
		set, args = append(set, "updated_at = ?"), append(args, s.t(s.Now()), d.Contact)
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE contacts SET `+strings.Join(set, ", ")+` WHERE id = ?`), args...); err != nil {
			return fmt.Errorf("setting attributes of contact %d: %w", d.Contact, err)
		}
	}
	if d.Returned != "" {
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE account_handoffs SET returned_at = ?
WHERE handoff = ? AND account_key = (SELECT account FROM contacts WHERE id = ?) AND returned_at IS NULL`), at, d.Returned, d.Contact); err != nil {
			return fmt.Errorf("closing the account hand-off of contact %d: %w", d.Contact, err)
		}
	}
	if d.Handoff != "" {
		if err := s.handOff(ctx, tx, d); err != nil {
			return fmt.Errorf("handing off contact %d: %w", d.Contact, err)
		}
	}
	for _, e := range d.Enroll {
		if _, err := s.enroll(ctx, tx, []int64{d.Contact}, e.Sequence, e.Step, d.Version, d.At); err != nil {
			return fmt.Errorf("enrolling contact %d in %s: %w", d.Contact, e.Sequence, err)
		}
	}
	if d.Suppress != "" {
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO suppressions (email_key, email, reason, source, at) SELECT email_key, email, ?, ?, ? FROM contacts WHERE id = ? ON CONFLICT (email_key, reason) DO NOTHING`),
			d.Suppress, "sequence:"+d.Sequence, at, d.Contact); err != nil {
			return fmt.Errorf("suppressing contact %d: %w", d.Contact, err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE contacts SET changed_at = ? WHERE id = ?`), s.t(s.Now()), d.Contact); err != nil {
			return fmt.Errorf("suppressing contact %d: %w", d.Contact, err)
		}
	}
	return nil
}

// handOff records a decision's hand-off: a pending hand-off of the
// contact, or of its account. An account hand-off is made once while it
// is open: the decision first takes the lock of the account's row in
// account_handoffs (inserting it if need be), and opens a new hand-off
// only if the last one was returned or its cooldown has passed;
// otherwise the contact joins the open one. Under PostgreSQL's read
// committed, a second worker's UPDATE waits for the first's commit and
// then finds the row open, so two workers make one hand-off.
func (s *Store) handOff(ctx context.Context, tx *sql.Tx, d runtime.Decision) error {
	at := s.t(d.At)
	reason := cmp.Or(d.Exit, "step")
	var key string
	if d.HandoffAccount {
		var k sql.NullString
		if err := tx.QueryRowContext(ctx, s.rebind(`SELECT account FROM contacts WHERE id = ?`), d.Contact).Scan(&k); err != nil {
			return err
		}
		key = k.String
	}
	if key == "" {
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO handoffs (contact_id, handoff, reason, sequence, status, created_at, next_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)`),
			d.Contact, d.Handoff, reason, d.Sequence, at, at)
		return err
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO account_handoffs (handoff, account_key) VALUES (?, ?) ON CONFLICT (handoff, account_key) DO NOTHING`),
		d.Handoff, key); err != nil {
		return err
	}
	var until any
	if !d.HandoffUntil.IsZero() {
		until = s.t(d.HandoffUntil)
	}
	r, err := tx.ExecContext(ctx, s.rebind(`UPDATE account_handoffs SET handoff_id = NULL, opened_at = ?, open_until = ?, returned_at = NULL
WHERE handoff = ? AND account_key = ? AND (handoff_id IS NULL OR returned_at IS NOT NULL OR open_until <= ?)`),
		at, until, d.Handoff, key, at)
	if err != nil {
		return err
	}
	var id int64
	if n, err := r.RowsAffected(); err != nil {
		return err
	} else if n == 1 {
		if err := tx.QueryRowContext(ctx, s.rebind(`INSERT INTO handoffs (contact_id, handoff, reason, sequence, status, created_at, next_at, account_key)
VALUES (?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id`), d.Contact, d.Handoff, reason, d.Sequence, at, at, key).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE account_handoffs SET handoff_id = ? WHERE handoff = ? AND account_key = ?`), id, d.Handoff, key); err != nil {
			return err
		}
	} else if err := tx.QueryRowContext(ctx, s.rebind(`SELECT handoff_id FROM account_handoffs WHERE handoff = ? AND account_key = ?`), d.Handoff, key).Scan(&id); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO handoff_contacts (handoff_id, contact_id, reason, sequence, at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (handoff_id, contact_id) DO NOTHING`), id, d.Contact, reason, d.Sequence, at)
	return err
}

// ContactByID finds a contact by ID, or returns nil.
func (s *Store) ContactByID(ctx context.Context, id int64) (*runtime.Contact, error) {
	c, err := s.scanContact(s.db.QueryRowContext(ctx, s.rebind(`SELECT `+s.selectContact("")+` FROM contacts WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c.Prefs, err = s.Preferences(ctx, id); err != nil {
		return nil, err
	}
	return &c, nil
}

// ClaimSends claims up to limit of the sends planned by now, oldest
// first, for worker, and writes each one's Message-ID (messageID of its
// key, when messageID is not nil) with the claim; the hand-over's mark
// writes it again (see HandOver). A send whose address is now
// suppressed is cancelled, not claimed. Delivery records what was
// accepted with its marks, not with its claims, so a claim records
// nothing else.
//
// Where the dialect hashes in SQL (Dialect.SHA256Hex), the claim
// computes the Message-IDs itself: one statement, one round trip, where
// a transaction writing them after costs four. Each is checked against
// messageID, and any that differs written again as messageID says.
func (s *Store) ClaimSends(ctx context.Context, worker string, now time.Time, limit int, messageID func(key string) string) ([]runtime.Claim, error) {
	if messageID != nil && s.d.SHA256Hex != nil {
		return s.claimHashing(ctx, worker, now, limit, messageID)
	}
	claim, claimArgs := s.claimSends(worker, now, limit, "")
	// The claim and the Message-IDs' statement are prepared once: they
	// run every few messages.
	claimStmt, err := s.stmt(ctx, claim)
	if err != nil {
		return nil, err
	}
	midStmt, err := s.stmt(ctx, `UPDATE sends SET message_id = ? WHERE id = ?`)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for {
		out, _, cancelled, err := s.runClaim(func() (*sql.Rows, error) { return tx.StmtContext(ctx, claimStmt).QueryContext(ctx, claimArgs...) })
		if err != nil {
			return nil, err
		}
		if messageID != nil {
			mid := tx.StmtContext(ctx, midStmt)
			for _, c := range out {
				if _, err := mid.ExecContext(ctx, messageID(c.Key), c.ID); err != nil {
					return nil, err
				}
			}
		}
		if len(out) > 0 || cancelled == 0 {
			return out, tx.Commit()
		}
	}
}

// claimHashing is ClaimSends in one statement that writes the
// Message-IDs too (see Dialect.SHA256Hex).
func (s *Store) claimHashing(ctx context.Context, worker string, now time.Time, limit int, messageID func(key string) string) ([]runtime.Claim, error) {
	// A Message-ID is the key's hash at the sender's domain (see
	// mail.MessageID); the domain is the same for every key.
	domain := messageID("")
	domain = domain[strings.LastIndexByte(domain, '@')+1:]
	claim, claimArgs := s.claimSends(worker, now, limit, domain)
	for {
		out, got, cancelled, err := s.runClaim(func() (*sql.Rows, error) { return s.db.QueryContext(ctx, claim, claimArgs...) })
		if err != nil {
			return nil, err
		}
		var ids []int64
		var mids []string
		for _, c := range out {
			if want := messageID(c.Key); got[c.ID] != want {
				ids, mids = append(ids, c.ID), append(mids, want)
			}
		}
		if len(ids) > 0 {
			// The SQL and mail.MessageID disagree: Go's word is the
			// one the message carries.
			if _, err := s.db.ExecContext(ctx, s.rebind(`UPDATE sends SET message_id = m.mid
FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[])) AS m(id, mid) WHERE sends.id = m.id`), ids, mids); err != nil {
				return nil, fmt.Errorf("writing the Message-IDs of %d sends claimed: %w", len(ids), err)
			}
		}
		if len(out) > 0 || cancelled == 0 {
			return out, nil
		}
	}
}

// claimSends is the statement that claims up to limit of the sends
// planned by now, oldest first, for worker, in one UPDATE … RETURNING:
// those whose address is suppressed are cancelled instead, and returned
// with that status. The pauses are asked once a statement, not once a
// send looked at: a planner that misjudges how many sends are planned
// (statistics from before the tick planned them) sorts them all, and
// then a pause looked up for each cost a claim tens of milliseconds.
// With a domain, it writes each claimed send's Message-ID, its key's
// hash at domain (Dialect.SHA256Hex). Rebound.
func (s *Store) claimSends(worker string, now time.Time, limit int, domain string) (string, []any) {
	const suppressed = `EXISTS (SELECT 1 FROM contacts c JOIN suppressions x ON x.email_key = c.email_key WHERE c.id = sends.contact_id)`
	var set string
	var args []any
	if s.d.ServerEpoch != "" {
		set += "\n  claimed_epoch = CASE WHEN " + suppressed + " THEN claimed_epoch ELSE " + s.d.ServerEpoch + " END,"
	}
	if domain != "" {
		set += "\n  message_id = CASE WHEN " + suppressed + " THEN message_id ELSE substr(" + s.d.SHA256Hex("key") + ", 1, 24) || '@' || ? END,"
		args = append(args, domain)
	}
	return s.rebind(`UPDATE sends SET` + set + `
  status = CASE WHEN ` + suppressed + ` THEN ? ELSE ? END,
  error = CASE WHEN ` + suppressed + ` THEN 'the address is suppressed' ELSE error END,
  claimed_at = CASE WHEN ` + suppressed + ` THEN claimed_at ELSE ? END,
  claimed_by = CASE WHEN ` + suppressed + ` THEN claimed_by ELSE ? END
WHERE id IN (SELECT s.id FROM sends s WHERE s.status = ? AND s.planned_at <= ?
  AND s.sequence NOT IN (SELECT p.sequence FROM pauses p) AND NOT EXISTS (SELECT 1 FROM pauses p WHERE p.sequence = '')
  ORDER BY s.planned_at, s.id LIMIT ?` + s.d.SkipLocked + `)
RETURNING id, key, contact_id, sequence, step, email, COALESCE(variant, ''), version, attempts, status, planned_at,
  (SELECT ev.props FROM events ev WHERE ev.id = sends.trigger_event), COALESCE(message_id, '')`),
		append(args, runtime.SendCancelled, runtime.SendClaimed, s.t(now), worker, runtime.SendPlanned, s.t(now), limit)
}

// runClaim runs a claim statement and returns the sends claimed, oldest
// first, with the Message-IDs the claim wrote, and how many it
// cancelled.
func (s *Store) runClaim(query func() (*sql.Rows, error)) ([]runtime.Claim, map[int64]string, int, error) {
	rows, err := query()
	if err != nil {
		return nil, nil, 0, err
	}
	defer rows.Close()
	var out []runtime.Claim
	mids := map[int64]string{}
	cancelled := 0
	for rows.Next() {
		var c runtime.Claim
		var status, mid string
		var planned, trigger any
		if err := rows.Scan(&c.ID, &c.Key, &c.Contact, &c.Sequence, &c.Step, &c.Email, &c.Variant, &c.Version, &c.Attempts, &status, &planned, &trigger, &mid); err != nil {
			return nil, nil, 0, err
		}
		var err error
		if c.TriggerProps, err = decodeProps(trigger); err != nil {
			return nil, nil, 0, fmt.Errorf("send %s: reading its triggering event: %w", c.Key, err)
		}
		if status != runtime.SendClaimed {
			cancelled++
			continue
		}
		c.Planned, _ = s.scanTime(planned)
		out = append(out, c)
		mids[c.ID] = mid
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, err
	}
	// RETURNING keeps no order.
	slices.SortFunc(out, func(a, b runtime.Claim) int {
		return cmp.Or(a.Planned.Compare(b.Planned), cmp.Compare(a.ID, b.ID))
	})
	return out, mids, cancelled, nil
}

// FinishSend records what became of a claimed send.
func (s *Store) FinishSend(ctx context.Context, id int64, status, messageID, failure string, now time.Time) error {
	var mid, errText any
	if messageID != "" {
		mid = messageID
	}
	if failure != "" {
		errText = failure
	}
	_, err := s.db.ExecContext(ctx, s.rebind(`UPDATE sends SET status = ?, sent_at = ?, message_id = ?, error = ? WHERE id = ? AND status = ?`),
		status, s.t(now), mid, errText, id, runtime.SendClaimed)
	return err
}

// markPrefix begins the report of a tick mark (see MarkTick), which the
// ticks table keeps beside the ticks recorded: a tick's own report is
// its result, an object that begins otherwise.
const markPrefix = `{"reached":`

// LastTick is the latest tick recorded: the time it ran at, when it
// began by the store's clock, and the programme version it ran; or zeros.
// Marks of a tick that has not finished are not ticks.
func (s *Store) LastTick(ctx context.Context) (at, started time.Time, version int64, err error) {
	var a, st any
	err = s.db.QueryRowContext(ctx, s.rebind(`SELECT at, started_at, version FROM ticks WHERE report NOT LIKE ? ORDER BY at DESC, id DESC LIMIT 1`), markPrefix+"%").Scan(&a, &st, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, time.Time{}, 0, nil
	}
	if err != nil {
		return time.Time{}, time.Time{}, 0, err
	}
	at, _ = s.scanTime(a)
	if st != nil {
		started, _ = s.scanTime(st)
	}
	return at, started, version, nil
}

// RecordTick records a finished tick that ran at a time and began at
// started by the store's clock, and its report (JSON); and removes the
// marks of ticks that had not finished, in the same transaction.
func (s *Store) RecordTick(ctx context.Context, at, started time.Time, worker string, version int64, report string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM ticks WHERE report LIKE ?`), markPrefix+"%"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO ticks (at, started_at, worker, version, finished_at, report) VALUES (?, ?, ?, ?, ?, ?)`),
		s.t(at), s.t(started), worker, version, s.t(s.Now()), report); err != nil {
		return err
	}
	return tx.Commit()
}

// MarkTick records that the tick m describes, not yet finished, has
// done every phase up to m.Reached.
func (s *Store) MarkTick(ctx context.Context, m runtime.TickMark) error {
	report, err := json.Marshal(struct {
		Reached string `json:"reached"`
		Full    bool   `json:"full"`
	}{m.Reached, m.Full})
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.rebind(`INSERT INTO ticks (at, started_at, worker, version, finished_at, report) VALUES (?, ?, ?, ?, ?, ?)`),
		s.t(m.At), s.t(m.Started), m.Worker, m.Version, s.t(s.Now()), string(report))
	return err
}

// TickMark is the latest mark of a tick that has not finished since,
// or nil.
func (s *Store) TickMark(ctx context.Context) (*runtime.TickMark, error) {
	var a, st any
	var m runtime.TickMark
	var report string
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT at, started_at, worker, version, report FROM ticks WHERE report LIKE ? ORDER BY id DESC LIMIT 1`), markPrefix+"%").
		Scan(&a, &st, &m.Worker, &m.Version, &report)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r struct {
		Reached string `json:"reached"`
		Full    bool   `json:"full"`
	}
	if err := json.Unmarshal([]byte(report), &r); err != nil {
		return nil, fmt.Errorf("reading the mark of an unfinished tick: %w", err)
	}
	m.At, _ = s.scanTime(a)
	m.Started, _ = s.scanTime(st)
	m.Reached, m.Full = r.Reached, r.Full
	return &m, nil
}

// Clock is the store's clock, which stamps what it records.
func (s *Store) Clock() time.Time { return s.Now() }

// DueHandoffs lists the pending hand-offs whose next attempt has come.
func (s *Store) DueHandoffs(ctx context.Context, now time.Time, limit int) ([]runtime.PendingHandoff, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT id, contact_id, handoff, reason, COALESCE(sequence, ''), attempts, created_at, COALESCE(account_key, '') FROM handoffs
WHERE status = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?`), s.t(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.PendingHandoff
	for rows.Next() {
		var h runtime.PendingHandoff
		var created any
		if err := rows.Scan(&h.ID, &h.Contact, &h.Handoff, &h.Reason, &h.Sequence, &h.Attempts, &created, &h.Account); err != nil {
			return nil, err
		}
		h.CreatedAt, _ = s.scanTime(created)
		out = append(out, h)
	}
	return out, rows.Err()
}

// RecordHandoff records an attempt at a hand-off: done, failed for good,
// or pending again at next.
func (s *Store) RecordHandoff(ctx context.Context, id int64, status string, attempts int, next time.Time, failure string, now time.Time) error {
	var nextAt, done, errText any
	if status == "pending" {
		nextAt = s.t(next)
	} else {
		done = s.t(now)
	}
	if failure != "" {
		errText = failure
	}
	_, err := s.db.ExecContext(ctx, s.rebind(`UPDATE handoffs SET status = ?, attempts = ?, next_at = ?, last_error = ?, done_at = ? WHERE id = ?`),
		status, attempts, nextAt, errText, done, id)
	return err
}

// Changed returns up to limit IDs above after of the contacts whose
// attributes changed or who got events at or after a time.
func (s *Store) Changed(ctx context.Context, since time.Time, after int64, limit int) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT id FROM contacts WHERE (updated_at >= ? OR changed_at >= ?) AND id > ? ORDER BY id LIMIT ?`),
		s.t(since), s.t(since), after, limit)
	if err != nil {
		return nil, err
	}
	return scanIDs(rows)
}

// ActiveWhere lists, above enrollment after, the active enrollments in
// sequence (at step, when given; entered at or before enteredBy, when
// given) whose contact meets p at now.
func (s *Store) ActiveWhere(ctx context.Context, prog *campaigns.Program, sequence, step string, enteredBy time.Time, p campaigns.Predicate, now time.Time, after int64, limit int) ([]runtime.Active, error) {
	where, args, err := s.Where(prog, p, now)
	if err != nil {
		return nil, err
	}
	q := `SELECT en.id, en.contact_id, en.sequence, COALESCE(en.step, ''), en.step_since, en.entered_at, en.version, COALESCE(en.waiting, ''), COALESCE(en.trigger_event, ''), COALESCE(en.arm, '')
FROM enrollments en JOIN contacts c ON c.id = en.contact_id
WHERE en.state = ? AND en.sequence = ? AND en.id > ?`
	all := []any{stateActive, sequence, after}
	if step != "" {
		q += ` AND en.step = ?`
		all = append(all, step)
	}
	if !enteredBy.IsZero() {
		q += ` AND en.entered_at <= ?`
		all = append(all, s.t(enteredBy))
	}
	q += ` AND ` + where + ` ORDER BY en.id LIMIT ?`
	all = append(append(all, args...), limit)
	rows, err := s.db.QueryContext(ctx, s.rebind(q), all...)
	if err != nil {
		return nil, err
	}
	return s.scanActive(rows)
}

// ContactsByID finds contacts by ID.
func (s *Store) ContactsByID(ctx context.Context, ids []int64) (map[int64]*runtime.Contact, error) {
	out := make(map[int64]*runtime.Contact, len(ids))
	for i := 0; i < len(ids); i += 500 {
		cond, arg := s.idsList("id", ids[i:min(i+500, len(ids))])
		st, err := s.stmt(ctx, `SELECT `+s.selectContact("")+` FROM contacts WHERE `+cond)
		if err != nil {
			return nil, err
		}
		rows, err := st.QueryContext(ctx, arg)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			c, err := s.scanContact(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[c.ID] = &c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	prefs, err := s.preferences(ctx, ids)
	if err != nil {
		return nil, err
	}
	for id, p := range prefs {
		if c := out[id]; c != nil {
			c.Prefs = p
		}
	}
	return out, nil
}

// SendsOf lists the planned and sent emails of contacts since a time.
func (s *Store) SendsOf(ctx context.Context, ids []int64, since time.Time) (map[int64][]runtime.Sent, error) {
	out := map[int64][]runtime.Sent{}
	for i := 0; i < len(ids); i += 500 {
		cond, args := s.idsIn("contact_id", ids[i:min(i+500, len(ids))])
		rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT contact_id, sequence, planned_at FROM sends WHERE `+cond+` AND planned_at >= ? AND status <> 'failed' ORDER BY planned_at`),
			append(args, s.t(since))...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var x runtime.Sent
			var at any
			if err := rows.Scan(&id, &x.Sequence, &at); err != nil {
				rows.Close()
				return nil, err
			}
			x.At, _ = s.scanTime(at)
			out[id] = append(out[id], x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanIDs reads a column of IDs.
func scanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// AccountSends lists, by account, the times of the marketing-countable
// emails planned or sent to any contact of the accounts since a time.
func (s *Store) AccountSends(ctx context.Context, accounts []string, since time.Time) (map[string][]runtime.Sent, error) {
	out := map[string][]runtime.Sent{}
	for i := 0; i < len(accounts); i += 500 {
		cond, args := s.keysIn("c.account", accounts[i:min(i+500, len(accounts))])
		for j, c := range cond {
			rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT c.account, s.sequence, s.planned_at FROM sends s JOIN contacts c ON c.id = s.contact_id
WHERE `+c+` AND s.planned_at >= ? AND s.status <> 'failed'`), append(args[j], s.t(since))...)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var acct string
				var x runtime.Sent
				var at any
				if err := rows.Scan(&acct, &x.Sequence, &at); err != nil {
					rows.Close()
					return nil, err
				}
				x.At, _ = s.scanTime(at)
				out[acct] = append(out[acct], x)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Candidates returns, by ID, the contacts an incremental tick looks at:
// those whose attributes or events changed, or whose score crossed a
// threshold the programme tests, at or after w.Changed by the store's
// clock; those whose enrollments ended at or after w.Since; and
// those a condition in w turned for between w.Since and w.Now. Each part
// is a range over an indexed time.
func (s *Store) Candidates(ctx context.Context, w runtime.Watch) ([]int64, error) {
	changed := s.t(cmp.Or(w.Changed, w.Since))
	parts := []string{
		`SELECT id FROM contacts WHERE updated_at >= ?`,
		`SELECT id FROM contacts WHERE changed_at >= ?`,
		`SELECT contact_id FROM scores WHERE changed_at >= ?`,
		// An exit is dated by the tick that decided it.
		`SELECT contact_id FROM enrollments WHERE exited_at >= ?`,
	}
	args := []any{changed, changed, changed, s.t(w.Since)}
	// A condition "t within span" holds at now when t >= now - span: it
	// turned since the last tick when t lies between since - span and
	// now - span.
	edge := func(q string, span time.Duration, first ...any) {
		parts = append(parts, q)
		args = append(append(args, first...), s.t(w.Since.Add(-span)), s.t(w.Now.Add(-span)))
	}
	for _, ev := range w.Events {
		edge(`SELECT contact_id FROM events WHERE name = ? AND at >= ? AND at <= ?`, ev.Span, ev.Event)
	}
	types := s.attrTypes()
	for _, a := range w.Attrs {
		if _, ok := types[a.Field]; !ok {
			return nil, fmt.Errorf("the store has no column for attribute %s: sync the schema first", a.Field)
		}
		col := column(a.Field)
		edge(`SELECT id FROM contacts WHERE `+col+` >= ? AND `+col+` <= ?`, a.Span)
	}
	for _, span := range w.Inactive {
		edge(`SELECT id FROM contacts WHERE COALESCE(last_engaged_at, created_at) >= ? AND COALESCE(last_engaged_at, created_at) <= ?`, span)
	}
	for _, e := range w.Entered {
		edge(`SELECT contact_id FROM enrollments WHERE state = 'active' AND sequence = ? AND entered_at >= ? AND entered_at <= ?`, e.Span, e.Sequence)
	}
	for _, e := range w.Exited {
		edge(`SELECT contact_id FROM enrollments WHERE sequence = ? AND exited_at >= ? AND exited_at <= ?`, e.Span, e.Sequence)
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(strings.Join(parts, "\nUNION ")+"\nORDER BY 1"), args...)
	if err != nil {
		return nil, err
	}
	return scanIDs(rows)
}

// ContactsWhere lists, above ID after, the IDs of up to limit contacts
// that meet p at now.
func (s *Store) ContactsWhere(ctx context.Context, prog *campaigns.Program, p campaigns.Predicate, now time.Time, after int64, limit int) ([]int64, error) {
	where, args, err := s.Where(prog, p, now)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT c.id FROM contacts c WHERE c.id > ? AND `+where+` ORDER BY c.id LIMIT ?`),
		append(append([]any{after}, args...), limit)...)
	if err != nil {
		return nil, err
	}
	return scanIDs(rows)
}

// NextCheck returns the earliest time an active enrollment is due to be
// looked at again, or zero when none is. A virtual clock jumps to it.
func (s *Store) NextCheck(ctx context.Context) (time.Time, error) {
	var v any
	if err := s.db.QueryRowContext(ctx, s.rebind(`SELECT MIN(next_check_at) FROM enrollments WHERE state = ? AND `+notPaused("enrollments.sequence")), stateActive).Scan(&v); err != nil {
		return time.Time{}, err
	}
	t, _ := s.scanTime(v)
	return t, nil
}

// nullable is v, or NULL when it is empty.
func nullable(v string) any {
	if v == "" {
		return nil
	}
	return v
}
