package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
)

type validateFlags struct {
	dir    string
	format string
	strict bool
}

func (f *validateFlags) check() error {
	switch f.format {
	case "text", "json", "github":
		return nil
	}
	return fmt.Errorf("--format must be text, json or github, not %q", f.format)
}

func newValidate() *cobra.Command {
	var f validateFlags
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check a programme: schema, references, journeys and emails",
		Example: `  nurture validate examples/b2b-saas
  # annotations on a pull request's diff
  nurture validate --format github`,
		Long: `Validate compiles the programme in DIR (default: the current directory)
and reports every problem it finds, each with its file:line:col and a
stable code (see docs/diagnostics.md).

Exit status: 0 when the programme is valid, 1 when it has errors (or, with
--strict, warnings).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.dir = "."
			if len(args) == 1 {
				f.dir = args[0]
			}
			if err := f.check(); err != nil {
				return err
			}
			return runValidate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text, json or github (workflow annotations)")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "fail on warnings too")
	return cmd
}

func runValidate(ctx context.Context, stdout, stderr io.Writer, f validateFlags) error {
	res, err := compile(ctx, f.dir)
	if err != nil {
		return err
	}
	cwd, _ := os.Getwd()
	errs, warns := res.Diagnostics.Count()
	failed := errs > 0 || f.strict && warns > 0
	switch f.format {
	case "json":
		writeValidateJSON(stdout, cwd, f.dir, res, failed)
	case "github":
		writeGitHub(stdout, cwd, res.Diagnostics)
	default:
		writeDiagnostics(stderr, cwd, res.Diagnostics)
		if failed {
			fmt.Fprintf(stderr, "\n%s\n", countLine(errs, warns))
		} else {
			fmt.Fprintf(stdout, "%s is valid: %s", displayDir(cwd, f.dir), describe(res.Program))
			if n := len(res.Tests); n > 0 {
				fmt.Fprintf(stdout, ", %s", plural(n, "scenario test"))
			}
			if warns > 0 {
				fmt.Fprintf(stdout, "; %s", plural(warns, "warning"))
			}
			fmt.Fprintln(stdout)
		}
	}
	if failed {
		return exitError(1)
	}
	return nil
}

func displayDir(cwd, dir string) string {
	p := compiler.Pos{File: absPath(dir)}.Rel(cwd).File
	if p == "" {
		return "."
	}
	return p
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func describe(p *campaigns.Program) string {
	if p == nil {
		return "nothing compiled"
	}
	return strings.Join([]string{
		plural(len(p.Sequences), "sequence"),
		plural(len(p.Emails), "email"),
		plural(len(p.Segments), "segment"),
		plural(len(p.Scoring), "scoring model"),
	}, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func countLine(errs, warns int) string {
	switch {
	case errs > 0 && warns > 0:
		return plural(errs, "error") + ", " + plural(warns, "warning")
	case errs > 0:
		return plural(errs, "error")
	}
	return plural(warns, "warning") + " (failing with --strict)"
}

// writeDiagnostics writes diagnostics for people: position, severity, code
// and summary on one line, what to do indented below.
func writeDiagnostics(w io.Writer, cwd string, ds compiler.Diagnostics) {
	for _, d := range ds {
		d.Pos = d.Pos.Rel(cwd)
		fmt.Fprintln(w, d.String())
		if d.Detail != "" {
			for _, l := range strings.Split(d.Detail, "\n") {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
}

type jsonDiagnostic struct {
	compiler.Diagnostic
	Path string `json:"-"`
}

func writeValidateJSON(w io.Writer, cwd, dir string, res *compiler.Result, failed bool) {
	errs, warns := res.Diagnostics.Count()
	out := struct {
		FormatVersion int                  `json:"format_version"`
		Dir           string               `json:"dir"`
		Valid         bool                 `json:"valid"`
		Errors        int                  `json:"errors"`
		Warnings      int                  `json:"warnings"`
		Hash          string               `json:"hash,omitempty"`
		Diagnostics   compiler.Diagnostics `json:"diagnostics"`
	}{FormatVersion: 1, Dir: displayDir(cwd, dir), Valid: !failed, Errors: errs, Warnings: warns}
	if res.Program != nil {
		out.Hash = res.Program.Hash()
	}
	out.Diagnostics = compiler.Diagnostics{}
	for _, d := range res.Diagnostics {
		d.Pos = d.Pos.Rel(cwd)
		out.Diagnostics = append(out.Diagnostics, d)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out)
}

// writeGitHub writes workflow commands that annotate the pull request.
func writeGitHub(w io.Writer, cwd string, ds compiler.Diagnostics) {
	for _, d := range ds {
		p := d.Pos.Rel(cwd)
		props := []string{}
		if p.File != "" {
			props = append(props, "file="+ghProperty(filepath.ToSlash(p.File)))
		}
		if p.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", p.Line))
		}
		if p.Col > 0 {
			props = append(props, fmt.Sprintf("col=%d", p.Col))
		}
		props = append(props, "title="+ghProperty(d.Code))
		msg := d.Summary
		if d.Detail != "" {
			msg += "\n" + d.Detail
		}
		fmt.Fprintf(w, "::%s %s::%s\n", d.Severity, strings.Join(props, ","), ghData(msg))
	}
}

func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// compile compiles the programme in dir unless ctx ends first: CUE's
// evaluation cannot be stopped, so an interrupt returns at once and
// leaves it to the process's exit.
func compile(ctx context.Context, dir string) (*compiler.Result, error) {
	done := make(chan *compiler.Result, 1)
	go func() { done <- compiler.Compile(dir) }()
	select {
	case res := <-done:
		return res, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("compiling %s: %w", dir, context.Cause(ctx))
	}
}
