package engine

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/mail"
)

// HandoffStore is what delivering hand-offs needs of the store.
type HandoffStore interface {
	DueHandoffs(ctx context.Context, now time.Time, limit int) ([]runtime.PendingHandoff, error)
	RecordHandoff(ctx context.Context, id int64, status string, attempts int, next time.Time, failure string, now time.Time) error
	ContactByID(ctx context.Context, id int64) (*runtime.Contact, error)
	ScoreBreakdown(ctx context.Context, prog *campaigns.Program, model string, id int64, now time.Time) (runtime.Breakdown, error)
	Account(ctx context.Context, key string) (*runtime.Account, error)
	AccountScore(ctx context.Context, prog *campaigns.Program, key string) (float64, int, error)
	HandoffContacts(ctx context.Context, id int64) ([]runtime.HandoffContact, error)
	AccountContacts(ctx context.Context, key, model string, limit int) ([]runtime.ScoredContact, error)
}

// AccountHandoffContacts bounds the account's engaged contacts an account
// hand-off carries beside those that reached it.
const AccountHandoffContacts = 10

// HandoffBackoff is how long to wait after each failed attempt; after the
// last, the hand-off fails for good and stays visible as failed.
var HandoffBackoff = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}

// SignatureHeader carries the webhook's signature: t=UNIX,v1=HEX, the
// HMAC-SHA256 under the hand-off's secret of "UNIX.BODY".
const SignatureHeader = "X-Nurture-Signature"

// Sign returns the signature header value of body at t under secret.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// HandoffPayload is the JSON a hand-off webhook receives.
type HandoffPayload struct {
	Handoff  string                  `json:"handoff"`
	Reason   string                  `json:"reason"`
	Sequence string                  `json:"sequence,omitempty"`
	At       time.Time               `json:"at"`
	Contact  map[string]any          `json:"contact"`
	Scores   map[string]HandoffScore `json:"scores"`
	// Account is the contact's account, for a programme that declares
	// account attributes or an account score: sales takes over an
	// account, not only a person.
	Account *HandoffAccount `json:"account,omitempty"`
	Attempt int             `json:"attempt"`
	ID      int64           `json:"id"`
}

// HandoffAccount is the lead's account as the webhook shows it: its key,
// its attributes (none when it was never imported) and its score.
type HandoffAccount struct {
	Key        string         `json:"key"`
	Attributes map[string]any `json:"attributes"`
	Score      *float64       `json:"score,omitempty"`
	// Thresholds are the account score's thresholds the score reaches.
	Thresholds []string `json:"thresholds,omitempty"`
	// Contacts, in an account hand-off, are the contacts of the account
	// sales takes over: those that reached the hand-off (the first, then
	// any that joined it before it went out), then the account's most
	// engaged others, the highest scored first, AccountHandoffContacts
	// at most.
	Contacts []HandoffAccountContact `json:"contacts,omitempty"`
}

// HandoffAccountContact is one contact of an account hand-off: Role
// "triggered" for the one that made it, "joined" for the others that
// reached it, "engaged" for the account's other contacts.
type HandoffAccountContact struct {
	Email    string    `json:"email"`
	Role     string    `json:"role"`
	Score    *float64  `json:"score,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Sequence string    `json:"sequence,omitempty"`
	At       time.Time `json:"at,omitzero"`
}

// HandoffScore is a score with its rules, as the webhook shows it.
type HandoffScore struct {
	Score float64            `json:"score"`
	Rules map[string]float64 `json:"rules"`
}

// Handoffs delivers the hand-offs due: a signed POST of the lead to each
// hand-off's webhook, retried with backoff, the outcome recorded.
// Hand-offs with no webhook are done when recorded: their stage change
// was made with the decision.
func (e *Engine) Handoffs(ctx context.Context, s HandoffStore, client *http.Client, sender Sender, now time.Time) (done, failed int, err error) {
	hs, err := s.DueHandoffs(ctx, now, e.batch())
	if err != nil {
		return 0, 0, err
	}
	for _, h := range hs {
		def := e.Program.Handoffs[h.Handoff]
		if def == nil {
			def = &campaigns.Handoff{}
		}
		if sender == nil && (def.NotifyEmail != "" || def.NotifyAttribute != "") {
			continue // the owner's notification waits for a tick with a sender
		}
		attempt := h.Attempts + 1
		// The webhook first; the owner hears once sales has the lead. A
		// retry posts the webhook again, with the same Idempotency-Key.
		var l lead
		var perr error
		if def.WebhookURL != "" || def.NotifyEmail != "" || def.NotifyAttribute != "" {
			l, perr = e.lead(ctx, s, h, now)
		}
		if perr == nil && def.WebhookURL != "" {
			perr = e.post(ctx, client, def, h, l, attempt, now)
		}
		if perr == nil {
			perr = e.notify(ctx, sender, def, h, l, now)
		}
		switch {
		case perr == nil:
			err = s.RecordHandoff(ctx, h.ID, "done", attempt, time.Time{}, "", now)
			done++
		case attempt > len(HandoffBackoff):
			err = s.RecordHandoff(ctx, h.ID, "failed", attempt, time.Time{}, perr.Error(), now)
			failed++
		default:
			err = s.RecordHandoff(ctx, h.ID, "pending", attempt, now.Add(HandoffBackoff[attempt-1]), perr.Error(), now)
		}
		if err != nil {
			return done, failed, err
		}
	}
	return done, failed, nil
}

// lead is what a hand-off tells sales of a contact.
type lead struct {
	contact *runtime.Contact
	scores  map[string]runtime.Breakdown
	account *HandoffAccount
}

// lead reads the contact of a hand-off and scores it, once for both the
// webhook and the owner's email.
func (e *Engine) lead(ctx context.Context, s HandoffStore, h runtime.PendingHandoff, now time.Time) (lead, error) {
	c, err := s.ContactByID(ctx, h.Contact)
	if err != nil || c == nil {
		return lead{}, fmt.Errorf("contact %d: %v", h.Contact, err)
	}
	l := lead{contact: c, scores: map[string]runtime.Breakdown{}}
	for name := range e.Program.Scoring {
		if l.scores[name], err = s.ScoreBreakdown(ctx, e.Program, name, c.ID, now); err != nil {
			return lead{}, err
		}
	}
	accts := e.Program.Accounts
	key := h.Account
	if key == "" && (len(accts.Attributes) > 0 || accts.Score != nil) {
		key, _ = c.Values[campaigns.AttrAccount].(string)
	}
	if key != "" {
		l.account = &HandoffAccount{Key: key, Attributes: map[string]any{}}
		a, err := s.Account(ctx, key)
		if err != nil {
			return lead{}, err
		}
		if a != nil {
			maps.Copy(l.account.Attributes, a.Values)
		}
		if accts.Score != nil {
			v, _, err := s.AccountScore(ctx, e.Program, key)
			if err != nil {
				return lead{}, err
			}
			l.account.Score = &v
			for _, name := range slices.Sorted(maps.Keys(accts.Score.Thresholds)) {
				if v >= accts.Score.Thresholds[name] {
					l.account.Thresholds = append(l.account.Thresholds, name)
				}
			}
		}
		if h.Account != "" {
			if err := e.accountContacts(ctx, s, h, l.account); err != nil {
				return lead{}, err
			}
		}
	}
	return l, nil
}

// accountContacts fills in the contacts an account hand-off carries.
func (e *Engine) accountContacts(ctx context.Context, s HandoffStore, h runtime.PendingHandoff, a *HandoffAccount) error {
	model := ""
	if sc := e.Program.Accounts.Score; sc != nil {
		model = sc.Model
	}
	reached, err := s.HandoffContacts(ctx, h.ID)
	if err != nil {
		return err
	}
	// Scores of the account's contacts, the most engaged first: enough to
	// fill the bound beside those that reached the hand-off.
	scored, err := s.AccountContacts(ctx, h.Account, model, AccountHandoffContacts+len(reached))
	if err != nil {
		return err
	}
	score := func(email string) *float64 {
		for _, sc := range scored {
			if sc.Email == email && model != "" {
				v := sc.Score
				return &v
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for i, r := range reached {
		role := "joined"
		if i == 0 {
			role = "triggered"
		}
		seen[r.Email] = true
		a.Contacts = append(a.Contacts, HandoffAccountContact{Email: r.Email, Role: role, Score: score(r.Email), Reason: r.Reason, Sequence: r.Sequence, At: r.At.UTC()})
	}
	n := 0
	for _, sc := range scored {
		if seen[sc.Email] || n == AccountHandoffContacts {
			continue
		}
		n++
		a.Contacts = append(a.Contacts, HandoffAccountContact{Email: sc.Email, Role: "engaged", Score: score(sc.Email)})
	}
	return nil
}

// notify tells the lead's owner by email: the address the hand-off
// names, or the one in the contact's owner attribute (no owner, no
// email).
func (e *Engine) notify(ctx context.Context, sender Sender, def *campaigns.Handoff, h runtime.PendingHandoff, l lead, now time.Time) error {
	if def.NotifyEmail == "" && def.NotifyAttribute == "" {
		return nil
	}
	c := l.contact
	to := def.NotifyEmail
	if to == "" && h.Account != "" && l.account != nil {
		to, _ = l.account.Attributes[def.NotifyAttribute].(string)
	} else if to == "" {
		to, _ = c.Values[def.NotifyAttribute].(string)
	}
	if to == "" {
		return nil
	}
	if h.Account != "" {
		return e.notifyAccount(ctx, sender, to, h, l, now)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s is yours: handed to %s (%s", c.Email, h.Handoff, h.Reason)
	if h.Sequence != "" {
		fmt.Fprintf(&b, ", from the %s sequence", h.Sequence)
	}
	fmt.Fprintf(&b, ") at %s.\n\n", h.CreatedAt.UTC().Format(time.RFC1123))
	for _, k := range slices.Sorted(maps.Keys(c.Values)) {
		fmt.Fprintf(&b, "%s: %v\n", k, c.Values[k])
	}
	for _, name := range slices.Sorted(maps.Keys(l.scores)) {
		bd := l.scores[name]
		fmt.Fprintf(&b, "\nScore %s: %.0f\n", name, bd.Score)
		for _, r := range bd.Rules {
			if r.Points != 0 {
				fmt.Fprintf(&b, "  %s: %+.1f\n", r.Rule, r.Points)
			}
		}
	}
	if a := l.account; a != nil {
		fmt.Fprintf(&b, "\nAccount %s\n", a.Key)
		for _, k := range slices.Sorted(maps.Keys(a.Attributes)) {
			fmt.Fprintf(&b, "  %s: %v\n", k, a.Attributes[k])
		}
		if a.Score != nil {
			fmt.Fprintf(&b, "  account score: %.0f\n", *a.Score)
		}
	}
	return sender.Send(ctx, &mail.Outgoing{
		Key: "handoff-" + strconv.FormatInt(h.ID, 10), FromName: e.Program.Sender.FromName, From: e.Program.Sender.FromEmail,
		To: to, Subject: "Lead for you: " + c.Email + " (" + h.Reason + ")", Text: b.String(), Date: now,
	})
}

// notifyAccount tells the account's owner that the account is theirs:
// the account, its score, and the contacts the hand-off carries.
func (e *Engine) notifyAccount(ctx context.Context, sender Sender, to string, h runtime.PendingHandoff, l lead, now time.Time) error {
	a := l.account
	var b strings.Builder
	fmt.Fprintf(&b, "The account %s is yours: handed to %s (%s", a.Key, h.Handoff, h.Reason)
	if h.Sequence != "" {
		fmt.Fprintf(&b, ", from the %s sequence", h.Sequence)
	}
	fmt.Fprintf(&b, ") at %s, when %s reached it.\n\n", h.CreatedAt.UTC().Format(time.RFC1123), l.contact.Email)
	for _, k := range slices.Sorted(maps.Keys(a.Attributes)) {
		fmt.Fprintf(&b, "%s: %v\n", k, a.Attributes[k])
	}
	if a.Score != nil {
		fmt.Fprintf(&b, "account score: %.0f", *a.Score)
		if len(a.Thresholds) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(a.Thresholds, ", "))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nContacts\n")
	for _, c := range a.Contacts {
		fmt.Fprintf(&b, "  %s  %s", c.Email, c.Role)
		if c.Score != nil {
			fmt.Fprintf(&b, ", score %.0f", *c.Score)
		}
		if c.Reason != "" {
			fmt.Fprintf(&b, ", %s", c.Reason)
		}
		b.WriteString("\n")
	}
	return sender.Send(ctx, &mail.Outgoing{
		Key: "handoff-" + strconv.FormatInt(h.ID, 10), FromName: e.Program.Sender.FromName, From: e.Program.Sender.FromEmail,
		To: to, Subject: "Account for you: " + a.Key + " (" + h.Reason + ")", Text: b.String(), Date: now,
	})
}

func (e *Engine) post(ctx context.Context, client *http.Client, def *campaigns.Handoff, h runtime.PendingHandoff, l lead, attempt int, now time.Time) error {
	secret := os.Getenv(def.SecretEnv)
	if def.SecretEnv != "" && secret == "" {
		return fmt.Errorf("$%s, the webhook's signing secret, is not set", def.SecretEnv)
	}
	p := HandoffPayload{Handoff: h.Handoff, Reason: h.Reason, Sequence: h.Sequence, At: h.CreatedAt, Contact: map[string]any{},
		Scores: map[string]HandoffScore{}, Attempt: attempt, ID: h.ID}
	for k, v := range l.contact.Values {
		p.Contact[k] = v
	}
	for name, b := range l.scores {
		hs := HandoffScore{Score: b.Score, Rules: map[string]float64{}}
		for _, r := range b.Rules {
			hs.Rules[r.Rule] = r.Points
		}
		p.Scores[name] = hs
	}
	p.Account = l.account
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, def.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "nurture-handoff-"+strconv.FormatInt(h.ID, 10))
	if secret != "" {
		req.Header.Set(SignatureHeader, Sign([]byte(secret), now, body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}
