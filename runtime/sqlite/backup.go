package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
)

// Backup writes a consistent copy of the store s to path while other
// connections (nurture run, nurture serve) go on reading and writing it.
// A plain copy of the database file is not one: it misses what the
// write-ahead log holds and may catch a page mid-write. VACUUM INTO reads
// one snapshot, in a read transaction that blocks no writer, and writes
// it as a single compacted file with no log of its own.
//
// The copy is written beside path and renamed into place, so path is
// either the old file or the whole new copy. With force false an existing
// path is refused.
func Backup(ctx context.Context, st runtime.Store, path string, force bool) (Copy, error) {
	s, ok := st.(*sqlstore.Store)
	if !ok || s.Dialect() != "sqlite" {
		return Copy{}, fmt.Errorf("the %s store is not a SQLite store", st.Dialect())
	}
	if err := backup(ctx, s, path, force); err != nil {
		return Copy{}, err
	}
	// The copy is opened as a store, which proves it one, and says what
	// it holds.
	c := Copy{}
	fi, err := os.Stat(path)
	if err != nil {
		return c, err
	}
	c.Bytes = fi.Size()
	cp, err := Open(ctx, path)
	if err != nil {
		return c, fmt.Errorf("the copy in %s does not open: %w", path, err)
	}
	defer cp.Close()
	if err := cp.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM contacts`).Scan(&c.Contacts); err != nil {
		return c, err
	}
	if v, err := cp.Applied(ctx); err != nil {
		return c, err
	} else if v != nil {
		c.Applied = v.Serial
	}
	return c, nil
}

// Copy is what a backup holds.
type Copy struct {
	Bytes    int64
	Contacts int
	// Applied is the serial of the version in force in the copy; 0: none.
	Applied int64
}

func backup(ctx context.Context, s *sqlstore.Store, path string, force bool) error {
	if _, err := os.Stat(path); err == nil && !force {
		return fmt.Errorf("%s exists: choose another file, or --force to replace it", path)
	} else if err != nil && !os.IsNotExist(err) {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name) // gone once renamed; left only on failure
	// VACUUM INTO takes an empty file or none.
	if _, err := s.DB().ExecContext(ctx, `VACUUM INTO ?`, name); err != nil {
		return fmt.Errorf("copying the store: %w", err)
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	return os.Rename(name, path)
}
