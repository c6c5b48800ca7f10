package cli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/mail"
)

// pgStore is a --store value for a fresh schema on the test PostgreSQL
// server, dropped after the test.
func pgStore(t *testing.T) string {
	t.Helper()
	base := os.Getenv("NURTURE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("NURTURE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("NURTURE_REQUIRE_POSTGRES=1 but NURTURE_TEST_POSTGRES names no server")
		}
		t.Skip("SKIPPED: set NURTURE_TEST_POSTGRES to run the PostgreSQL worker tests")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "nurture_workers_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Three workers tick one PostgreSQL store at the same instants, each with
// its own connections and its own file sink: every decision is made
// once, every email sent once.
func TestThreeWorkersOnePostgresStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	spec := pgStore(t)
	store := "--store=" + spec
	dir := progCopy(t)
	csv := filepath.Join(t.TempDir(), "contacts.csv")
	var rows strings.Builder
	rows.WriteString("email,company,industry,signup_at,consent_at,consent_source,consent_wording\n")
	for i := range 60 {
		rows.WriteString("lead" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@acme.example,Acme,saas,2026-11-20T09:00:00Z,2026-11-20T09:00:00Z,signup_form,v1\n")
	}
	if err := os.WriteFile(csv, []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"contacts", "import", csv, "--dir", dir, "--rejects", filepath.Join(t.TempDir(), "r.csv")}, {"apply", dir, "--auto-approve"}} {
		if out, errOut, code := run(t, append(args, store)...); code != 0 {
			t.Fatalf("%s: %s%s", args[0], out, errOut)
		}
	}
	monday := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) // 10:00 New York
	sinks := make([]string, 3)
	var wg sync.WaitGroup
	for w := range 3 {
		sinks[w] = t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			es, err := openEngineStore(ctx, spec)
			if err != nil {
				t.Error(err)
				return
			}
			defer es.Close()
			// Each worker ticks the same instants: the first week, hourly
			// in office hours, and the day the guide is due.
			for _, at := range []time.Time{monday, monday.Add(time.Hour), monday.AddDate(0, 0, 7), monday.AddDate(0, 0, 7).Add(time.Minute)} {
				// A worker that finds the lock held skips the instant.
				_, err := tickOnce(ctx, es, &delivery{sender: mail.FileSink{Dir: sinks[w]}}, "worker-"+string(rune('1'+w)), at, false)
				if locked := (*runtime.LockedError)(nil); err != nil && !errors.As(err, &locked) {
					t.Errorf("worker %d at %s: %v", w, at, err)
				}
			}
		}()
	}
	wg.Wait()

	es, err := openEngineStore(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	db := es.(interface{ DB() *sql.DB }).DB()
	// The per-account count reads the same ledger (the base programme has
	// no account caps; the contacts have no account).
	if got, err := es.AccountSends(ctx, []string{"acme", ""}, monday.AddDate(0, 0, -1)); err != nil || len(got) != 0 {
		t.Errorf("AccountSends = %v, %v; want none", got, err)
	}
	var sends, accepted, keys, enrollments int
	if err := db.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'accepted'), COUNT(DISTINCT key) FROM sends`).Scan(&sends, &accepted, &keys); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM enrollments`).Scan(&enrollments); err != nil {
		t.Fatal(err)
	}
	files := 0
	seen := map[string]bool{}
	for _, d := range sinks {
		names, _ := filepath.Glob(filepath.Join(d, "*.eml"))
		for _, n := range names {
			if seen[filepath.Base(n)] {
				t.Errorf("%s was sent by two workers", filepath.Base(n))
			}
			seen[filepath.Base(n)] = true
		}
		files += len(names)
	}
	// 60 contacts, each enrolled once, each sent hello and guide once.
	if enrollments != 60 || sends != 120 || accepted != 120 || keys != 120 || files != 120 {
		t.Errorf("enrollments %d, sends %d (accepted %d, distinct %d), files %d; want 60 and 120 each", enrollments, sends, accepted, keys, files)
	}
}
