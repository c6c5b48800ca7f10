package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"
	"golang.org/x/time/rate"
)

// SMTP delivers messages to one SMTP server over a pool of connections,
// each dialled when first needed and kept for the messages after. Send is
// safe for concurrent use; Concurrency is how many Sends can be on the
// wire at once.
//
// The transaction is driven with go-mail's smtp package rather than its
// Client: go-mail's Client reports a failed write of the final "." and a
// lost reply to it as the same error, and those two must be told apart
// (the first was never accepted, the second may have been).
type SMTP struct {
	cfg       SMTPConfig
	addr      string
	helo      string
	tlsConfig *tls.Config
	free      chan struct{} // a token per connection not in use
	mu        sync.Mutex
	idle      []*smtpConn // not in use: open ones last, so they are reused first
	closed    chan struct{}
	closeOnce sync.Once
	global    *rate.Limiter            // nil: unlimited
	domains   map[string]*rate.Limiter // by recipient domain

	// Time and chance, injected so that tests can hold them still.
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	jitter     func(n int64) int64 // uniform in [0, n)
	backoff    time.Duration       // the first retry waits up to this
	maxBackoff time.Duration
}

var errSMTPClosed = errors.New("the SMTP sender is closed")

// NewSMTP checks cfg and makes a sender; it connects to nothing until the
// first Send. Zero Pool, Timeout, Retries and TLS take the defaults.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Pool == 0 {
		cfg.Pool = DefaultPool
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	switch {
	case cfg.Host == "":
		return nil, errors.New("smtp: no host")
	case cfg.Port < 1 || cfg.Port > 65535:
		return nil, fmt.Errorf("smtp: port %d: want 1 to 65535", cfg.Port)
	case cfg.TLS != TLSStartTLS && cfg.TLS != TLSImplicit && cfg.TLS != TLSNone:
		return nil, fmt.Errorf("smtp: tls %q: want %s, %s or %s", cfg.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	case cfg.Pool < 1 || cfg.Pool > maxPool:
		return nil, fmt.Errorf("smtp: pool %d: want 1 to %d connections", cfg.Pool, maxPool)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("smtp: timeout %s: want a positive duration", cfg.Timeout)
	case cfg.Retries < 1:
		return nil, fmt.Errorf("smtp: retries %d: want 1 attempt or more", cfg.Retries)
	case cfg.Rate < 0:
		return nil, fmt.Errorf("smtp: rate %g: want 0 (unlimited) or more messages per second", cfg.Rate)
	case (cfg.Username == "") != (cfg.Password == ""):
		return nil, fmt.Errorf("smtp: give both a user name and a password (%s), or neither", EnvSMTPPassword)
	case cfg.Username != "" && cfg.TLS == TLSNone && !isLoopback(cfg.Host):
		return nil, fmt.Errorf("smtp: tls=none with a password would send it in the clear to %s: use tls=starttls or tls=tls", cfg.Host)
	}
	s := &SMTP{
		cfg:  cfg,
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		helo: cfg.HELO,
		tlsConfig: &tls.Config{
			ServerName:         cfg.Host,
			InsecureSkipVerify: cfg.InsecureSkipVerify,
			MinVersion:         tls.VersionTLS12,
		},
		free:       make(chan struct{}, cfg.Pool),
		closed:     make(chan struct{}),
		domains:    map[string]*rate.Limiter{},
		now:        time.Now,
		sleep:      sleepCtx,
		jitter:     rand.Int64N,
		backoff:    500 * time.Millisecond,
		maxBackoff: 10 * time.Second,
	}
	if s.helo == "" {
		s.helo = "localhost"
		if h, err := os.Hostname(); err == nil && h != "" {
			s.helo = h
		}
	}
	for range cfg.Pool {
		s.free <- struct{}{}
		s.idle = append(s.idle, &smtpConn{})
	}
	// A burst of 1: the rate is a steady pace, not an allowance to spend
	// at once.
	if cfg.Rate > 0 {
		s.global = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	for d, r := range cfg.DomainRates {
		if !(r > 0) {
			return nil, fmt.Errorf("smtp: domain rate for %s: %g: want more than 0 messages per second", d, r)
		}
		s.domains[strings.ToLower(d)] = rate.NewLimiter(rate.Limit(r), 1)
	}
	return s, nil
}

// Concurrency is the number of connections: the number of Sends worth
// running at once.
func (s *SMTP) Concurrency() int { return s.cfg.Pool }

// Server names the server, as errors and logs show it.
func (s *SMTP) Server() string { return s.addr }

// GatesLate says that Send asks the Outgoing's Gate itself, at the last
// moment before the message is handed over.
func (s *SMTP) GatesLate() {}

// Close waits for the Sends in flight, says QUIT on each open connection
// and closes it. A Send after Close fails as Temporary. Close reports no
// error: a connection that cannot say goodbye is closed all the same.
func (s *SMTP) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		// Holding every token, Close has the connections to itself.
		for range s.cfg.Pool {
			<-s.free
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, sc := range s.idle {
			if sc.client != nil {
				sc.arm(context.Background(), s.cfg.Timeout)
				_ = sc.client.Quit()
			}
			sc.close()
		}
	})
	return nil
}

// Send hands o to the server. The error, if any, is a *SendError whose
// Kind says what became of the message (see KindOf), or, when o cannot
// be made into a message at all, a plain error.
//
// The server's deferrals (4xx) and failures to reach it are retried here,
// up to Retries attempts with exponential backoff and full jitter; a
// connection lost after the message was handed over is never retried.
func (s *SMTP) Send(ctx context.Context, o *Outgoing) error {
	m, err := Compose(o)
	if err != nil {
		return err
	}
	from, err := m.GetSender(false)
	if err != nil {
		return fmt.Errorf("from %q: %w", o.From, err)
	}
	rcpts, err := m.GetRecipients()
	if err != nil {
		return fmt.Errorf("to %q: %w", o.To, err)
	}
	if len(rcpts) != 1 {
		return fmt.Errorf("to %q: want one recipient, not %d", o.To, len(rcpts))
	}
	to := rcpts[0]
	// Written once: every attempt sends the same bytes, and the DKIM
	// signature covers exactly them.
	data, err := messageBytes(m, s.cfg.DKIM)
	if err != nil {
		return err
	}
	perDomain := s.domains[domainOf(to)]
	for attempt := 1; ; attempt++ {
		if err := s.wait(ctx, perDomain); err != nil {
			return &SendError{Kind: Temporary, Err: fmt.Errorf("waiting for domain_rate: %w", err)}
		}
		if err := s.wait(ctx, s.global); err != nil {
			return &SendError{Kind: Temporary, Err: fmt.Errorf("waiting for rate: %w", err)}
		}
		se := s.attempt(ctx, from, to, data, o)
		if se == nil {
			return nil
		}
		if attempt > 1 {
			se.Err = fmt.Errorf("attempt %d of %d: %w", attempt, s.cfg.Retries, se.Err)
		}
		if se.Kind != Temporary || attempt >= s.cfg.Retries || ctx.Err() != nil {
			return se
		}
		if err := s.sleep(ctx, s.backoffFor(attempt)); err != nil {
			return se
		}
	}
}

// backoffFor is the wait after the given failed attempt: anywhere up to
// backoff·2^(attempt-1), capped ("full jitter", so that connections
// refused together do not come back together).
func (s *SMTP) backoffFor(attempt int) time.Duration {
	ceil := s.maxBackoff
	if attempt <= 30 {
		if d := s.backoff << (attempt - 1); d > 0 && d < ceil {
			ceil = d
		}
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(s.jitter(int64(ceil)))
}

// wait takes one message's place under lim, sleeping until it is due.
func (s *SMTP) wait(ctx context.Context, lim *rate.Limiter) error {
	if lim == nil {
		return nil
	}
	now := s.now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		if err := s.sleep(ctx, d); err != nil {
			r.CancelAt(s.now())
			return err
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The steps of one attempt, as the errors name them.
const (
	stepConnect = "connecting"
	stepMail    = "MAIL FROM"
	stepRcpt    = "RCPT TO"
	stepData    = "DATA"
	stepBody    = "sending the message"
	stepReply   = "awaiting the reply to the message"
)

// attempt makes one try over one connection of the pool.
func (s *SMTP) attempt(ctx context.Context, from, to string, data []byte, o *Outgoing) *SendError {
	sc, err := s.take(ctx)
	if err != nil {
		return &SendError{Kind: Temporary, Err: fmt.Errorf("smtp %s: %w", s.addr, err)}
	}
	defer s.put(sc)
	// Cancelling ctx cuts every wait short. If it fired at all, the
	// connection is left in an unknown state: drop it. A cancellation
	// that comes too late for this attempt must not cut the next one
	// short: turn tells them apart.
	turn := sc.begin()
	stop := context.AfterFunc(ctx, func() { sc.interrupt(turn) })
	defer func() {
		sc.end()
		if !stop() {
			sc.close()
		}
	}()
	for {
		fresh := sc.client == nil
		if fresh {
			if err := s.dial(ctx, sc); err != nil {
				return s.failed(ctx, sc, stepConnect, err)
			}
		}
		step, err := s.transact(ctx, sc, from, to, data, o)
		if err == nil {
			return nil
		}
		var wh *Withheld
		if errors.As(err, &wh) {
			// The server waits for the body: only closing the connection
			// ends the transaction without handing the message over.
			sc.close()
			return &SendError{Kind: KindWithheld, Err: wh}
		}
		// A connection that sat in the pool may have been closed by the
		// server meanwhile (silently, or saying 421 as Postfix does on
		// its idle timeout); its first command finds out, before
		// anything was handed over. Dial again at once: that is no
		// failed attempt.
		if !fresh && step == stepMail && (!isReply(err) || replyCode(err) == 421) && ctx.Err() == nil {
			sc.close()
			continue
		}
		return s.failed(ctx, sc, step, err)
	}
}

// take waits for a connection not in use, preferring an open one.
func (s *SMTP) take(ctx context.Context) (*smtpConn, error) {
	select {
	case <-s.closed:
		return nil, errSMTPClosed
	default:
	}
	select {
	case <-s.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closed:
		return nil, errSMTPClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.idle[len(s.idle)-1]
	s.idle = s.idle[:len(s.idle)-1]
	return sc, nil
}

func (s *SMTP) put(sc *smtpConn) {
	s.mu.Lock()
	if sc.client != nil {
		s.idle = append(s.idle, sc)
	} else {
		s.idle = append([]*smtpConn{sc}, s.idle...)
	}
	s.mu.Unlock()
	s.free <- struct{}{}
}

// transact runs one mail transaction on an open connection. It returns
// the step it failed at.
func (s *SMTP) transact(ctx context.Context, sc *smtpConn, from, to string, data []byte, o *Outgoing) (string, error) {
	c, t := sc.client, s.cfg.Timeout
	if err := sc.arm(ctx, t); err != nil {
		return stepMail, err
	}
	if err := c.Mail(from); err != nil {
		return stepMail, err
	}
	if err := sc.arm(ctx, t); err != nil {
		return stepRcpt, err
	}
	if err := c.Rcpt(to); err != nil {
		return stepRcpt, err
	}
	// DATA, the message and the reply by hand: smtp.DataCloser.Close
	// ignores a failed write of the final "." and reports only the reply.
	if err := sc.arm(ctx, t); err != nil {
		return stepData, err
	}
	id, err := c.Text.Cmd("DATA")
	if err != nil {
		return stepData, err
	}
	c.Text.StartResponse(id)
	_, _, err = c.Text.ReadResponse(354)
	c.Text.EndResponse(id)
	if err != nil {
		return stepData, err
	}
	// The last moment before the message is handed over: the body and
	// its final "." follow without waiting for the server.
	if err := o.gate(ctx); err != nil {
		return stepData, err
	}
	if err := sc.arm(ctx, t); err != nil {
		return stepBody, err
	}
	w := c.Text.DotWriter()
	if _, err := w.Write(data); err != nil {
		return stepBody, err
	}
	// Close writes the final "." and flushes. Until it returns without
	// error the server cannot have taken the message; after, it may have.
	if err := w.Close(); err != nil {
		return stepBody, err
	}
	if err := sc.arm(ctx, t); err != nil {
		return stepReply, err
	}
	if _, _, err := c.Text.ReadResponse(2); err != nil {
		return stepReply, err
	}
	// A completed transaction leaves the session ready for the next MAIL
	// (RFC 5321 4.1.1.4): no RSET needed.
	return "", nil
}

// dial opens sc's connection: TCP, TLS, greeting, EHLO, STARTTLS, AUTH.
func (s *SMTP) dial(ctx context.Context, sc *smtpConn) error {
	t := s.cfg.Timeout
	d := net.Dialer{Timeout: t}
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	sc.setRaw(raw)
	conn := raw
	if err := sc.arm(ctx, t); err != nil {
		sc.close()
		return err
	}
	if s.cfg.TLS == TLSImplicit {
		tc := tls.Client(raw, s.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			sc.close()
			return err
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		sc.close()
		return err
	}
	sc.client = c
	fail := func(err error) error {
		sc.close()
		return err
	}
	if err := sc.arm(ctx, t); err != nil {
		return fail(err)
	}
	if err := c.Hello(s.helo); err != nil {
		return fail(err)
	}
	if s.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail(configError("the server does not offer STARTTLS; use smtps:// if it speaks TLS from the start, or tls=none for a relay on a trusted network"))
		}
		if err := sc.arm(ctx, t); err != nil {
			return fail(err)
		}
		if err := c.StartTLS(s.tlsConfig); err != nil {
			return fail(err)
		}
	}
	if s.cfg.Username != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return fail(configError("the server offers no AUTH: leave out the user name, or check the port (587 is for submission with a password)"))
		}
		// The password goes in the clear only to this machine (NewSMTP
		// refuses tls=none otherwise); PLAIN and LOGIN check the same.
		clear := isLoopback(s.cfg.Host)
		var auth smtp.Auth
		switch list := strings.Fields(strings.ToUpper(mechs)); {
		case slices.Contains(list, "PLAIN"):
			auth = smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host, clear)
		case slices.Contains(list, "LOGIN"):
			auth = smtp.LoginAuth(s.cfg.Username, s.cfg.Password, s.cfg.Host, clear)
		default:
			return fail(configError(fmt.Sprintf("the server offers AUTH %s; nurture logs in with PLAIN or LOGIN", mechs)))
		}
		if err := sc.arm(ctx, t); err != nil {
			return fail(err)
		}
		if err := c.Auth(auth); err != nil {
			return fail(err)
		}
	}
	return nil
}

// failed turns err at step into a SendError and leaves sc fit for the
// next message, or closed.
func (s *SMTP) failed(ctx context.Context, sc *smtpConn, step string, err error) *SendError {
	se := classify(step, err)
	var ne net.Error
	var te *textproto.Error
	switch {
	case errors.As(err, &te):
		err = serverReply{te}
	case ctx.Err() != nil:
		err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	case errors.As(err, &ne) && ne.Timeout():
		err = fmt.Errorf("no answer within %s (timeout=): %w", s.cfg.Timeout, err)
	}
	what := step
	switch {
	case se.Kind == Unknown:
		what += " (the connection was lost after the whole message was handed over and before the server said whether it took it; it may have been delivered, so it is not sent again)"
	case step == stepConnect && se.Kind == Permanent && se.Code == 0:
		var cv *tls.CertificateVerificationError
		var rh tls.RecordHeaderError
		switch {
		case errors.As(err, &cv):
			what += " (the server's certificate is not trusted here; insecure=true accepts it, for a test server only)"
		case errors.As(err, &rh):
			what += " (the server does not speak TLS from the start: use smtp:// with tls=starttls)"
		}
	}
	se.Err = fmt.Errorf("smtp %s: %s: %w", s.addr, what, err)
	se.Connect = step == stepConnect && ctx.Err() == nil

	// A refused MAIL, RCPT or DATA leaves a session that RSET makes
	// fit again, and a refused message a session already fit; anything
	// else, and 421 (the server is closing), ends the connection.
	reply := isReply(err) && se.Code != 421
	switch {
	case reply && (step == stepMail || step == stepRcpt || step == stepData):
		if sc.arm(ctx, s.cfg.Timeout) != nil || sc.client.Reset() != nil {
			sc.close()
		}
	case reply && step == stepReply:
	default:
		sc.close()
	}
	return se
}

// classify is what a failure at step means for the message.
func classify(step string, err error) *SendError {
	var te *textproto.Error
	if errors.As(err, &te) {
		se := &SendError{Code: te.Code, Enhanced: enhancedCode(te.Msg)}
		switch te.Code / 100 {
		case 4:
			se.Kind = Temporary
		case 5:
			se.Kind = Permanent
			se.Recipient = step == stepRcpt && recipientFault(se.Code, se.Enhanced)
			// Refused at the greeting or the login: our setup, not the
			// message.
			se.Setup = step == stepConnect
		default:
			// A reply that makes no sense here: the session is confused.
			se.Kind = Temporary
			if step == stepReply {
				se.Kind = Unknown
			}
		}
		return se
	}
	switch {
	case step == stepReply:
		// The whole message, final "." included, went out; the reply did
		// not come back.
		return &SendError{Kind: Unknown}
	case step == stepConnect && isConfigError(err):
		return &SendError{Kind: Permanent, Setup: true}
	}
	// Not reached, refused at connect, lost or timed out before the
	// message was whole: the server cannot have taken it.
	return &SendError{Kind: Temporary}
}

// recipientFault is whether a 5xx reply to RCPT TO is about the address
// itself, a hard bounce, rather than about us or our message: a relay
// refusing us ("554 5.7.1 Relay access denied") or a blocklisted IP
// answers at RCPT TO too, and taking those for bounces would suppress
// good addresses wholesale. With an enhanced code: X.1.x (bad address,
// bar 5.1.7 and 5.1.8 which are about the sender) and 5.2.1 (mailbox
// disabled). Without one, or with the uninformative X.0.x: 550, 551 or
// 553.
func recipientFault(code int, enhanced string) bool {
	if enhanced != "" && !strings.HasPrefix(enhanced[1:], ".0.") {
		switch {
		case enhanced == "5.1.7", enhanced == "5.1.8":
			return false
		case strings.HasPrefix(enhanced, "5.1."), enhanced == "5.2.1":
			return true
		}
		return false
	}
	return code == 550 || code == 551 || code == 553
}

// enhancedCode is the RFC 3463 status code at the start of a reply's
// text ("5.1.1 no such user"), or "".
func enhancedCode(msg string) string {
	f, _, _ := strings.Cut(msg, " ")
	parts := strings.Split(f, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return ""
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || len(p) > 3 {
			return ""
		}
	}
	return f
}

func isReply(err error) bool { return replyCode(err) != 0 }

// replyCode is the server's reply code carried by err, or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// serverReply shows a reply as the server wrote it (textproto quotes
// it), on one line.
type serverReply struct{ te *textproto.Error }

func (r serverReply) Error() string {
	msg := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, r.te.Msg)
	return fmt.Sprintf("%d %s", r.te.Code, msg)
}

func (r serverReply) Unwrap() error { return r.te }

// configError is a failure to connect that no retry will mend: the server
// and our settings do not fit.
type configError string

func (e configError) Error() string { return string(e) }

func isConfigError(err error) bool {
	var ce configError
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &ce):
		return true
	case errors.As(err, &cv):
		return true
	case errors.As(err, &rh):
		return true
	}
	return false
}

// domainOf is the lower-case domain of addr, as go-mail gives it
// ("<lead@example.com>").
func domainOf(addr string) string {
	addr = strings.TrimSuffix(addr, ">")
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

// smtpConn is one connection of the pool; client is nil until dialled.
type smtpConn struct {
	mu     sync.Mutex // guards raw and turn against interrupt
	raw    net.Conn   // the TCP connection, under any TLS: deadlines set here hold for both
	turn   uint64     // counts the attempts that used the connection
	client *smtp.Client
}

// begin starts an attempt on sc and returns its turn.
func (sc *smtpConn) begin() uint64 {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.turn++
	return sc.turn
}

// end ends the attempt: interrupts meant for it no longer reach sc.
func (sc *smtpConn) end() {
	sc.mu.Lock()
	sc.turn++
	sc.mu.Unlock()
}

func (sc *smtpConn) setRaw(c net.Conn) {
	sc.mu.Lock()
	sc.raw = c
	sc.mu.Unlock()
}

// arm gives the next exchange timeout to finish, or less if ctx ends
// sooner. The deadline is set before ctx is looked at, so a cancellation
// racing with it either is seen here or resets the deadline after.
func (sc *smtpConn) arm(ctx context.Context, timeout time.Duration) error {
	sc.mu.Lock()
	raw := sc.raw
	sc.mu.Unlock()
	if raw == nil {
		return net.ErrClosed
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := raw.SetDeadline(deadline); err != nil {
		return err
	}
	return ctx.Err()
}

// interrupt makes the wait in progress, and any after, fail at once,
// if the attempt of the given turn is still under way.
func (sc *smtpConn) interrupt(turn uint64) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.turn == turn && sc.raw != nil {
		sc.raw.SetDeadline(time.Unix(1, 0))
	}
}

func (sc *smtpConn) close() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.raw != nil {
		sc.raw.Close()
	}
	sc.raw, sc.client = nil, nil
}
