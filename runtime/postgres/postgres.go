// Package postgres is the contact store for teams that outgrow one
// machine: PostgreSQL through pgx, shared by several nurture run workers.
// It opens the connection and supplies the PostgreSQL dialect; the shared
// logic is in runtime/sqlstore.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strconv"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock that keeps two processes from
// migrating or adding columns at once.
const migrationLock = 7_310_551_203_884_211

// Dialect is PostgreSQL's. Patterns use PostgreSQL's regular expressions,
// which agree with the RE2 the compiler checks on the common syntax.
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
		},
		Placeholder:    func(n int) string { return "$" + strconv.Itoa(n) },
		Regexp:         func(expr, param string) string { return expr + " ~ " + param },
		Prop:           prop,
		LockMigrations: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock),
	}
}

// prop reads an event property. The cast is guarded by the JSON type, so
// a property of another type on some other event never fails the query.
func prop(key, typ string) string {
	raw := "e.props->'" + key + "'"
	text := "e.props->>'" + key + "'"
	switch typ {
	case campaigns.TypeInt:
		return "(CASE WHEN jsonb_typeof(" + raw + ") = 'number' THEN (" + text + ")::numeric END)"
	case campaigns.TypeNumber:
		return "(CASE WHEN jsonb_typeof(" + raw + ") = 'number' THEN (" + text + ")::double precision END)"
	case campaigns.TypeBool:
		return "(CASE WHEN jsonb_typeof(" + raw + ") = 'boolean' THEN (" + text + ")::boolean END)"
	case campaigns.TypeTime:
		return "(CASE WHEN jsonb_typeof(" + raw + ") = 'string' AND (" + text + ") ~ '^\\d{4}-\\d{2}-\\d{2}T' THEN (" + text + ")::timestamptz END)"
	}
	return "(" + text + ")"
}

// Open connects to the database at url (postgres://…) and brings its
// schema up to date.
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	s, err := sqlstore.Open(ctx, db, Dialect())
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
