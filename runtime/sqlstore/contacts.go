package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// maxParams keeps every statement under the engines' parameter limits
// (SQLite 32766, PostgreSQL 65535).
const maxParams = 30000

// contactColumns are the columns of a contact, email first, then the
// built-in attributes, then the declared ones by name.
func (s *Store) contactColumns() (names []string, types map[string]string) {
	types = s.attrTypes()
	names = append(names, builtinColumns...)
	for _, n := range builtinColumns {
		types[n] = campaigns.TypeString
	}
	for _, n := range sortedKeys(types) {
		if !isBuiltin(n) {
			names = append(names, n)
		}
	}
	return names, types
}

func (s *Store) selectContact(alias string) string {
	names, _ := s.contactColumns()
	cols := []string{alias + "id", alias + "email", alias + "role", alias + "created_at", alias + "updated_at"}
	for _, n := range names {
		cols = append(cols, alias+column(n))
	}
	return strings.Join(cols, ", ")
}

// scanContact reads a row selected by selectContact.
func (s *Store) scanContact(rows interface{ Scan(...any) error }) (runtime.Contact, error) {
	names, types := s.contactColumns()
	var c runtime.Contact
	var role, created, updated any
	vals := make([]any, len(names))
	dest := []any{&c.ID, &c.Email, &role, &created, &updated}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	if err := rows.Scan(dest...); err != nil {
		return c, err
	}
	switch r := role.(type) {
	case bool:
		c.Role = r
	case int64:
		c.Role = r != 0
	}
	c.CreatedAt, _ = s.scanTime(created)
	c.UpdatedAt, _ = s.scanTime(updated)
	c.Values = map[string]any{campaigns.AttrEmail: c.Email}
	for i, n := range names {
		if v := s.decode(vals[i], types[n]); v != nil {
			c.Values[n] = v
		}
	}
	return c, nil
}

// UpsertContacts inserts the batch's new contacts and updates the ones
// whose values changed, in one transaction.
func (s *Store) UpsertContacts(ctx context.Context, schema *campaigns.ContactSchema, batch []runtime.ContactRecord, who string) (runtime.UpsertResult, error) {
	var res runtime.UpsertResult
	names, types := s.contactColumns()
	for _, rec := range batch {
		for k := range rec.Values {
			if _, ok := types[k]; !ok && k != campaigns.AttrEmail {
				return res, fmt.Errorf("line %d: the store has no column for attribute %s: sync the schema first", rec.Line, k)
			}
		}
	}
	// The transaction runs on a connection of its own so that the
	// dialect's BulkInsert can reach it (see Dialect.BulkInsert).
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	if s.d.StagedUpsert && s.d.BulkInsert != nil && s.d.WritableCTE {
		if res, err = s.upsertStaged(ctx, conn, tx, schema, batch, who); err != nil {
			return res, err
		}
		return res, tx.Commit()
	}

	existing, err := s.existingContacts(ctx, tx, batch)
	if err != nil {
		return res, err
	}
	now := s.Now()
	required := requiredAttrs(schema)
	var inserts [][]any
	// seen is the line that first named each address; accepted, the
	// lines that were stored, whose consents are recorded.
	seen := make(map[string]int, len(batch))
	accepted := make(map[string]int, len(batch))
	for _, rec := range batch {
		key := runtime.EmailKey(rec.Email)
		if line, dup := seen[key]; dup {
			res.Rejected = append(res.Rejected, runtime.Rejected{Line: rec.Line, Email: rec.Email,
				Reason: fmt.Sprintf("the same address as line %d", line)})
			continue
		}
		seen[key], accepted[key] = rec.Line, rec.Line
		old, ok := existing[key]
		if !ok {
			if missing := missingRequired(required, rec); missing != "" {
				res.Rejected = append(res.Rejected, runtime.Rejected{Line: rec.Line, Email: rec.Email,
					Reason: fmt.Sprintf("a new contact needs %s, which is required", missing)})
				delete(accepted, key)
				continue
			}
			row := []any{rec.Email, key, s.encode(rec.Role), s.t(now), s.t(now)}
			for _, n := range names {
				row = append(row, s.encode(rec.Values[n]))
			}
			inserts = append(inserts, row)
			res.Inserted++
			continue
		}
		var set []string
		var args []any
		if old.Email != rec.Email {
			set, args = append(set, "email = ?"), append(args, rec.Email)
		}
		if old.Role != rec.Role {
			set, args = append(set, "role = ?"), append(args, s.encode(rec.Role))
		}
		for _, n := range names {
			v, ok := rec.Values[n]
			if !ok || sameValue(v, old.Values[n]) {
				continue
			}
			if v == nil && schema.Attributes[n] != nil && schema.Attributes[n].Required {
				continue // a required value is never cleared
			}
			set, args = append(set, column(n)+" = ?"), append(args, s.encode(v))
		}
		if len(set) == 0 {
			res.Unchanged++
			continue
		}
		set, args = append(set, "updated_at = ?"), append(args, s.t(now), old.ID)
		if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE contacts SET `+strings.Join(set, ", ")+` WHERE id = ?`), args...); err != nil {
			return res, fmt.Errorf("updating line %d: %w", rec.Line, err)
		}
		res.Updated++
	}
	if len(inserts) > 0 {
		cols := []string{"email", "email_key", "role", "created_at", "updated_at"}
		ctypes := []string{str, str, campaigns.TypeBool, tim, tim}
		for _, n := range names {
			cols, ctypes = append(cols, column(n)), append(ctypes, types[n])
		}
		if err := s.insertRows(ctx, conn, tx, "contacts", cols, ctypes, inserts); err != nil {
			return res, err
		}
	}
	if err := s.recordConsents(ctx, conn, tx, batch, accepted, existing, who, now); err != nil {
		return res, err
	}
	if len(inserts) > 0 {
		keys := make([]string, len(inserts))
		for i, row := range inserts {
			keys[i] = row[1].(string)
		}
		if err := s.attachPending(ctx, tx, keys, now); err != nil {
			return res, fmt.Errorf("attaching the events kept for the new contacts: %w", err)
		}
	}
	return res, tx.Commit()
}

// requiredAttrs are the attributes a new contact needs, by name. It is
// worked out once a batch: sorting the schema for every record cost an
// import a tenth of its time.
func requiredAttrs(schema *campaigns.ContactSchema) []string {
	var names []string
	for _, n := range sortedKeys(schema.Attributes) {
		if n != campaigns.AttrEmail && schema.Attributes[n].Required {
			names = append(names, n)
		}
	}
	return names
}

func missingRequired(required []string, rec runtime.ContactRecord) string {
	for _, n := range required {
		if rec.Values[n] == nil {
			return n
		}
	}
	return ""
}

// sameValue compares a record's value with the stored one. Times compare
// to the millisecond the store keeps: finer is not a change.
func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Truncate(time.Millisecond).Equal(tb.Truncate(time.Millisecond))
	}
	return reflect.DeepEqual(a, b)
}

// existingContacts loads the stored contacts the batch names, by key.
func (s *Store) existingContacts(ctx context.Context, tx *sql.Tx, batch []runtime.ContactRecord) (map[string]runtime.Contact, error) {
	out := make(map[string]runtime.Contact, len(batch))
	keys := make([]string, len(batch))
	for i, r := range batch {
		keys[i] = runtime.EmailKey(r.Email)
	}
	conds, args := s.keysIn("email_key", keys)
	for i, cond := range conds {
		rows, err := tx.QueryContext(ctx, s.rebind(`SELECT `+s.selectContact("")+` FROM contacts WHERE `+cond), args[i]...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			c, err := s.scanContact(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[runtime.EmailKey(c.Email)] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// insertRows inserts rows with the dialect's bulk path when it has one;
// tx is open on conn.
func (s *Store) insertRows(ctx context.Context, conn *sql.Conn, tx *sql.Tx, table string, cols, types []string, rows [][]any) error {
	if s.d.BulkInsert != nil && len(rows) > 1 {
		return s.d.BulkInsert(ctx, conn, table, cols, rows)
	}
	_, err := s.insertCount(ctx, tx, table, cols, types, "", rows)
	return err
}

// insertCount inserts rows into table and returns how many it wrote;
// suffix (an ON CONFLICT clause) follows the rows. types are the columns'
// types as the programme names them (campaigns.TypeString, …, or
// typeJSON). Where the driver takes arrays it is one statement whatever
// the number of rows — INSERT … SELECT FROM unnest(…), a column a
// parameter — and otherwise multi-row INSERTs within the parameter limit.
func (s *Store) insertCount(ctx context.Context, tx *sql.Tx, table string, cols, types []string, suffix string, rows [][]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") "
	if s.d.AnyArray {
		casts := make([]string, len(cols))
		args := make([]any, len(cols))
		for j := range cols {
			casts[j] = "CAST(? AS " + s.d.Types[types[j]] + "[])"
			col := make([]any, len(rows))
			for i, r := range rows {
				col[i] = r[j]
			}
			args[j] = col
		}
		res, err := tx.ExecContext(ctx, s.rebind(head+"SELECT * FROM unnest("+strings.Join(casts, ", ")+")"+suffix), args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	per := max(1, min(500, maxParams/len(cols)))
	tuple := "(" + placeholders(len(cols)) + ")"
	values := func(k int) string {
		return head + "VALUES " + strings.TrimSuffix(strings.Repeat(tuple+", ", k), ", ") + suffix
	}
	// The statement of a full part is prepared once when several use it:
	// SQLite otherwise parses its thousands of parameters again for
	// every part.
	var full *sql.Stmt
	if len(rows) >= 2*per {
		var err error
		if full, err = tx.PrepareContext(ctx, s.rebind(values(per))); err != nil {
			return 0, err
		}
		defer full.Close()
	}
	var total int64
	args := make([]any, 0, per*len(cols))
	for i := 0; i < len(rows); i += per {
		part := rows[i:min(i+per, len(rows))]
		args = args[:0]
		for _, r := range part {
			args = append(args, r...)
		}
		var res sql.Result
		var err error
		if full != nil && len(part) == per {
			res, err = full.ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, s.rebind(values(len(part))), args...)
		}
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// recordConsents stores the consent each accepted record carries.
//
// A contact this batch created has no consent records yet — they are
// written only beside their contact, and contacts are never deleted — so
// its consents go in as they are, by the bulk path, without the ON
// CONFLICT check. That check doubled the cost of a consent on PostgreSQL
// (speculative insertion), which for a first import with a consent on
// every row was a third of the import. Stored contacts' consents keep it:
// importing the same file twice records each consent once. Were a
// contact ever deleted and its consents kept, importing it again would
// fail the batch on the unique key rather than record a consent twice.
func (s *Store) recordConsents(ctx context.Context, conn *sql.Conn, tx *sql.Tx, batch []runtime.ContactRecord, accepted map[string]int, existing map[string]runtime.Contact, who string, now time.Time) error {
	var fresh, known [][]any
	for _, rec := range batch {
		c := rec.Consent
		key := runtime.EmailKey(rec.Email)
		if c == nil || accepted[key] != rec.Line {
			continue
		}
		w := c.Who
		if w == "" {
			w = who
		}
		row := []any{key, s.t(c.At), c.Source, c.Wording, w, s.t(now)}
		if _, ok := existing[key]; ok {
			known = append(known, row)
		} else {
			fresh = append(fresh, row)
		}
	}
	cols := []string{"email_key", "at", "source", "wording", "who", "recorded_at"}
	types := []string{str, tim, str, str, str, tim}
	if err := s.insertRows(ctx, conn, tx, "consents", cols, types, fresh); err != nil {
		return err
	}
	n, err := s.insertCount(ctx, tx, "consents", cols, types, ` ON CONFLICT (email_key, at, source, wording) DO NOTHING`, known)
	if err != nil || n == 0 {
		return err
	}
	// A stored contact that has just consented may now enter marketing
	// sequences: the next tick must look at it, even when none of its
	// attributes changed.
	keys := make([]string, len(known))
	for i, row := range known {
		keys[i] = row[0].(string)
	}
	conds, args := s.keysIn("email_key", keys)
	for i, cond := range conds {
		q := `UPDATE contacts SET changed_at = ? WHERE ` + cond +
			` AND EXISTS (SELECT 1 FROM consents k WHERE k.email_key = contacts.email_key AND k.recorded_at = ?)`
		if _, err := tx.ExecContext(ctx, s.rebind(q), append(append([]any{s.t(now)}, args[i]...), s.t(now))...); err != nil {
			return err
		}
	}
	return nil
}

// Consents returns the address's consent records, oldest first.
func (s *Store) Consents(ctx context.Context, email string) ([]runtime.Consent, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT at, source, wording, who FROM consents WHERE email_key = ? ORDER BY at, id`), runtime.EmailKey(email))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []runtime.Consent
	for rows.Next() {
		c := runtime.Consent{Email: email}
		var at any
		if err := rows.Scan(&at, &c.Source, &c.Wording, &c.Who); err != nil {
			return nil, err
		}
		c.At, _ = s.scanTime(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Contacts calls fn for every contact, by ID. It reads in pages so that no
// transaction stays open while fn runs.
func (s *Store) Contacts(ctx context.Context, fn func(runtime.Contact) error) error {
	var after int64
	for {
		rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT `+s.selectContact("")+` FROM contacts WHERE id > ? ORDER BY id LIMIT 1000`), after)
		if err != nil {
			return err
		}
		var page []runtime.Contact
		for rows.Next() {
			c, err := s.scanContact(rows)
			if err != nil {
				rows.Close()
				return err
			}
			page = append(page, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range page {
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// Contact finds a contact by address, or returns nil.
func (s *Store) Contact(ctx context.Context, email string) (*runtime.Contact, error) {
	c, err := s.scanContact(s.db.QueryRowContext(ctx, s.rebind(`SELECT `+s.selectContact("")+` FROM contacts WHERE email_key = ?`), runtime.EmailKey(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}
