package compiler

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/campaigns"
)

// TestExamples compiles every programme under examples/: each must be free
// of diagnostics, send every email it ships, carry the postal address on
// every email and an unsubscribe link on marketing email alone.
func TestExamples(t *testing.T) {
	entries, err := os.ReadDir("../examples")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, ent := range entries {
		if !ent.IsDir() {
			continue
		}
		n++
		dir := filepath.Join("../examples", ent.Name())
		t.Run(ent.Name(), func(t *testing.T) {
			res := Compile(dir)
			for _, d := range res.Diagnostics {
				t.Errorf("%s", d)
			}
			if res.Program == nil {
				t.FailNow()
			}
			p := res.Program

			shipped := 0
			err := filepath.WalkDir(filepath.Join(dir, "emails"), func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
					return err
				}
				shipped++
				rel, _ := filepath.Rel(dir, path)
				if p.Emails[filepath.ToSlash(rel)] == nil {
					t.Errorf("%s is not sent by any sequence", rel)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if shipped == 0 || len(p.Sequences) == 0 || len(p.Segments) == 0 {
				t.Fatalf("%d emails, %d sequences, %d segments: an example should show a whole programme", shipped, len(p.Sequences), len(p.Segments))
			}

			for path, e := range p.Emails {
				if !strings.Contains(e.HTML.String(), firstLine(p.Sender.Address)) {
					t.Errorf("%s: no postal address in the footer", path)
				}
				unsub := slices.ContainsFunc(e.HTML, func(pt campaigns.Part) bool { return pt.Field == campaigns.FieldUnsubscribeURL })
				if want := e.Kind == campaigns.KindMarketing; unsub != want {
					t.Errorf("%s (%s): unsubscribe link = %v, want %v", path, e.Kind, unsub, want)
				}
			}
		})
	}
	if n < 2 {
		t.Errorf("found %d example programmes, want at least 2", n)
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, ",")
	return first
}
