package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"

	"github.com/nurture-dev/nurture/runtime"
)

// Rehearse returns a store over one new connection on which everything
// runs inside one transaction that is never committed: what it writes,
// it reads back, and no one else ever sees it. The transactions the
// store's methods open become savepoints inside it. Closing the store
// rolls it all back.
//
// A plan runs the real worker on it to predict the next tick exactly:
// the worker's own decisions, on the real data, thrown away. While it
// runs it holds the locks its writes take, as a tick would: on SQLite
// the write lock, so a tick elsewhere waits for it (busy_timeout).
func (s *Store) Rehearse(ctx context.Context) (runtime.Store, error) {
	if s.Connector == nil {
		return nil, errors.New("this store cannot rehearse a tick")
	}
	db := sql.OpenDB(rehearsal{s.Connector, s.d.BeginRehearsal})
	// One connection, kept: the transaction lives on it.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening a rehearsal: %w", err)
	}
	s.mu.Lock()
	attrs := maps.Clone(s.attrs)
	s.mu.Unlock()
	return &Store{db: db, d: s.d, Now: s.Now, attrs: attrs}, nil
}

// rehearsal connects through c and opens the transaction that is never
// committed.
type rehearsal struct {
	c     driver.Connector
	begin string
}

func (r rehearsal) Driver() driver.Driver { return r.c.Driver() }

func (r rehearsal) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := r.c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	rc := &rehearsalConn{Conn: c}
	if err := rc.exec(ctx, r.begin); err != nil {
		c.Close()
		return nil, err
	}
	return rc, nil
}

// rehearsalConn turns transactions into savepoints of the one it opened.
type rehearsalConn struct {
	driver.Conn
	n atomic.Int64
}

// Unwrap is the driver's own connection, for a dialect's BulkInsert that
// reaches past database/sql (PostgreSQL's COPY): what it writes there
// is inside the rehearsal's transaction all the same.
func (c *rehearsalConn) Unwrap() driver.Conn { return c.Conn }

func (c *rehearsalConn) exec(ctx context.Context, q string) error {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return errors.New("the store's driver cannot rehearse: it runs no statement directly")
	}
	_, err := e.ExecContext(ctx, q, nil)
	return err
}

func (c *rehearsalConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *rehearsalConn) BeginTx(ctx context.Context, _ driver.TxOptions) (driver.Tx, error) {
	name := fmt.Sprintf("rehearsal_%d", c.n.Add(1))
	if err := c.exec(ctx, "SAVEPOINT "+name); err != nil {
		return nil, err
	}
	return savepoint{c, name}, nil
}

func (c *rehearsalConn) Close() error {
	// Said, not left to the connection's end: nothing is kept.
	c.exec(context.Background(), "ROLLBACK")
	return c.Conn.Close()
}

func (c *rehearsalConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, q)
	}
	return c.Conn.Prepare(q)
}

func (c *rehearsalConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := c.Conn.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, q, args)
	}
	return nil, driver.ErrSkip
}

func (c *rehearsalConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if e, ok := c.Conn.(driver.QueryerContext); ok {
		return e.QueryContext(ctx, q, args)
	}
	return nil, driver.ErrSkip
}

// CheckNamedValue lets the driver convert what it converts itself
// (PostgreSQL's arrays).
func (c *rehearsalConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

type savepoint struct {
	c    *rehearsalConn
	name string
}

func (s savepoint) Commit() error {
	return s.c.exec(context.Background(), "RELEASE SAVEPOINT "+s.name)
}

func (s savepoint) Rollback() error {
	if err := s.c.exec(context.Background(), "ROLLBACK TO SAVEPOINT "+s.name); err != nil {
		return err
	}
	return s.c.exec(context.Background(), "RELEASE SAVEPOINT "+s.name)
}
