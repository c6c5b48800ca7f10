package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	netmail "net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/cmd/nurture/backend"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/mail"
	"github.com/nurture-dev/nurture/runtime/render"
)

type previewFlags struct {
	dir     string
	email   string
	contact string
	sample  bool
	variant string
	out     string
	open    bool
	store   string
	// sendTo are the addresses --send-to names; sender the SMTP server
	// (or file:DIR) they go through.
	sendTo []string
	sender string
	// trigger are the --trigger PROP=VALUE pairs: the triggering event's
	// properties the email's {{ trigger.PROP }} tags read.
	trigger []string
}

func (f *previewFlags) check() error {
	switch {
	case f.email == "":
		return errors.New("name the email to preview with --email, as the programme sends it: --email emails/welcome.md")
	case f.contact != "" && f.sample:
		return errors.New("--contact and --sample both say whom to preview for: give one")
	case len(f.sendTo) > 0 && f.sender == "":
		return errors.New("--send-to needs a mail server: give --sender smtp://host:port (or set $NURTURE_SENDER), as for nurture tick")
	}
	var to []string
	for _, a := range f.sendTo {
		if a = strings.TrimSpace(a); a != "" {
			to = append(to, a)
		}
	}
	f.sendTo = to
	for _, a := range f.sendTo {
		if _, err := netmail.ParseAddress(a); err != nil || !strings.Contains(a, "@") || strings.ContainsAny(a, "<> ") {
			return fmt.Errorf("--send-to %q: want plain email addresses separated by commas, such as me@acme.example,seed@acme.example", a)
		}
	}
	return nil
}

func newPreview() *cobra.Command {
	var f previewFlags
	cmd := &cobra.Command{
		Use:   "preview [DIR] --email PATH",
		Short: "Render one email for a contact and write it as HTML, text and .eml files",
		Example: `  nurture preview examples/b2b-saas --email emails/welcome.md
  nurture preview --email emails/welcome.md --contact ann@acme.example --variant b --open
  # to your own inbox and a seed list, through the configured server
  nurture preview --email emails/welcome.md --send-to me@acme.example,seed@acme.example --sender smtp://mail.acme.example:587`,
		Long: `Preview compiles the programme in DIR (default: the current directory) and
renders the email at --email (its path in the programme, as a sequence
sends it) as it would go out: for the contact --contact names, read from
the store, or by default for a made-up sample contact that fits the
contact schema (the same one every time).

Each subject line of an A/B test is rendered, or the one --variant names.
For each variant NAME (a, b, …), NAME.html, NAME.txt and NAME.eml are
written to --out (default: a new directory under the system's temporary
directory). The .eml file is the whole message, headers and both parts,
as a mail client opens it. --open opens the first HTML file.

Links lead to their real destinations, with their UTM parameters, rather
than through click tracking, and the unsubscribe and preferences links
go to BASE_URL/u/preview and BASE_URL/p/preview: nothing in a preview can
unsubscribe or record a click for a real contact.

--send-to ADDR[,ADDR…] also sends each rendered variant to those
addresses (your own inbox, a seed list) through the mail server --sender
names (default $NURTURE_SENDER), with "[preview]" before the subject. It
never touches the store or the send ledger, and its List-Unsubscribe
header carries no mailto: that could unsubscribe the seed address.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.dir = "."
			if len(args) == 1 {
				f.dir = args[0]
			}
			if err := f.check(); err != nil {
				return err
			}
			return runPreview(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, time.Now())
		},
	}
	storeFlag(cmd, &f.store)
	fl := cmd.Flags()
	fl.StringVar(&f.email, "email", "", "the email to preview: its `PATH` in the programme, such as emails/welcome.md")
	fl.StringVar(&f.contact, "contact", "", "preview for this contact of the store, by `EMAIL` address")
	fl.BoolVar(&f.sample, "sample", false, "preview for a made-up sample contact (the default without --contact)")
	fl.StringVar(&f.variant, "variant", "", "render only this subject variant (a, b, …)")
	fl.StringVar(&f.out, "out", "", "write the files to this `DIR` (default: a new temporary directory)")
	fl.BoolVar(&f.open, "open", false, "open the HTML in the browser (xdg-open or open)")
	fl.StringSliceVar(&f.sendTo, "send-to", nil, "also send the rendered email to these `ADDR[,ADDR]`, subject prefixed [preview]; never recorded in the ledger")
	fl.StringArrayVar(&f.trigger, "trigger", nil, "a property of the triggering event, `PROP=VALUE`, for the email's {{ trigger.PROP }} tags (repeat for more; left out, they show their fallbacks)")
	fl.StringVar(&f.sender, "sender", os.Getenv("NURTURE_SENDER"), "with --send-to, the mail server: smtp://[user@]host[:port][?params] or file:DIR (default from $NURTURE_SENDER)")
	return cmd
}

func runPreview(ctx context.Context, stdout, stderr io.Writer, f previewFlags, now time.Time) error {
	prog, err := compileFor(stderr, f.dir)
	if err != nil {
		return err
	}
	name, err := previewEmail(prog, f.dir, f.email)
	if err != nil {
		return err
	}
	e := prog.Emails[name]
	variants := e.Subjects
	if f.variant != "" {
		i := slices.IndexFunc(variants, func(v campaigns.SubjectVariant) bool { return v.Name == f.variant })
		if i < 0 {
			names := make([]string, len(variants))
			for i, v := range variants {
				names[i] = v.Name
			}
			return fmt.Errorf("--variant %s: %s has no such subject variant; its variants: %s", f.variant, name, strings.Join(names, ", "))
		}
		variants = variants[i : i+1]
	}

	var to, who string
	var values map[string]any
	if f.contact != "" {
		c, err := storeContact(ctx, f.store, f.contact, f.dir)
		if err != nil {
			return err
		}
		to, values, who = c.Email, c.Values, fmt.Sprintf("contact %d in the store", c.ID)
	} else {
		if to, values, err = backend.SampleContact(prog); err != nil {
			return err
		}
		who = "sample contact"
	}

	props, err := triggerProps(f.trigger, e, name)
	if err != nil {
		return err
	}
	if len(props) > 0 {
		values = render.WithTrigger(values, props)
		var pairs []string
		for _, k := range slices.Sorted(maps.Keys(props)) {
			pairs = append(pairs, k+"="+fmt.Sprint(props[k]))
		}
		who += "; triggering event " + strings.Join(pairs, " ")
	}

	o := backend.PreviewOptions(prog, name)
	ownSender := backend.PreviewSender(&o, prog, name, values)

	// Files go where --out says, named from the working directory, or to
	// a new temporary directory, named in full.
	out, show := f.out, func(path string) string { return path }
	if out == "" {
		if out, err = os.MkdirTemp("", "nurture-preview-"); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		cwd, _ := os.Getwd()
		show = func(path string) string { return displayDir(cwd, path) }
	}
	type rendered struct {
		v     campaigns.SubjectVariant
		m     render.Message
		files []string
	}
	var done []rendered
	var d *delivery
	if len(f.sendTo) > 0 {
		df := deliveryFlags{sender: f.sender, maxBounce: "0", maxComplaint: "0"}
		if d, err = df.open(func(string) {}); err != nil {
			return err
		}
		defer d.close()
	}
	var sent []string
	for _, v := range variants {
		one := *e
		one.Subjects = []campaigns.SubjectVariant{v}
		m := render.Render(&one, values, to, o)
		env := render.Envelope(prog, e, m, o, "preview/"+name+"/"+v.Name, to, now)
		msg, err := mail.Compose(env)
		if err != nil {
			return fmt.Errorf("composing %s for %s: %w", name, to, err)
		}
		var eml bytes.Buffer
		if _, err := msg.WriteTo(&eml); err != nil {
			return err
		}
		r := rendered{v: v, m: m}
		for _, file := range []struct {
			ext  string
			data []byte
		}{{".html", []byte(m.HTML)}, {".txt", []byte(m.Text)}, {".eml", eml.Bytes()}} {
			path := filepath.Join(out, v.Name+file.ext)
			if err := os.WriteFile(path, file.data, 0o644); err != nil {
				return err
			}
			r.files = append(r.files, show(path))
		}
		done = append(done, r)
		for _, addr := range f.sendTo {
			pv := render.Envelope(prog, e, m, o, fmt.Sprintf("preview/%s/%s/%s/%d", name, v.Name, addr, now.UnixNano()), addr, now)
			pv.Subject = "[preview] " + pv.Subject
			var keep []string
			for _, u := range pv.ListUnsubscribe {
				if !strings.HasPrefix(u, "mailto:") {
					keep = append(keep, u)
				}
			}
			pv.ListUnsubscribe = keep
			if err := d.sender.Send(ctx, pv); err != nil {
				return fmt.Errorf("sending the preview of %s to %s: %w", name, addr, err)
			}
			sent = append(sent, fmt.Sprintf("%s (%s)", addr, v.Name))
		}
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "email\t%s (%s)\n", name, e.Kind)
	if ownSender {
		seq, step := backend.PreviewStep(prog, name)
		from := fmt.Sprintf("%s <%s>", o.FromName, o.From)
		if o.ReplyTo != "" {
			from += ", replies to " + o.ReplyTo
		}
		fmt.Fprintf(tw, "from\t%s (the sender of %s, step %s)\n", from, seq, step)
	}
	fmt.Fprintf(tw, "to\t%s (%s)\n", to, who)
	for _, r := range done {
		label := "subject"
		if len(e.Subjects) > 1 {
			label = fmt.Sprintf("subject %s (%d%%)", r.v.Name, r.v.Weight)
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, r.m.Subject)
	}
	preheader := done[0].m.Preheader
	if preheader == "" {
		preheader = "(none: inboxes show the first lines of the body)"
	}
	fmt.Fprintf(tw, "preheader\t%s\n", preheader)
	label := "links"
	for i, u := range done[0].m.Links {
		text := strings.Join(strings.Fields(e.Links[i].Text), " ")
		fmt.Fprintf(tw, "%s\t%d  %s → %s\n", label, i+1, text, u)
		label = ""
	}
	if label != "" {
		fmt.Fprintf(tw, "links\t(none)\n")
	}
	label = "files"
	for _, r := range done {
		fmt.Fprintf(tw, "%s\t%s\n", label, strings.Join(r.files, "  "))
		label = ""
	}
	if len(sent) > 0 {
		df := deliveryFlags{sender: f.sender}
		fmt.Fprintf(tw, "sent to\t%s via %s, subject prefixed [preview]; not in the ledger\n", strings.Join(sent, ", "), df.shown())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if f.open {
		return openFile(filepath.Join(out, done[0].v.Name+".html"))
	}
	return nil
}

// previewEmail finds the email --email names: a path in the programme as
// its sequences write it, or a file path to it from the working
// directory.
func previewEmail(p *campaigns.Program, dir, arg string) (string, error) {
	name := filepath.ToSlash(filepath.Clean(arg))
	if p.Emails[name] != nil {
		return name, nil
	}
	if rel, err := filepath.Rel(absPath(dir), absPath(arg)); err == nil && p.Emails[filepath.ToSlash(rel)] != nil {
		return filepath.ToSlash(rel), nil
	}
	sent := slices.Sorted(maps.Keys(p.Emails))
	if len(sent) == 0 {
		return "", fmt.Errorf("--email %s: the programme sends no email", arg)
	}
	slices.SortStableFunc(sent, func(a, b string) int { return compiler.EditDistance(name, a) - compiler.EditDistance(name, b) })
	return "", fmt.Errorf("--email %s: the programme sends no such email; the closest it sends:\n  %s",
		arg, strings.Join(sent[:min(3, len(sent))], "\n  "))
}

// storeContact reads one contact from the store, which must exist: a
// preview never creates one.
func storeContact(ctx context.Context, spec, email, dir string) (*runtime.Contact, error) {
	importHint := fmt.Sprintf("import it with nurture contacts import FILE --dir %s, or preview for a sample contact with --sample", dir)
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok && path != "" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no contact %s: there is no store at %s; %s", email, path, importHint)
		}
	}
	st, err := openStore(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	c, err := st.Contact(ctx, email)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("no contact %s in the store %s: %s", email, spec, importHint)
	}
	if c.Values == nil {
		c.Values = map[string]any{}
	}
	c.Values[campaigns.AttrEmail] = c.Email
	return c, nil
}

// openFile opens path with the desktop's opener, which hands it to the
// browser and returns.
func openFile(path string) error {
	for _, opener := range []string{"xdg-open", "open"} {
		bin, err := exec.LookPath(opener)
		if err != nil {
			continue
		}
		if out, err := exec.Command(bin, path).CombinedOutput(); err != nil {
			msg := strings.TrimSpace(string(out))
			if msg == "" {
				msg = err.Error()
			}
			return fmt.Errorf("--open: %s %s: %s; open it in a browser", opener, path, msg)
		}
		return nil
	}
	return fmt.Errorf("--open: neither xdg-open nor open is on the PATH; open %s in a browser", path)
}

// triggerProps reads --trigger PROP=VALUE pairs for email e (name): each
// must name a property the email merges as {{ trigger.PROP }}.
func triggerProps(pairs []string, e *campaigns.Email, name string) (map[string]any, error) {
	var reads []string
	for _, f := range e.Fields {
		if p, ok := strings.CutPrefix(f, campaigns.TriggerPrefix); ok {
			reads = append(reads, p)
		}
	}
	props := map[string]any{}
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		switch {
		case !ok || k == "":
			return nil, fmt.Errorf("--trigger %q: want PROP=VALUE, such as --trigger title='Modern BI in 2026'", kv)
		case len(reads) == 0:
			return nil, fmt.Errorf("--trigger %s: %s merges no property of a triggering event", k, name)
		case !slices.Contains(reads, k):
			return nil, fmt.Errorf("--trigger %s: %s merges no {{ trigger.%s }}; it reads %s", k, name, k, strings.Join(reads, ", "))
		}
		props[k] = v
	}
	return props, nil
}
