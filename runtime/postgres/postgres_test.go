package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

// serverURL is the PostgreSQL server the tests use, from
// NURTURE_TEST_POSTGRES. Without one the tests skip, loudly; CI sets
// NURTURE_REQUIRE_POSTGRES=1 so that it can never skip them.
func serverURL(t *testing.T) string {
	u := os.Getenv("NURTURE_TEST_POSTGRES")
	if u == "" {
		if os.Getenv("NURTURE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("NURTURE_REQUIRE_POSTGRES=1 but NURTURE_TEST_POSTGRES names no server")
		}
		t.Skip("SKIPPED: the PostgreSQL store was NOT tested. Set NURTURE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run it.")
	}
	return u
}

// freshSchema creates a schema of its own for one test, drops it after,
// and returns a URL whose connections use it.
func freshSchema(t *testing.T) string {
	base := serverURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.Ping(); err != nil {
		t.Fatalf("PostgreSQL at NURTURE_TEST_POSTGRES is not reachable: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "nurture_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("dropping %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	serverURL(t)
	urls := map[runtime.Store]string{}
	clock := func() time.Time { return storetest.Now }
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T) runtime.Store {
			u := freshSchema(t)
			s, err := Open(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			s.Now = clock
			urls[s] = u
			return s
		},
		Reopen: func(t *testing.T, s runtime.Store) (runtime.Store, error) {
			s2, err := Open(context.Background(), urls[s])
			if err != nil {
				return nil, err
			}
			s2.Now = clock
			return s2, nil
		},
		SetSchemaVersion: func(t *testing.T, s runtime.Store, v int) {
			_, err := s.(*sqlstore.Store).DB().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', '')`, v)
			if err != nil {
				t.Fatal(err)
			}
		},
	})
}
