package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/importer"
	"github.com/nurture-dev/nurture/runtime/ingest"
)

// importFlags are the flags every import command shares; kinds use the
// ones that apply to them.
type importFlags struct {
	dir         string
	store       string
	format      string
	rejects     string
	who         string
	ignore      []string
	allowRole   bool
	emptyClears bool
	dryRun      bool
	strict      bool
	batch       int
	keepUnknown string
}

// importKind is what differs between importing contacts, events and
// suppressions.
type importKind struct {
	noun string // "contacts"
	// program says the kind needs a programme: the applied one, or the
	// source in --dir.
	program bool
	// open makes the reader for a file; load stores what it reads (st is
	// nil on a dry run, and load only reads).
	open func(r io.Reader, name string, f ingest.Format, prog *campaigns.Program, opt ingest.Options) (importRun, error)
	// summary words the counts: "300 inserted, 2 updated, …".
	summary func(importer.Summary) string
	// flags adds the kind's own flags.
	flags func(fl *pflag.FlagSet, f *importFlags)
	// long is the command's help; example its Example.
	long    string
	example string
}

// importRun is one opened import file.
type importRun struct {
	header []string
	load   func(ctx context.Context, st runtime.Store, opt importer.Options) (importer.Summary, error)
}

func (f *importFlags) add(cmd *cobra.Command, k importKind) {
	fl := cmd.Flags()
	if k.program {
		fl.StringVar(&f.dir, "dir", "", "type the file by the programme source in this directory (default: the programme applied to the store)")
	}
	storeFlag(cmd, &f.store)
	fl.StringVar(&f.format, "format", "", "csv or jsonl (default: from the file name)")
	fl.StringVar(&f.rejects, "rejects", "", "write rejected rows here (default: NAME.rejects.csv or .jsonl in the current directory)")
	fl.StringSliceVar(&f.ignore, "ignore", nil, "skip these columns or keys (repeat or separate with commas)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "check every row and write the rejects, but store nothing")
	fl.BoolVar(&f.strict, "strict", false, "exit with status 1 when any row is rejected")
	fl.IntVar(&f.batch, "batch", importer.DefaultBatch, "rows per transaction")
	if k.flags != nil {
		k.flags(fl, f)
	}
}

func (f *importFlags) check() error {
	if f.batch < 1 {
		return fmt.Errorf("--batch must be 1 or more, not %d", f.batch)
	}
	if _, err := parseKeepUnknown(f.keepUnknown); err != nil {
		return err
	}
	return nil
}

// keep is --keep-unknown as a span, checked already.
func (f *importFlags) keep() time.Duration {
	d, _ := parseKeepUnknown(f.keepUnknown)
	return d
}

// parseKeepUnknown reads --keep-unknown: a span written as in the
// language ("30d", "2 weeks"), or 0 to reject unknown addresses' events.
func parseKeepUnknown(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := campaigns.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("--keep-unknown: %w", err)
	}
	return d.Std(), nil
}

// whoAmI is who an import records consent as when --who is not given.
func whoAmI() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "nurture"
}

func newImportCommand(k importKind) *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:     "import FILE",
		Short:   "Import " + k.noun + " from a CSV or JSON Lines file",
		Long:    k.long,
		Example: k.example,
		Args:    exactArgs(1, "name the file to import, or - for standard input"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			return runImport(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), k, args[0], f)
		},
	}
	f.add(cmd, k)
	return cmd
}

// exactArgs is cobra.ExactArgs with a message that says what to do.
func exactArgs(n int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %s, got %d: %s", cmd.CommandPath(), plural(n, "argument"), len(args), hint)
		}
		return nil
	}
}

func runImport(ctx context.Context, stdout, stderr io.Writer, k importKind, path string, f importFlags) error {
	var prog *campaigns.Program
	if k.program {
		var err error
		if prog, err = dataProgram(ctx, stderr, f.store, f.dir); err != nil {
			return err
		}
	}

	name, in, size, err := openInput(path)
	if err != nil {
		return err
	}
	defer in.Close()
	format, err := importFormat(f.format, name, path)
	if err != nil {
		return err
	}
	opt := ingest.Options{AllowRole: f.allowRole, EmptyClears: f.emptyClears, Ignore: f.ignore}
	run, err := k.open(in, name, format, prog, opt)
	if err != nil {
		var fe *ingest.FileError
		if errors.As(err, &fe) {
			fmt.Fprintln(stderr, fe.Error())
			fmt.Fprintf(stderr, "\nnothing was imported\n")
			return exitError(1)
		}
		return err
	}

	var st runtime.Store
	if !f.dryRun {
		if st, err = openStore(ctx, f.store); err != nil {
			return err
		}
		defer st.Close()
		if prog != nil {
			if err := st.SyncSchema(ctx, &prog.Contact); err != nil {
				return err
			}
			if err := st.SyncAccountSchema(ctx, prog.Accounts.Attributes); err != nil {
				return err
			}
		}
	}

	rejectPath := f.rejects
	if rejectPath == "" {
		rejectPath = defaultRejectPath(name, format)
	}
	rf := &lazyFile{path: rejectPath}
	rw := ingest.NewRejectWriter(rf, format, run.header)
	var shown []string
	const show = 5
	iopt := importer.Options{
		Batch:       f.batch,
		Who:         cmp.Or(f.who, whoAmI()),
		KeepUnknown: f.keep(),
		Reject: func(rej *ingest.Reject) error {
			if len(shown) < show {
				shown = append(shown, fmt.Sprintf("%s:%d: %s", name, rej.Line, rej.Reason))
			}
			return rw.Write(rej)
		},
	}
	bar := newProgress(stderr, size, "importing "+name)
	if bar != nil {
		iopt.Progress = bar.set
	}
	sum, loadErr := run.load(ctx, st, iopt)
	if bar != nil {
		bar.finish()
	}
	werr := rw.Flush()
	if cerr := rf.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("writing the rejects to %s: %w", rejectPath, werr)
	}

	for _, s := range shown {
		fmt.Fprintln(stderr, s)
	}
	if more := sum.Rejected - len(shown); more > 0 {
		fmt.Fprintf(stderr, "… and %d more\n", more)
	}
	if len(shown) > 0 {
		fmt.Fprintln(stderr)
	}
	line := fmt.Sprintf("%s: %s", name, k.summary(sum))
	if f.dryRun {
		line = fmt.Sprintf("%s: %s would be imported, %d rejected (dry run: nothing was stored)", name, plural(sum.Rows()-sum.Rejected, "row"), sum.Rejected)
	}
	if sum.Rejected > 0 {
		line += fmt.Sprintf("\nrejected rows are in %s with the reason for each; fix them there and import that file", rejectPath)
	}
	fmt.Fprintln(stdout, line)

	if loadErr != nil {
		var se *importer.StoreError
		switch {
		case errors.As(loadErr, &se) && errors.Is(se.Err, context.Canceled):
			return fmt.Errorf("interrupted at %s:%d; the rows before it are stored, and importing the file again stores the rest", name, se.Line)
		case errors.As(loadErr, &se):
			return fmt.Errorf("%s:%d: the store failed: %w; the rows before line %d are stored, and importing the file again stores the rest", name, se.Line, se.Err, se.Line)
		}
		return fmt.Errorf("%s: %w", name, loadErr)
	}
	if f.strict && sum.Rejected > 0 {
		return exitError(1)
	}
	return nil
}

// openInput opens the file to import, or standard input for "-". size is
// the file's size for a progress bar, or -1 when unknown.
func openInput(path string) (name string, r io.ReadCloser, size int64, err error) {
	if path == "-" {
		return "stdin", io.NopCloser(os.Stdin), -1, nil
	}
	file, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil, 0, fmt.Errorf("%s: no such file", path)
		}
		return "", nil, 0, err
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return "", nil, 0, err
	}
	if fi.IsDir() {
		file.Close()
		return "", nil, 0, fmt.Errorf("%s is a directory; name the file to import", path)
	}
	size = -1
	if fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return path, file, size, nil
}

func importFormat(flag, name, path string) (ingest.Format, error) {
	if flag != "" {
		f, err := ingest.ParseFormat(flag)
		if err != nil {
			return 0, fmt.Errorf("--format: %w", err)
		}
		return f, nil
	}
	if path == "-" {
		return 0, errors.New("reading standard input: say what it holds with --format csv or --format jsonl")
	}
	return ingest.FormatFor(name)
}

// defaultRejectPath is NAME.rejects.csv (or .jsonl) in the current
// directory, for the file NAME.EXT.
func defaultRejectPath(name string, f ingest.Format) string {
	base := filepath.Base(name)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	ext := ".csv"
	if f == ingest.JSONL {
		ext = ".jsonl"
	}
	return base + ".rejects" + ext
}

// lazyFile creates its file on the first write, so that an import with no
// rejects leaves no reject file.
type lazyFile struct {
	path string
	f    *os.File
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil {
		f, err := os.Create(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	return l.f.Write(p)
}

func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

// The kinds of import.

var contactsImport = importKind{
	noun:    "contacts",
	program: true,
	example: `  # by the programme applied to the store
  nurture contacts import contacts.csv
  # before applying, by the programme's source
  nurture contacts import contacts.csv --dir examples/b2b-saas
  # check a file in CI without storing it
  nurture contacts import leads.jsonl --dry-run --strict
  crm-export | nurture contacts import - --format csv`,
	long: `Import reads contacts from FILE (CSV with a header, or JSON Lines) and
upserts them into the store by email address.

Columns are email, the attributes the programme declares (stage,
timezone, account and account_tier included) and, for opt-in records,
consent_at, consent_source and consent_wording. Each value is checked
against its declaration: type, enum values, required. The programme is
the one applied to the store; to import before applying, name its source
with --dir DIR.

Addresses are trimmed and their domains lower-cased (IDN domains become
their ASCII form); an address given twice in the file is rejected the
second time. Role addresses (info@, sales@, …) are rejected unless
--allow-role.

For a contact the store already holds, a column the file lacks keeps its
stored value, and so does an empty cell unless --empty-clears.

Rows that cannot be imported never stop the others: each goes to the
reject file with its line and reason, ready to fix and import again.
Rows go to the store in batches (--batch), each batch one transaction.`,
	flags: func(fl *pflag.FlagSet, f *importFlags) {
		fl.BoolVar(&f.allowRole, "allow-role", false, "import role addresses (info@, support@, …), flagged as such")
		fl.BoolVar(&f.emptyClears, "empty-clears", false, "an empty cell clears the stored value (required attributes excepted)")
		fl.StringVar(&f.who, "who", "", "who consent records name as recording them (default: the current user)")
	},
	open: func(r io.Reader, name string, f ingest.Format, prog *campaigns.Program, opt ingest.Options) (importRun, error) {
		cr, err := ingest.NewContactReader(r, name, f, &prog.Contact, opt)
		if err != nil {
			return importRun{}, err
		}
		return importRun{header: cr.Header(), load: func(ctx context.Context, st runtime.Store, o importer.Options) (importer.Summary, error) {
			if st == nil {
				return importer.Check(cr, o)
			}
			return importer.Contacts(ctx, st, &prog.Contact, cr, o)
		}}, nil
	},
	summary: func(s importer.Summary) string {
		return fmt.Sprintf("%d inserted, %d updated, %d unchanged, %d rejected", s.Inserted, s.Updated, s.Unchanged, s.Rejected)
	},
}

var accountsImport = importKind{
	noun:    "accounts",
	program: true,
	example: `  nurture accounts import accounts.csv
  nurture accounts import accounts.csv --dir examples/abm --dry-run --strict`,
	long: `Import reads accounts from FILE (CSV with a header, or JSON Lines) and
upserts them into the store by key.

Columns are account, the account's key — the value its contacts hold in
their account attribute — and the attributes the programme declares
under accounts.attributes, each checked against its declaration: type,
enum values, required. The programme is the one applied to the store; to
import before applying, name its source with --dir DIR.

For an account the store already holds, a column the file lacks keeps its
stored value, and so does an empty cell unless --empty-clears. The
contacts of an account that changed are looked at again on the next
tick, since a condition on their account may have turned.

Rows that cannot be imported never stop the others: each goes to the
reject file with its line and reason, ready to fix and import again.`,
	flags: func(fl *pflag.FlagSet, f *importFlags) {
		fl.BoolVar(&f.emptyClears, "empty-clears", false, "an empty cell clears the stored value (required attributes excepted)")
	},
	open: func(r io.Reader, name string, f ingest.Format, prog *campaigns.Program, opt ingest.Options) (importRun, error) {
		ar, err := ingest.NewAccountReader(r, name, f, prog.Accounts.Attributes, opt)
		if err != nil {
			return importRun{}, err
		}
		return importRun{header: ar.Header(), load: func(ctx context.Context, st runtime.Store, o importer.Options) (importer.Summary, error) {
			if st == nil {
				return importer.Check(ar, o)
			}
			return importer.Accounts(ctx, st, prog.Accounts.Attributes, ar, o)
		}}, nil
	},
	summary: func(s importer.Summary) string {
		return fmt.Sprintf("%d inserted, %d updated, %d unchanged, %d rejected", s.Inserted, s.Updated, s.Unchanged, s.Rejected)
	},
}

var eventsImport = importKind{
	noun:    "events",
	program: true,
	example: `  nurture events import events.jsonl
  nurture events import webinar.csv --dir examples/b2b-saas --rejects webinar.rejects.csv`,
	long: `Import reads events from FILE (CSV or JSON Lines) and records them.

Each event has an email, a name, an RFC 3339 time (at), properties and
optionally an id. In JSON Lines each line is an object with the keys
email, name, at, properties (an object) and id; event and props, as a
scenario's timeline writes them, are other spellings of name and
properties. In CSV the columns are email, name (or event), at and id,
and every other column is a property. Names and properties are checked
against the event declarations of the programme applied to the store (or
of the source in --dir DIR). A row with an unknown or missing key is
rejected alone. An event is recorded once by its id; without one its id
is derived from its contents, so importing a file twice records each
event once.

Events of addresses the store does not hold yet — a web visitor who is
not a lead yet — wait in the store for --keep-unknown (30 days; 0 rejects
them) and join the contact's events when the contact is imported.`,
	flags: func(fl *pflag.FlagSet, f *importFlags) {
		fl.StringVar(&f.keepUnknown, "keep-unknown", "30d", "how long events of addresses not imported yet wait for their contact, as \"30d\" or \"2 weeks\"; 0 rejects them")
	},
	open: func(r io.Reader, name string, f ingest.Format, prog *campaigns.Program, opt ingest.Options) (importRun, error) {
		er, err := ingest.NewEventReader(r, name, f, prog.Events, opt)
		if err != nil {
			return importRun{}, err
		}
		return importRun{header: er.Header(), load: func(ctx context.Context, st runtime.Store, o importer.Options) (importer.Summary, error) {
			if st == nil {
				return importer.Check(er, o)
			}
			return importer.Events(ctx, st, er, o)
		}}, nil
	},
	summary: func(s importer.Summary) string {
		waiting := ""
		if s.Pending > 0 {
			waiting = fmt.Sprintf(", %d waiting for their contact", s.Pending)
		}
		return fmt.Sprintf("%d recorded, %d already recorded%s, %d rejected", s.Inserted, s.Duplicate, waiting, s.Rejected)
	},
}

var suppressionsImport = importKind{
	noun: "suppressions",
	example: `  nurture suppressions import opt-outs.csv
  nurture suppressions import bounces.jsonl --strict`,
	long: `Import reads suppressions — existing opt-outs, bounces and complaints —
from FILE (CSV or JSON Lines) and adds them to the store. No marketing
email goes to a suppressed address.

Columns are email (required), reason (unsubscribed, bounced, complained
or manual; manual when empty), at (RFC 3339; the time of the import when
empty) and source (the file's name when empty). An address already
suppressed for the same reason keeps its first record. Imports never
remove a suppression.`,
	open: func(r io.Reader, name string, f ingest.Format, _ *campaigns.Program, opt ingest.Options) (importRun, error) {
		sr, err := ingest.NewSuppressionReader(r, name, f, opt)
		if err != nil {
			return importRun{}, err
		}
		return importRun{header: sr.Header(), load: func(ctx context.Context, st runtime.Store, o importer.Options) (importer.Summary, error) {
			if st == nil {
				return importer.Check(sr, o)
			}
			return importer.Suppressions(ctx, st, sr, o)
		}}, nil
	},
	summary: func(s importer.Summary) string {
		return fmt.Sprintf("%d added, %d already suppressed, %d rejected", s.Inserted, s.Duplicate, s.Rejected)
	},
}
