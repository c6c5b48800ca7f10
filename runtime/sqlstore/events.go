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

	var rows [][]any
	engaged := map[int64]time.Time{}
	for _, e := range batch {
		id, ok := ids[runtime.EmailKey(e.Email)]
		if !ok {
			res.Rejected = append(res.Rejected, runtime.Rejected{Line: e.Line, Email: e.Email,
				Reason: "no contact has this address: import the contact first"})
			continue
		}
		props := "{}"
		if len(e.Props) > 0 {
			b, err := json.Marshal(e.Props)
			if err != nil {
				return res, fmt.Errorf("line %d: properties: %w", e.Line, err)
			}
			props = string(b)
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
	if err := s.markEngaged(ctx, tx, engaged); err != nil {
		return res, err
	}
	if err := s.markChanged(ctx, tx, rows); err != nil {
		return res, err
	}
	return res, tx.Commit()
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
