package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
)

// The README's preference page declaration compiles, and means what the
// README says: its frequencies and topics in the order written, with the
// description, and its two pauses.
func TestReadmePreferencePage(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "- **The preference page**")
	if !ok {
		t.Fatal("the README has no preference page paragraph")
	}
	_, rest, _ = strings.Cut(rest, "```cue\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the preference page paragraph has no CUE block")
	}
	var src strings.Builder
	src.WriteString("package nurture\n\n")
	for _, l := range strings.Split(block, "\n") {
		src.WriteString(strings.TrimPrefix(l, "  ") + "\n")
	}
	dir := filepath.Join(t.TempDir(), "prog")
	if err := copyTree("testdata/base", dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "preferences.cue"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	res := compiler.Compile(dir)
	if res.Program == nil || len(res.Diagnostics) > 0 {
		t.Fatalf("the README's declaration does not compile: %v", res.Diagnostics)
	}
	p := res.Program
	day := 24 * time.Hour
	want := &campaigns.Preferences{
		Frequencies: []campaigns.Frequency{
			{Name: "biweekly", Label: "At most one email every two weeks", Limit: campaigns.Limit{Max: 1, Per: campaigns.Duration(14 * day)}},
			{Name: "monthly", Label: "At most one email a month", Limit: campaigns.Limit{Max: 1, Per: campaigns.Duration(30 * day)}},
		},
		Pause: []campaigns.Duration{campaigns.Duration(30 * day), campaigns.Duration(90 * day)},
	}
	if diff := cmp.Diff(want, p.Preferences); diff != "" {
		t.Errorf("preferences (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"product", "events"}, p.Sender.TopicOrder); diff != "" {
		t.Errorf("topic order (-want +got):\n%s", diff)
	}
	if got := p.Sender.TopicNotes["product"]; got != "What we shipped this month, in one email." {
		t.Errorf("product's description: %q", got)
	}
}
