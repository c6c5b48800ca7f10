// Package sqlstore is the part of the SQL stores that SQLite and PostgreSQL
// share: migrations, typed contact columns, upserts, events, suppressions
// and segment predicates compiled to parameterised SQL. The adapters in
// runtime/sqlite and runtime/postgres open the connection and supply the
// Dialect; nothing outside those adapters imports this package.
//
// Values never reach SQL text: every value is a parameter, and the only
// names written into SQL are column names built from attribute names, which
// the language restricts to [a-z][a-z0-9_]*.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Column types beside the programme's, for the tables nurture owns.
const (
	str      = campaigns.TypeString
	tim      = campaigns.TypeTime
	typeJSON = "json" // event properties
)

// Dialect is what differs between the SQL engines.
type Dialect struct {
	Name string
	// Migrations holds NNNN_name.sql files, applied in order.
	Migrations fs.FS
	// Types maps attribute types, and typeJSON, to column types.
	Types map[string]string
	// Placeholder is the n-th parameter, from 1.
	Placeholder func(n int) string
	// Regexp is a condition that expr matches the pattern in param.
	Regexp func(expr, param string) string
	// Prop reads an event property of type typ from e.props.
	Prop func(key, typ string) string
	// Exists writes "c is one of the contacts this subquery selects" as
	// EXISTS (…) rather than c.id IN (…). PostgreSQL needs it: it never
	// turns NOT IN into an anti join, and runs it as a subplan that, once
	// the subquery's hash outgrows work_mem, rescans the subquery for every
	// contact (a segment of "not viewed a page" over 100k contacts and
	// work_mem=256kB ran for minutes instead of 0.2 s). NOT EXISTS becomes
	// a hash anti join. SQLite keeps IN, which its planner and indexes are
	// tuned for.
	Exists bool
	// AnyArray passes a list as one array parameter: keys as
	// IN (SELECT unnest(?)) instead of IN (?, ?, …) in chunks, and rows to insert as one
	// unnest(?, ?, …) of columns instead of multi-row VALUES — one
	// statement a batch instead of forty, and one plan whatever the
	// batch's size.
	AnyArray bool
	// Least, Greatest and Pow name the SQL functions of two numbers.
	Least, Greatest, Pow string
	// AgeSeconds writes how many seconds before the time in param the
	// time in col is.
	AgeSeconds func(param, col string) string
	// IntTimes stores times as Unix milliseconds (SQLite) rather than as
	// timestamps.
	IntTimes bool
	// LockMigrations, when set, runs first in the migration transaction so
	// that two processes never migrate at once.
	LockMigrations string
	// WritableCTE runs an UPDATE … RETURNING inside a WITH of a SELECT:
	// a write and a read in one statement, one round trip to the server
	// where a transaction of two costs four (BEGIN, the two, COMMIT).
	// SQLite has no such WITH, and no round trips to save.
	WritableCTE bool
	// SkipLocked follows a SELECT of rows to claim, so that workers
	// claiming at once take different rows (" FOR UPDATE SKIP LOCKED").
	// SQLite needs none: one writer at a time.
	SkipLocked string
	// LockApply, when set, runs first in an apply's transaction so that
	// two applies never both pass the check of the version in force.
	// SQLite needs none: it has one writer at a time.
	LockApply string
	// BulkInsert, when set, inserts new contacts faster than multi-row
	// INSERT (PostgreSQL COPY). It gets the connection rather than the
	// *sql.Tx because database/sql offers no way to COPY on a Tx: the
	// upsert's transaction is open on conn, and BulkInsert must write
	// inside it (through conn.Raw) so that the batch stays all or nothing.
	BulkInsert func(ctx context.Context, conn *sql.Conn, table string, cols []string, rows [][]any) error
	// StagedUpsert imports contacts by BulkInsert into a temporary
	// table, then one statement that updates the stored contacts the
	// batch changes, inserts the new ones and records their consents
	// (see upsertStaged). Looking the batch up first and updating its
	// stored contacts one statement each cost PostgreSQL a round trip a
	// changed row. It needs BulkInsert and WritableCTE.
	StagedUpsert bool
	// BeginRehearsal opens the transaction of a rehearsal (see
	// Store.Rehearse). SQLite's takes the write lock at once, so that
	// the rehearsal queues behind a writer rather than failing to
	// upgrade its read lock midway.
	BeginRehearsal string
	// ServerEpoch, when set, is an expression naming the server's
	// current run (PostgreSQL: pg_postmaster_start_time()). Delivery's
	// hand-over marks then commit without waiting for the write-ahead
	// log to reach the disk: a commit a message costs a few
	// milliseconds of flush otherwise, on the message's path. A worker
	// that dies loses nothing the server acknowledged; the server
	// crashing may lose the last marks. So each claim records the epoch
	// it was made in, and recovery treats an unmarked claim of an
	// earlier epoch as possibly handed over (unknown), never planned
	// again. SQLite commits in the process; it needs none.
	ServerEpoch string
	// SHA256Hex, when set, is the SQL of the SHA-256 of a text
	// expression, in hex: a claim then writes its Message-IDs (see
	// mail.MessageID) in its own statement (PostgreSQL). SQLite writes
	// them with a statement a send, in the process.
	SHA256Hex func(expr string) string
	// FreshenSends, when set, refreshes the planner's statistics of the
	// sends table when many rows changed since they were taken: a
	// claim planned on statistics from before a tick planned thousands
	// of sends sorts them all instead of reading the index in order.
	// PostgreSQL analyzes by itself, but a minute late.
	FreshenSends string
}

// Store is a runtime.Store over database/sql.
type Store struct {
	db *sql.DB
	d  Dialect
	// Now is the clock for created_at, updated_at and recorded_at.
	Now func() time.Time
	// Connector makes connections of the store's own, apart from its
	// pool: a rehearsal needs one. The adapters set it.
	Connector driver.Connector

	mu    sync.Mutex
	attrs map[string]string // attribute name → type, as the store has them
	// accountAttrs are the account attributes' types, as the store has them.
	accountAttrs map[string]string
	stmts        map[string]*sql.Stmt
}

// stmt is q, rebound, prepared once for the store's pool: for a
// statement run once a message, whose parsing would cost more than its
// work. A transaction uses it with tx.StmtContext.
func (s *Store) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stmts[q]; st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.rebind(q))
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[q] = st
	return st, nil
}

var _ runtime.Store = (*Store)(nil)

// Open migrates db and returns a store over it.
func Open(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	// database/sql keeps 2 idle connections by default. Delivery queries
	// from its claim loop and its opt-out checks at once, beside the
	// tracking server's or a second worker's queries: with 2 kept, the
	// rest were closed after each query and the next opened a new one —
	// a new PostgreSQL backend per message. 8 covers that without
	// holding many of PostgreSQL's 100 default connections idle.
	db.SetMaxIdleConns(8)
	s := &Store{db: db, d: d, Now: time.Now}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if err := s.loadAttrs(ctx); err != nil {
		return nil, err
	}
	if err := s.loadAccountAttrs(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// DB is the connection, for the adapters and tests.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the connection.
func (s *Store) Close() error { return s.db.Close() }

// Dialect names the engine.
func (s *Store) Dialect() string { return s.d.Name }

// ErrNewer is returned by Open for a store migrated by a newer nurture.
var ErrNewer = errors.New("store is newer than this nurture")

type migration struct {
	version int
	name    string
	sql     string
}

func (s *Store) migrations() ([]migration, error) {
	files, err := fs.Glob(s.d.Migrations, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, f := range files {
		num, name, ok := strings.Cut(strings.TrimSuffix(path.Base(f), ".sql"), "_")
		// Numbers rise, and may skip: branches developed side by side
		// each take their own numbers, and a store migrated by one goes
		// on with the others' above its own.
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 || len(ms) > 0 && v <= ms[len(ms)-1].version {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql numbered above the one before", f)
		}
		b, err := fs.ReadFile(s.d.Migrations, f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{v, name, string(b)})
	}
	return ms, nil
}

// migrate applies the migrations the store lacks, each in its own
// transaction with its record in schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	for {
		done, err := s.migrateOne(ctx, ms)
		if err != nil || done {
			return err
		}
	}
}

func (s *Store) migrateOne(ctx context.Context, ms []migration) (done bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if s.d.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, s.d.LockMigrations); err != nil {
			return false, err
		}
	}
	// Under the lock: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe
	// against itself, and workers starting together on an empty database
	// would fail on a duplicate pg_type row.
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`); err != nil {
		return false, fmt.Errorf("preparing migrations: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return false, err
	}
	last := 0
	if len(ms) > 0 {
		last = ms[len(ms)-1].version
	}
	if have > last {
		return false, fmt.Errorf("%w: its schema is at version %d and this nurture knows up to %d; upgrade nurture to use it", ErrNewer, have, last)
	}
	if have == last {
		return true, nil
	}
	m := ms[slices.IndexFunc(ms, func(m migration) bool { return m.version > have })]
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
		m.version, m.name, s.Now().UTC().Format(time.RFC3339)); err != nil {
		return false, err
	}
	return false, tx.Commit()
}

// SchemaVersion is the number of the store's last migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// rebind turns ? placeholders into the dialect's.
func (s *Store) rebind(q string) string {
	if s.d.Placeholder == nil || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString(s.d.Placeholder(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// t encodes a time for the store.
func (s *Store) t(t time.Time) any {
	if s.d.IntTimes {
		return t.UnixMilli()
	}
	// Both stores keep milliseconds, the unit the engine's windows
	// assume; a timestamp column would keep microseconds.
	return t.UTC().Truncate(time.Millisecond)
}

// scanTime decodes a time the store returned.
func (s *Store) scanTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case int64:
		return time.UnixMilli(v).UTC(), true
	case time.Time:
		return v.UTC(), true
	}
	return time.Time{}, false
}

// placeholders is "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// keysIn splits a list of email keys into conditions on col, each with
// its arguments, within the dialect's parameter limits.
func (s *Store) keysIn(col string, keys []string) (conds []string, args [][]any) {
	if s.d.AnyArray {
		// Not "= ANY(?)": with thousands of keys the planner expects
		// thousands of rows and scans the whole table, ten times slower
		// than looking each up (the lookups of a 1M-contact import took
		// 12 of its 47 seconds). A semi-join on the unnested array looks
		// them up in the index.
		return []string{col + " IN (SELECT unnest(CAST(? AS TEXT[])))"}, [][]any{{keys}}
	}
	const chunk = 250
	for i := 0; i < len(keys); i += chunk {
		part := keys[i:min(i+chunk, len(keys))]
		a := make([]any, len(part))
		for j, k := range part {
			a[j] = k
		}
		conds = append(conds, col+" IN ("+placeholders(len(part))+")")
		args = append(args, a)
	}
	return conds, args
}
