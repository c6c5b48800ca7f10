package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/runtime/sample"
)

type sampleFlags struct {
	dir      string
	out      string
	contacts int
	seed     int64
	now      string
	months   int
	force    bool
}

// check validates the flags and returns the end of the history: --now,
// or today at midnight UTC, so runs on one day agree.
func (f *sampleFlags) check() (time.Time, error) {
	if f.contacts < 0 {
		return time.Time{}, fmt.Errorf("--contacts must be 0 or more, not %d", f.contacts)
	}
	if f.months < 1 || f.months > sample.MaxMonths {
		return time.Time{}, fmt.Errorf("--months must be 1 to %d, not %d", sample.MaxMonths, f.months)
	}
	return parseNow(f.now, time.Now().UTC().Truncate(24*time.Hour))
}

func newSample() *cobra.Command {
	var f sampleFlags
	cmd := &cobra.Command{
		Use:   "sample [DIR]",
		Short: "Write synthetic sample contacts and events for a programme",
		Example: `  nurture sample examples/b2b-saas
  nurture sample examples/b2b-saas --contacts 10000 --seed 7 --out data`,
		Long: `Sample compiles the programme in DIR (default: the current directory) and
writes made-up data to try it with: contacts.csv and events.jsonl in
--out (default: DIR), in the formats nurture contacts import and nurture
events import read, and accounts.csv, as nurture accounts import reads
it, when the programme declares account attributes.

The data is synthetic: people, companies and addresses are invented, at
.example domains that receive no mail. It fits the programme: attributes
are filled by their names and types, accounts hold several contacts, and
the pages, values and thresholds the programme's segments and scoring
mention turn up often enough to give them members.

The data is seeded: the same programme, --contacts, --seed, --now and
--months always give byte-identical files, so sample data can be
committed and reviewed. --now, the end of the history, defaults to today
at 00:00 UTC. Events are in time order per contact, not across the file.

Sample never replaces a contacts.csv or events.jsonl that is already
there (a programme's committed sample data, say) unless --force says so.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.dir = "."
			if len(args) == 1 {
				f.dir = args[0]
			}
			if f.out == "" {
				f.out = f.dir
			}
			now, err := f.check()
			if err != nil {
				return err
			}
			return runSample(cmd.OutOrStdout(), cmd.ErrOrStderr(), f, now)
		},
	}
	cmd.Flags().IntVar(&f.contacts, "contacts", 300, "how many contacts to write")
	cmd.Flags().Int64Var(&f.seed, "seed", 1, "the seed: another seed gives other people and events")
	cmd.Flags().StringVar(&f.now, "now", "", "end the history at this RFC 3339 time instead of today 00:00 UTC")
	cmd.Flags().IntVar(&f.months, "months", 6, "how many months of history to write")
	cmd.Flags().StringVar(&f.out, "out", "", "write the files to this directory instead of DIR")
	cmd.Flags().BoolVar(&f.force, "force", false, "replace contacts.csv, events.jsonl and accounts.csv when they exist")
	return cmd
}

func runSample(stdout, stderr io.Writer, f sampleFlags, now time.Time) error {
	prog, err := compileFor(stderr, f.dir)
	if err != nil {
		return err
	}
	cwd, _ := os.Getwd()
	files := []string{"contacts.csv", "events.jsonl"}
	withAccounts := len(prog.Accounts.Attributes) > 0
	if withAccounts {
		files = append(files, "accounts.csv")
	}
	if !f.force {
		if err := refuseOverwrite(cwd, f.out, files...); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	// Write beside the targets and rename at the end, so a failed run
	// leaves the previous files rather than half-written ones.
	contacts, err := os.CreateTemp(f.out, ".contacts-*.csv")
	if err != nil {
		return err
	}
	defer os.Remove(contacts.Name())
	defer contacts.Close()
	events, err := os.CreateTemp(f.out, ".events-*.jsonl")
	if err != nil {
		return err
	}
	defer os.Remove(events.Name())
	defer events.Close()

	opt := sample.Options{Contacts: f.contacts, Seed: f.seed, Now: now, Months: f.months}
	temps := []*os.File{contacts, events}
	if withAccounts {
		accounts, err := os.CreateTemp(f.out, ".accounts-*.csv")
		if err != nil {
			return err
		}
		defer os.Remove(accounts.Name())
		defer accounts.Close()
		opt.Accounts = accounts
		temps = append(temps, accounts)
	}
	st, err := sample.Generate(prog, opt, contacts, events)
	if err != nil {
		return err
	}
	for _, file := range temps {
		if err := file.Chmod(0o644); err != nil {
			return err
		}
		if err := file.Close(); err != nil {
			return err
		}
	}
	if err := os.Rename(contacts.Name(), filepath.Join(f.out, "contacts.csv")); err != nil {
		return err
	}
	if err := os.Rename(events.Name(), filepath.Join(f.out, "events.jsonl")); err != nil {
		return err
	}
	if withAccounts {
		if err := os.Rename(temps[2].Name(), filepath.Join(f.out, "accounts.csv")); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s, %s and %s to %s\n", count(st.Contacts, "contact"), count(st.Accounts, "account"), count(st.Events, "event"), displayDir(cwd, f.out))
		return nil
	}
	fmt.Fprintf(stdout, "wrote %s and %s to %s\n", count(st.Contacts, "contact"), count(st.Events, "event"), displayDir(cwd, f.out))
	return nil
}

// refuseOverwrite names the files among names that exist in dir: the
// sample data a programme committed is not to be lost to a rerun.
func refuseOverwrite(cwd, dir string, names ...string) error {
	var there []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Lstat(p); err == nil {
			there = append(there, displayDir(cwd, p))
		}
	}
	switch len(there) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s exists; --force replaces it, --out DIR writes elsewhere", there[0])
	}
	return fmt.Errorf("%s exist; --force replaces them, --out DIR writes elsewhere", strings.Join(there, " and "))
}

// count is plural with thousands separators: "4,512 events".
func count(n int, what string) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if n == 1 {
		return s + " " + what
	}
	return s + " " + what + "s"
}
