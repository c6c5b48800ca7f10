package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/runtime"
)

// TrackingKeys returns the keys not retired, newest first. A store with
// none gets one: the first send or the tracking server creates it.
func (s *Store) TrackingKeys(ctx context.Context) ([]runtime.TrackingKey, error) {
	keys, err := s.trackingKeys(ctx, false)
	if err != nil || len(keys) > 0 {
		return keys, err
	}
	if _, err := s.RotateTrackingKey(ctx); err != nil {
		return nil, err
	}
	return s.trackingKeys(ctx, false)
}

// AllTrackingKeys lists every key, retired ones too, newest first.
func (s *Store) AllTrackingKeys(ctx context.Context) ([]runtime.TrackingKey, error) {
	return s.trackingKeys(ctx, true)
}

func (s *Store) trackingKeys(ctx context.Context, retired bool) ([]runtime.TrackingKey, error) {
	q := `SELECT id, secret, created_at, retired_at FROM tracking_keys`
	if !retired {
		q += ` WHERE retired_at IS NULL`
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.TrackingKey
	for rows.Next() {
		var k runtime.TrackingKey
		var secret string
		var created, ret any
		if err := rows.Scan(&k.ID, &secret, &created, &ret); err != nil {
			return nil, err
		}
		if k.Secret, err = hex.DecodeString(secret); err != nil {
			return nil, fmt.Errorf("tracking key %d is damaged: %w", k.ID, err)
		}
		k.CreatedAt, _ = s.scanTime(created)
		if ret != nil {
			k.RetiredAt, _ = s.scanTime(ret)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RotateTrackingKey adds a new random key, which signs from now on; the
// older keys still verify until retired.
func (s *Store) RotateTrackingKey(ctx context.Context) (runtime.TrackingKey, error) {
	k := runtime.TrackingKey{Secret: make([]byte, 32), CreatedAt: s.Now()}
	if _, err := rand.Read(k.Secret); err != nil {
		return k, err
	}
	err := s.db.QueryRowContext(ctx, s.rebind(`INSERT INTO tracking_keys (secret, created_at) VALUES (?, ?) RETURNING id`),
		hex.EncodeToString(k.Secret), s.t(k.CreatedAt)).Scan(&k.ID)
	return k, err
}

// RetireTrackingKey stops a key verifying: links signed with it stop
// working. It reports whether the key existed and was in use.
func (s *Store) RetireTrackingKey(ctx context.Context, id int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`UPDATE tracking_keys SET retired_at = ? WHERE id = ? AND retired_at IS NULL`), s.t(s.Now()), id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

const selectSend = `SELECT id, key, contact_id, sequence, step, email, COALESCE(variant, ''), status, COALESCE(message_id, ''), sent_at, version,
  (SELECT ev.props FROM events ev WHERE ev.id = sends.trigger_event) FROM sends`

// Send finds a ledger row by ID, or returns nil.
func (s *Store) Send(ctx context.Context, id int64) (*runtime.SendRecord, error) {
	return s.scanSend(s.db.QueryRowContext(ctx, s.rebind(selectSend+` WHERE id = ?`), id))
}

// SendByMessageID finds a ledger row by the Message-ID it went out with
// (with or without angle brackets), or returns nil.
func (s *Store) SendByMessageID(ctx context.Context, messageID string) (*runtime.SendRecord, error) {
	mid := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(messageID), "<"), ">")
	return s.scanSend(s.db.QueryRowContext(ctx, s.rebind(selectSend+` WHERE message_id = ? ORDER BY id LIMIT 1`), mid))
}

func (s *Store) scanSend(row *sql.Row) (*runtime.SendRecord, error) {
	var r runtime.SendRecord
	var sent, trigger any
	err := row.Scan(&r.ID, &r.Key, &r.Contact, &r.Sequence, &r.Step, &r.Email, &r.Variant, &r.Status, &r.MessageID, &sent, &r.Version, &trigger)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if sent != nil {
		r.SentAt, _ = s.scanTime(sent)
	}
	if r.TriggerProps, err = decodeProps(trigger); err != nil {
		return nil, fmt.Errorf("send %d: reading its triggering event: %w", r.ID, err)
	}
	return &r, nil
}

// RetrySend puts a claimed send the mail server deferred back in the
// ledger, planned again at at.
func (s *Store) RetrySend(ctx context.Context, id int64, at time.Time, failure string) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`UPDATE sends SET status = ?, planned_at = ?, attempts = attempts + 1, error = ?, claimed_at = NULL, claimed_by = NULL,
  handover_at = NULL
WHERE id = ? AND status = ?`), runtime.SendPlanned, s.t(at), failure, id, runtime.SendClaimed)
	return err
}

// Preferences returns what a contact chose on the preference page.
func (s *Store) Preferences(ctx context.Context, contact int64) (runtime.Preferences, error) {
	ps, err := s.preferences(ctx, []int64{contact})
	return ps[contact], err
}

func (s *Store) preferences(ctx context.Context, ids []int64) (map[int64]runtime.Preferences, error) {
	out := map[int64]runtime.Preferences{}
	for i := 0; i < len(ids); i += 500 {
		cond, args := s.idsIn("contact_id", ids[i:min(i+500, len(ids))])
		rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT contact_id, frequency, topics_out, paused_until, updated_at FROM preferences WHERE `+cond), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var p runtime.Preferences
			var topics string
			var paused, at any
			if err := rows.Scan(&id, &p.Frequency, &topics, &paused, &at); err != nil {
				rows.Close()
				return nil, err
			}
			p.TopicsOut = strings.FieldsFunc(topics, func(r rune) bool { return r == ',' })
			p.PausedUntil, _ = s.scanTime(paused)
			p.UpdatedAt, _ = s.scanTime(at)
			out[id] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ChosenFrequencies counts the contacts by the frequency they chose on
// the preference page; those who chose none are not counted.
func (s *Store) ChosenFrequencies(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT frequency, COUNT(*) FROM preferences WHERE frequency <> '' GROUP BY frequency`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var f string
		var n int
		if err := rows.Scan(&f, &n); err != nil {
			return nil, err
		}
		out[f] = n
	}
	return out, rows.Err()
}

// SetPreferences records a contact's choices at now. The contact changed
// for the engine, which looks at it again at the next tick.
func (s *Store) SetPreferences(ctx context.Context, contact int64, p runtime.Preferences, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	topics := ""
	if len(p.TopicsOut) > 0 {
		topics = "," + strings.Join(p.TopicsOut, ",") + ","
	}
	var paused any
	if !p.PausedUntil.IsZero() {
		paused = s.t(p.PausedUntil)
	}
	// A pause ended early (resumed from the page, or shortened) wakes the
	// contact's enrollments that wait for it: they sleep until the date
	// the pause said, and are decided again now.
	var was any
	if err := tx.QueryRowContext(ctx, s.rebind(`SELECT paused_until FROM preferences WHERE contact_id = ?`), contact).Scan(&was); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if old, ok := s.scanTime(was); ok && old.After(now) && (p.PausedUntil.IsZero() || p.PausedUntil.Before(old)) {
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE enrollments SET next_check_at = ? WHERE contact_id = ? AND state = ? AND next_check_at > ?`),
			s.t(now), contact, stateActive, s.t(now)); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO preferences (contact_id, frequency, topics_out, paused_until, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (contact_id) DO UPDATE SET frequency = excluded.frequency, topics_out = excluded.topics_out, paused_until = excluded.paused_until, updated_at = excluded.updated_at`),
		contact, p.Frequency, topics, paused, s.t(now)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE contacts SET changed_at = ? WHERE id = ?`), s.t(s.Now()), contact); err != nil {
		return err
	}
	return tx.Commit()
}

// DeliveryStats counts the emails accepted and the hard bounces and
// complaints recorded at or after since.
func (s *Store) DeliveryStats(ctx context.Context, since time.Time) (runtime.DeliveryStats, error) {
	var st runtime.DeliveryStats
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT
  (SELECT COUNT(*) FROM sends WHERE status = ? AND sent_at >= ?),
  (SELECT COUNT(*) FROM events e WHERE e.name = 'email.bounced' AND e.at >= ? AND COALESCE(`+s.d.Prop("kind", "string")+`, 'hard') <> 'soft'),
  (SELECT COUNT(*) FROM events WHERE name = 'email.complained' AND at >= ?)`),
		runtime.SendAccepted, s.t(since), s.t(since), s.t(since)).Scan(&st.Sent, &st.Bounced, &st.Complained)
	return st, err
}

// ResolveSend settles an unknown send on evidence: accepted when its
// recipient opened or clicked it, failed when it bounced. It reports
// whether the send was unknown.
func (s *Store) ResolveSend(ctx context.Context, id int64, status, why string) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`UPDATE sends SET status = ?, error = COALESCE(error, '') || ? WHERE id = ? AND status = ?`),
		status, "; resolved "+status+": "+why, id, runtime.SendUnknown)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
