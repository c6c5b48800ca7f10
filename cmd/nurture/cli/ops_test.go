package cli

import (
	"io"
	"os"
	"strings"
	"testing"
)

// The operator's daily commands are in the tree and in the README, by
// the name they are typed with.
func TestReadmeNamesTheDailyTools(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	root := newRoot(io.Discard, io.Discard)
	for _, args := range [][]string{
		{"queue"},
		{"explain"},
		{"pause"},
		{"resume"},
		{"backup"},
		{"contacts", "erase"},
	} {
		c, _, err := root.Find(args)
		if err != nil || c.CommandPath() != "nurture "+strings.Join(args, " ") {
			t.Errorf("nurture %s is not a command: %v", strings.Join(args, " "), err)
			continue
		}
		if !strings.Contains(readme, "`"+c.CommandPath()) {
			t.Errorf("the README never mentions `%s`", c.CommandPath())
		}
	}
	// Flags that are daily tools of their own.
	for _, flag := range []struct{ cmd, name string }{{"preview", "send-to"}} {
		c, _, _ := root.Find([]string{flag.cmd})
		if c.Flags().Lookup(flag.name) == nil {
			t.Errorf("nurture %s has no --%s", flag.cmd, flag.name)
		}
		if !strings.Contains(readme, "nurture "+flag.cmd+" --") || !strings.Contains(readme, "--"+flag.name) {
			t.Errorf("the README never shows nurture %s --%s", flag.cmd, flag.name)
		}
	}
}
