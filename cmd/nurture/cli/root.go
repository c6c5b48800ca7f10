// Package cli is the nurture command tree. Commands parse flags into a
// struct, check them, call the library and hand the result to a view; the
// tree is built fresh for every call, so tests drive it in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError ends a command with a status and nothing more to print: what
// went wrong has been said.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Main runs nurture with the process's arguments and returns its exit code.
// An interrupt cancels the command's context: an import stops between two
// batches and says how far it got; a second interrupt ends the process.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal asks the command to stop; a second one ends the
	// process at once, whatever it is doing.
	go func() {
		<-ctx.Done()
		stop()
	}()
	return execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// Run runs nurture with args, writing to stdout and stderr.
func Run(args []string, stdout, stderr io.Writer) int {
	return execute(context.Background(), args, stdout, stderr)
}

func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return int(exit)
	}
	fmt.Fprintf(stderr, "nurture: %v\n", err)
	return 1
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "nurture",
		Short: "Terraform for B2B email lead nurture",
		Long: `nurture keeps a B2B email nurture programme as code: segments, lead
scoring, email sequences, cadence caps and exit rules in CUE, email bodies
in Markdown. Validate it in CI, review its plan, apply it, and run it.`,
		Example: `  nurture validate examples/b2b-saas
  nurture contacts import examples/b2b-saas/contacts.csv --dir examples/b2b-saas
  nurture plan examples/b2b-saas -o review.plan
  nurture apply review.plan
  nurture run --every 5m --sender smtp://mail.example.com:587`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return checkReadOnlyStore(cmd)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("nurture {{.Version}}\n")
	root.AddCommand(newValidate(), newFmt(), newExport(), newPlan(), newApply(), newShow(), newState(), newForceUnlock(), newExplain(), newTick(), newRun(), newSends(),
		newServe(), newKeys(), newMailbox(), newSegments(), newContacts(), newAccounts(), newEvents(), newSuppressions(), newQueue(), newPause(), newResume(), newBackup(), newSample(), newPreview(), newTest(), newSimulate(), newHandoffs(), newReport())
	conventions(root)
	return root
}

// version is the module version and the revision it was built from, as
// the Go toolchain stamps them: "v0.0.0-… (rev 3e0cfe8, modified)". A
// build outside a module or a VCS checkout says what it lacks.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel (no build information)"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return v
	}
	if len(rev) > 7 {
		rev = rev[:7]
	}
	detail := "rev " + rev
	if at != "" {
		detail += ", " + at
	}
	if modified {
		detail += ", modified"
	}
	return fmt.Sprintf("%s (%s)", v, detail)
}
