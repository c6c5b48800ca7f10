package cli

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/mail"
)

// deliveryFlags are the flags of tick and run that say where and how
// planned emails go.
type deliveryFlags struct {
	sender                            string
	dkimDomain, dkimSelector, dkimKey string
	maxBounce, maxComplaint           string
	window                            time.Duration
	trackingURL                       string
}

func (f *deliveryFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.sender, "sender", os.Getenv("NURTURE_SENDER"),
		"where planned emails go: smtp://[user@]host[:port][?params], smtps://…, or file:DIR for .eml files (default from $NURTURE_SENDER); the SMTP password comes from $NURTURE_SMTP_PASSWORD")
	fl.StringVar(&f.dkimDomain, "dkim-domain", "", "sign mail with DKIM for this domain (with --dkim-selector and --dkim-key)")
	fl.StringVar(&f.dkimSelector, "dkim-selector", "", "the DKIM selector: the key is published at SELECTOR._domainkey.DOMAIN")
	fl.StringVar(&f.dkimKey, "dkim-key", "", "the DKIM private key, a PEM file")
	fl.StringVar(&f.maxBounce, "max-bounce-rate", "5%", "pause sending while hard bounces exceed this share of the mail sent in --breaker-window (0 turns it off)")
	fl.StringVar(&f.maxComplaint, "max-complaint-rate", "0.3%", "pause sending while complaints exceed this share of the mail sent in --breaker-window (0 turns it off)")
	fl.DurationVar(&f.window, "breaker-window", 24*time.Hour, "the window the bounce and complaint rates are measured over")
	fl.StringVar(&f.trackingURL, "tracking-url", "", "serve tracked links from this base URL instead of the programme's sender.tracking.base_url (a staging or local nurture serve)")
}

// delivery is what tickOnce delivers with.
type delivery struct {
	sender  engine.Sender
	breaker engine.Breaker
	log     func(string)
	close   func() error
	// trackingURL, when set, replaces the programme's tracking base URL.
	trackingURL string
}

// open checks the flags and opens the sender; nil when there is none.
func (f *deliveryFlags) open(log func(string)) (*delivery, error) {
	var dkim *mail.DKIMConfig
	switch n := countSet(f.dkimDomain, f.dkimSelector, f.dkimKey); {
	case n == 3:
		var err error
		if dkim, err = mail.LoadDKIM(f.dkimDomain, f.dkimSelector, f.dkimKey); err != nil {
			return nil, fmt.Errorf("--dkim-key: %w", err)
		}
	case n > 0:
		return nil, fmt.Errorf("DKIM needs --dkim-domain, --dkim-selector and --dkim-key together")
	}
	bounce, err := parseRate(f.maxBounce)
	if err != nil {
		return nil, fmt.Errorf("--max-bounce-rate: %w", err)
	}
	complaint, err := parseRate(f.maxComplaint)
	if err != nil {
		return nil, fmt.Errorf("--max-complaint-rate: %w", err)
	}
	if u := f.trackingURL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, fmt.Errorf("--tracking-url %q: want an http(s) URL such as http://127.0.0.1:8080", u)
		}
	}
	d := &delivery{
		trackingURL: strings.TrimRight(f.trackingURL, "/"),
		breaker:     engine.Breaker{MaxBounceRate: bounce, MaxComplaintRate: complaint, Window: f.window, MinSent: engine.DefaultBreaker.MinSent},
		log:         log,
		close:       func() error { return nil },
	}
	switch spec := f.sender; {
	case spec == "":
		return nil, nil
	case strings.HasPrefix(spec, "file:") && len(spec) > len("file:"):
		d.sender = mail.FileSink{Dir: strings.TrimPrefix(spec, "file:"), DKIM: dkim}
	case strings.HasPrefix(spec, "smtp://"), strings.HasPrefix(spec, "smtps://"):
		cfg, err := mail.ParseSMTPURL(spec, os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("--sender: %w", err)
		}
		cfg.DKIM = dkim
		s, err := mail.NewSMTP(cfg)
		if err != nil {
			return nil, fmt.Errorf("--sender: %w", err)
		}
		d.sender, d.close = s, s.Close
	default:
		return nil, fmt.Errorf("--sender %q: want smtp://host:port, smtps://host:port or file:DIR", spec)
	}
	return d, nil
}

// shown is the sender as output may show it: never a password.
func (f *deliveryFlags) shown() string {
	if strings.HasPrefix(f.sender, "smtp") {
		if cfg, err := mail.ParseSMTPURL(f.sender, os.Getenv); err == nil {
			return cfg.String()
		}
		return "smtp"
	}
	return f.sender
}

func countSet(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

// parseRate reads a share: "5%", "0.3%" or "0.05".
func parseRate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
	if pct {
		v /= 100
	}
	if err != nil || v < 0 || v > 1 {
		return 0, fmt.Errorf("%q: want a share such as 5%% or 0.05", s)
	}
	return v, nil
}
