package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// stageTable holds a batch of an import on the dialects with
// StagedUpsert. It is temporary and dropped at commit, so every batch
// makes its own with the columns the store has then.
const stageTable = "nurture_import_contacts"

// upsertStaged is UpsertContacts where the dialect has StagedUpsert: the
// batch goes to a temporary table by BulkInsert, and one statement then
// does what the row-by-row path does — update the stored contacts whose
// values the batch changes, insert the new ones, record the consents —
// with the same rules:
//
//   - a later line naming an address an earlier one named is rejected;
//   - a stored contact takes only the values its line holds (present),
//     never clears a required attribute, and is updated (updated_at) only
//     when its address as written, its role or one of those values
//     differs;
//   - a new contact lacking a required attribute is rejected, the first
//     missing one named, as missingRequired names it;
//   - a new contact's consent is inserted as it is, a stored contact's
//     only when not recorded yet, and a stored contact with a newly
//     recorded consent is marked changed (changed_at) for the next tick.
//
// tx is open on conn.
func (s *Store) upsertStaged(ctx context.Context, conn *sql.Conn, tx *sql.Tx, schema *campaigns.ContactSchema, batch []runtime.ContactRecord, who string) (runtime.UpsertResult, error) {
	var res runtime.UpsertResult
	names, types := s.contactColumns()
	now := s.t(s.Now())
	required := requiredAttrs(schema)
	byLine := make(map[int]*runtime.ContactRecord, len(batch))
	seen := make(map[string]int, len(batch))
	rows := make([][]any, 0, len(batch))
	for i := range batch {
		rec := &batch[i]
		key := runtime.EmailKey(rec.Email)
		if line, dup := seen[key]; dup {
			res.Rejected = append(res.Rejected, runtime.Rejected{Line: rec.Line, Email: rec.Email,
				Reason: fmt.Sprintf("the same address as line %d", line)})
			continue
		}
		seen[key] = rec.Line
		byLine[rec.Line] = rec
		rows = append(rows, s.stageRow(rec, key, names, required, who))
	}
	if len(rows) == 0 {
		return res, nil
	}

	cols := []string{"line", "email", "email_key", "role", "present", "missing", "consent", "c_at", "c_source", "c_wording", "c_who"}
	defs := []string{"BIGINT", "TEXT", "TEXT", "BOOLEAN", "BOOLEAN[]", "TEXT", "BOOLEAN", s.d.Types[tim], "TEXT", "TEXT", "TEXT"}
	for _, n := range names {
		cols, defs = append(cols, column(n)), append(defs, s.d.Types[types[n]])
	}
	ddl := make([]string, len(cols))
	for i := range cols {
		ddl[i] = cols[i] + " " + defs[i]
	}
	if _, err := tx.ExecContext(ctx, `CREATE TEMPORARY TABLE `+stageTable+` (`+strings.Join(ddl, ", ")+`) ON COMMIT DROP`); err != nil {
		return res, fmt.Errorf("making the import's staging table: %w", err)
	}
	if err := s.d.BulkInsert(ctx, conn, stageTable, cols, rows); err != nil {
		return res, err
	}

	// The stored contacts a batch updates are found by the email_key
	// index. Left to itself the planner hashed the whole contacts table
	// for every batch instead — a 10,000-row batch against 100,000
	// contacts read them all twice, 1.3 s where the index lookups take
	// 65 ms — so that an import's cost grew with the square of the list.
	for _, set := range []string{`SET LOCAL enable_hashjoin = off`, `SET LOCAL enable_mergejoin = off`} {
		if _, err := tx.ExecContext(ctx, set); err != nil {
			return res, err
		}
	}
	q, args := s.stagedUpsert(schema, names, now)
	out, err := tx.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return res, fmt.Errorf("upserting the batch: %w", err)
	}
	var inserted, consented []string
	var missing []int
	for out.Next() {
		var kind string
		var key sql.NullString
		var n int64
		if err := out.Scan(&kind, &key, &n); err != nil {
			out.Close()
			return res, err
		}
		switch kind {
		case "updated":
			res.Updated = int(n)
		case "inserted":
			inserted = append(inserted, key.String)
		case "consented":
			consented = append(consented, key.String)
		case "missing":
			missing = append(missing, int(n))
		}
	}
	out.Close()
	if err := out.Err(); err != nil {
		return res, err
	}
	for _, reset := range []string{`RESET enable_hashjoin`, `RESET enable_mergejoin`} {
		if _, err := tx.ExecContext(ctx, reset); err != nil {
			return res, err
		}
	}
	for _, line := range missing {
		rec := byLine[line]
		res.Rejected = append(res.Rejected, runtime.Rejected{Line: rec.Line, Email: rec.Email,
			Reason: fmt.Sprintf("a new contact needs %s, which is required", missingRequired(required, *rec))})
	}
	// Rejects go back in line order, as the row-by-row path gives them.
	slices.SortFunc(res.Rejected, func(a, b runtime.Rejected) int { return a.Line - b.Line })
	res.Inserted = len(inserted)
	res.Unchanged = len(rows) - res.Inserted - res.Updated - len(missing)

	// A stored contact that has just consented may now enter marketing
	// sequences: the next tick must look at it, even when none of its
	// attributes changed. (Not in the statement above: it updates these
	// contacts already, and a statement may change a row once.)
	if len(consented) > 0 {
		conds, cargs := s.keysIn("email_key", consented)
		for i, cond := range conds {
			if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE contacts SET changed_at = ? WHERE `+cond), append([]any{now}, cargs[i]...)...); err != nil {
				return res, err
			}
		}
	}
	if len(inserted) > 0 {
		if err := s.attachPending(ctx, tx, inserted, s.Now()); err != nil {
			return res, fmt.Errorf("attaching the events kept for the new contacts: %w", err)
		}
	}
	return res, nil
}

// stageRow is a record as the staging table holds it: which of the
// columns the line holds (present), the first required attribute it
// lacks should it be new (missing), and its consent.
func (s *Store) stageRow(rec *runtime.ContactRecord, key string, names, required []string, who string) []any {
	present := make([]bool, len(names))
	row := make([]any, 11, 11+len(names))
	for i, n := range names {
		v, ok := rec.Values[n]
		present[i] = ok
		row = append(row, s.encode(v))
	}
	var miss any
	if m := missingRequired(required, *rec); m != "" {
		miss = m
	}
	row[0], row[1], row[2], row[3], row[4], row[5] = int64(rec.Line), rec.Email, key, rec.Role, present, miss
	if c := rec.Consent; c != nil {
		w := c.Who
		if w == "" {
			w = who
		}
		row[6], row[7], row[8], row[9], row[10] = true, s.t(c.At), c.Source, c.Wording, w
	} else {
		row[6] = false
	}
	return row
}

// stagedUpsert is the statement that applies the staging table to the
// store, and its arguments. It returns one row per fact, (kind, key, n):
// ("updated", NULL, how many stored contacts changed), ("inserted", key)
// for each new contact, ("consented", key) for each stored contact whose
// consent was recorded now, and ("missing", NULL, line) for each new
// contact rejected for a missing required attribute.
//
// Every part reads the contacts as they were before the statement: look
// finds whether each staged contact is stored, once, and the parts go
// by that. (An index lookup a part cost a fifth of a fresh batch.)
func (s *Store) stagedUpsert(schema *campaigns.ContactSchema, names []string, now any) (string, []any) {
	changed := []string{"c.email <> s.email", "c.role <> s.role"}
	set := []string{"email = s.email", "role = s.role"}
	ins := []string{"email", "email_key", "role", "created_at", "updated_at"}
	at := "CAST(? AS " + s.d.Types[tim] + ")"
	sel := []string{"s.email", "s.email_key", "s.role", at, at}
	for i, n := range names {
		col := column(n)
		// present[i] is the line holding the column; a required value
		// is never cleared.
		takes := "s.present[" + strconv.Itoa(i+1) + "]"
		if a := schema.Attributes[n]; a != nil && a.Required {
			takes += " AND s." + col + " IS NOT NULL"
		}
		changed = append(changed, "("+takes+" AND c."+col+" IS DISTINCT FROM s."+col+")")
		set = append(set, col+" = CASE WHEN "+takes+" THEN s."+col+" ELSE c."+col+" END")
		ins, sel = append(ins, col), append(sel, "s."+col)
	}
	consentCols := `email_key, at, source, wording, who, recorded_at`
	q := `WITH look AS MATERIALIZED (
	SELECT s.*, EXISTS (SELECT 1 FROM contacts k WHERE k.email_key = s.email_key) AS stored FROM ` + stageTable + ` s
), upd AS (
	UPDATE contacts c SET ` + strings.Join(set, ", ") + `, updated_at = ` + at + `
	FROM look s
	WHERE s.stored AND c.email_key = s.email_key AND (` + strings.Join(changed, " OR ") + `)
	RETURNING 1
), ins AS (
	INSERT INTO contacts (` + strings.Join(ins, ", ") + `)
	SELECT ` + strings.Join(sel, ", ") + ` FROM look s
	WHERE NOT s.stored AND s.missing IS NULL
	RETURNING email_key
), fresh AS (
	INSERT INTO consents (` + consentCols + `)
	SELECT s.email_key, s.c_at, s.c_source, s.c_wording, s.c_who, ` + at + ` FROM look s
	WHERE s.consent AND NOT s.stored AND s.missing IS NULL
), known AS (
	INSERT INTO consents (` + consentCols + `)
	SELECT s.email_key, s.c_at, s.c_source, s.c_wording, s.c_who, ` + at + ` FROM look s
	WHERE s.consent AND s.stored
	ON CONFLICT (email_key, at, source, wording) DO NOTHING
	RETURNING email_key
)
SELECT 'updated', CAST(NULL AS TEXT), (SELECT COUNT(*) FROM upd)
UNION ALL SELECT 'inserted', email_key, 0 FROM ins
UNION ALL SELECT 'consented', email_key, 0 FROM known
UNION ALL SELECT 'missing', NULL, s.line FROM look s WHERE NOT s.stored AND s.missing IS NOT NULL`
	return q, []any{now, now, now, now, now}
}
