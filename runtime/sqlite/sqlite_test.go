package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

func TestConformance(t *testing.T) {
	paths := map[runtime.Store]string{}
	clock := func() time.Time { return storetest.Now }
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T) runtime.Store {
			path := filepath.Join(t.TempDir(), "nurture.db")
			s, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			s.Now = clock
			paths[s] = path
			return s
		},
		Reopen: func(t *testing.T, s runtime.Store) (runtime.Store, error) {
			s2, err := Open(context.Background(), paths[s])
			if err != nil {
				return nil, err
			}
			s2.Now = clock
			return s2, nil
		},
		SetSchemaVersion: func(t *testing.T, s runtime.Store, v int) {
			_, err := s.(*sqlstore.Store).DB().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', '')`, v)
			if err != nil {
				t.Fatal(err)
			}
		},
		Exec: func(t *testing.T, s runtime.Store, query string, args ...any) {
			for i, a := range args {
				if tm, ok := a.(time.Time); ok {
					args[i] = tm.UnixMilli()
				}
			}
			if _, err := s.(*sqlstore.Store).DB().Exec(query, args...); err != nil {
				t.Fatal(err)
			}
		},
	})
}
