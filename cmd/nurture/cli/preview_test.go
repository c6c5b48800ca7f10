package cli

import (
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// previewProgramme is a copy of the base programme whose welcome email
// tests two subject lines, one of them not ASCII.
func previewProgramme(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "prog")
	if err := copyTree("testdata/base", dir); err != nil {
		t.Fatal(err)
	}
	hello := `---
subject: Welcome to Acme, {{ first_name | default "there" }}
weight: 50
variants:
  b: {subject: "Café time, {{ first_name | default \"friend\" }} — let’s start", weight: 50}
preheader: Your first dashboard takes five minutes
---
Hi {{ first_name | default "there" }},

Welcome to Acme. [Build your first dashboard](https://acme.example/start) or
write to <help@acme.example>.
`
	if err := os.WriteFile(filepath.Join(dir, "emails", "welcome", "hello.md"), []byte(hello), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPreview previews an A/B email for the sample contact, for one
// variant, and for a contact of a real SQLite store, and reads each
// written .eml back as a mail client would.
func TestPreview(t *testing.T) {
	prog := previewProgramme(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	store := "sqlite:" + seedStore(t, now)

	t.Run("sample", func(t *testing.T) {
		out := t.TempDir()
		stdout, stderr, code := run(t, "preview", prog, "--email", "emails/welcome/hello.md", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if files := dirFiles(t, out); !slices.Equal(files, []string{"a.eml", "a.html", "a.txt", "b.eml", "b.html", "b.txt"}) {
			t.Errorf("files written: %v", files)
		}
		for _, want := range []string{
			"email            emails/welcome/hello.md (marketing)\n",
			" (sample contact)\n",
			"subject a (50%)  Welcome to Acme, ",
			"subject b (50%)  Café time, ",
			"preheader        Your first dashboard takes five minutes\n",
			"links            1  Build your first dashboard → https://acme.example/start?utm_campaign=welcome&utm_content=hello&utm_medium=email&utm_source=nurture\n",
			"                 2  help@acme.example → mailto:help@acme.example\n",
			"files            " + filepath.Join(out, "a.html") + "  " + filepath.Join(out, "a.txt") + "  " + filepath.Join(out, "a.eml") + "\n",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
		again, _, _ := run(t, "preview", prog, "--email", "emails/welcome/hello.md", "--out", out)
		if again != stdout {
			t.Errorf("the sample contact differs from one run to the next:\n%s\n%s", stdout, again)
		}
		to := between(stdout, "to               ", " (sample contact)")
		m := readEML(t, filepath.Join(out, "b.eml"))
		checkMessage(t, m, "<"+to+">", "Café time, ", "— let’s start")
		html, _ := os.ReadFile(filepath.Join(out, "b.html"))
		// The message's lines end in CRLF, as mail's do.
		if strings.ReplaceAll(m.html, "\r\n", "\n") != string(html) {
			t.Errorf("b.html is not the HTML part of b.eml")
		}
	})

	t.Run("variant", func(t *testing.T) {
		out := t.TempDir()
		stdout, stderr, code := run(t, "preview", prog, "--email", "emails/welcome/hello.md", "--variant", "b", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if files := dirFiles(t, out); !slices.Equal(files, []string{"b.eml", "b.html", "b.txt"}) {
			t.Errorf("files written: %v", files)
		}
		if strings.Contains(stdout, "subject a") || !strings.Contains(stdout, "subject b (50%)") {
			t.Errorf("stdout:\n%s", stdout)
		}
		_, stderr, code = run(t, "preview", prog, "--email", "emails/welcome/hello.md", "--variant", "c", "--out", out)
		if code != 1 || stderr != "nurture: --variant c: emails/welcome/hello.md has no such subject variant; its variants: a, b\n" {
			t.Errorf("unknown variant: exit %d, stderr %q", code, stderr)
		}
	})

	t.Run("contact", func(t *testing.T) {
		out := t.TempDir()
		// The email given as a file path from the working directory.
		email := filepath.Join(prog, "emails", "welcome", "hello.md")
		stdout, stderr, code := run(t, "preview", prog, "--email", email, "--contact", "Ann@acme.example", "--store", store, "--out", out)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if !strings.Contains(stdout, "to               ann@acme.example (contact 1 in the store)\n") ||
			!strings.Contains(stdout, "subject a (50%)  Welcome to Acme, Ann\n") ||
			!strings.Contains(stdout, "subject b (50%)  Café time, Ann — let’s start\n") {
			t.Errorf("stdout:\n%s", stdout)
		}
		m := readEML(t, filepath.Join(out, "a.eml"))
		checkMessage(t, m, "<ann@acme.example>", "Welcome to Acme, Ann", "")
		if !strings.Contains(m.text, "Hi Ann,") || !strings.Contains(m.html, "Hi Ann,</p>") {
			t.Errorf("the parts are not Ann's:\n%s\n%s", m.text, m.html)
		}

		_, stderr, code = run(t, "preview", prog, "--email", "emails/welcome/hello.md", "--contact", "zed@acme.example", "--store", store, "--out", out)
		if code != 1 || !strings.Contains(stderr, "no contact zed@acme.example in the store "+store) || !strings.Contains(stderr, "nurture contacts import") {
			t.Errorf("a contact not in the store: exit %d, stderr %q", code, stderr)
		}
		missing := "sqlite:" + filepath.Join(t.TempDir(), "none.db")
		_, stderr, code = run(t, "preview", prog, "--email", "emails/welcome/hello.md", "--contact", "ann@acme.example", "--store", missing)
		if code != 1 || !strings.Contains(stderr, "no contact ann@acme.example: there is no store at ") {
			t.Errorf("no store: exit %d, stderr %q", code, stderr)
		}
		if _, err := os.Stat(strings.TrimPrefix(missing, "sqlite:")); err == nil {
			t.Errorf("the preview created a store")
		}
	})

	t.Run("bad path", func(t *testing.T) {
		_, stderr, code := run(t, "preview", prog, "--email", "emails/welcome/helo.md")
		want := "nurture: --email emails/welcome/helo.md: the programme sends no such email; the closest it sends:\n  emails/welcome/hello.md\n  emails/welcome/guide.md\n"
		if code != 1 || stderr != want {
			t.Errorf("exit %d, stderr:\n%s\nwant\n%s", code, stderr, want)
		}
		_, stderr, code = run(t, "preview", prog)
		if code != 1 || !strings.Contains(stderr, "name the email to preview with --email") {
			t.Errorf("no --email: exit %d, stderr %q", code, stderr)
		}
		_, stderr, code = run(t, "preview", prog, "--email", "emails/welcome/hello.md", "--sample", "--contact", "ann@acme.example")
		if code != 1 || !strings.Contains(stderr, "--contact and --sample") {
			t.Errorf("--contact with --sample: exit %d, stderr %q", code, stderr)
		}
	})
}

// TestPreviewOpen opens the HTML with the opener on the PATH, and says
// what to do when there is none.
func TestPreviewOpen(t *testing.T) {
	bin := t.TempDir()
	args := filepath.Join(t.TempDir(), "args")
	script := "#!/bin/sh\necho \"$@\" > " + args + "\n"
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	out := t.TempDir()
	_, stderr, code := run(t, "preview", "testdata/base", "--email", "emails/welcome/hello.md", "--out", out, "--open")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	got, err := os.ReadFile(args)
	if want := filepath.Join(out, "a.html") + "\n"; err != nil || string(got) != want {
		t.Errorf("xdg-open got %q (%v), want %q", got, err, want)
	}

	t.Setenv("PATH", t.TempDir())
	stdout, stderr, code := run(t, "preview", "testdata/base", "--email", "emails/welcome/hello.md", "--out", out, "--open")
	want := "nurture: --open: neither xdg-open nor open is on the PATH; open " + filepath.Join(out, "a.html") + " in a browser\n"
	if code != 1 || stderr != want || !strings.Contains(stdout, "a.html") {
		t.Errorf("no opener: exit %d, stderr %q, want %q; stdout:\n%s", code, stderr, want, stdout)
	}
}

type message struct {
	header     mail.Header
	text, html string
}

// readEML parses an .eml file into its headers and its text and HTML
// parts, decoded.
func readEML(t *testing.T, path string) message {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("%s: Content-Type %q: %v", path, m.Header.Get("Content-Type"), err)
	}
	out := message{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, err := io.ReadAll(p) // multipart decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			out.text = string(body)
		case "text/html":
			out.html = string(body)
		default:
			t.Errorf("%s: unexpected part %s", path, ct)
		}
	}
	return out
}

// checkMessage checks what every preview of the welcome email carries:
// the headers of bulk mail with a one-click unsubscribe to the preview
// address, a Message-ID, the subject (encoded when it is not ASCII), and
// both parts with real, untracked links.
func checkMessage(t *testing.T, m message, to, subjectStart, subjectEnd string) {
	t.Helper()
	h := m.header
	for name, want := range map[string]string{
		"List-Unsubscribe":      "<https://go.acme.example/u/preview>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"Precedence":            "bulk",
		"From":                  `"Acme Analytics" <hello@acme.example>`,
		"To":                    to,
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@acme.example>") {
		t.Errorf("Message-Id %q", id)
	}
	raw := h.Get("Subject")
	subject, err := new(mime.WordDecoder).DecodeHeader(raw)
	if err != nil {
		t.Fatalf("subject %q: %v", raw, err)
	}
	if !strings.HasPrefix(subject, subjectStart) || !strings.HasSuffix(subject, subjectEnd) {
		t.Errorf("subject %q, want %q…%q", subject, subjectStart, subjectEnd)
	}
	ascii := strings.IndexFunc(subject, func(r rune) bool { return r > 127 }) < 0
	if encoded := strings.Contains(raw, "=?UTF-8?"); encoded == ascii {
		t.Errorf("raw subject %q: RFC 2047 encoded = %v for a subject that is ASCII = %v", raw, encoded, ascii)
	}
	link := "https://acme.example/start?utm_campaign=welcome&utm_content=hello&utm_medium=email&utm_source=nurture"
	if !strings.Contains(m.text, "Build your first dashboard ("+link+")") || !strings.Contains(m.text, "Unsubscribe: https://go.acme.example/u/preview") {
		t.Errorf("text part:\n%s", m.text)
	}
	for _, want := range []string{`<html lang="en">`, `href="` + strings.ReplaceAll(link, "&", "&amp;") + `"`, `href="https://go.acme.example/u/preview"`,
		`href="https://go.acme.example/p/preview"`, "Your first dashboard takes five minutes&#847;"} {
		if !strings.Contains(m.html, want) {
			t.Errorf("HTML part lacks %s:\n%s", want, m.html)
		}
	}
}

func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func between(s, start, end string) string {
	_, after, _ := strings.Cut(s, start)
	before, _, _ := strings.Cut(after, end)
	return before
}

// preview --send-to sends each rendered variant to the addresses through
// the mail server, "[preview]" before the subject, and never opens the
// store: the ledger cannot hold what it sent.
func TestPreviewSendTo(t *testing.T) {
	prog := previewProgramme(t)
	peer := startSlowPeer(t, 0)
	dir := t.TempDir()
	store := filepath.Join(dir, "nurture.db")
	stdout, stderr, code := run(t, "preview", prog, "--email", "emails/welcome/hello.md", "--out", filepath.Join(dir, "out"),
		"--store", "sqlite:"+store, "--send-to", "me@acme.example, seed@acme.example", "--sender", "smtp://"+peer.Addr+"?tls=none")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	want := "sent to          me@acme.example (a), seed@acme.example (a), me@acme.example (b), seed@acme.example (b) via smtp://" + peer.Addr
	if !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, stdout)
	}
	peer.mu.Lock()
	var got []string
	for mid, to := range peer.to {
		got = append(got, to+" "+peer.subject[mid])
	}
	peer.mu.Unlock()
	slices.Sort(got)
	if len(got) != 4 {
		t.Fatalf("the server got %d messages; want 2 variants to 2 addresses: %v", len(got), got)
	}
	for i, w := range []string{"me@acme.example [preview] Café time, ", "me@acme.example [preview] Welcome to Acme, ", "seed@acme.example [preview] Café time, ", "seed@acme.example [preview] Welcome to Acme, "} {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("message %d: %q; want it to start %q", i, got[i], w)
		}
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("the preview created or opened the store %s: %v", store, err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--send-to", "me@acme.example", "--sender", ""}, "--send-to needs a mail server"},
		{[]string{"--send-to", "not-an-address", "--sender", "smtp://" + peer.Addr + "?tls=none"}, `--send-to "not-an-address": want plain email addresses`},
		{[]string{"--send-to", "me@acme.example", "--sender", "smtp://127.0.0.1:1?tls=none&retries=1"}, "sending the preview of emails/welcome/hello.md to me@acme.example"},
	} {
		args := append([]string{"preview", prog, "--email", "emails/welcome/hello.md", "--out", filepath.Join(dir, "out2")}, c.args...)
		_, stderr, code := run(t, args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("preview %v: exit %d, stderr %q; want %q", c.args, code, stderr, c.want)
		}
	}
}
