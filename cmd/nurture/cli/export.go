package cli

import (
	"bytes"
	"encoding/json"
	"os"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
)

func newExport() *cobra.Command {
	return &cobra.Command{
		Use:     "export [DIR]",
		Short:   "Print the compiled programme as canonical JSON",
		Example: `  nurture export examples/b2b-saas > programme.json`,
		Long: `Export compiles the programme in DIR (default: the current directory) and
prints the compiled model as canonical JSON: what plan diffs and run
executes. It fails, printing the diagnostics, if the programme has errors.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			res := compiler.Compile(dir)
			cwd, _ := os.Getwd()
			if res.Program == nil {
				writeDiagnostics(cmd.ErrOrStderr(), cwd, res.Diagnostics)
				return exitError(1)
			}
			b, err := campaigns.Canonical(res.Program)
			if err != nil {
				return err
			}
			var out bytes.Buffer
			if err := json.Indent(&out, b, "", "  "); err != nil {
				return err
			}
			out.WriteByte('\n')
			_, err = cmd.OutOrStdout().Write(out.Bytes())
			return err
		},
	}
}
