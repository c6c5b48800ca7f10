// Package postgres is the contact store for teams that outgrow one
// machine: PostgreSQL through pgx, shared by several nurture run workers.
// It opens the connection and supplies the PostgreSQL dialect (column
// types, $n parameters, JSONB property reads, COPY for imports, an
// advisory lock around migrations); the shared logic is in
// runtime/sqlstore.
//
// It must not grow store logic of its own: whatever SQLite does too
// belongs in runtime/sqlstore, so that both adapters pass the same
// runtime/storetest suite. pgx is imported here and nowhere else.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/worker"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock that keeps two processes from
// migrating or adding columns at once. Advisory locks are per database,
// not per schema, so stores in two schemas of one database take turns;
// that costs a few milliseconds and only while they migrate.
const migrationLock = 7_310_551_203_884_211

// Dialect is PostgreSQL's.
//
// Patterns (matches) run as PostgreSQL regular expressions (`~`), while
// the compiler checks them as Go's RE2. The two agree on the syntax
// programmes use — classes, anchors, alternation, repetition, (?:…),
// \d \w \s — but not everywhere: RE2's (?P<name>…) and \z are errors
// here, and PostgreSQL's back-references and lookahead are not RE2. A
// pattern outside the common subset fails the query rather than matching
// differently.
func Dialect() sqlstore.Dialect {
	m, _ := fs.Sub(migrations, "migrations")
	return sqlstore.Dialect{
		Name:       "postgres",
		Migrations: m,
		Types: map[string]string{
			campaigns.TypeString: "TEXT",
			campaigns.TypeInt:    "BIGINT",
			campaigns.TypeNumber: "DOUBLE PRECISION",
			campaigns.TypeBool:   "BOOLEAN",
			campaigns.TypeTime:   "TIMESTAMPTZ",
			"json":               "JSONB",
		},
		Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		Regexp:      func(expr, param string) string { return expr + " ~ " + param },
		Prop:        prop,
		Exists:      true,
		AnyArray:    true,
		Least:       "LEAST",
		Greatest:    "GREATEST",
		Pow:         "power",
		AgeSeconds: func(param, col string) string {
			return "CAST(EXTRACT(EPOCH FROM (CAST(" + param + " AS TIMESTAMPTZ) - " + col + ")) AS DOUBLE PRECISION)"
		},
		LockMigrations: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock),
		SkipLocked:     " FOR UPDATE SKIP LOCKED",
		WritableCTE:    true,
		LockApply:      fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock+1),
		BeginRehearsal: "BEGIN",
		BulkInsert:     copyRows,
		StagedUpsert:   true,
		ServerEpoch:    "pg_postmaster_start_time()",
		FreshenSends: `DO $$ BEGIN
  IF (SELECT n_mod_since_analyze > 1000 AND n_mod_since_analyze > n_live_tup / 10 FROM pg_stat_user_tables WHERE relid = 'sends'::regclass) THEN
    ANALYZE sends;
  END IF;
END $$`,
		SHA256Hex: func(expr string) string { return "encode(sha256(convert_to(" + expr + ", 'UTF8')), 'hex')" },
	}
}

// prop reads an event property as a value of typ, or NULL.
//
// The planner may evaluate this on events of any name — the e.name
// condition beside it in the WHERE clause is not guaranteed to run
// first — and another event may hold a value of another type under the
// same key. So every cast is guarded by the JSON type and never fails:
// int reads as numeric, not bigint, so that 1.5 on some other event is
// NULL here instead of an error. Times are RFC 3339 strings (how
// encoding/json writes a time.Time) and are cast only when they look like
// one. The pattern must not contain a question mark: sqlstore turns every
// ? in a query into a parameter.
func prop(key, typ string) string {
	raw := "e.props->'" + key + "'"
	text := "(e.props->>'" + key + "')"
	switch typ {
	case campaigns.TypeInt:
		return "(CASE WHEN jsonb_typeof(" + raw + ") = 'number' THEN " + text + "::numeric END)"
	case campaigns.TypeNumber:
		return "(CASE WHEN jsonb_typeof(" + raw + ") = 'number' THEN " + text + "::double precision END)"
	case campaigns.TypeBool:
		return "(CASE WHEN jsonb_typeof(" + raw + ") = 'boolean' THEN " + text + "::boolean END)"
	case campaigns.TypeTime:
		return "(CASE WHEN jsonb_typeof(" + raw + ") = 'string' AND " + text +
			` ~ '^\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-6]\d(\.\d+){0,1}(Z|[+-]\d\d:\d\d)$' THEN ` + text + "::timestamptz END)"
	}
	return text
}

// copyRows is the dialect's BulkInsert: COPY … FROM STDIN in binary, on
// the transaction sqlstore has open on conn, so that a batch that fails
// later (a consent record, the commit) leaves no contacts behind. At 1000
// contacts a batch it imports about 1.6 times as fast as multi-row
// INSERT (BenchmarkImportContacts).
func copyRows(ctx context.Context, conn *sql.Conn, table string, cols []string, rows [][]any) error {
	return conn.Raw(func(dc any) error {
		// A rehearsal's connection wraps pgx's (sqlstore.Store.Rehearse).
		if w, ok := dc.(interface{ Unwrap() driver.Conn }); ok {
			dc = w.Unwrap()
		}
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres: the connection is a %T, not pgx's", dc)
		}
		pc := c.Conn()
		// COPY outside a transaction would commit on its own.
		if st := pc.PgConn().TxStatus(); st != 'T' {
			return fmt.Errorf("postgres: COPY into %s outside a transaction (status %c)", table, st)
		}
		n, err := pc.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("copying %d rows into %s: %w", len(rows), table, err)
		}
		if n != int64(len(rows)) {
			return fmt.Errorf("copying into %s: %d of %d rows written", table, n, len(rows))
		}
		return nil
	})
}

// Open connects to the database at url (postgres://…; a search_path
// parameter in the URL selects the schema) and brings its schema up to
// date. Several processes may open one database at once: migrations take
// turns under an advisory lock.
//
// Connections run with the sessionSettings unless the URL sets them.
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	db, c, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	s, err := sqlstore.Open(ctx, db, Dialect())
	if err != nil {
		db.Close()
		return nil, err
	}
	s.Connector = c
	return s, nil
}

// sessionSettings are set on every connection unless the URL sets them.
var sessionSettings = map[string]string{
	// The store's queries take milliseconds to hundreds of them, and
	// compiling one costs more than that (a segment with an OR over
	// events: 63 ms without JIT, 200 ms with, on 100k contacts).
	"jit": "off",
	// pgx prepares every statement, and after five runs PostgreSQL may
	// switch a prepared statement to a generic plan made without its
	// values — and keep it while the table grows. An import's lookup by
	// address, first planned on an empty table, then ran as a sequential
	// scan for every batch: 100k contacts took 130 s instead of 4 s.
	// Planning each query afresh costs well under a millisecond.
	"plan_cache_mode": "force_custom_plan",
}

// connect opens a database/sql pool over pgx with the store's session
// settings, and returns the connector it draws from.
func connect(ctx context.Context, url string) (*sql.DB, driver.Connector, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("the PostgreSQL URL: %w", err)
	}
	for k, v := range sessionSettings {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
	c := stdlib.GetConnector(*cfg)
	db := sql.OpenDB(c)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	return db, c, nil
}

// The PostgreSQL store runs every command, the tick included.
var _ worker.Store = (*sqlstore.Store)(nil)
