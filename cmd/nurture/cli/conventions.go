package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nurture-dev/nurture/compiler"
)

// conventions gives every command in the tree what they all share, in one
// place, so that a command added later gets it too: cobra's own help and
// completion commands (listed, with examples), "unexpected argument"
// instead of "unknown command" for an argument too many, and a suggestion
// for a misspelt flag.
func conventions(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.SetFlagErrorFunc(flagError)
	walk(root, func(c *cobra.Command) {
		if ex, ok := cobraExamples[c.CommandPath()]; ok && c.Example == "" {
			c.Example = ex
		}
		c.SuggestionsMinimumDistance = 2
		switch {
		case c.HasSubCommands():
			// cobra shows a group's help for any argument, and a group
			// that lists as well says "unknown command" without a
			// suggestion: a misspelt subcommand (nurture state lst) is an
			// unknown command, with the subcommand meant.
			if !c.Runnable() {
				c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
			}
			c.Args = unknownSubcommand(c.Args)
		case c.Args != nil:
			c.Args = namedExtraArgs(c.Args)
		}
	})
}

// cobraExamples are the examples of the commands cobra adds itself.
var cobraExamples = map[string]string{
	"nurture help": "  nurture help plan\n  nurture help contacts import",
	"nurture completion": `  # bash, for the current shell
  source <(nurture completion bash)`,
	"nurture completion bash": `  source <(nurture completion bash)
  nurture completion bash > /etc/bash_completion.d/nurture`,
	"nurture completion zsh":        `  nurture completion zsh > "${fpath[1]}/_nurture"`,
	"nurture completion fish":       `  nurture completion fish > ~/.config/fish/completions/nurture.fish`,
	"nurture completion powershell": `  nurture completion powershell | Out-String | Invoke-Expression`,
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, s := range c.Commands() {
		walk(s, f)
	}
}

// namedExtraArgs wraps a command's argument check. When the check fails
// because there are too many arguments — it accepts the first few — the
// error names the first one too many and says how many the command takes,
// instead of cobra's "unknown command", which reads as a typo in the
// command's name. Too few arguments keep the check's own message.
func namedExtraArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		err := check(cmd, args)
		if err == nil {
			return nil
		}
		for k := len(args) - 1; k >= 0; k-- {
			if check(cmd, args[:k]) != nil {
				continue
			}
			takes := "no arguments"
			if k > 0 {
				takes = plural(k, "argument")
				if k > 1 && check(cmd, args[:k-1]) == nil || k == 1 && check(cmd, nil) == nil {
					takes = "at most " + takes
				}
			}
			return fmt.Errorf("unexpected argument %q: %s takes %s (%s)", args[k], cmd.CommandPath(), takes, cmd.UseLine())
		}
		return err
	}
}

// unknownSubcommand fails a group of commands given an argument that
// names none of them (and that its own check, if any, refuses), as cobra
// does for the root, with the subcommands it may mean.
func unknownSubcommand(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 || check != nil && check(cmd, args) == nil {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += ": did you mean " + strings.Join(s, " or ") + "?"
		}
		return fmt.Errorf("%s (%s --help lists them)", msg, cmd.CommandPath())
	}
}

var unknownFlag = regexp.MustCompile(`^unknown (?:shorthand )?flag: (?:'(.)' in -\S+|--(\S+))$`)

// flagError adds to a flag error the flag the user most likely meant and
// where to see them all.
func flagError(cmd *cobra.Command, err error) error {
	m := unknownFlag.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%w (%s --help lists the flags)", err, cmd.CommandPath())
	}
	typed := m[2]
	if typed == "" {
		return fmt.Errorf("unknown flag -%s for %s (%s --help lists the flags)", m[1], cmd.CommandPath(), cmd.CommandPath())
	}
	if name, _, ok := strings.Cut(typed, "="); ok {
		typed = name
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	if best := closest(typed, names); best != "" {
		return fmt.Errorf("unknown flag --%s for %s: did you mean --%s?", typed, cmd.CommandPath(), best)
	}
	return fmt.Errorf("unknown flag --%s for %s (%s --help lists the flags)", typed, cmd.CommandPath(), cmd.CommandPath())
}

// closest is the name nearest to typed: within an edit distance of two
// (cobra's default for commands), or one that typed begins; "" when none
// is near.
func closest(typed string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		d := compiler.EditDistance(typed, n)
		if strings.HasPrefix(n, typed) && len(typed) >= 3 && d > 2 {
			d = 2
		}
		if d < bestD {
			best, bestD = n, d
		}
	}
	return best
}
