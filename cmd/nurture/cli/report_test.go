package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/storetest"
	"github.com/nurture-dev/nurture/runtime/track"
)

// reportStore is a SQLite store holding the conformance suite's report
// fixture, with the suite's programme applied so that the funnel follows
// its stages; edit, when given, changes the programme first.
func reportStore(t *testing.T, edit ...func(*campaigns.Program)) string {
	t.Helper()
	return fixtureStore(t, storetest.ReportFixture, edit...)
}

// fixtureStore is a SQLite store holding a fixture of the conformance
// suite, with the suite's programme (edited) applied.
func fixtureStore(t *testing.T, fixture func(*testing.T, storetest.Opener, runtime.Store, *campaigns.Program), edit ...func(*campaigns.Program)) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "report.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := storetest.Program()
	for _, e := range edit {
		e(p)
	}
	if err := st.SyncSchema(ctx, &p.Contact); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, runtime.Version{Hash: "fixture", AppliedBy: "test", Program: b}, campaigns.PlanBase{}, nil); err != nil {
		t.Fatal(err)
	}
	o := storetest.Opener{Exec: func(t *testing.T, s runtime.Store, q string, args ...any) {
		for i, a := range args {
			if tm, ok := a.(time.Time); ok {
				args[i] = tm.UnixMilli()
			}
		}
		if _, err := s.(*sqlstore.Store).DB().Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}}
	fixture(t, o, st, p)
	return path
}

// golden compares got with testdata/report/name; NURTURE_UPDATE=1
// rewrites the file.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", "report", name)
	if os.Getenv("NURTURE_UPDATE") != "" {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("%s differs (NURTURE_UPDATE=1 rewrites it); got:\n%s", file, got)
	}
}

// The report of the fixture's week, in each format. The figures are the
// ones the conformance suite checks by hand; here what matters is how
// each format shows them.
func TestReportFormats(t *testing.T) {
	store := "--store=sqlite:" + reportStore(t)
	week := []string{"--since", "7d", "--until", storetest.Now.Format(time.RFC3339)}
	for _, c := range []struct{ format, file string }{
		{"text", "week.txt"}, {"markdown", "week.md"}, {"json", "week.json"},
	} {
		t.Run(c.format, func(t *testing.T) {
			out, errOut, code := run(t, append([]string{"report", store, "--format", c.format}, week...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, c.file, out)
		})
	}

	out, errOut, code := run(t, append([]string{"report", store, "--format", "json"}, week...)...)
	if code != 0 {
		t.Fatal(errOut)
	}
	var r struct {
		FormatVersion int `json:"format_version"`
		Sequences     []struct {
			Name   string
			Emails []struct {
				Variant string
				CTR     struct{ Count, Of int }
				Unsub   struct{ Flag *string } `json:"unsubscribe_rate"`
			}
			Outcome struct {
				Funnel []struct {
					Stage   string
					Reached int
				}
				Handoffs int
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.FormatVersion != 1 || len(r.Sequences) != 2 || r.Sequences[1].Name != "welcome" {
		t.Fatalf("unexpected report: %s", out)
	}
	w := r.Sequences[1]
	if a := w.Emails[0]; a.Variant != "a" || a.CTR.Count != 2 || a.CTR.Of != 2 || a.Unsub.Flag != nil {
		t.Errorf("arm a: %+v, want 2 clicks of 2 delivered, unsubscribes not flagged", a)
	}
	if b := w.Emails[1]; b.Unsub.Flag == nil {
		t.Errorf("arm b: 1 unsubscribe of 2 delivered is not flagged")
	}
	// lead 1, mql 2, sql 0, customer 1 now: 4 reached lead, 3 mql, 1 sql
	// and 1 customer.
	var funnel []string
	for _, s := range w.Outcome.Funnel {
		funnel = append(funnel, s.Stage+"="+strings.Repeat("|", s.Reached))
	}
	if got, want := strings.Join(funnel, " "), "lead=|||| mql=||| sql=| customer=|"; got != want || w.Outcome.Handoffs != 1 {
		t.Errorf("funnel %s and %d hand-offs, want %s and 1", got, w.Outcome.Handoffs, want)
	}
}

func TestReportFlags(t *testing.T) {
	store := "--store=sqlite:" + reportStore(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown format", []string{"--format", "html"}, `--format "html": want text, json or markdown`},
		{"a date that is none", []string{"--since", "last week"}, `--since "last week": want a date`},
		{"an empty period", []string{"--since", "2026-11-23", "--until", "2026-11-22"}, "is not before --until"},
		{"a sequence the programme lacks", []string{"--sequence", "welcom"}, "no such sequence; it has"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := run(t, append([]string{"report", store}, c.args...)...)
			if code == 0 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want an error containing %q", code, errOut, c.want)
			}
		})
	}
}

// The README's example report is the report of a store the benchmark's
// generator fills with 4,000 sends: the test runs the command it shows
// and compares the output with the text beneath it (NURTURE_UPDATE=1
// rewrites it).
func TestReadmeReport(t *testing.T) {
	const readme = "../../../README.md"
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	const cmdLine = "$ nurture report --since 2026-10-24 --until 2026-11-23 --store sqlite:nurture.db\n"
	text := string(b)
	start := strings.Index(text, cmdLine)
	if start < 0 {
		t.Fatalf("the README shows no %q", strings.TrimSpace(cmdLine))
	}
	start += len(cmdLine)
	end := strings.Index(text[start:], "```")
	if end < 0 {
		t.Fatal("the README's example report has no end")
	}
	path := filepath.Join(t.TempDir(), "nurture.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	seedReportBench(t, st, 4000)
	prog := storetest.Program()
	prog.Goals = &campaigns.Goals{Exits: []string{"converted"}}
	p, _ := json.Marshal(prog)
	if _, err := st.Apply(context.Background(), runtime.Version{Hash: "readme", AppliedBy: "test", Program: p}, campaigns.PlanBase{}, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	args := strings.Fields(strings.TrimPrefix(strings.TrimSpace(cmdLine), "$ nurture "))
	args[len(args)-1] = "sqlite:" + path
	out, errOut, code := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if os.Getenv("NURTURE_UPDATE") != "" {
		if err := os.WriteFile(readme, []byte(text[:start]+out+text[start+end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := text[start : start+end]; got != out {
		t.Errorf("the README's example report is not what the command prints (NURTURE_UPDATE=1 rewrites it); it prints:\n%s", out)
	}
}

// --html writes the page to a new file and refuses to replace one unless
// --force says so.
func TestReportHTMLFile(t *testing.T) {
	store := "--store=sqlite:" + reportStore(t)
	week := []string{"--since", "7d", "--until", storetest.Now.Format(time.RFC3339)}
	page := filepath.Join(t.TempDir(), "report.html")
	out, errOut, code := run(t, append([]string{"report", store, "--html", page}, week...)...)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q: %s", code, out, errOut)
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "week.html", string(b))
	for _, external := range []string{"<script", "http://", "https://x.example/1\"", "<link rel=\"stylesheet"} {
		if strings.Contains(string(b), external) {
			t.Errorf("the page holds %q: it should need nothing from elsewhere", external)
		}
	}

	if err := os.WriteFile(page, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, append([]string{"report", store, "--html", page}, week...)...)
	if code == 0 || !strings.Contains(errOut, "--html "+page+": the file exists; --force replaces it") {
		t.Errorf("exit %d, stderr %q; want a refusal to replace the file", code, errOut)
	}
	if b, _ := os.ReadFile(page); string(b) != "keep me" {
		t.Errorf("the file was changed to %.40q…", b)
	}
	if _, errOut, code = run(t, append([]string{"report", store, "--html", page, "--force"}, week...)...); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, errOut)
	}
	if b, _ := os.ReadFile(page); !strings.HasPrefix(string(b), "<!DOCTYPE html>") {
		t.Errorf("--force left %.40q…", b)
	}
}

// The served page wants the API token, reads its period from the query
// as the command reads its flags, and says what is wrong with a bad one.
func TestServeReportPage(t *testing.T) {
	ctx := context.Background()
	st, err := openStore(ctx, "sqlite:"+reportStore(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := &track.Server{APIToken: "tok", Report: reportPage(st, func() time.Time { return storetest.Now })}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	get := func(query, token string) (int, string, http.Header) {
		req, _ := http.NewRequest("GET", hs.URL+"/v1/report"+query, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	for _, c := range []struct {
		name, query, token string
		status             int
		want               string
	}{
		{"no token", "", "", http.StatusUnauthorized, "Authorization: Bearer TOKEN"},
		{"a wrong token", "", "tok2", http.StatusUnauthorized, "Authorization: Bearer TOKEN"},
		{"the last week", "?since=7d", "tok", http.StatusOK, "Report from 2026-11-16 12:00 up to 2026-11-23 12:00 UTC"},
		{"one sequence", "?since=7d&sequence=nurture", "tok", http.StatusOK, "sequence nurture"},
		{"a date that is none", "?since=yesterday", "tok", http.StatusBadRequest, `since "yesterday": want a date`},
		{"an empty period", "?since=2026-11-23&until=2026-11-22", "tok", http.StatusBadRequest, "is not before until"},
		{"a sequence the programme lacks", "?sequence=welcom", "tok", http.StatusNotFound, "sequence welcom: the applied programme has no such sequence"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body, h := get(c.query, c.token)
			if status != c.status || !strings.Contains(body, c.want) {
				t.Errorf("%d %q; want %d and %q", status, body, c.status, c.want)
			}
			if status == http.StatusOK && !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("the page's policy is %q; it should allow nothing from elsewhere", h.Get("Content-Security-Policy"))
			}
		})
	}
}

// The programme's goals, counted by hand from the fixture's week: of
// welcome's 4 contacts b converted two days after entering and d is a
// customer, past the goal's stage; nurture's one contact is a lead.
func TestReportGoals(t *testing.T) {
	store := "--store=sqlite:" + reportStore(t, func(p *campaigns.Program) {
		p.Goals = &campaigns.Goals{Exits: []string{"converted"}, Stage: "sql"}
	})
	week := []string{"--since", "7d", "--until", storetest.Now.Format(time.RFC3339)}
	out, errOut, code := run(t, append([]string{"report", store}, week...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"exits converted 1, unsubscribed 1; goal reached by 2 (50%, 15%–85%), 1 goal exit after 2 days on average\n",
		"0 hand-offs to sales (0% of contacts); goal reached by 0 (0%, 0%–79.3%)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = run(t, append([]string{"report", store, "--format", "json"}, week...)...)
	var r struct {
		Programme struct {
			Goal struct {
				Conversion struct{ Count, Of int }
				Exits      int
				DaysToExit float64 `json:"days_to_exit"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if g := r.Programme.Goal; g.Conversion.Count != 2 || g.Conversion.Of != 4 || g.Exits != 1 || g.DaysToExit != 2 {
		t.Errorf("the programme's goal: %+v, want 2 of 4 contacts, 1 exit after 2 days", g)
	}
}
