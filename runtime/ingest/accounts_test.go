package ingest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

func testAccountAttrs() map[string]*campaigns.Attribute {
	return map[string]*campaigns.Attribute{
		"tier":   {Type: campaigns.TypeEnum, Values: []string{"enterprise", "smb"}, Required: true},
		"target": {Type: campaigns.TypeBool},
		"owner":  {Type: campaigns.TypeString},
		"seats":  {Type: campaigns.TypeInt},
	}
}

func account(line int, key string, values map[string]any) runtime.AccountRecord {
	if values == nil {
		values = map[string]any{}
	}
	return runtime.AccountRecord{Line: line, Key: key, Values: values}
}

func readAccounts(t testing.TB, in string, f Format, opt Options) ([]runtime.AccountRecord, []Reject) {
	t.Helper()
	r, err := NewAccountReader(strings.NewReader(in), "accounts."+f.String(), f, testAccountAttrs(), opt)
	if err != nil {
		t.Fatalf("NewAccountReader: %v", err)
	}
	return drain[runtime.AccountRecord](t, r, func(a runtime.AccountRecord) int { return a.Line })
}

func TestAccounts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		f       Format
		opt     Options
		want    []runtime.AccountRecord
		wantRej []Reject
	}{{
		name: "every type, keys trimmed",
		in: "account,tier,target,owner,seats\n" +
			" acme ,enterprise,yes, Olivia ,40\n" +
			"beta,smb,false,,\n",
		f: CSV,
		want: []runtime.AccountRecord{
			account(2, "acme", map[string]any{"tier": "enterprise", "target": true, "owner": "Olivia", "seats": int64(40)}),
			account(3, "beta", map[string]any{"tier": "smb", "target": false}),
		},
	}, {
		name: "each bad cell named by its column, a key given twice, an empty key",
		in: "account,tier,target,seats\n" +
			"acme,gold,maybe,4.5\n" +
			"beta,smb,,\n" +
			"beta,enterprise,,\n" +
			",smb,,\n",
		f: CSV,
		wantRej: []Reject{
			rej(2, "acme", `column tier: "gold" is not one of enterprise, smb; column target: "maybe" is not true or false (or yes, no, 1, 0); column seats: "4.5" is not a whole number`),
			rej(4, "beta", `column account: beta is a duplicate of line 3; keep one row per account`),
			rej(5, "", `column account: the key is empty; every row needs the account's key`),
		},
		want: []runtime.AccountRecord{account(3, "beta", map[string]any{"tier": "smb"})},
	}, {
		name: "empty cells clear with EmptyClears, required ones excepted",
		in:   "account,tier,owner\nacme,,\n",
		f:    CSV,
		opt:  Options{EmptyClears: true},
		want: []runtime.AccountRecord{account(2, "acme", map[string]any{"owner": nil})},
	}, {
		name: "JSON Lines, typed values, a missing key and an unknown one",
		in: `{"account": "acme", "tier": "enterprise", "target": true, "seats": 12}` + "\n" +
			`{"tier": "smb"}` + "\n" +
			`{"account": "gamma", "tier": "smb", "region": "emea"}` + "\n" +
			`{"account": 7, "tier": "smb"}` + "\n",
		f: JSONL,
		wantRej: []Reject{
			rej(2, "", `key account is missing; every row needs the account's key`),
			rej(3, "gamma", `unknown key "region": declare it under accounts.attributes, or ignore it (--ignore region)`),
			rej(4, "", `key account: want text, not the number 7; write it in quotes`),
		},
		want: []runtime.AccountRecord{account(1, "acme", map[string]any{"tier": "enterprise", "target": true, "seats": int64(12)})},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, rejs := readAccounts(t, tc.in, tc.f, tc.opt)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRej, rejs, ignoreRaw); diff != "" {
				t.Errorf("rejects (-want +got):\n%s", diff)
			}
		})
	}
}

// A file that cannot be an accounts import is refused before any row is
// read, with every problem of its header.
func TestAccountsHeader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"no key column, an unknown column", "tier,teir\nsmb,smb\n", []string{
			`unknown column "teir" (did you mean "tier"?): declare it under accounts.attributes, or ignore it (--ignore teir)`,
			"there is no account column; every row needs the account's key, the value its contacts hold in their account attribute",
		}},
		{"no column for a required attribute", "account,owner\nacme,Olivia\n", []string{
			"there is no column for tier, which accounts.attributes requires; add it (an empty cell keeps what a known account has)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewAccountReader(strings.NewReader(tc.in), "accounts.csv", CSV, testAccountAttrs(), Options{})
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FileError", err)
			}
			if diff := cmp.Diff(tc.want, fe.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzAccountCSV(f *testing.F) {
	for _, s := range []string{
		"account,tier,target,owner,seats\nacme,enterprise,yes,Olivia,40\n",
		"account,tier\n,smb\nacme,gold\nacme,smb\nacme,smb\n",
		"account,tier\n\"a\nb\",smb\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, emptyClears bool) {
		attrs := testAccountAttrs()
		r, err := NewAccountReader(bytes.NewReader(data), "f.csv", CSV, attrs, Options{EmptyClears: emptyClears, MaxCell: 256})
		if err != nil {
			checkFileError(t, err)
			return
		}
		last := 0
		seen := map[string]bool{}
		for n := 0; ; n++ {
			a, rej, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			line := checkLine(t, n, data, a.Line, rej, &last)
			if rej != nil {
				continue
			}
			if a.Key == "" || a.Key != strings.TrimSpace(a.Key) || seen[a.Key] {
				t.Fatalf("line %d: key %q (seen: %v)", line, a.Key, seen[a.Key])
			}
			seen[a.Key] = true
			for k, v := range a.Values {
				if attrs[k] == nil {
					t.Fatalf("line %d: undeclared attribute %q", line, k)
				}
				if v == nil && (!emptyClears || attrs[k].Required) {
					t.Fatalf("line %d: %s cleared", line, k)
				}
			}
		}
	})
}
