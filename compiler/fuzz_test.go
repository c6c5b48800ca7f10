package compiler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/campaigns"
)

// emailChecker is a checker holding just enough of a programme to compile
// emails: the contact schema and a sender with a postal address.
func emailChecker() *checker {
	c := &checker{src: &source{}, prog: &campaigns.Program{}}
	c.prog.Sender.Address = "1 Market St, San Francisco"
	c.prog.Contact.Attributes = builtinAttrs([]string{"lead", "customer"}, nil)
	c.prog.Contact.Attributes["first_name"] = &campaigns.Attribute{Type: campaigns.TypeString}
	c.prog.Contact.Attributes["company"] = &campaigns.Attribute{Type: campaigns.TypeString, Required: true}
	return c
}

// FuzzEmail feeds arbitrary Markdown files to the email compiler: it must
// never panic, every problem must be a positioned diagnostic with a code,
// and a clean email must have a subject and a body.
func FuzzEmail(f *testing.F) {
	seeds := []string{
		"---\nsubject: Hi {{ first_name | default \"there\" }}\npreheader: x\n---\nHello [a](https://a.example/{{ company }}) <b@c.example>\n",
		"---\nsubject: A\nweight: 50\nvariants:\n  b: {subject: B, weight: 50}\n---\n# Title\n\n- one\n- two\n\n> quote\n\n    code\n",
		"---\nsubject: {{\n---\n{{ first_name",
		"---\n---\n",
		"no front matter",
		"---\nsubject: [x\n---\nbody",
		"---\nsubject: x\n---\n<div>{{ company }}</div>\n![i](javascript:x)\n| a | b |\n|---|---|\n| {{ company }} | [l](mailto:x@y.example) |\n",
		"---\r\nsubject: crlf\r\n---\r\nbody\r\n",
		"---\nsubject: x\nvariants: 3\n---\nbody https://auto.example/link and www.example.com\n",
		"{{ company }}<a href=\"{{ company }}\">",
		"---\nsubject: \"Re: \"{{ first_name }}\" week\"\n---\nbody",
		"---\nsubject: 'It's {{ company }}'\npreheader: 'a''b' c\n---\nbody",
		"---\nsubject: x\nvariants:\n  b:\n    subject: Re: y\n---\nbody",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c := emailChecker()
		e := c.emailSource("email.md", src, campaigns.KindMarketing, nil)
		for _, d := range c.diags {
			if d.Code == "" || d.Pos.File != "email.md" || d.Pos.Line < 1 || d.Summary == "" {
				t.Fatalf("diagnostic without code or position: %+v", d)
			}
		}
		if c.diags.HasErrors() || e == nil {
			return
		}
		if len(e.Subjects) == 0 || len(e.HTML) == 0 || len(e.Text) == 0 {
			t.Fatalf("clean email without subject or body: %+v", e)
		}
		for _, p := range append(append(campaigns.Template{}, e.HTML...), e.Text...) {
			if p.Link > len(e.Links) {
				t.Fatalf("part refers to link %d of %d", p.Link, len(e.Links))
			}
			if strings.Contains(p.Text, "Nrtxq") && !strings.Contains(string(src), "Nrtxq") {
				t.Fatalf("a sentinel leaked into the output: %q", p.Text)
			}
		}
	})
}

// FuzzMergeTags checks the merge-tag scanner on arbitrary text: pieces come
// in order, inside the input, and a tag's field is a valid name.
func FuzzMergeTags(f *testing.F) {
	for _, s := range []string{"", "{{", "}}", "a {{ b }} c", "{{ x | default 'y' }}", "{{ x | default \"y\" }}{{ z }}", "{{|}}", "{{ a | default '\"' }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pieces, errs := parseMergeTags(s)
		last := -1
		for _, p := range pieces {
			if p.off <= last || p.off > len(s) {
				t.Fatalf("piece at %d after %d in %d bytes", p.off, last, len(s))
			}
			last = p.off
			if p.field != "" && !isFieldName(p.field) {
				t.Fatalf("field %q is not a name", p.field)
			}
			if p.field == "" && !strings.HasPrefix(s[p.off:], p.text) {
				t.Fatalf("text piece %q is not the input at %d", p.text, p.off)
			}
		}
		for _, e := range errs {
			if e.off < 0 || e.off >= len(s) || e.msg == "" {
				t.Fatalf("bad error %+v", e)
			}
		}
	})
}

// FuzzCompile loads arbitrary CUE as a programme: the compiler must never
// panic, and must either build a programme or say why, with a code.
func FuzzCompile(f *testing.F) {
	minimal, err := os.ReadFile("testdata/minimal/programme.cue")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(minimal))
	f.Add("package nurture\n")
	f.Add("package nurture\nsegments: x: {")
	f.Add("package nurture\nsequences: x: {entry: manual: true, steps: [{goto: \"x\"}]}")
	f.Add("package nurture\nsegments: {a: segment: \"b\", b: segment: \"a\"}")
	f.Add("package other\n")
	f.Add("package nurture\nsegments: x: {all: [{employees: gte: 5}, {employees: lt: 3}]}\ncontact: attributes: employees: type: \"int\"")
	emails, _ := filepath.Glob("testdata/minimal/emails/*.md")
	f.Fuzz(func(t *testing.T, src string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "programme.cue"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.MkdirAll(filepath.Join(dir, "emails"), 0o755)
		for _, e := range emails {
			b, _ := os.ReadFile(e)
			_ = os.WriteFile(filepath.Join(dir, "emails", filepath.Base(e)), b, 0o644)
		}
		res := Compile(dir)
		if res.Program == nil && !res.Diagnostics.HasErrors() {
			t.Fatalf("no programme and no error")
		}
		for _, d := range res.Diagnostics {
			if d.Code == "" || d.Summary == "" || d.Pos.File == "" {
				t.Fatalf("diagnostic without code or position: %+v", d)
			}
		}
	})
}
