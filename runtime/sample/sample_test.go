package sample

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // time zone names are checked without the host's database

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/ingest"
)

func generate(t testing.TB, p *campaigns.Program, opt Options) (Stats, []byte, []byte) {
	t.Helper()
	var contacts, events bytes.Buffer
	st, err := Generate(p, opt, &contacts, &events)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return st, contacts.Bytes(), events.Bytes()
}

func TestDeterministic(t *testing.T) {
	for name, p := range map[string]func() *campaigns.Program{"saas": saasProgram, "abm": abmProgram} {
		t.Run(name, func(t *testing.T) {
			opt := Options{Contacts: 500, Seed: 7, Now: testNow}
			st1, c1, e1 := generate(t, p(), opt)
			st2, c2, e2 := generate(t, p(), opt) // a fresh programme: no state shared
			if !bytes.Equal(c1, c2) || !bytes.Equal(e1, e2) || st1 != st2 {
				t.Fatal("two runs with the same seed differ")
			}
			opt.Seed = 8
			_, c3, e3 := generate(t, p(), opt)
			if bytes.Equal(c1, c3) || bytes.Equal(e1, e3) {
				t.Fatal("another seed gives the same data")
			}
			if st1.Contacts != 500 || st1.Events != bytes.Count(e1, []byte("\n")) {
				t.Errorf("stats %+v, want 500 contacts and %d events", st1, bytes.Count(e1, []byte("\n")))
			}
		})
	}
}

func TestOptions(t *testing.T) {
	p := saasProgram()
	for _, tc := range []struct {
		p   *campaigns.Program
		opt Options
	}{
		{nil, Options{Contacts: 1, Now: testNow}},
		{p, Options{Contacts: -1, Now: testNow}},
		{p, Options{Contacts: 1}},
		{p, Options{Contacts: 1, Now: testNow, Months: -1}},
		{p, Options{Contacts: 1, Now: testNow, Months: MaxMonths + 1}},
	} {
		if _, err := Generate(tc.p, tc.opt, io.Discard, io.Discard); err == nil {
			t.Errorf("Generate(%v) succeeded", tc.opt)
		}
	}
	// No contacts: a header and no events.
	st, c, e := generate(t, p, Options{Now: testNow})
	if st != (Stats{}) || bytes.Count(c, []byte("\n")) != 1 || len(e) != 0 {
		t.Errorf("zero contacts: %+v, %q, %q", st, c, e)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(b []byte) (int, error) {
	if w.n -= len(b); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(b), nil
}

func TestWriteError(t *testing.T) {
	if _, err := Generate(saasProgram(), Options{Contacts: 2000, Now: testNow}, io.Discard, &failWriter{n: 100000}); err == nil {
		t.Error("a failing events writer is not reported")
	}
	if _, err := Generate(saasProgram(), Options{Contacts: 2000, Now: testNow}, &failWriter{n: 100000}, io.Discard); err == nil {
		t.Error("a failing contacts writer is not reported")
	}
}

// row is one contact as written, by column.
type row map[string]string

func readContacts(t *testing.T, data []byte) ([]string, []row) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("contacts are not CSV: %v", err)
	}
	header := recs[0]
	var rows []row
	for i, rec := range recs[1:] {
		if len(rec) != len(header) {
			t.Fatalf("row %d has %d cells, want %d", i+2, len(rec), len(header))
		}
		r := row{}
		for j, v := range rec {
			r[header[j]] = v
		}
		rows = append(rows, r)
	}
	return header, rows
}

type jsonEvent struct {
	ID         string                     `json:"id"`
	Email      string                     `json:"email"`
	Name       string                     `json:"name"`
	At         string                     `json:"at"`
	Properties map[string]json.RawMessage `json:"properties"`
	at         time.Time
}

func readEvents(t *testing.T, data []byte) []jsonEvent {
	t.Helper()
	var evs []jsonEvent
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var e jsonEvent
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("events line %d: %v: %s", i+1, err, line)
		}
		at, err := time.Parse(time.RFC3339, e.At)
		if err != nil || at.Location() != time.UTC || !strings.HasSuffix(e.At, "Z") {
			t.Fatalf("events line %d: at %q is not RFC 3339 UTC", i+1, e.At)
		}
		e.at = at
		evs = append(evs, e)
	}
	return evs
}

var (
	emailRe = regexp.MustCompile(`^[a-z0-9]+([._][a-z0-9]+)*@[a-z0-9]+(-[a-z0-9]+)*\.example$`)
	idRe    = regexp.MustCompile(`^evt_[0-9a-f]{16}$`)
)

func TestContactsValid(t *testing.T) {
	for name, mk := range map[string]func() *campaigns.Program{"saas": saasProgram, "abm": abmProgram} {
		t.Run(name, func(t *testing.T) {
			p := mk()
			_, data, _ := generate(t, p, Options{Contacts: 3000, Seed: 3, Now: testNow})
			header, rows := readContacts(t, data)
			checkContacts(t, p, header, rows, testNow.AddDate(0, -6, 0), testNow)
		})
	}
}

func checkContacts(t *testing.T, p *campaigns.Program, header []string, rows []row, start, now time.Time) {
	t.Helper()
	want := []string{"email"}
	if len(p.Contact.Stages) > 0 {
		want = append(want, "stage")
	}
	want = append(want, "account")
	if len(p.Accounts.Tiers) > 0 {
		want = append(want, "account_tier")
	}
	want = append(want, "timezone")
	for _, n := range sortedKeys(p.Contact.Attributes) {
		if !p.Contact.Attributes[n].Builtin {
			want = append(want, n)
		}
	}
	if p.Sender.LawfulBasis == "consent" {
		want = append(want, "consent_at", "consent_source", "consent_wording")
	}
	if !slices.Equal(header, want) {
		t.Fatalf("header\n%q\nwant\n%q", header, want)
	}

	schema := map[string]*campaigns.Attribute{
		"consent_at":      {Type: campaigns.TypeTime, Required: p.Sender.LawfulBasis == "consent"},
		"consent_source":  {Type: campaigns.TypeString, Required: true},
		"consent_wording": {Type: campaigns.TypeString, Required: true},
	}
	for n, a := range p.Contact.Attributes {
		schema[n] = a
	}
	emails := map[string]bool{}
	blanks := map[string]int{}
	type acct struct{ company, tier, domain string }
	accounts := map[string]acct{}
	for i, r := range rows {
		line := i + 2
		e := r["email"]
		if !emailRe.MatchString(e) {
			t.Errorf("line %d: email %q is not a plain lower-case address at .example", line, e)
		}
		local, domain, _ := strings.Cut(e, "@")
		if ingest.IsRoleLocal(local) {
			t.Errorf("line %d: %s is a role address", line, e)
		}
		if emails[e] {
			t.Errorf("line %d: %s is a duplicate", line, e)
		}
		emails[e] = true
		if r["account"] == "" {
			t.Errorf("line %d: no account", line)
		}
		a := acct{r["company"], r["account_tier"], domain}
		if prev, ok := accounts[r["account"]]; ok {
			// Blank cells aside, the account's contacts agree.
			if prev.domain != a.domain || prev.tier != a.tier || prev.company != a.company && prev.company != "" && a.company != "" {
				t.Errorf("line %d: account %s is %+v here and %+v before", line, r["account"], a, prev)
			}
		}
		accounts[r["account"]] = a
		for _, col := range header {
			v := r[col]
			at := schema[col]
			if v == "" {
				if at.Required || col == "stage" || col == "account_tier" {
					t.Errorf("line %d: %s is required but empty", line, col)
				}
				blanks[col]++
				continue
			}
			if v != strings.TrimSpace(v) {
				t.Errorf("line %d: %s %q has surrounding space", line, col, v)
			}
			switch at.Type {
			case campaigns.TypeEnum:
				if !slices.Contains(at.Values, v) {
					t.Errorf("line %d: %s %q is not one of %v", line, col, v, at.Values)
				}
			case campaigns.TypeInt:
				if _, err := strconv.ParseInt(v, 10, 64); err != nil {
					t.Errorf("line %d: %s %q is not an int", line, col, v)
				}
			case campaigns.TypeNumber:
				if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsInf(f, 0) || strings.ContainsAny(v, "eE") {
					t.Errorf("line %d: %s %q is not a decimal", line, col, v)
				}
			case campaigns.TypeBool:
				if v != "true" && v != "false" {
					t.Errorf("line %d: %s %q is not true or false", line, col, v)
				}
			case campaigns.TypeTime:
				tm, err := time.Parse(time.RFC3339, v)
				end := now
				if strings.Contains(col, "ends") {
					end = now.Add(14 * 24 * time.Hour) // a current trial ends after now
				}
				if err != nil || !strings.HasSuffix(v, "Z") || tm.Before(start) || !tm.Before(end) {
					t.Errorf("line %d: %s %q is not an RFC 3339 UTC time in [%v, %v)", line, col, v, start, end)
				}
			}
			if col == "timezone" {
				if _, err := time.LoadLocation(v); err != nil {
					t.Errorf("line %d: timezone %q: %v", line, col, err)
				}
			}
		}
		if t.Failed() {
			return
		}
	}
	// Unknown optional values are there, but not too many. Trial and
	// sales-touch times are empty whenever there was none.
	for _, col := range header {
		at := schema[col]
		if at.Required || col == "stage" || col == "account" || col == "account_tier" || col == "email" ||
			strings.Contains(col, "trial") || strings.Contains(col, "sales_touch") {
			continue
		}
		share := float64(blanks[col]) / float64(len(rows))
		if share < 0.02 || share > 0.25 {
			t.Errorf("%s is empty in %.0f%% of rows, want about 5–15%%", col, 100*share)
		}
	}
}

func TestEventsValid(t *testing.T) {
	for name, mk := range map[string]func() *campaigns.Program{"saas": saasProgram, "abm": abmProgram} {
		t.Run(name, func(t *testing.T) {
			p := mk()
			opt := Options{Contacts: 2000, Seed: 4, Now: testNow.Add(90 * time.Minute), Months: 3}
			st, cdata, edata := generate(t, p, opt)
			_, rows := readContacts(t, cdata)
			evs := readEvents(t, edata)
			if len(evs) != st.Events {
				t.Errorf("%d lines, Stats.Events %d", len(evs), st.Events)
			}
			if len(evs) < 5*len(rows) || len(evs) > 60*len(rows) {
				t.Errorf("%d events for %d contacts: want a few to a few dozen each", len(evs), len(rows))
			}
			checkEvents(t, p, rows, evs, opt.Now.AddDate(0, -opt.Months, 0), opt.Now)
		})
	}
}

func checkEvents(t *testing.T, p *campaigns.Program, rows []row, evs []jsonEvent, start, now time.Time) {
	t.Helper()
	contacts := map[string]bool{}
	for _, r := range rows {
		contacts[r["email"]] = true
	}
	ids := map[string]bool{}
	done := map[string]bool{} // contacts whose events are behind us
	var prev jsonEvent
	for i, e := range evs {
		line := i + 1
		if !idRe.MatchString(e.ID) || ids[e.ID] {
			t.Fatalf("line %d: id %q is malformed or repeated", line, e.ID)
		}
		ids[e.ID] = true
		if !contacts[e.Email] {
			t.Fatalf("line %d: %s is not a contact", line, e.Email)
		}
		if e.at.Before(start) || !e.at.Before(now) {
			t.Fatalf("line %d: %s is outside [%v, %v)", line, e.At, start, now)
		}
		// Each contact's events are together and in time order.
		if i > 0 && prev.Email != e.Email {
			done[prev.Email] = true
		}
		if done[e.Email] {
			t.Fatalf("line %d: %s's events are not together", line, e.Email)
		}
		if i > 0 && prev.Email == e.Email && e.at.Before(prev.at) {
			t.Fatalf("line %d: %s is before the previous event %s", line, e.At, prev.At)
		}
		prev = e
		et := p.Events[e.Name]
		if et == nil {
			t.Fatalf("line %d: event %q is not declared", line, e.Name)
		}
		for n, raw := range e.Properties {
			a := et.Properties[n]
			if a == nil {
				t.Fatalf("line %d: %s has no property %q", line, e.Name, n)
			}
			if err := checkValue(a, raw); err != nil {
				t.Fatalf("line %d: %s.%s: %v", line, e.Name, n, err)
			}
		}
		for n, a := range et.Properties {
			if _, ok := e.Properties[n]; a.Required && !ok {
				t.Fatalf("line %d: %s lacks required property %s", line, e.Name, n)
			}
		}
		if e.Properties != nil && len(e.Properties) == 0 {
			t.Fatalf(`line %d: an empty "properties" object; leave the key out`, line)
		}
	}
}

func checkValue(a *campaigns.Attribute, raw json.RawMessage) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	switch a.Type {
	case campaigns.TypeString, campaigns.TypeEnum, campaigns.TypeTime:
		s, ok := v.(string)
		if !ok || s == "" {
			return fmt.Errorf("%s is not a non-empty string", raw)
		}
		if a.Type == campaigns.TypeEnum && !slices.Contains(a.Values, s) {
			return fmt.Errorf("%q is not one of %v", s, a.Values)
		}
		if a.Type == campaigns.TypeTime {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return err
			}
		}
	case campaigns.TypeInt:
		n, ok := v.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			return fmt.Errorf("%s is not an integer", raw)
		}
	case campaigns.TypeNumber:
		if _, ok := v.(json.Number); !ok {
			return fmt.Errorf("%s is not a number", raw)
		}
	case campaigns.TypeBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s is not a bool", raw)
		}
	}
	return nil
}

// TestProgrammeValuesAppear checks the values the programme's conditions
// name turn up, so its segments have members.
func TestProgrammeValuesAppear(t *testing.T) {
	p := saasProgram()
	_, cdata, edata := generate(t, p, Options{Contacts: 2000, Seed: 5, Now: testNow})
	_, rows := readContacts(t, cdata)
	evs := readEvents(t, edata)
	week := testNow.Add(-7 * 24 * time.Hour)

	count := func(f func(r row) bool) int {
		n := 0
		for _, r := range rows {
			if f(r) {
				n++
			}
		}
		return n
	}
	atLeast := func(what string, n, want int) {
		t.Helper()
		if n < want {
			t.Errorf("%s: %d, want at least %d", what, n, want)
		}
	}
	atLeast("contacts in DE or AT", count(func(r row) bool { return r["country"] == "DE" || r["country"] == "AT" }), 100)
	atLeast("contacts with 1000+ employees", count(func(r row) bool { n, _ := strconv.Atoi(r["employees"]); return n >= 1000 }), 100)
	atLeast("partners", count(func(r row) bool { return r["is_partner"] == "true" }), 400)
	atLeast("arr over 250k", count(func(r row) bool { f, _ := strconv.ParseFloat(r["arr_usd"], 64); return f > 250000 }), 200)
	atLeast("reviewed in the last 10 days", count(func(r row) bool {
		tm, err := time.Parse(time.RFC3339, r["reviewed_at"])
		return err == nil && tm.After(testNow.Add(-10*24*time.Hour))
	}), 200)
	atLeast("contacts at a competitor", count(func(r row) bool {
		return strings.HasSuffix(r["email"], "@rivalco.example") || strings.HasSuffix(r["email"], "@contoso.example")
	}), 1)
	atLeast("data leaders and executives", count(func(r row) bool { return r["persona"] == "data_leader" || r["persona"] == "executive" }), 300)

	views, pricing, product := 0, 0, 0
	pricingWeek := map[string]int{}
	benchmarks := map[string]int{}
	lowNPS := 0
	for _, e := range evs {
		switch e.Name {
		case "page_view":
			views++
			var path string
			json.Unmarshal(e.Properties["path"], &path)
			if path == "/pricing" {
				pricing++
				if !e.at.Before(week) {
					pricingWeek[e.Email]++
				}
			}
			if strings.HasPrefix(path, "/product/") && len(path) > len("/product/") {
				product++
			}
		case "content_downloaded":
			var f string
			json.Unmarshal(e.Properties["format"], &f)
			if f == "benchmark" {
				benchmarks[e.Email]++
			}
		case "survey_answered":
			var n int
			if json.Unmarshal(e.Properties["nps"], &n) == nil && n < 5 && !e.at.Before(testNow.Add(-30*24*time.Hour)) {
				lowNPS++
			}
		}
	}
	if share := float64(pricing) / float64(views); share < 0.1 || share > 0.4 {
		t.Errorf("/pricing is %.0f%% of page views, want a meaningful share", 100*share)
	}
	atLeast("views of /product/…", product, views/20)
	hot := 0
	for _, n := range pricingWeek {
		if n >= 2 {
			hot++
		}
	}
	// Bursts give a few percent of contacts this; chance alone gives fewer.
	atLeast("contacts with two pricing views this week", hot, len(rows)/25)
	twice := 0
	for _, n := range benchmarks {
		if n >= 2 {
			twice++
		}
	}
	atLeast("contacts with two benchmark downloads", twice, 10)
	atLeast("low NPS answers this month", lowNPS, 10)
}

func TestEngagementShape(t *testing.T) {
	p := saasProgram()
	_, cdata, edata := generate(t, p, Options{Contacts: 3000, Seed: 6, Now: testNow})
	_, rows := readContacts(t, cdata)
	evs := readEvents(t, edata)
	recent := map[string]bool{}
	per := map[string]int{}
	demo := map[string]bool{}
	for _, e := range evs {
		per[e.Email]++
		if campaigns.IsEngagement(e.Name) && !e.at.Before(testNow.Add(-60*24*time.Hour)) {
			recent[e.Email] = true
		}
		if e.Name == "demo_requested" {
			demo[e.Email] = true
		}
	}
	n := float64(len(rows))
	if quiet := 1 - float64(len(recent))/n; quiet < 0.12 || quiet > 0.32 {
		t.Errorf("%.0f%% of contacts did nothing in 60 days, want about 20%%", 100*quiet)
	}
	if d := float64(len(demo)) / n; d < 0.01 || d > 0.06 {
		t.Errorf("%.1f%% asked for a demo, want about 3%%", 100*d)
	}
	counts := make([]int, 0, len(rows))
	for _, r := range rows {
		counts = append(counts, per[r["email"]])
	}
	slices.Sort(counts)
	if med, p95 := counts[len(counts)/2], counts[len(counts)*95/100]; med < 4 || med > 40 || p95 < 2*med {
		t.Errorf("events per contact: median %d, 95th percentile %d; want a skew from quiet to very active", med, p95)
	}
	stages := map[string]int{}
	for _, r := range rows {
		stages[r["stage"]]++
	}
	if stages["subscriber"]+stages["lead"] < len(rows)/2 || stages["customer"] > len(rows)/10 {
		t.Errorf("stages %v: want most contacts early", stages)
	}
}

func TestAccounts(t *testing.T) {
	p := abmProgram()
	_, cdata, edata := generate(t, p, Options{Contacts: 2000, Seed: 9, Now: testNow})
	_, rows := readContacts(t, cdata)
	evs := readEvents(t, edata)
	size := map[string]int{}
	titles := map[string]map[string]int{}
	for _, r := range rows {
		size[r["account"]]++
		if titles[r["committee_role"]] == nil {
			titles[r["committee_role"]] = map[string]int{}
		}
		titles[r["committee_role"]][r["job_title"]]++
	}
	multi := 0
	for a, n := range size {
		if n > 8 {
			t.Errorf("account %s has %d contacts, want 1 to 8", a, n)
		}
		if n > 1 {
			multi++
		}
	}
	if multi < len(size)/2 {
		t.Errorf("%d of %d accounts have more than one contact", multi, len(size))
	}
	// Titles follow the role: procurement is never a CFO.
	var buyers []string
	for _, rt := range roleTitles {
		if slices.Contains(rt.keys, "procure") {
			buyers = rt.titles
		}
	}
	for title := range titles["procurement"] {
		if title != "" && !slices.Contains(buyers, title) {
			t.Errorf("procurement contact titled %q", title)
		}
	}
	// Intent surges reach every contact of the account at once.
	byEmail := map[string]row{}
	for _, r := range rows {
		byEmail[r["email"]] = r
	}
	surges := map[string]map[string]int{} // account → "at props" → contacts
	for _, e := range evs {
		if e.Name != "intent_surge" {
			continue
		}
		acct := byEmail[e.Email]["account"]
		if surges[acct] == nil {
			surges[acct] = map[string]int{}
		}
		b, _ := json.Marshal(e.Properties)
		surges[acct][e.At+string(b)]++
	}
	if len(surges) == 0 {
		t.Fatal("no intent surges")
	}
	strong := 0
	for _, e := range evs {
		var n int
		if e.Name == "intent_surge" && json.Unmarshal(e.Properties["strength"], &n) == nil && n >= 70 && !e.at.Before(testNow.Add(-21*24*time.Hour)) {
			strong++
		}
	}
	if strong == 0 {
		t.Error("no strong recent surges for the surging segment")
	}
	shared := 0
	for acct, m := range surges {
		for _, n := range m {
			if n > 1 {
				shared++
			}
			if n > size[acct] {
				t.Errorf("a surge of %s reached %d contacts of %d", acct, n, size[acct])
			}
		}
	}
	if shared == 0 {
		t.Error("no surge reached more than one contact of its account")
	}
	// Briefing pages are per account, as the email links them.
	briefings := 0
	for _, e := range evs {
		var path string
		if e.Name == "page_view" && json.Unmarshal(e.Properties["path"], &path) == nil && strings.HasPrefix(path, "/briefings/") {
			briefings++
			if want := "/briefings/" + byEmail[e.Email]["account"]; path != want {
				t.Fatalf("%s visited %s, want %s", e.Email, path, want)
			}
		}
	}
	if briefings == 0 {
		t.Error("no briefing page views")
	}
}

func TestEncoders(t *testing.T) {
	for _, sec := range []int64{0, 86399, 951782400, 1795392000, 4102444800, 1795391999, 1709164800} {
		if got, want := formatTime(sec), time.Unix(sec, 0).UTC().Format(time.RFC3339); got != want {
			t.Errorf("formatTime(%d) = %s, want %s", sec, got, want)
		}
	}
	for _, s := range []string{"plain", `q"uote`, `back\slash`, "tab\tnew\nline\r\x01", "Zoë & <b>"} {
		var got any
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil || got != s {
			t.Errorf("appendJSONString(%q) reads back as %q, %v", s, got, err)
		}
	}
	for in, want := range map[string]string{"Müller": "mueller", "O'Brien": "obrien", "de Vries": "devries", "Ji-woo": "jiwoo", "Élodie": "elodie", "Wójcik": "wojcik"} {
		if got := asciiFold(in); got != want {
			t.Errorf("asciiFold(%q) = %q, want %q", in, got, want)
		}
	}
	if got := slug("Supply Co."); got != "supply-co" {
		t.Errorf("slug = %q", got)
	}
	if got := titleFromSlug("state-of-the-industry-2026"); got != "State of the Industry 2026" {
		t.Errorf("titleFromSlug = %q", got)
	}
}

func TestPatternSample(t *testing.T) {
	h := collectHints(&campaigns.Program{})
	r := newRNG(1)
	for _, expr := range []string{`^/product/`, `^/(platform|pricing)`, `@(tableau|looker)\.example$`, `(?i)\b(intern|student)\b`, `^[A-Z]{2}-\d+$`} {
		pt := h.pattern(expr)
		if pt == nil {
			t.Fatalf("%s does not parse", expr)
		}
		s := pt.sample(r.Rand)
		if s == "" || !pt.re.MatchString(s) {
			t.Errorf("sample of %s = %q", expr, s)
		}
	}
}

// TestSequencesFollowSegments checks that the email history agrees with
// the programme: a segment's sequence reaches only its members, and a
// sequence entered on behaviour starts after that behaviour.
func TestSequencesFollowSegments(t *testing.T) {
	p := abmProgram()
	_, cdata, edata := generate(t, p, Options{Contacts: 2000, Seed: 11, Now: testNow})
	_, rows := readContacts(t, cdata)
	byEmail := map[string]row{}
	for _, r := range rows {
		byEmail[r["email"]] = r
	}
	title := regexp.MustCompile("(?i)(chief|vp|director|head of)")
	sent := 0
	for _, e := range readEvents(t, edata) {
		if e.Name != campaigns.EventSent {
			continue
		}
		sent++
		r := byEmail[e.Email]
		if r["account_tier"] != "one_to_one" || !title.MatchString(r["job_title"]) {
			t.Fatalf("%s (%s, %q) was sent the named-account sequence", e.Email, r["account_tier"], r["job_title"])
		}
	}
	if sent == 0 {
		t.Fatal("nobody in the named-account segment was mailed")
	}

	p = saasProgram()
	_, _, edata = generate(t, p, Options{Contacts: 2000, Seed: 12, Now: testNow})
	var pricing = map[string][]time.Time{}
	first := map[string]time.Time{}
	for _, e := range readEvents(t, edata) {
		var path, seq string
		json.Unmarshal(e.Properties["path"], &path)
		json.Unmarshal(e.Properties["sequence"], &seq)
		switch {
		case e.Name == "page_view" && path == "/pricing":
			pricing[e.Email] = append(pricing[e.Email], e.at)
		case e.Name == campaigns.EventSent && seq == "nurture":
			if _, ok := first[e.Email]; !ok {
				first[e.Email] = e.at
			}
		}
	}
	if len(first) == 0 {
		t.Fatal("nobody entered the pricing-intent sequence")
	}
	for email, at := range first {
		// Entered on the second view in seven days; mailed from the next
		// day, on a working day: within twelve days of the first view.
		n := 0
		for _, v := range pricing[email] {
			if v.Before(at) && v.After(at.Add(-12*24*time.Hour)) {
				n++
			}
		}
		if n < 2 {
			t.Errorf("%s was sent the pricing-intent sequence at %v after %d pricing views", email, at, n)
		}
	}
}

// The accounts' records: one row per account the contacts name, read
// back without a reject by the account import's reader, a target flag
// more often on the more important tiers; and asking for them leaves the
// contacts and events of the seed byte for byte as they were.
func TestAccountRecords(t *testing.T) {
	p := abmProgram()
	p.Accounts.Attributes = map[string]*campaigns.Attribute{
		"target": {Type: campaigns.TypeBool, Required: true},
		"owner":  {Type: campaigns.TypeString},
		"seats":  {Type: campaigns.TypeInt},
	}
	opt := Options{Contacts: 600, Seed: 5, Now: testNow}
	_, c1, e1 := generate(t, p, opt)
	var accounts, contacts, events bytes.Buffer
	opt.Accounts = &accounts
	st, err := Generate(p, opt, &contacts, &events)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c1, contacts.Bytes()) || !bytes.Equal(e1, events.Bytes()) {
		t.Fatal("writing the accounts changed the contacts or events of the seed")
	}

	cr, err := ingest.NewContactReader(bytes.NewReader(c1), "contacts.csv", ingest.CSV, &p.Contact, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]string{} // account → tier
	for {
		c, rej, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil || rej != nil {
			t.Fatalf("contacts: %v %v", err, rej)
		}
		named[c.Values["account"].(string)] = c.Values["account_tier"].(string)
	}
	ar, err := ingest.NewAccountReader(&accounts, "accounts.csv", ingest.CSV, p.Accounts.Attributes, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	targets, byTier := map[string]int{}, map[string]int{}
	rows := 0
	for {
		a, rej, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil || rej != nil {
			t.Fatalf("accounts: %v %+v", err, rej)
		}
		rows++
		tier, ok := named[a.Key]
		if !ok {
			t.Fatalf("account %s names no contact's account", a.Key)
		}
		byTier[tier]++
		if a.Values["target"] == true {
			targets[tier]++
		}
	}
	if rows != len(named) || st.Accounts != rows {
		t.Errorf("%d account rows (stats %d) for %d accounts the contacts name", rows, st.Accounts, len(named))
	}
	share := func(tier string) float64 { return float64(targets[tier]) / float64(max(byTier[tier], 1)) }
	if first, last := p.Accounts.Tiers[0], p.Accounts.Tiers[len(p.Accounts.Tiers)-1]; share(first) <= share(last) {
		t.Errorf("targets: %.2f of %s accounts, %.2f of %s; want more of the first tier", share(first), first, share(last), last)
	}
}
