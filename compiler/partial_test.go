package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPartialNoFalseErrors breaks one part of each example programme at a
// time with a schema error. The examples are clean, so whatever else the
// partial check of the rest reports would be caused by leaving the broken
// part out: a false error. Only the schema's errors may come back.
func TestPartialNoFalseErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles each example once for every part it has")
	}
	for _, name := range []string{"b2b-saas", "abm"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(filepath.Join("../examples", name))); err != nil {
				t.Fatal(err)
			}
			clean := Compile(dir)
			if clean.Program == nil {
				t.Fatalf("the example does not compile: %v", clean.Diagnostics)
			}
			p := clean.Program
			var parts []string
			add := func(section string, names []string) {
				for _, n := range names {
					parts = append(parts, section+": "+fmt.Sprintf("%q", n))
				}
			}
			add("sequences", keysOf(p.Sequences))
			add("segments", keysOf(p.Segments))
			add("scoring", keysOf(p.Scoring))
			add("handoffs", keysOf(p.Handoffs))
			var events, attrs []string
			for n := range p.Events {
				if !strings.HasPrefix(n, "email.") {
					events = append(events, n)
				}
			}
			for n, a := range p.Contact.Attributes {
				if !a.Builtin {
					attrs = append(attrs, n)
				}
			}
			add("events", events)
			add("contact: attributes", attrs)
			add("accounts: attributes", keysOf(p.Accounts.Attributes))
			for i, sc := range clean.Tests {
				if i%5 == 0 { // a sample: there are many, all alike
					add("tests", []string{sc.Name})
				}
			}
			slices.Sort(parts)
			for _, part := range parts {
				brk := filepath.Join(dir, "zz_break.cue")
				src := "package nurture\n\n" + part + ": description: 3\n"
				if err := os.WriteFile(brk, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
				res := Compile(dir)
				if len(res.Diagnostics) == 0 {
					t.Errorf("%s: a description of 3 is not reported", part)
				}
				for _, d := range res.Diagnostics {
					if !strings.HasPrefix(d.Code, "NRT00") {
						t.Errorf("%s: a false error with the part left out: %s", part, d)
					}
				}
			}
			if len(parts) < 20 {
				t.Errorf("only %d parts broken", len(parts))
			}
		})
	}
}
