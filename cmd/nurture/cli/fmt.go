package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/compiler"
)

func newFmt() *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "fmt [DIR]",
		Short: "Format a programme's CUE files in the canonical style",
		Example: `  nurture fmt examples/b2b-saas
  # in CI: list the files that are not in canonical style, and fail
  nurture fmt --check`,
		Long: `Fmt rewrites the .cue files in DIR (default: the current directory) in the
canonical CUE style, as cue fmt does, and lists the files it changed.

With --check it changes nothing, lists the files that are not formatted and
exits 1 if there are any: the form for CI.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			res, err := compiler.Format(dir, !check)
			if err != nil {
				return err
			}
			cwd, _ := os.Getwd()
			writeDiagnostics(cmd.ErrOrStderr(), cwd, res.Diagnostics)
			for _, f := range res.Changed {
				fmt.Fprintln(cmd.OutOrStdout(), compiler.Pos{File: f}.Rel(cwd).File)
			}
			if len(res.Diagnostics) > 0 || check && len(res.Changed) > 0 {
				return exitError(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "list unformatted files and exit 1 if any, changing nothing")
	return cmd
}
