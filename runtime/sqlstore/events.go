package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
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
	const chunk = 500
	for i := 0; i < len(batch); i += chunk {
		part := batch[i:min(i+chunk, len(batch))]
		var args []any
		for _, e := range part {
			args = append(args, runtime.EmailKey(e.Email))
		}
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT id, email_key FROM contacts WHERE email_key IN (`+placeholders(len(args))+`)`), args...)
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
		if campaigns.IsEngagement(e.Name) && e.At.After(engaged[id]) {
			engaged[id] = e.At
		}
	}
	if len(rows) > 0 {
		n, err := s.insertCount(ctx, tx, `INSERT INTO events (id, contact_id, name, at, props) VALUES `, ` ON CONFLICT (id) DO NOTHING`,
			[]string{"id", "contact_id", "name", "at", "props"}, rows)
		if err != nil {
			return res, err
		}
		res.Inserted = int(n)
		res.Duplicate = len(rows) - int(n)
	}
	for id, at := range engaged {
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE contacts SET last_engaged_at = ? WHERE id = ? AND (last_engaged_at IS NULL OR last_engaged_at < ?)`),
			s.t(at), id, s.t(at)); err != nil {
			return res, err
		}
	}
	return res, tx.Commit()
}
