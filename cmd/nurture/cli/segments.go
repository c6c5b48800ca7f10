package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
)

type segmentsFlags struct {
	dir    string
	store  string
	format string
	sample int
	now    string
}

func (f *segmentsFlags) check() (time.Time, error) {
	if f.format != "text" && f.format != "json" {
		return time.Time{}, fmt.Errorf("--format must be text or json, not %q", f.format)
	}
	if f.sample < 0 {
		return time.Time{}, fmt.Errorf("--sample must be 0 or more, not %d", f.sample)
	}
	return parseNow(f.now, time.Now())
}

func newSegments() *cobra.Command {
	var f segmentsFlags
	cmd := &cobra.Command{
		Use:   "segments [DIR]",
		Short: "Show each segment's live size and a few of its contacts",
		Example: `  nurture segments examples/b2b-saas --now 2026-11-23T00:00:00Z
  nurture segments --format json --sample 0`,
		Long: `Segments compiles the programme in DIR (default: the current directory),
runs every segment against the contact store and prints how many contacts
each holds now, with a few of them as a sample. For a programme that
declares accounts (tiers, attributes or a score) it counts the accounts
with a contact in each segment too.

Score conditions read the scores nurture run keeps; before the first run
every contact scores zero.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.dir = "."
			if len(args) == 1 {
				f.dir = args[0]
			}
			now, err := f.check()
			if err != nil {
				return err
			}
			return runSegments(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, now)
		},
	}
	storeFlag(cmd, &f.store)
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text or json")
	cmd.Flags().IntVar(&f.sample, "sample", 3, "how many contacts to show from each segment")
	cmd.Flags().StringVar(&f.now, "now", "", "evaluate as of this RFC 3339 time instead of now")
	return cmd
}

type segmentSize struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Contacts    int    `json:"contacts"`
	// Accounts counts the accounts with a contact in the segment, for a
	// programme that declares accounts.
	Accounts *int     `json:"accounts,omitempty"`
	Sample   []string `json:"sample"`
}

func runSegments(ctx context.Context, stdout, stderr io.Writer, f segmentsFlags, now time.Time) error {
	prog, err := compileFor(stderr, f.dir)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	st, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.SyncSchema(ctx, &prog.Contact); err != nil {
		return err
	}
	total, _, err := st.Audience(ctx, prog, campaigns.Predicate{Op: campaigns.OpAll}, now, 0)
	if err != nil {
		return err
	}
	var sizes []segmentSize
	for _, name := range sortedNames(prog.Segments) {
		seg := prog.Segments[name]
		n, sample, err := st.Audience(ctx, prog, campaigns.Predicate{Op: campaigns.OpSegment, Segment: name}, now, f.sample)
		if err != nil {
			return fmt.Errorf("segment %s: %w", name, err)
		}
		s := segmentSize{Name: name, Description: seg.Description, Contacts: n, Sample: []string{}}
		for _, c := range sample {
			s.Sample = append(s.Sample, c.Email)
		}
		sizes = append(sizes, s)
	}
	a := prog.Accounts
	byAccount := len(a.Tiers) > 0 || len(a.Attributes) > 0 || a.Score != nil
	if byAccount && len(sizes) > 0 {
		ps := make([]campaigns.Predicate, len(sizes))
		for i, s := range sizes {
			ps[i] = campaigns.Predicate{Op: campaigns.OpSegment, Segment: s.Name}
		}
		ns, err := st.AccountCounts(ctx, prog, ps, now)
		if err != nil {
			return err
		}
		for i := range sizes {
			sizes[i].Accounts = &ns[i]
		}
	}
	if f.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			FormatVersion int           `json:"format_version"`
			Store         string        `json:"store"`
			At            time.Time     `json:"at"`
			Contacts      int           `json:"contacts"`
			Segments      []segmentSize `json:"segments"`
		}{1, st.Dialect(), now.UTC(), total, sizes})
	}
	if len(sizes) == 0 {
		fmt.Fprintln(stdout, "The programme declares no segments.")
		return nil
	}
	width := len("SEGMENT")
	for _, s := range sizes {
		width = max(width, len(s.Name))
	}
	accounts := func(s segmentSize) string { return "" }
	head := ""
	if byAccount {
		head = fmt.Sprintf("  %8s", "ACCOUNTS")
		accounts = func(s segmentSize) string { return fmt.Sprintf("  %8d", *s.Accounts) }
	}
	fmt.Fprintf(stdout, "%-*s  %8s%s  %6s  %s\n", width, "SEGMENT", "CONTACTS", head, "SHARE", "SAMPLE")
	for _, s := range sizes {
		share := "-"
		if total > 0 {
			share = fmt.Sprintf("%.1f%%", 100*float64(s.Contacts)/float64(total))
		}
		line := fmt.Sprintf("%-*s  %8d%s  %6s  %s", width, s.Name, s.Contacts, accounts(s), share, strings.Join(s.Sample, ", "))
		fmt.Fprintln(stdout, strings.TrimRight(line, " "))
	}
	if total == 0 {
		fmt.Fprintf(stdout, "\nThe %s store holds no contacts yet.\n", st.Dialect())
		return nil
	}
	fmt.Fprintf(stdout, "\n%s out of %s in the %s store.\n", plural(len(sizes), "segment"), plural(total, "contact"), st.Dialect())
	return nil
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
