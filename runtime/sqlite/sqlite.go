// Package sqlite is the embedded contact store: one SQLite file in WAL
// mode, pure Go (modernc.org/sqlite), no server to run. It opens the file
// and supplies the SQLite dialect; the shared logic is in runtime/sqlstore.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

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
// brings its schema up to date. A store this user cannot write fails here,
// naming the file or directory to fix, rather than at its first write or
// as SQLite's "unable to open database file".
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	if err := checkWritable(path); err != nil {
		return nil, err
	}
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
		return nil, openError(path, err)
	}
	s, err := sqlstore.Open(ctx, db, Dialect())
	if err != nil {
		db.Close()
		return nil, openError(path, err)
	}
	s.Connector = connector{db.Driver(), dsn}
	return s, nil
}

// checkWritable fails for a store this user cannot write. Every command
// that opens the store may write it (migrations, ticks, imports), and in
// WAL mode SQLite creates PATH-wal and PATH-shm beside the file, so the
// directory must be writable too. SQLite would open a read-only file
// read-only and fail at the first write, deep in some command, with
// "attempt to write a readonly database"; a missing or read-only
// directory gives "unable to open database file".
func checkWritable(path string) error {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil
	}
	dir := filepath.Dir(path)
	fix := "give the user running nurture write access to both, or run nurture as the user that owns them"
	if _, err := os.Stat(path); err == nil {
		if !canWrite(path) {
			return fmt.Errorf("store %s is read-only: this user may not write the file; SQLite writes it and keeps %s-wal and %s-shm in %s: %s", path, path, path, dir, fix)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store %s cannot be opened: %w", path, err)
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store %s cannot be created: there is no directory %s; create it, or point the store elsewhere", path, dir)
	case err != nil:
		return fmt.Errorf("store %s cannot be opened: %w", path, err)
	case !st.IsDir():
		return fmt.Errorf("store %s cannot be opened: %s is not a directory", path, dir)
	case !canWrite(dir):
		return fmt.Errorf("store %s is read-only: this user may not write its directory %s, where SQLite keeps %s-wal and %s-shm beside the file: %s", path, dir, path, path, fix)
	}
	return nil
}

// openError is the error of a failed open. The check before it covers
// what this user may write; a store that became read-only since, or a
// -wal or -shm file left by another user, still says what to do.
func openError(path string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
			return fmt.Errorf("store %s cannot be written (%v): give the user running nurture write access to the file and its directory %s, where SQLite keeps %s-wal and %s-shm", path, err, filepath.Dir(path), path, path)
		}
	}
	return fmt.Errorf("opening %s: %w", path, err)
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
