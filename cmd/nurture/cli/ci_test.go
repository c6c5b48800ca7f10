package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// planMarker is the line the CI recipes start their plan comment with and
// find it by.
const planMarker = "<!-- nurture-plan -->"

// ciScenario gives the programme the recipes run on a scenario to test.
const ciScenario = `package nurture

tests: welcome_then_guide: {
	contact: {company: "Acme", industry: "saas", signup_at: "2026-01-05"}
	run: "20d"
	expect: [
		{email: "emails/welcome/hello.md", at: "day 0 09:00"},
		{email: "emails/welcome/guide.md", on: "day 7"},
	]
}
`

// ciRecipe is one YAML block of docs/ci.md: its shell lines and the
// variables it sets.
type ciRecipe struct {
	name  string
	lines []string
	vars  map[string]string
}

// ciRecipes reads the YAML blocks of docs/ci.md: a GitHub workflow (jobs
// with steps that run) and GitLab jobs (with scripts).
func ciRecipes(t *testing.T, doc string) []ciRecipe {
	var out []ciRecipe
	fences := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	for _, m := range fences {
		var top map[string]any
		if err := yaml.Unmarshal([]byte(m[1]), &top); err != nil {
			t.Fatalf("docs/ci.md: a YAML block does not parse: %v\n%s", err, m[1])
		}
		r := ciRecipe{vars: map[string]string{}}
		addVars := func(v any) {
			vs, _ := v.(map[string]any)
			for k, v := range vs {
				if s, ok := v.(string); ok {
					r.vars[k] = s
				}
			}
		}
		addRun := func(v any) {
			switch v := v.(type) {
			case string:
				r.lines = append(r.lines, shellLines(v)...)
			case []any:
				for _, s := range v {
					if s, ok := s.(string); ok {
						r.lines = append(r.lines, shellLines(s)...)
					}
				}
			}
		}
		if jobs, ok := top["jobs"].(map[string]any); ok {
			r.name = "GitHub Actions"
			addVars(top["env"])
			for _, j := range jobs {
				job, _ := j.(map[string]any)
				addVars(job["env"])
				steps, _ := job["steps"].([]any)
				for _, s := range steps {
					step, _ := s.(map[string]any)
					addVars(step["env"])
					addRun(step["run"])
				}
			}
		} else {
			r.name = "GitLab CI"
			for _, j := range top {
				job, _ := j.(map[string]any)
				addVars(job["variables"])
				addRun(job["before_script"])
				addRun(job["script"])
			}
		}
		out = append(out, r)
	}
	return out
}

// shellLines splits a script into its lines, a line ending in \ joined
// with the next.
func shellLines(s string) []string {
	var out []string
	cur := ""
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasSuffix(l, `\`) {
			cur += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		if cur+l != "" {
			out = append(out, cur+l)
		}
		cur = ""
	}
	return out
}

// TestCIRecipes checks the CI recipes in docs/ci.md: each installs this
// module's command, runs validate, test and plan, and writes one comment
// it finds again by its marker; and every nurture command in them runs
// as written, its flags included, on a small programme.
func TestCIRecipes(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/ci.md")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	module := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(gomod), "\n", 2)[0], "module"))
	recipes := ciRecipes(t, string(doc))
	if got := len(recipes); got != 2 {
		t.Fatalf("docs/ci.md has %d YAML blocks, want 2: GitHub Actions and GitLab CI", got)
	}

	dir := t.TempDir()
	base, err := filepath.Abs("testdata/base")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("NURTURE_STORE", "sqlite:"+filepath.Join(dir, "ci.db"))
	t.Setenv("NURTURE_SENDER", "")
	// The store CI plans against holds contacts.
	contacts := "email,company,industry,employees,signup_at,consent_at,consent_source,consent_wording\n" +
		"ann@acme.example,Acme,saas,500,2026-11-20T09:00:00Z,2026-11-01T09:00:00Z,signup_form,v1\n"
	if err := os.WriteFile("contacts.csv", []byte(contacts), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := Run([]string{"contacts", "import", "contacts.csv", "--dir", base}, &out, &out); code != 0 {
		t.Fatalf("importing contacts: exit %d\n%s", code, out.String())
	}

	ran := map[string]string{} // command line → what it printed, run once
	for _, r := range recipes {
		t.Run(strings.ReplaceAll(r.name, " ", "_"), func(t *testing.T) {
			prog := r.vars["PROGRAMME"]
			if prog == "" {
				t.Fatalf("%s: the recipe sets no PROGRAMME", r.name)
			}
			if _, err := os.Stat(prog); err != nil {
				if err := copyTree(base, prog); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(prog, "tests.cue"), []byte(ciScenario), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var commands []string
			installs, marks := false, 0
			for _, l := range r.lines {
				marks += strings.Count(l, planMarker)
				if strings.Contains(l, "go install "+module+"/cmd/nurture@") {
					installs = true
				}
				if !strings.HasPrefix(l, "nurture ") {
					continue
				}
				words, err := shellWords(os.Expand(l, func(v string) string {
					if s, ok := r.vars[v]; ok {
						return s
					}
					t.Errorf("%s: %s uses $%s, which the recipe does not set", r.name, l, v)
					return ""
				}))
				if err != nil {
					t.Fatal(err)
				}
				if i := slices.IndexFunc(words, func(w string) bool { return w == ">" || w == ">>" || w == "|" || w == "&&" }); i >= 0 {
					words = words[:i]
				}
				commands = append(commands, words[1])
				key := strings.Join(words, " ")
				got, done := ran[key]
				if !done {
					var out bytes.Buffer
					if code := Run(words[1:], &out, &out); code != 0 {
						t.Errorf("%s: %s exits %d:\n%s", r.name, l, code, out.String())
					}
					got = out.String()
					ran[key] = got
				}
				if words[1] == "plan" && slices.Contains(words, "markdown") && !strings.HasPrefix(got, "### nurture plan") {
					t.Errorf("%s: %s prints no plan comment:\n%s", r.name, l, got)
				}
			}
			if !installs {
				t.Errorf("%s: the recipe does not go install %s/cmd/nurture", r.name, module)
			}
			for _, want := range []string{"validate", "test", "plan"} {
				if !slices.Contains(commands, want) {
					t.Errorf("%s: the recipe runs no nurture %s (it runs %v)", r.name, want, commands)
				}
			}
			if marks < 2 {
				t.Errorf("%s: the recipe must write %s into its comment and find the comment by it; it names it %d times", r.name, planMarker, marks)
			}
		})
	}
}
