package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Generated programmes, for the benchmarks and for anyone who wants a large
// programme on disk: the sender, contact, events, scoring, cadence and
// hand-off of the minimal sample, then one segment and one sequence per
// sequence asked for, ten sequences to a .cue file, and one Markdown email
// per send step.

// genPerFile is how many sequences (and their segments) one .cue file holds.
const genPerFile = 10

// genSendsPerSequence is how many emails each generated sequence sends.
const genSendsPerSequence = 3

const genHeader = `package nurture

sender: {
	from: {name: "Acme", email: "hello@acme.example"}
	reply_to:     "team@acme.example"
	address:      "Acme Inc., 1 Market St, San Francisco, CA 94105"
	lawful_basis: "consent"
	tracking: base_url: "https://go.acme.example"
}

contact: {
	stages: ["lead", "mql", "sql", "customer"]
	attributes: {
		first_name: type: "string"
		company: type: "string"
		industry: {type: "enum", values: ["saas", "fintech", "retail", "health", "other"], required: true}
		employees: type: "int"
		country: type: "string"
	}
}

events: {
	page_view: properties: path: {type: "string", required: true}
	demo_requested: {}
	trial_started: {}
}

scoring: lead: {
	fit: saas: {when: industry: in: ["saas", "fintech"], points: 30}
	behavior: pricing: {event: "page_view", where: path: "/pricing", points: 20, max: 40, within: "30d"}
	decay: half_life: "30d"
	max: 100
	thresholds: {mql: 50, sql: 80}
}

// One email per contact per week: the generated sequences wait 7d between
// sends on every path.
cadence: {
	limits: [{max: 1, per: "7d"}]
	quiet_hours: {from: "19:00", to: "08:00"}
	business_days: ["mon", "tue", "wed", "thu", "fri"]
	default_timezone: "America/New_York"
}

handoffs: sales: {
	webhook: {url: "https://crm.acme.example/hooks/lead", secret_env: "CRM_SECRET"}
	stage: "sql"
}
`

var (
	genIndustries = []string{"saas", "fintech", "retail", "health", "other"}
	genCountries  = []string{"US", "GB", "DE", "FR", "NL", "SE", "ES", "IT", "CA", "AU"}
	genTopics     = []string{"onboarding", "reporting", "integrations", "security", "pricing", "automation", "forecasting", "billing"}
	genEmailNames = [genSendsPerSequence]string{"01-welcome.md", "02-case-study.md", "03-next-steps.md"}
)

// writeProgramme writes a valid programme of n sequences to dir. The output
// depends only on n.
func writeProgramme(tb testing.TB, dir string, n int) {
	tb.Helper()
	write := func(rel, content string) {
		tb.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	write("programme.cue", genHeader)
	for start := 0; start < n; start += genPerFile {
		var b strings.Builder
		b.WriteString("package nurture\n")
		for i := start; i < min(start+genPerFile, n); i++ {
			genSequence(&b, i)
			for k, name := range genEmailNames {
				write(genEmailPath(i, name), genEmail(i, k))
			}
		}
		write(fmt.Sprintf("sequences_%03d.cue", start/genPerFile), b.String())
	}
}

func genName(i int) string { return fmt.Sprintf("nurture_%04d", i) }

func genEmailPath(i int, file string) string {
	return fmt.Sprintf("emails/%s/%s", genName(i), file)
}

// genSequence writes sequence i and the segment it enters from:
// send, wait 7d, send, wait_for a click within 7d (else exit), send, wait
// 7d — three sends, every one 7d after the last.
func genSequence(b *strings.Builder, i int) {
	name := genName(i)
	industry := genIndustries[i%len(genIndustries)]
	country := genCountries[(i/len(genIndustries))%len(genCountries)]
	topic := genTopics[i%len(genTopics)]
	fmt.Fprintf(b, `
segments: seg_%[1]s: {
	description: "%[2]s leads in %[3]s, %[4]d employees or more"
	all: [{industry: "%[2]s"}, {country: "%[3]s"}, {employees: gte: %[4]d}, {stage: lte: "mql"}]
}

sequences: %[1]s: {
	description: "Nurture %[5]d: %[6]s for %[2]s in %[3]s"
	entry: segment: "seg_%[1]s"
	priority: %[5]d
	steps: [
		{send: "%[7]s"},
		{wait: "7d"},
		{send: "%[8]s"},
		{wait_for: {event: "email.clicked", within: "7d"}, else: exit: "disengaged"},
		{send: "%[9]s"},
		{name: "cool_down", wait: "7d"},
	]
	exit: [
		{when: event: "demo_requested", reason: "converted", handoff: "sales"},
		{when: score: lead: "sql", reason: "sales_ready", handoff: "sales"},
		{after: "90d", reason: "timeout"},
	]
}
`, name, industry, country, 10*(1+i%50), i+1, topic,
		genEmailPath(i, genEmailNames[0]), genEmailPath(i, genEmailNames[1]), genEmailPath(i, genEmailNames[2]))
}

// genEmail is email k of sequence i: about 150 words, with a heading, a
// list, a link with a merge tag in its query and merge tags with fallbacks.
func genEmail(i, k int) string {
	topic := genTopics[(i+k)%len(genTopics)]
	n := strconv.Itoa(i + 1)
	subjects := [genSendsPerSequence]string{
		"Getting started with " + topic + ", {{ first_name | default \"there\" }}",
		"How teams like {{ company | default \"yours\" }} handle " + topic,
		"Your next step with " + topic,
	}
	return `---
subject: '` + subjects[k] + `'
preheader: Part ` + strconv.Itoa(k+1) + ` of nurture ` + n + `, about ` + topic + `
---
Hi {{ first_name | default "there" }},

Thanks for your interest in **` + topic + `**. Teams at companies like
{{ company | default "yours" }} tell us the hardest part is knowing where to
begin, so this note walks through the first three things we would do in your
place, and why each of them matters more than it seems.

## Three things to try this week

1. Connect the data you already have, so reports start from real numbers.
2. Invite the two or three colleagues who will use it most, and ask them
   what they need to see first.
3. Set one goal for the month and check it every Friday.

Most teams see the first results within a couple of weeks. The ones who get
the most out of ` + topic + ` keep the scope small at first and grow it once
the basics are in place.

[Read the full guide](https://acme.example/guides/` + topic + `?seq=` + n + `&industry={{ industry }})
or simply reply to this email: a real person reads every answer.

Best,
The Acme team
`
}

// TestGeneratedProgrammeIsValid keeps the generator honest: what the
// benchmarks compile must compile clean.
func TestGeneratedProgrammeIsValid(t *testing.T) {
	dir := t.TempDir()
	writeProgramme(t, dir, 20)
	res := Compile(dir)
	if len(res.Diagnostics) > 0 || res.Program == nil {
		t.Fatalf("generated programme does not compile clean:\n%v", res.Diagnostics)
	}
	if got := len(res.Program.Sequences); got != 20 {
		t.Errorf("%d sequences, want 20", got)
	}
	if got := len(res.Program.Emails); got != 20*genSendsPerSequence {
		t.Errorf("%d emails, want %d", got, 20*genSendsPerSequence)
	}
	for name, s := range res.Program.Sequences {
		if len(s.Steps) != 6 {
			t.Errorf("sequence %s has %d steps, want 6", name, len(s.Steps))
		}
	}
}

// TestWriteBenchProgramme writes a generated programme to
// $NURTURE_BENCH_DIR, with $NURTURE_BENCH_SEQUENCES sequences (default 50),
// for timing the command-line tools on it. It skips unless the directory is
// set.
func TestWriteBenchProgramme(t *testing.T) {
	dir := os.Getenv("NURTURE_BENCH_DIR")
	if dir == "" {
		t.Skip("set NURTURE_BENCH_DIR (and NURTURE_BENCH_SEQUENCES) to write a generated programme")
	}
	n := 50
	if s := os.Getenv("NURTURE_BENCH_SEQUENCES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("NURTURE_BENCH_SEQUENCES=%q: want a positive number", s)
		}
	}
	writeProgramme(t, dir, n)
	t.Logf("wrote %d sequences to %s", n, dir)
}
