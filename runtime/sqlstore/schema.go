package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// builtinColumns are the attributes every contact has a column for, beside
// email.
var builtinColumns = []string{campaigns.AttrStage, campaigns.AttrTimezone, campaigns.AttrAccount, campaigns.AttrAccountTier}

func isBuiltin(name string) bool {
	switch name {
	case campaigns.AttrEmail, campaigns.AttrStage, campaigns.AttrTimezone, campaigns.AttrAccount, campaigns.AttrAccountTier:
		return true
	}
	return false
}

// column is the contacts column holding an attribute.
func column(name string) string {
	if isBuiltin(name) {
		return name
	}
	return "a_" + name
}

// storageType is the type an attribute is stored as: enums are strings.
func storageType(t string) string {
	if t == campaigns.TypeEnum {
		return campaigns.TypeString
	}
	return t
}

func (s *Store) loadAttrs(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT name, type FROM contact_attributes`)
	if err != nil {
		return err
	}
	defer rows.Close()
	attrs := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return err
		}
		attrs[name] = typ
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.attrs = attrs
	s.mu.Unlock()
	return nil
}

// attrTypes is a copy of the stored attributes and their types.
func (s *Store) attrTypes() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]string, len(s.attrs))
	for k, v := range s.attrs {
		m[k] = v
	}
	return m
}

// SyncSchema adds a column for each declared attribute the store lacks.
// Columns of attributes the programme dropped stay, with their data: a
// later programme may declare them again.
func (s *Store) SyncSchema(ctx context.Context, schema *campaigns.ContactSchema) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.d.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, s.d.LockMigrations); err != nil {
			return err
		}
	}
	have := map[string]string{}
	rows, err := tx.QueryContext(ctx, `SELECT name, type FROM contact_attributes`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return err
		}
		have[name] = typ
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	var conflicts []string
	added := false
	for _, name := range sortedKeys(schema.Attributes) {
		a := schema.Attributes[name]
		if a.Builtin || isBuiltin(name) {
			continue
		}
		want := storageType(a.Type)
		if got, ok := have[name]; ok {
			if got != want {
				conflicts = append(conflicts, fmt.Sprintf("%s is %s in the programme but the store holds %s values", name, a.Type, got))
			}
			continue
		}
		typ, ok := s.d.Types[want]
		if !ok {
			return fmt.Errorf("attribute %s: no column type for %s", name, want)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE contacts ADD COLUMN %s %s`, column(name), typ)); err != nil {
			return fmt.Errorf("adding a column for attribute %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO contact_attributes (name, type, added_at) VALUES (?, ?, ?)`),
			name, want, s.t(s.Now())); err != nil {
			return err
		}
		added = true
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("the store's contacts do not fit the programme: %s; keep the old type, or declare the attribute under a new name",
			strings.Join(conflicts, "; "))
	}
	if !added {
		// Another process may have added columns since this one loaded its
		// attributes (several workers share a PostgreSQL store): take what
		// the store holds now, or the next upsert refuses them.
		s.mu.Lock()
		s.attrs = have
		s.mu.Unlock()
		return nil
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return s.loadAttrs(ctx)
}

// encode turns a typed attribute value into what the store keeps.
func (s *Store) encode(v any) any {
	switch v := v.(type) {
	case bool:
		if s.d.IntTimes { // SQLite keeps booleans as 0 and 1
			if v {
				return int64(1)
			}
			return int64(0)
		}
		return v
	case time.Time:
		return s.t(v)
	}
	return v
}

// decode turns what the store returned into a typed attribute value.
func (s *Store) decode(v any, typ string) any {
	if v == nil {
		return nil
	}
	switch typ {
	case campaigns.TypeBool:
		switch v := v.(type) {
		case bool:
			return v
		case int64:
			return v != 0
		}
	case campaigns.TypeTime:
		if t, ok := s.scanTime(v); ok {
			return t
		}
	case campaigns.TypeInt:
		switch v := v.(type) {
		case int64:
			return v
		case float64:
			return int64(v)
		}
	case campaigns.TypeNumber:
		switch v := v.(type) {
		case float64:
			return v
		case int64:
			return float64(v)
		}
	default:
		switch v := v.(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
	}
	return v
}
