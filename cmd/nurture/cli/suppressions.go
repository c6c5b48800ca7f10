package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/runtime"
)

func newEvents() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "events",
		Short:   "Import behavioural events",
		Example: `  nurture events import events.jsonl`,
	}
	cmd.AddCommand(newImportCommand(eventsImport))
	return cmd
}

func newSuppressions() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "suppressions",
		Short: "Import and list the addresses no marketing email goes to",
		Example: `  nurture suppressions import opt-outs.csv
  nurture suppressions list --format csv`,
	}
	cmd.AddCommand(newImportCommand(suppressionsImport), newSuppressionsList())
	return cmd
}

func newSuppressionsList() *cobra.Command {
	var store, format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every suppression: address, reason, source and time",
		Example: `  nurture suppressions list
  nurture suppressions list --format csv > suppressions.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "csv" && format != "json" {
				return fmt.Errorf("--format must be text, csv or json, not %q", format)
			}
			return listSuppressions(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), store, format)
		},
	}
	storeFlag(cmd, &store)
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, csv (imports as it is) or json")
	return cmd
}

func listSuppressions(ctx context.Context, stdout, stderr io.Writer, spec, format string) error {
	st, err := openStore(ctx, spec)
	if err != nil {
		return err
	}
	defer st.Close()
	var out interface {
		row(runtime.Suppression) error
		done() error
	}
	switch format {
	case "text":
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tREASON\tSOURCE\tAT")
		out = textSuppressions{tw}
	case "csv":
		cw := csv.NewWriter(stdout)
		cw.Write([]string{"email", "reason", "source", "at"})
		out = csvSuppressions{cw}
	case "json":
		out = &jsonSuppressions{w: stdout}
	}
	n := 0
	err = st.Suppressions(ctx, func(s runtime.Suppression) error {
		n++
		return out.row(s)
	})
	if err != nil {
		return err
	}
	if err := out.done(); err != nil {
		return err
	}
	if format == "text" {
		fmt.Fprintf(stderr, "%s\n", plural(n, "suppression"))
	}
	return nil
}

type textSuppressions struct{ tw *tabwriter.Writer }

func (t textSuppressions) row(s runtime.Suppression) error {
	_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\n", s.Email, s.Reason, s.Source, s.At.UTC().Format(time.RFC3339))
	return err
}
func (t textSuppressions) done() error { return t.tw.Flush() }

type csvSuppressions struct{ cw *csv.Writer }

func (c csvSuppressions) row(s runtime.Suppression) error {
	return c.cw.Write([]string{s.Email, s.Reason, cell(s.Source), s.At.UTC().Format(time.RFC3339)})
}
func (c csvSuppressions) done() error { c.cw.Flush(); return c.cw.Error() }

type jsonSuppressions struct {
	w    io.Writer
	list []suppressionJSON
}

type suppressionJSON struct {
	Email  string    `json:"email"`
	Reason string    `json:"reason"`
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}

func (j *jsonSuppressions) row(s runtime.Suppression) error {
	j.list = append(j.list, suppressionJSON{s.Email, s.Reason, s.Source, s.At.UTC()})
	return nil
}

func (j *jsonSuppressions) done() error {
	if j.list == nil {
		j.list = []suppressionJSON{}
	}
	enc := json.NewEncoder(j.w)
	enc.SetIndent("", "  ")
	return enc.Encode(j.list)
}
