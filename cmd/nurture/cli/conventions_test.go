package cli

import (
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// Every command's help shows how it is used: a command added without an
// Example fails here, by name.
func TestEveryCommandHasAnExample(t *testing.T) {
	root := newRoot(io.Discard, io.Discard)
	n := 0
	walk(root, func(c *cobra.Command) {
		n++
		if c.Example == "" {
			t.Errorf("%s has no Example: add one to its cobra.Command, as the other commands have", c.CommandPath())
		}
	})
	// The walk reaches the commands cobra adds itself, completion among
	// them, and the listing is not hidden.
	completion, _, err := root.Find([]string{"completion", "bash"})
	if err != nil || completion.CommandPath() != "nurture completion bash" {
		t.Fatalf("nurture completion bash: %v, %v", completion, err)
	}
	if completion.Parent().Hidden {
		t.Error("the completion command is hidden")
	}
	if n < 40 {
		t.Errorf("walked %d commands; the tree has more", n)
	}
}

func TestClosestFlag(t *testing.T) {
	names := []string{"store", "format", "now", "skip-if-locked", "dry-run", "dir"}
	tests := []struct {
		typed, want string
	}{
		{"stor", "store"},
		{"formt", "format"},
		{"skip-if-lockd", "skip-if-locked"},
		{"skip", "skip-if-locked"},
		{"dryrun", "dry-run"},
		{"nwo", "now"},
		{"verbose", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, closest(tt.typed, names)); diff != "" {
			t.Errorf("closest(%q) (-want +got):\n%s", tt.typed, diff)
		}
	}
}
