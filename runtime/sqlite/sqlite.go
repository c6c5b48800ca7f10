// Package sqlite is the embedded contact store: one SQLite file in WAL
// mode, pure Go (modernc.org/sqlite), no server to run. It opens the file
// and supplies the SQLite dialect; the shared logic is in runtime/sqlstore.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"sync"

	"modernc.org/sqlite"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/worker"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect is SQLite's: times as Unix milliseconds, booleans as 0 and 1,
// patterns through a regexp function backed by Go's RE2, as the compiler
// checks them.
func Dialect() sqlstore.Dialect {
	m, _ := fs.Sub(migrations, "migrations")
	return sqlstore.Dialect{
		Name:       "sqlite",
		Migrations: m,
		Types: map[string]string{
			campaigns.TypeString: "TEXT",
			campaigns.TypeInt:    "INTEGER",
			campaigns.TypeNumber: "REAL",
			campaigns.TypeBool:   "INTEGER",
			campaigns.TypeTime:   "INTEGER",
			"json":               "TEXT",
		},
		Regexp: func(expr, param string) string { return expr + " REGEXP " + param },
		Prop: func(key, typ string) string {
			return "json_extract(e.props, '$." + key + "')"
		},
		IntTimes:       true,
		BeginRehearsal: "BEGIN IMMEDIATE",
		Least:          "MIN",
		Greatest:       "MAX",
		Pow:            "pow",
		AgeSeconds: func(param, col string) string {
			return "((" + param + " - " + col + ") / 1000.0)"
		},
	}
}

var register sync.Once

// Open opens (creating it if need be) the store in the file at path and
// brings its schema up to date.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	var regErr error
	register.Do(func() { regErr = sqlite.RegisterDeterministicScalarFunction("regexp", 2, regexpFunc) })
	if regErr != nil {
		return nil, regErr
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)", "foreign_keys(ON)", "cache_size(-65536)"} {
		q.Add("_pragma", p)
	}
	// Writers take the lock when they begin, so two writers queue on
	// busy_timeout instead of failing to upgrade a read lock.
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s, err := sqlstore.Open(ctx, db, Dialect())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s.Connector = connector{db.Driver(), dsn}
	return s, nil
}

// connector opens connections to the store's file with its settings.
type connector struct {
	d   driver.Driver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.d }

var patterns sync.Map // string → *regexp.Regexp

// regexpFunc is SQLite's regexp(pattern, value), behind `value REGEXP pattern`.
func regexpFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	pat, ok := args[0].(string)
	if !ok || args[1] == nil {
		return nil, nil
	}
	var s string
	switch v := args[1].(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		s = fmt.Sprint(v)
	}
	re, ok := patterns.Load(pat)
	if !ok {
		c, err := regexp.Compile(pat)
		if err != nil {
			return nil, err
		}
		re, _ = patterns.LoadOrStore(pat, c)
	}
	if re.(*regexp.Regexp).MatchString(s) {
		return int64(1), nil
	}
	return int64(0), nil
}

// The SQLite store runs every command, the tick included.
var _ worker.Store = (*sqlstore.Store)(nil)
