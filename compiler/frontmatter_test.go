package compiler

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The line a front-matter diagnostic offers as the mend must be one YAML
// reads, to the value the author meant.
func TestFrontMatterLineHintMends(t *testing.T) {
	tests := []struct {
		name, line, want string
		col              int
	}{
		{"double quotes inside double quotes", `subject: "Re: "{{ first_name }}" your week"`, `Re: "{{ first_name }}" your week`, 14},
		{"an apostrophe inside single quotes", `subject: 'It's {{ company }}'s week'`, `It's {{ company }}'s week`, 12},
		{"both quotes inside double quotes", `subject: "It's "great""`, `It's "great"`, 15},
		{"a value starting with a merge tag", `subject: {{ first_name }}, hello`, `{{ first_name }}, hello`, 9},
		{"a colon and a space in a plain value", `subject: Re: your week`, `Re: your week`, 11},
		{"a list's bracket", `subject: [unbalanced`, `[unbalanced`, 9},
		{"a variant's subject", `    subject: Re: "x"`, `Re: "x"`, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col, summary, detail, ok := frontMatterLineHint(tt.line)
			if !ok {
				t.Fatalf("no hint for %s", tt.line)
			}
			if col != tt.col {
				t.Errorf("col = %d, want %d (%s)", col, tt.col, summary)
			}
			mends := 0
			for _, l := range strings.Split(detail, "\n") {
				i := strings.Index(l, "subject: ")
				if i < 0 {
					continue
				}
				mends++
				var got map[string]string
				if err := yaml.Unmarshal([]byte(l[i:]), &got); err != nil {
					t.Fatalf("the mend %q is not YAML: %v", l[i:], err)
				}
				if got["subject"] != tt.want {
					t.Errorf("the mend %q reads %q, want %q", l[i:], got["subject"], tt.want)
				}
			}
			if mends == 0 {
				t.Errorf("detail shows no mended line: %s", detail)
			}
		})
	}
	for _, line := range []string{`subject: "fine" # a comment`, `subject: plain words`, `subject: 'a''b'`, `weight: 50`} {
		if _, summary, _, ok := frontMatterLineHint(line); ok {
			t.Errorf("%s: hint %q for a line YAML reads", line, summary)
		}
	}
}

func TestMentions(t *testing.T) {
	for _, tt := range []struct {
		text, name string
		want       bool
	}{
		{`unknown sequence "broken"`, "broken", true},
		{`unknown sequence "broken_two"`, "broken", false},
		{`merge tag on unknown field "role"`, "role", true},
		{`unknown attribute "roles"`, "role", false},
		{`sales`, "sales", true},
	} {
		if got := mentions(tt.text, tt.name); got != tt.want {
			t.Errorf("mentions(%q, %q) = %v, want %v", tt.text, tt.name, got, tt.want)
		}
	}
}
