package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/engine"
)

// holdoutProgramme writes the base programme with the welcome sequence
// holding out share and the programme 10%, and returns its directory.
func holdoutProgramme(t *testing.T, dir, share string) string {
	t.Helper()
	if err := os.CopyFS(dir, os.DirFS("testdata/base")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	src := fmt.Sprintf("package nurture\n\nholdout: \"10%%\"\n\nsequences: welcome: holdout: %q\n\ngoals: exits: [\"converted\"]\n", share)
	if err := os.WriteFile(filepath.Join(dir, "holdout.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// holdoutContacts writes n consenting SaaS sign-ups of yesterday,
// p00@ho.example on, as a contacts file.
func holdoutContacts(t *testing.T, n int, now time.Time) (string, []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("email,company,industry,signup_at,consent_at,consent_source,consent_wording\n")
	var emails []string
	for i := range n {
		e := fmt.Sprintf("p%02d@ho.example", i)
		emails = append(emails, e)
		fmt.Fprintf(&b, "%s,Co %d,saas,%s,%s,signup_form,v1\n", e, i, now.Add(-24*time.Hour).Format(time.RFC3339), now.Add(-48*time.Hour).Format(time.RFC3339))
	}
	path := filepath.Join(t.TempDir(), "contacts.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, emails
}

// A sequence's and the programme's holdouts on real ticks that deliver
// over SMTP: the control enrollments walk the sequence and nothing of it
// reaches them;
// the arms are the ones the hash gives each address, the same on SQLite
// and PostgreSQL; and a holdout raised later moves nobody already in
// the sequence.
func TestHoldoutReceivesNothing(t *testing.T) {
	monday := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) // 10:00 in New York
	file, emails := holdoutContacts(t, 40, monday)
	arms := map[string]map[string]string{}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			s := newCrashStore(t, kind)
			store := "--store=" + s.spec
			dir := holdoutProgramme(t, t.TempDir(), "30%")
			mb := startMailbox(t)
			sender := "--sender=smtp://" + mb.Addr + "?tls=none"
			var ticked string
			for _, args := range [][]string{
				{"contacts", "import", file, "--dir", dir, "--rejects", filepath.Join(t.TempDir(), "r.csv")},
				{"apply", dir, "--auto-approve", "--now", monday.Format(time.RFC3339)},
				{"tick", "--now", monday.Format(time.RFC3339), sender},
			} {
				out, errOut, code := run(t, append(args, store)...)
				if code != 0 {
					t.Fatalf("%s: %s%s", strings.Join(args[:2], " "), out, errOut)
				}
				ticked = out
			}
			got := map[string]string{}
			for _, l := range s.query(t, `SELECT c.email, COALESCE(n.arm, '') FROM enrollments n JOIN contacts c ON c.id = n.contact_id WHERE n.sequence = 'welcome'`) {
				e, arm, _ := strings.Cut(l, " ")
				got[e] = arm
			}
			prog := &campaigns.Program{Holdout: 1000, Sequences: map[string]*campaigns.Sequence{"welcome": {Holdout: 3000}}}
			want := map[string]string{}
			var control, treatment []string
			for _, e := range emails {
				want[e] = engine.Arm(prog, "welcome", e)
				if campaigns.HeldOut(want[e]) {
					control = append(control, e)
				} else {
					treatment = append(treatment, e)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("arms recorded (-hash +store):\n%s", diff)
			}
			first := map[string]string{}
			for _, e := range emails {
				if first[want[e]] == "" {
					first[want[e]] = e
				}
			}
			if len(first) != 3 {
				t.Fatalf("the fixture must have contacts in each arm: %v", first)
			}
			arms[kind] = got
			if held := fmt.Sprintf(", %d held out (control groups)", len(control)); !strings.Contains(ticked, held) {
				t.Errorf("the tick does not say %q:\n%s", held, ticked)
			}
			// explain says who is held out, and why.
			for arm, want := range map[string]string{
				campaigns.ArmControl:       "HELD OUT: in welcome's control group (a holdout of 30%, drawn by address as it entered): it walks the steps and gets none of the email",
				campaigns.ArmGlobalControl: "HELD OUT: in the programme's control group (a holdout of 10% of contacts, drawn by address): no marketing email from any sequence",
			} {
				out, errOut, code := run(t, "explain", first[arm], store, "--now", monday.Format(time.RFC3339))
				if code != 0 || !strings.Contains(out, want) {
					t.Errorf("explain %s: exit %d, %s\n%s\nwant a line saying %q", first[arm], code, errOut, out, want)
				}
			}
			if out, _, _ := run(t, "explain", treatment[0], store, "--now", monday.Format(time.RFC3339)); strings.Contains(out, "HELD OUT") {
				t.Errorf("explain %s, treated, says it is held out:\n%s", treatment[0], out)
			}

			// A week on, the second email; meanwhile the holdout is raised.
			// Those already in keep their arms.
			holdoutProgramme(t, dir, "50%")
			later := monday.AddDate(0, 0, 7)
			for _, args := range [][]string{
				{"apply", dir, "--auto-approve", "--now", later.Format(time.RFC3339)},
				{"tick", "--now", later.Format(time.RFC3339), sender},
			} {
				if out, errOut, code := run(t, append(args, store)...); code != 0 {
					t.Fatalf("%s: %s%s", strings.Join(args[:2], " "), out, errOut)
				}
			}
			again := map[string]string{}
			for _, l := range s.query(t, `SELECT c.email, COALESCE(n.arm, '') FROM enrollments n JOIN contacts c ON c.id = n.contact_id WHERE n.sequence = 'welcome'`) {
				e, arm, _ := strings.Cut(l, " ")
				again[e] = arm
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("arms after the holdout was raised to 50%% (-before +after):\n%s", diff)
			}
			// The control walked the sequence as the treatment did: both
			// completed it at its last step, the second send, on the same
			// clock.
			steps := s.query(t, `SELECT COALESCE(n.arm, ''), COALESCE(n.step, ''), n.state, COUNT(*) FROM enrollments n WHERE n.sequence = 'welcome' GROUP BY COALESCE(n.arm, ''), COALESCE(n.step, ''), n.state ORDER BY 1, 2, 3`)
			byArm := map[string]int{}
			for _, arm := range want {
				byArm[arm]++
			}
			var wantSteps []string
			for _, arm := range []string{campaigns.ArmControl, campaigns.ArmGlobalControl, campaigns.ArmTreatment} {
				wantSteps = append(wantSteps, fmt.Sprintf("%s guide exited %d", arm, byArm[arm]))
			}
			if diff := cmp.Diff(wantSteps, steps); diff != "" {
				t.Errorf("where the enrollments are (-want +got):\n%s", diff)
			}

			// Every treatment contact got both emails over SMTP; no control
			// got anything, and the ledger holds nothing for them.
			for _, e := range control {
				if m := mb.To(e); len(m) > 0 {
					t.Errorf("%s is held out and got %d messages, the first %q", e, len(m), m[0].Header.Get("Subject"))
				}
			}
			for _, e := range treatment {
				if m := mb.To(e); len(m) != 2 {
					t.Errorf("%s is in the treatment and got %d messages, want 2", e, len(m))
				}
			}
			if n := s.query(t, `SELECT COUNT(*) FROM sends s JOIN enrollments n ON n.contact_id = s.contact_id AND n.sequence = s.sequence WHERE n.arm IN ('control', 'global_control')`); !slices.Equal(n, []string{"0"}) {
				t.Errorf("ledger rows for held-out contacts: %v", n)
			}
		})
	}
	if arms["sqlite"] != nil && arms["postgres"] != nil {
		if diff := cmp.Diff(arms["sqlite"], arms["postgres"]); diff != "" {
			t.Errorf("the stores held out different contacts (-sqlite +postgres):\n%s", diff)
		}
	}
}
