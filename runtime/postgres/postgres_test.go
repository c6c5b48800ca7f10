package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

// serverURL is the PostgreSQL server the tests use, from
// NURTURE_TEST_POSTGRES. Without one the tests skip, loudly; CI sets
// NURTURE_REQUIRE_POSTGRES=1 so that it can never skip them.
func serverURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("NURTURE_TEST_POSTGRES")
	if u == "" {
		if os.Getenv("NURTURE_REQUIRE_POSTGRES") == "1" {
			tb.Fatal("NURTURE_REQUIRE_POSTGRES=1 but NURTURE_TEST_POSTGRES names no server: " +
				"set NURTURE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable (see .ci/run)")
		}
		tb.Skip("SKIPPED: the PostgreSQL store was NOT tested. To run it, set " +
			"NURTURE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable " +
			"(any database the user may create schemas in; each test uses a schema of its own and drops it)")
	}
	return u
}

// freshSchema creates a schema of its own for one test, drops it after,
// and returns a URL whose connections use it, so that tests can run in
// parallel and leave nothing behind.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	u, drop := newSchema(tb)
	tb.Cleanup(drop)
	return u
}

// newSchema creates a schema named nurture_test_<random> and returns a
// URL whose connections use it and a function that drops it. pgx sends
// URL parameters it does not know, search_path among them, as run-time
// parameters of each connection.
func newSchema(tb testing.TB) (string, func()) {
	tb.Helper()
	base := serverURL(tb)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("NURTURE_TEST_POSTGRES: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		tb.Fatalf("PostgreSQL at NURTURE_TEST_POSTGRES is not reachable: %v", err)
	}
	schema := "nurture_test_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		tb.Fatal(err)
	}
	drop := func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("dropping %s: %v", schema, err)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		drop()
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop
}

// open opens a store in a fresh schema, its clock at storetest.Now.
func open(tb testing.TB) (*sqlstore.Store, string) {
	tb.Helper()
	u := freshSchema(tb)
	s, err := Open(context.Background(), u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	s.Now = func() time.Time { return storetest.Now }
	return s, u
}

func TestConformance(t *testing.T) {
	serverURL(t)
	storetest.Run(t, conformanceOpener(t))
}

// conformanceOpener opens stores in fresh schemas for the conformance
// cases, their clock at storetest.Now.
func conformanceOpener(t *testing.T) storetest.Opener {
	urls := map[runtime.Store]string{}
	clock := func() time.Time { return storetest.Now }
	return storetest.Opener{
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
		Exec: func(t *testing.T, s runtime.Store, query string, args ...any) {
			var b strings.Builder
			n := 0
			for _, r := range query {
				if r == '?' {
					n++
					fmt.Fprintf(&b, "$%d", n)
					continue
				}
				b.WriteRune(r)
			}
			if _, err := s.(*sqlstore.Store).DB().Exec(b.String(), args...); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// TestServerRestart: hand-over marks commit asynchronously here, so a
// claim from before the server last started is settled as unknown.
// A restart is simulated by moving the claims' epoch back.
func TestServerRestart(t *testing.T) {
	serverURL(t)
	storetest.ServerRestart(t, conformanceOpener(t), `UPDATE sends SET claimed_epoch = claimed_epoch - INTERVAL '1 hour' WHERE claimed_epoch IS NOT NULL`)
}

// TestMarkCommitStaysLocal: the asynchronous commit of a mark is the
// mark's own; the connection's next transaction commits durably.
func TestMarkCommitStaysLocal(t *testing.T) {
	s, _ := open(t)
	s.DB().SetMaxOpenConns(1)
	if _, _, err := s.HandOver(context.Background(), "w", nil, nil, storetest.Now); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := s.DB().QueryRow(`SHOW synchronous_commit`).Scan(&mode); err != nil || mode != "on" {
		t.Errorf("synchronous_commit after a mark: %q, %v; want on", mode, err)
	}
}

// TestWorkersStartTogether opens one empty database from several
// processes at once, as `nurture run` workers do after a deploy: every
// one must open it, and it must be migrated once.
func TestWorkersStartTogether(t *testing.T) {
	u := freshSchema(t)
	const workers = 8
	var wg sync.WaitGroup
	errs := make([]error, workers)
	stores := make([]*sqlstore.Store, workers)
	for i := range workers {
		wg.Go(func() { stores[i], errs[i] = Open(context.Background(), u) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	var n int
	if err := stores[0].DB().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// Each migration once: numbers may skip, so count the files.
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if want := len(files); n != want {
		t.Errorf("%d migrations recorded, want %d", n, want)
	}

	// They sync the programme's schema together too, and each then knows
	// every column, whichever of them added it.
	p := storetest.Program()
	for i := range workers {
		wg.Go(func() { errs[i] = stores[i].SyncSchema(context.Background(), &p.Contact) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d syncing: %v", i, err)
		}
	}
	for i, s := range stores {
		rec := runtime.ContactRecord{Line: 2, Email: "w@x.example", Values: map[string]any{"industry": "saas", "employees": int64(i)}}
		if _, err := s.UpsertContacts(context.Background(), &p.Contact, []runtime.ContactRecord{rec}, "t"); err != nil {
			t.Errorf("worker %d upserting after the sync: %v", i, err)
		}
	}
}

// TestImportAllOrNothing checks that COPY runs inside the batch's
// transaction: when the batch fails after its contacts were copied, none
// of them stays.
func TestImportAllOrNothing(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	p := storetest.Program()
	if err := s.SyncSchema(ctx, &p.Contact); err != nil {
		t.Fatal(err)
	}
	batch := genContacts(50, 1)
	// PostgreSQL refuses NUL in text, and consents are written after the
	// contacts.
	batch[49].Consent = &runtime.Consent{At: storetest.Now, Source: "form\x00", Wording: "v1"}
	if _, err := s.UpsertContacts(ctx, &p.Contact, batch, "t"); err == nil {
		t.Fatal("a batch with a NUL byte in a consent was stored")
	}
	var n int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM contacts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d contacts stayed from a failed batch, want 0", n)
	}

	batch[49].Consent.Source = "form"
	res, err := s.UpsertContacts(ctx, &p.Contact, batch, "t")
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 50 {
		t.Errorf("inserted %d, want 50", res.Inserted)
	}
	got := map[string]map[string]any{}
	if err := s.Contacts(ctx, func(c runtime.Contact) error { got[c.Email] = c.Values; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, rec := range batch {
		want := map[string]any{"email": rec.Email}
		for k, v := range rec.Values {
			want[k] = v
		}
		if diff := cmp.Diff(want, got[rec.Email]); diff != "" {
			t.Errorf("%s as copied (-want +got):\n%s", rec.Email, diff)
		}
	}
}

// TestPropertyCastsNeverFail reads typed properties over every event,
// whatever its name, as the planner is free to: another event holding a
// value of another type under the same key reads as NULL, never fails.
func TestPropertyCastsNeverFail(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	p := storetest.Program()
	if err := s.SyncSchema(ctx, &p.Contact); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		{Line: 2, Email: "a@x.example", Values: map[string]any{"industry": "saas"}}}, "t"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	values := []any{int64(30), 1.5, 1e300, true, "yes", "", at, "2026-11-01", "2026-11-01T09:00:00+01:00", nil,
		map[string]any{"x": 1}, []any{1, "a"}}
	var evs []runtime.Event
	for i, v := range values {
		evs = append(evs, runtime.Event{ID: "e" + string(rune('a'+i)), Email: "a@x.example", Name: "other", At: at,
			Props: map[string]any{"k": v}})
	}
	if _, err := s.RecordEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]int{
		campaigns.TypeInt:    3, // 30, 1.5, 1e300
		campaigns.TypeNumber: 3,
		campaigns.TypeBool:   1,
		campaigns.TypeTime:   2, // the time and the one with an offset
		campaigns.TypeString: 11,
	} {
		var n int
		q := `SELECT COUNT(*) FROM events e WHERE ` + prop("k", typ) + ` IS NOT NULL`
		if err := s.DB().QueryRow(q).Scan(&n); err != nil {
			t.Errorf("%s: %v\n%s", typ, err, q)
			continue
		}
		if n != want {
			t.Errorf("%s: %d events have a value, want %d", typ, n, want)
		}
	}
}

// TestSessionSettings checks that the store turns JIT off unless the URL
// asks for it (see Open).
func TestSessionSettings(t *testing.T) {
	u := freshSchema(t)
	for _, tc := range []struct{ extra, want string }{{"", "off"}, {"&jit=on", "on"}} {
		s, err := Open(context.Background(), u+tc.extra)
		if err != nil {
			t.Fatal(err)
		}
		var jit string
		if err := s.DB().QueryRow(`SHOW jit`).Scan(&jit); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if jit != tc.want {
			t.Errorf("URL …%s: jit = %s, want %s", tc.extra, jit, tc.want)
		}
	}
}
