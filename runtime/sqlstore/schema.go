package sqlstore

import (
	"context"
	"database/sql"
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
	attrs, err := s.registry(ctx, s.db, "contact_attributes")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.attrs = attrs
	s.mu.Unlock()
	return nil
}

// registry reads a table of attributes with a column (contact_attributes,
// account_attributes): name → stored type.
func (s *Store) registry(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, table string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, type FROM `+table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	attrs := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		attrs[name] = typ
	}
	return attrs, rows.Err()
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
// later programme may declare them again. It reads the account attributes
// again too, which another process may have added since.
func (s *Store) SyncSchema(ctx context.Context, schema *campaigns.ContactSchema) error {
	attrs := map[string]*campaigns.Attribute{}
	for name, a := range schema.Attributes {
		if !a.Builtin && !isBuiltin(name) {
			attrs[name] = a
		}
	}
	if err := s.syncColumns(ctx, "contacts", "contact_attributes", attrs, "the store's contacts"); err != nil {
		return err
	}
	if err := s.loadAttrs(ctx); err != nil {
		return err
	}
	return s.loadAccountAttrs(ctx)
}

// syncColumns adds to table a column a_<name> for each of attrs that
// registry does not list yet, and lists it; what says whose columns they
// are, for the message refusing an attribute whose type changed.
func (s *Store) syncColumns(ctx context.Context, table, registry string, attrs map[string]*campaigns.Attribute, what string) error {
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
	have, err := s.registry(ctx, tx, registry)
	if err != nil {
		return err
	}
	var conflicts []string
	added := false
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
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
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s ADD COLUMN %s %s`, table, column(name), typ)); err != nil {
			return fmt.Errorf("adding a column for attribute %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO `+registry+` (name, type, added_at) VALUES (?, ?, ?)`),
			name, want, s.t(s.Now())); err != nil {
			return err
		}
		added = true
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("%s do not fit the programme: %s; keep the old type, or declare the attribute under a new name",
			what, strings.Join(conflicts, "; "))
	}
	if !added {
		return nil
	}
	return tx.Commit()
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
