package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	smtp "github.com/emersion/go-smtp"
	"github.com/spf13/cobra"
)

func newMailbox() *cobra.Command {
	var listen, dir string
	cmd := &cobra.Command{
		Use:   "mailbox",
		Short: "A local SMTP server that keeps what it gets: to watch a programme's mail",
		Example: `  nurture mailbox --dir mailbox
  # in another terminal
  nurture tick --sender 'smtp://127.0.0.1:2525?tls=none'`,
		Long: `Mailbox listens for SMTP on a loopback address and writes every message
it receives to --dir as an .eml file, printing a line for each. Point a
tick at it to see a programme's email as recipients would, headers and
all, without sending any:

  nurture mailbox &
  nurture tick --sender 'smtp://127.0.0.1:2525?tls=none'

It is for development: no TLS, no authentication, loopback only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMailbox(cmd.Context(), cmd.OutOrStdout(), listen, dir)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:2525", "the loopback address to listen on")
	cmd.Flags().StringVar(&dir, "dir", "mailbox", "where to write the messages")
	return cmd
}

func runMailbox(ctx context.Context, stdout io.Writer, listen, dir string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT, as in 127.0.0.1:2525", listen)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--listen %s: the mailbox takes mail from anyone who can reach it; listen on a loopback address such as 127.0.0.1", listen)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", listen, err)
	}
	box := &localBox{dir: dir, out: stdout}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &boxSession{box: box}, nil }))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 25 << 20
	fmt.Fprintf(stdout, "Mailbox listening on smtp://%s, writing to %s/ (Ctrl-C stops it)\n", ln.Addr(), dir)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		srv.Close()
		<-done
		fmt.Fprintf(stdout, "Mailbox stopped: %d messages in %s/\n", box.n.Load(), dir)
		return nil
	case err := <-done:
		return err
	}
}

type localBox struct {
	dir string
	out io.Writer
	mu  sync.Mutex
	n   atomic.Int64
}

type boxSession struct {
	box  *localBox
	from string
	to   []string
}

func (s *boxSession) Reset()        { s.from, s.to = "", nil }
func (s *boxSession) Logout() error { return nil }
func (s *boxSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *boxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *boxSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	n := s.box.n.Add(1)
	name := fmt.Sprintf("%05d-%s.eml", n, safeName(strings.Join(s.to, ",")))
	if err := os.WriteFile(filepath.Join(s.box.dir, name), raw, 0o644); err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store the message: " + err.Error()}
	}
	subject := ""
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		subject, _ = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	}
	s.box.mu.Lock()
	fmt.Fprintf(s.box.out, "%s  to %s  %q\n", name, strings.Join(s.to, ", "), subject)
	s.box.mu.Unlock()
	return nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '@':
			return r
		}
		return '_'
	}, s)
}
