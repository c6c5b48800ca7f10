package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlite"
)

// seedStore fills a SQLite file with four contacts of the base programme.
func seedStore(t *testing.T, now time.Time) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nurture.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	prog := compiler.Compile("testdata/base").Program
	if err := st.SyncSchema(ctx, &prog.Contact); err != nil {
		t.Fatal(err)
	}
	// The base programme's lawful basis is consent: every contact opted in.
	rec := func(email string, kv ...any) runtime.ContactRecord {
		r := runtime.ContactRecord{Email: email, Values: map[string]any{},
			Consent: &runtime.Consent{Email: email, At: now.Add(-60 * 24 * time.Hour), Source: "signup_form", Wording: "v1"}}
		for i := 0; i < len(kv); i += 2 {
			r.Values[kv[i].(string)] = kv[i+1]
		}
		return r
	}
	day := 24 * time.Hour
	res, err := st.UpsertContacts(ctx, &prog.Contact, []runtime.ContactRecord{
		rec("ann@acme.example", "company", "Acme", "industry", "saas", "employees", int64(450), "signup_at", now.Add(-3*day), "first_name", "Ann"),
		rec("bob@globex.example", "company", "=HYPERLINK(\"http://evil.example\")", "industry", "fintech", "signup_at", now.Add(-40*day)),
		rec("cy@initech.example", "company", "Initech", "industry", "saas", "employees", int64(80), "signup_at", now.Add(-1*day)),
		rec("di@umbrella.example", "company", "Umbrella", "industry", "other", "employees", int64(-1)),
	}, "test")
	if err != nil || len(res.Rejected) > 0 {
		t.Fatalf("seeding: %v %v", err, res.Rejected)
	}
	return path
}

func run(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestSegmentsCommand(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	path := seedStore(t, now)
	out, errOut, code := run(t, "segments", "testdata/base", "--store", "sqlite:"+path, "--now", now.Format(time.RFC3339), "--sample", "2")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	want := `SEGMENT      CONTACTS   SHARE  SAMPLE
big_saas            1   25.0%  ann@acme.example
new_signups         2   50.0%  ann@acme.example, cy@initech.example

2 segments out of 4 contacts in the sqlite store.
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}

	_, errOut, code = run(t, "segments", "testdata/base", "--store", "sqlite:"+path, "--now", "yesterday")
	if code != 1 || errOut != "nurture: --now \"yesterday\": want an RFC 3339 time such as 2026-11-23T09:00:00Z\n" {
		t.Errorf("a bad --now: exit %d, stderr %q", code, errOut)
	}
}

func TestContactsExport(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	path := seedStore(t, now)
	out, errOut, code := run(t, "contacts", "export", "--dir", "testdata/base", "--store", "sqlite:"+path)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	// A formula in a text cell is neutralised; a negative number is not.
	want := `email,stage,account,timezone,company,employees,first_name,industry,signup_at
ann@acme.example,,,,Acme,450,Ann,saas,2026-11-20T09:00:00Z
bob@globex.example,,,,"'=HYPERLINK(""http://evil.example"")",,,fintech,2026-10-14T09:00:00Z
cy@initech.example,,,,Initech,80,,saas,2026-11-22T09:00:00Z
di@umbrella.example,,,,Umbrella,-1,,other,
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("export (-want +got):\n%s", diff)
	}
}

func TestStoreFlag(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"nurture.db", `nurture: --store "nurture.db": want sqlite:PATH or postgres://USER@HOST/DB` + "\n"},
		{"sqlite:", "nurture: --store sqlite:: name the database file, as in sqlite:nurture.db\n"},
	} {
		_, errOut, code := run(t, "segments", "testdata/base", "--store", tc.spec)
		if code != 1 || errOut != tc.want {
			t.Errorf("--store %s: exit %d, stderr %q, want %q", tc.spec, code, errOut, tc.want)
		}
	}
}
