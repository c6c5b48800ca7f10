package ingest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/runtime"
)

func TestNormalizeEmail(t *testing.T) {
	type result struct {
		Email string
		Role  bool
		Err   string
	}
	tests := []struct {
		in   string
		want result
	}{
		{" Ann@Acme.EXAMPLE\t", result{Email: "Ann@acme.example"}},
		{"ann@bücher.example", result{Email: "ann@xn--bcher-kva.example"}},
		{"ann@ＡＣＭＥ.example", result{Email: "ann@acme.example"}},
		{"ann@xn--bcher-kva.example", result{Email: "ann@xn--bcher-kva.example"}},
		{"jürgen@acme.example", result{Email: "jürgen@acme.example"}},
		{"o'brien+tag@sub.acme.example", result{Email: "o'brien+tag@sub.acme.example"}},
		{"Info+x@acme.example", result{Email: "Info+x@acme.example", Role: true}},
		{"no-reply@acme.example", result{Email: "no-reply@acme.example", Role: true}},
		{"a@acme-corp.example", result{Email: "a@acme-corp.example"}},
		{"a@xn--zz.example", result{Err: `"xn--zz.example" is not a valid domain`}},
		{"a@xn--.example", result{Err: `"xn--.example" is not a valid domain`}},
		{"a@acme..example", result{Err: `"acme..example" is not a valid domain`}},
		{"a@acme_corp.example", result{Err: `"acme_corp.example" is not a valid domain`}},
		{"a@" + strings.Repeat("d", 64) + ".example", result{Err: `"` + strings.Repeat("d", 64) + `.example" is not a valid domain`}},
		{"a\r\n@acme.example", result{Err: "the address holds a line break"}},
		{"a\x00@acme.example", result{Err: "the address holds the control character U+0000"}},
		{"a\u200b@acme.example", result{Err: "the address holds the invisible character U+200B; retype it"}},
		{"a\tb@acme.example", result{Err: "the address holds a space"}},
		{"a@b@acme.example", result{Err: `"a@b@acme.example" has more than one @`}},
		{"a@acme.example;b@acme.example", result{Err: "the cell holds more than one address; give one address per row"}},
		{"a;b@acme.example", result{Err: `the address holds ';', which an address cannot hold`}},
		{"\"ab\"@acme.example", result{Err: `the part before @ holds '"', which an address cannot hold`}},
		{"<a@acme.example>", result{Err: `write the bare address, without a name or angle brackets: "a@acme.example"`}},
		{"@acme.example", result{Err: "the address has nothing before the @"}},
		{"a@", result{Err: "the address has no domain after the @"}},
		{".a@acme.example", result{Err: "the part before @ cannot start or end with a dot, or hold two dots in a row"}},
		{"a@acme.\xff", result{Err: "the address is not valid UTF-8"}},
	}
	for _, tt := range tests {
		email, role, err := NormalizeEmail(tt.in)
		got := result{Email: email, Role: role}
		if err != nil {
			got.Err = err.Error()
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("NormalizeEmail(%q) (-want +got):\n%s", tt.in, diff)
		}
		if err == nil {
			// Normalising is idempotent: a stored address reads back the same.
			if again, _, err := NormalizeEmail(email); again != email || err != nil {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want it unchanged", email, again, err)
			}
		}
	}
	if got := Key("Ann@Acme.Example"); got != "ann@acme.example" {
		t.Errorf("Key = %q", got)
	}
}

func TestFormat(t *testing.T) {
	for name, want := range map[string]Format{"a.csv": CSV, "A.CSV": CSV, "x/b.jsonl": JSONL, "c.ndjson": JSONL} {
		if got, err := FormatFor(name); got != want || err != nil {
			t.Errorf("FormatFor(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	_, err := FormatFor("contacts.xlsx")
	if want := "contacts.xlsx: cannot tell the format from the file name; name it .csv or .jsonl, or pass --format csv or --format jsonl"; err == nil || err.Error() != want {
		t.Errorf("FormatFor(contacts.xlsx) = %v, want %s", err, want)
	}
	if f, err := ParseFormat("NDJSON"); f != JSONL || err != nil {
		t.Errorf("ParseFormat(NDJSON) = %v, %v", f, err)
	}
	if _, err := NewContactReader(strings.NewReader("email\n"), "c", 0, testSchema(), Options{}); err == nil {
		t.Error("no error for the zero Format")
	}
}

func TestSuppressions(t *testing.T) {
	at := date(2026, 11, 23, 9, 30)
	tests := []struct {
		name    string
		f       Format
		in      string
		want    []runtime.Suppression
		wantRej []Reject
	}{{
		name: "CSV",
		f:    CSV,
		in: "email,reason,at,source\n" +
			"Ann@Acme.Example,,,\n" +
			"info@acme.example,Bounced,2026-11-23T10:30:00+01:00,smtp\n" +
			"bo@acme.example,spam,,\n" +
			"bo,unsubscribed,yesterday,\n" +
			"ann@acme.example,complained,,\n",
		want: []runtime.Suppression{
			{Email: "Ann@acme.example", Reason: runtime.ReasonManual, Source: "list.csv"},
			{Email: "info@acme.example", Reason: runtime.ReasonBounced, Source: "smtp", At: at},
			{Email: "ann@acme.example", Reason: runtime.ReasonComplained, Source: "list.csv"},
		},
		wantRej: []Reject{
			rej(4, "bo@acme.example", `column reason: "spam" is not one of unsubscribed, bounced, complained, manual`),
			rej(5, "bo", `column email: "bo" has no @; want name@domain; column at: "yesterday" is not a time; write it as RFC 3339 with a time zone (2026-11-23T09:30:00Z)`),
		},
	}, {
		name: "JSONL",
		f:    JSONL,
		in: `{"email": "a@acme.example", "reason": "unsubscribe"}` + "\n" +
			`{"email": "a@acme.example", "reason": "unsubscribed", "at": "2026-11-23T09:30:00Z", "source": "crm"}` + "\n" +
			`{"email": "b@acme.example", "why": "x"}` + "\n" +
			`{"reason": "manual"}` + "\n",
		want: []runtime.Suppression{{Email: "a@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "crm", At: at}},
		wantRej: []Reject{
			rej(1, "a@acme.example", `key reason: "unsubscribe" is not one of unsubscribed, bounced, complained, manual (did you mean "unsubscribed"?)`),
			rej(3, "b@acme.example", `unknown key "why": a suppression has email, reason, at and source`),
			rej(4, "", `key email has no value; every row needs the address to suppress`),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewSuppressionReader(strings.NewReader(tt.in), "dir/list."+tt.f.String(), tt.f, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, gotRej := drain[runtime.Suppression](t, r, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("suppressions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRej, gotRej, ignoreRaw); diff != "" {
				t.Errorf("rejects (-want +got):\n%s", diff)
			}
		})
	}
	_, err := NewSuppressionReader(strings.NewReader("address,reason\n"), "s.csv", CSV, Options{})
	want := "s.csv:1: unknown column \"address\": a suppressions file has email, reason, at and source; ignore it (--ignore address)\ns.csv:1: there is no email column; every row needs the address to suppress"
	var fe *FileError
	if !errors.As(err, &fe) || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestRejectRaw checks what a reject keeps of its row for the reject file.
func TestRejectRaw(t *testing.T) {
	in := "nurture_line,nurture_error,email,first_name,industry\n" +
		"3,old error,a@acme.example,Ann,retail\n" +
		"4,old error,b@acme.example,\"Bo \"\"B\"\" Lee\",saas,extra\n" +
		",,c@acme.example,Cy \"C\" Lee,saas\n"
	_, rejs := readContacts(t, in, CSV, Options{})
	want := []Reject{
		{Line: 2, Email: "a@acme.example", Reason: `column industry: "retail" is not one of saas, fintech, other`, Raw: []string{"a@acme.example", "Ann", "retail"}},
		{Line: 3, Email: "b@acme.example", Reason: `the row has 6 cells but the header 5 columns; quote cells that hold a comma`, Raw: []string{"b@acme.example", `Bo "B" Lee`, "saas", "extra"}},
		{Line: 4, Email: "c@acme.example", Reason: `column first_name: a quote mark inside a cell that does not start with one (line 4, byte 21); put the whole cell in quotes and double the quote marks inside it`,
			RawLine: []byte(`,,c@acme.example,Cy "C" Lee,saas`)},
	}
	if diff := cmp.Diff(want, rejs); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
}

// TestRejectFileRoundTrip writes rejects, fixes the reject file as a
// person would, and imports it again.
func TestRejectFileRoundTrip(t *testing.T) {
	t.Run("CSV", func(t *testing.T) {
		in := "email,first_name,industry,employees\n" +
			"a@acme.example,Ann,SaaS,10\n" +
			"b@acme.example,\"Lee, Bo\",saas,12k\n" +
			"c@acme.example,Cy \"C\" Lee,saas,3\n" +
			"d@acme.example,Di,saas\n" +
			"ok@acme.example,Ok,saas,1\n"
		r, err := NewContactReader(strings.NewReader(in), "in.csv", CSV, testSchema(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		w := NewRejectWriter(&out, CSV, r.Header())
		_, rejs := drain[runtime.ContactRecord](t, r, func(c runtime.ContactRecord) int { return c.Line })
		for i := range rejs {
			if err := w.Write(&rejs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		wantFile := "nurture_line,nurture_error,email,first_name,industry,employees\n" +
			`2,"column industry: ""SaaS"" is not one of saas, fintech, other (did you mean ""saas""?)",a@acme.example,Ann,SaaS,10` + "\n" +
			`3,"column employees: ""12k"" is not a whole number",b@acme.example,"Lee, Bo",saas,12k` + "\n" +
			`4,"column first_name: a quote mark inside a cell that does not start with one (line 4, byte 19); put the whole cell in quotes and double the quote marks inside it",c@acme.example,Cy "C" Lee,saas,3` + "\n" +
			`5,the row has 3 cells but the header 4 columns,d@acme.example,Di,saas` + "\n"
		if diff := cmp.Diff(wantFile, out.String()); diff != "" {
			t.Fatalf("reject file (-want +got):\n%s", diff)
		}

		fixed := strings.NewReplacer(",SaaS,", ",saas,", ",12k", ",12000", `Cy "C" Lee`, `"Cy ""C"" Lee"`, "d@acme.example,Di,saas", "d@acme.example,Di,saas,").Replace(out.String())
		got, gotRej := readContacts(t, fixed, CSV, Options{})
		want := []runtime.ContactRecord{
			contact(2, "a@acme.example", map[string]any{"first_name": "Ann", "industry": "saas", "employees": int64(10)}),
			contact(3, "b@acme.example", map[string]any{"first_name": "Lee, Bo", "industry": "saas", "employees": int64(12000)}),
			contact(4, "c@acme.example", map[string]any{"first_name": `Cy "C" Lee`, "industry": "saas", "employees": int64(3)}),
			contact(5, "d@acme.example", map[string]any{"first_name": "Di", "industry": "saas"}),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
		if len(gotRej) > 0 {
			t.Errorf("rejects from the fixed file: %+v", gotRej)
		}
	})
	t.Run("JSONL", func(t *testing.T) {
		in := `{"email": "a@acme.example", "industry": "SaaS"}` + "\n" +
			`{"email": "b@acme.example", "industry": "saas"` + "\n" +
			`{"email": "ok@acme.example"}` + "\n"
		r, err := NewContactReader(strings.NewReader(in), "in.jsonl", JSONL, testSchema(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		w := NewRejectWriter(&out, JSONL, r.Header())
		_, rejs := drain[runtime.ContactRecord](t, r, func(c runtime.ContactRecord) int { return c.Line })
		for i := range rejs {
			if err := w.Write(&rejs[i]); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush()
		wantFile := `{"line":1,"error":"key industry: \"SaaS\" is not one of saas, fintech, other (did you mean \"saas\"?)","record":{"email":"a@acme.example","industry":"SaaS"}}` + "\n" +
			`{"line":2,"error":"the line is not JSON: the line ends inside the object; is it cut short?","record":"{\"email\": \"b@acme.example\", \"industry\": \"saas\""}` + "\n"
		if diff := cmp.Diff(wantFile, out.String()); diff != "" {
			t.Fatalf("reject file (-want +got):\n%s", diff)
		}
		fixed := strings.NewReplacer(`"SaaS"}`, `"saas"}`, `\"saas\""}`, `\"saas\"}"}`).Replace(out.String())
		got, gotRej := readContacts(t, fixed, JSONL, Options{})
		want := []runtime.ContactRecord{
			contact(1, "a@acme.example", map[string]any{"industry": "saas"}),
			contact(2, "b@acme.example", map[string]any{"industry": "saas"}),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("records (-want +got):\n%s", diff)
		}
		if len(gotRej) > 0 {
			t.Errorf("rejects from the fixed file: %+v", gotRej)
		}
	})
	t.Run("nothing to reject", func(t *testing.T) {
		var out bytes.Buffer
		w := NewRejectWriter(&out, CSV, []string{"email"})
		w.Flush()
		if out.Len() != 0 {
			t.Errorf("wrote %q with no rejects", out.String())
		}
	})
}
