package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkOutputMarker, alone on a line of the README, says that the code
// block after it shows commands and what they print, and that
// TestReadmeOutputs checks it.
const checkOutputMarker = "<!-- check-output -->"

// elision, alone on a line of shown output, stands for any lines.
const elision = "…"

// readmeBlock is a checked block of the README: its lines as shown, and
// where they stand in the file.
type readmeBlock struct {
	start, end int    // the block's lines are lines[start:end]
	indent     string // "    " for an indented block, "" in a fence
	text       []string
}

// readmeBlocks finds the blocks the marker announces.
func readmeBlocks(t *testing.T, lines []string) []readmeBlock {
	var blocks []readmeBlock
	for i, l := range lines {
		if strings.TrimSpace(l) != checkOutputMarker {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j == len(lines) {
			t.Fatalf("README.md:%d: %s is followed by no code block", i+1, checkOutputMarker)
		}
		b := readmeBlock{}
		switch {
		case strings.HasPrefix(lines[j], "```"):
			b.start = j + 1
			b.end = b.start
			for b.end < len(lines) && !strings.HasPrefix(lines[b.end], "```") {
				b.end++
			}
			if b.end == len(lines) {
				t.Fatalf("README.md:%d: the fence is never closed", j+1)
			}
		case strings.HasPrefix(lines[j], "    "):
			b.indent = "    "
			b.start = j
			b.end = j
			for b.end < len(lines) && (strings.HasPrefix(lines[b.end], "    ") || strings.TrimSpace(lines[b.end]) == "") {
				b.end++
			}
			for b.end > b.start && strings.TrimSpace(lines[b.end-1]) == "" {
				b.end--
			}
		default:
			t.Fatalf("README.md:%d: %s is followed by no code block", i+1, checkOutputMarker)
		}
		for _, l := range lines[b.start:b.end] {
			b.text = append(b.text, strings.TrimPrefix(l, b.indent))
		}
		blocks = append(blocks, b)
	}
	return blocks
}

// shownCommand is one "$ command" of a block and the output shown for it.
type shownCommand struct {
	line int // in the README, 1-based
	args []string
	want []string
}

func splitCommands(t *testing.T, b readmeBlock) []shownCommand {
	var cmds []shownCommand
	for i := 0; i < len(b.text); i++ {
		l := b.text[i]
		if !strings.HasPrefix(l, "$ ") {
			if len(cmds) == 0 {
				t.Fatalf("README.md:%d: a checked block starts with a command: $ nurture …", b.start+i+1)
			}
			cmds[len(cmds)-1].want = append(cmds[len(cmds)-1].want, l)
			continue
		}
		c := shownCommand{line: b.start + i + 1}
		cmd := strings.TrimPrefix(l, "$ ")
		for strings.HasSuffix(cmd, `\`) && i+1 < len(b.text) {
			i++
			cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(b.text[i])
		}
		args, err := shellWords(cmd)
		if err != nil {
			t.Fatalf("README.md:%d: %v", c.line, err)
		}
		c.args = args
		cmds = append(cmds, c)
	}
	return cmds
}

// shellWords splits a command line as a shell would, for the quoting the
// README uses: words, 'single' and "double" quotes.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c in %s", quote, s)
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}

// matchShown says whether got is what want shows, an elision in want
// standing for any lines.
func matchShown(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == elision {
		for i := 0; i <= len(got); i++ {
			if matchShown(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && want[0] == got[0] && matchShown(want[1:], got[1:])
}

// refreshShown is got as the README should show it: all of it, or, where
// the README elides, as many lines from its start and end as the README
// shows there, keeping what it shows between elisions.
func refreshShown(want, got []string) []string {
	first, last := -1, -1
	for i, l := range want {
		if l == elision {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return got
	}
	head, tail := first, len(want)-last-1
	if head+tail > len(got) {
		return got
	}
	out := append([]string{}, got[:head]...)
	out = append(out, want[first:last+1]...)
	return append(out, got[len(got)-tail:]...)
}

// outputLines are a command's output as the README shows it: no trailing
// spaces or blank lines.
func outputLines(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// TestReadmeOutputs runs the commands of every block the README marks
// with checkOutputMarker, in order, in one directory holding a copy of the
// examples and the default store, and compares what they print (standard
// output and error, as a terminal shows them) with what the README shows.
// "$ cat FILE" writes the lines shown to FILE, for the commands after it.
// NURTURE_UPDATE=1 rewrites the blocks with what the commands print;
// -short leaves out simulate, and the commands that read the store a
// simulate left out would have kept.
func TestReadmeOutputs(t *testing.T) {
	readme, err := filepath.Abs("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	blocks := readmeBlocks(t, lines)
	if len(blocks) == 0 {
		t.Fatalf("README.md marks no block with %s", checkOutputMarker)
	}

	dir := t.TempDir()
	if err := copyTree("../../../examples", filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("NURTURE_STORE", "")
	t.Setenv("NURTURE_SENDER", "")
	t.Setenv("NO_COLOR", "1")

	update := os.Getenv("NURTURE_UPDATE") != ""
	changed := false
	// unkept names the stores (sqlite:FILE) that a simulate left out by
	// -short would have kept.
	unkept := map[string]bool{}
	for bi := range blocks {
		b := &blocks[bi]
		var refreshed []string
		for _, c := range splitCommands(t, *b) {
			shown := "$ " + strings.Join(c.args, " ")
			var got []string
			switch c.args[0] {
			case "cat":
				if len(c.args) != 2 {
					t.Fatalf("README.md:%d: cat takes one file", c.line)
				}
				if err := os.WriteFile(c.args[1], []byte(strings.Join(c.want, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				got = c.want
			case "nurture":
				if testing.Short() && len(c.args) > 1 && c.args[1] == "simulate" {
					// 90 days of ticks: the slowest block by far.
					if i := slices.Index(c.args, "--keep"); i > 0 && i+1 < len(c.args) {
						unkept["sqlite:"+c.args[i+1]] = true
					}
					got = c.want
					break
				}
				if slices.ContainsFunc(c.args, func(a string) bool { return unkept[a] }) {
					// The store of a simulation left out above.
					got = c.want
					break
				}
				var out bytes.Buffer
				Run(c.args[1:], &out, &out)
				got = outputLines(out.String())
			default:
				t.Fatalf("README.md:%d: a checked block runs nurture or cat, not %s", c.line, c.args[0])
			}
			if !matchShown(c.want, got) {
				if !update {
					t.Errorf("README.md:%d: %s prints\n%s\n\nbut the README shows\n%s\n\n(NURTURE_UPDATE=1 rewrites the README)",
						c.line, shown, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
				}
				if update && !matchShown(refreshShown(c.want, got), got) {
					t.Errorf("README.md:%d: %s prints\n%s\n\nwhich the lines the README shows between its elisions do not match; edit them",
						c.line, shown, strings.Join(got, "\n"))
				}
				got = refreshShown(c.want, got)
				changed = true
			} else {
				got = c.want
			}
			refreshed = append(refreshed, lines[c.line-1][len(b.indent):])
			for extra := c.line; extra < b.end && strings.HasSuffix(lines[extra-1], `\`); extra++ {
				refreshed = append(refreshed, strings.TrimPrefix(lines[extra], b.indent))
			}
			refreshed = append(refreshed, got...)
		}
		b.text = refreshed
	}
	if !update || !changed {
		return
	}
	var out []string
	at := 0
	for _, b := range blocks {
		out = append(out, lines[at:b.start]...)
		for _, l := range b.text {
			if l != "" {
				l = b.indent + l
			}
			out = append(out, l)
		}
		at = b.end
	}
	out = append(out, lines[at:]...)
	if err := os.WriteFile(readme, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("rewrote README.md")
}
