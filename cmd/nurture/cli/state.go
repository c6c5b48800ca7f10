package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
)

func newState() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "List and show the programme versions applied to the store",
		Example: `  nurture state list
  nurture state show 2`,
	}
	cmd.AddCommand(newStateList(), newStateShow())
	return cmd
}

func newStateList() *cobra.Command {
	var store, format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the applied versions, newest first",
		Example: `  nurture state list
  nurture state list --format json | jq '.[0].hash'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format must be text or json, not %q", format)
			}
			st, err := openStore(cmd.Context(), store)
			if err != nil {
				return err
			}
			defer st.Close()
			vs, err := st.Versions(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				return writeVersionsJSON(out, vs)
			}
			if len(vs) == 0 {
				fmt.Fprintln(out, "Nothing is applied to this store yet: nurture apply DIR installs a programme.")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SERIAL\tAPPLIED\tBY\tHASH\tCOMMIT")
			for i, v := range vs {
				serial := strconv.FormatInt(v.Serial, 10)
				if i == 0 {
					serial += " *"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", serial, v.AppliedAt.UTC().Format(time.RFC3339), v.AppliedBy,
					compiler.ShortHash(v.Hash), cmp.Or(v.GitCommit, "-"))
			}
			tw.Flush()
			fmt.Fprintf(out, "\n* in force. Lineage %s.\n", vs[0].Lineage)
			return nil
		},
	}
	storeFlag(cmd, &store)
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// versionJSON is one applied version as state list --format json prints
// it: what the table shows, with the full hash, without the programme
// (state show prints that).
type versionJSON struct {
	Serial    int64     `json:"serial"`
	InForce   bool      `json:"in_force"`
	AppliedAt time.Time `json:"applied_at"`
	AppliedBy string    `json:"applied_by"`
	Hash      string    `json:"hash"`
	GitCommit string    `json:"git_commit,omitempty"`
	Lineage   string    `json:"lineage"`
}

// writeVersionsJSON prints the versions newest first, [] when there are
// none, so that a script needs no special case.
func writeVersionsJSON(w io.Writer, vs []runtime.Version) error {
	out := make([]versionJSON, 0, len(vs))
	for i, v := range vs {
		out = append(out, versionJSON{v.Serial, i == 0, v.AppliedAt.UTC(), v.AppliedBy, v.Hash, v.GitCommit, v.Lineage})
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func newStateShow() *cobra.Command {
	var store string
	cmd := &cobra.Command{
		Use:   "show [SERIAL]",
		Short: "Print an applied version's programme as canonical JSON (default: the one in force)",
		Example: `  nurture state show
  nurture state show 2 > version-2.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), store)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			v, err := st.Applied(ctx)
			if len(args) == 1 {
				serial, perr := strconv.ParseInt(args[0], 10, 64)
				if perr != nil || serial < 1 {
					return fmt.Errorf("SERIAL must be a version number as nurture state list shows it, not %q", args[0])
				}
				v, err = st.Version(ctx, serial)
				if err == nil && v == nil {
					return fmt.Errorf("no version %d in this store: nurture state list shows the versions", serial)
				}
			}
			if err != nil {
				return err
			}
			if v == nil {
				return fmt.Errorf("nothing is applied to this store yet")
			}
			var prog campaigns.Program
			if err := json.Unmarshal(v.Program, &prog); err != nil {
				return fmt.Errorf("reading version %d: %w", v.Serial, err)
			}
			out := struct {
				Serial    int64              `json:"serial"`
				Lineage   string             `json:"lineage"`
				Hash      string             `json:"hash"`
				AppliedAt time.Time          `json:"applied_at"`
				AppliedBy string             `json:"applied_by"`
				GitCommit string             `json:"git_commit,omitempty"`
				Programme *campaigns.Program `json:"programme"`
			}{v.Serial, v.Lineage, v.Hash, v.AppliedAt.UTC(), v.AppliedBy, v.GitCommit, &prog}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	storeFlag(cmd, &store)
	return cmd
}
