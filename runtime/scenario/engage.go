package scenario

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/runtime/mail"
	"github.com/nurture-dev/nurture/runtime/track"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// The things a simulated recipient may do with an email, in the words a
// rate names them by.
const (
	EngageOpen        = "open"
	EngageClick       = "click"
	EngageReply       = "reply"
	EngageUnsubscribe = "unsubscribe"
	EngageBounce      = "bounce"
	EngageComplaint   = "complaint"
)

// engageKinds are the kinds in the order a message's draws are made and
// reported.
var engageKinds = []string{EngageBounce, EngageOpen, EngageClick, EngageReply, EngageUnsubscribe, EngageComplaint}

// Rates are the chances, each from 0 to 1, that a recipient does each
// thing with one email: a bounce of the messages sent, the rest of those
// delivered. A kind missing is never done.
type Rates map[string]float64

// Engagement is how the recipients of a simulation answer the email they
// get: Default for every email, and ByEmail (by the email's file, as the
// programme names it) for the kinds an email's own rates name. Each draw
// is a hash of Seed, the send's ledger key and the kind, so the same
// seed gives the same answers to the same sends, run after run.
type Engagement struct {
	Seed    int64            `json:"seed"`
	Default Rates            `json:"default,omitempty"`
	ByEmail map[string]Rates `json:"by_email,omitempty"`
}

// rate is the chance of kind for email.
func (e *Engagement) rate(email, kind string) float64 {
	if r, ok := e.ByEmail[email][kind]; ok {
		return r
	}
	return e.Default[kind]
}

// uses says whether any rate of kind is above zero.
func (e *Engagement) uses(kind string) bool {
	if e.Default[kind] > 0 {
		return true
	}
	for _, r := range e.ByEmail {
		if r[kind] > 0 {
			return true
		}
	}
	return false
}

// ParseRates reads one engagement setting as a person writes it:
// "click 3%, reply 1%, unsubscribe 0.2%, bounce 0.5%" for every email,
// or "emails/welcome.md: click 8%" for one. A rate is a percentage (or
// a fraction from 0 to 1) after its kind, with a space or "=" between.
// email is empty for the default.
func ParseRates(s string) (email string, rates Rates, err error) {
	body := s
	if i := strings.Index(s, ":"); i >= 0 {
		email, body = strings.TrimSpace(s[:i]), s[i+1:]
		if email == "" {
			return "", nil, fmt.Errorf("%q: name the email before the colon, as in emails/welcome.md: click 8%%", s)
		}
	}
	rates = Rates{}
	for _, part := range strings.Split(body, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kind, value, ok := strings.Cut(strings.Replace(part, "=", " ", 1), " ")
		kind, value = strings.TrimSpace(kind), strings.TrimSpace(value)
		if !ok || value == "" {
			return "", nil, fmt.Errorf("%q: %q names no rate; write it as %s 3%%", s, part, kind)
		}
		if !slices.Contains(engageKinds, kind) {
			return "", nil, fmt.Errorf("%q: %q is not something a recipient does; the kinds are %s", s, kind, strings.Join(engageKinds, ", "))
		}
		if _, dup := rates[kind]; dup {
			return "", nil, fmt.Errorf("%q: %s is given twice", s, kind)
		}
		pct := strings.HasSuffix(value, "%")
		f, perr := strconv.ParseFloat(strings.TrimSuffix(value, "%"), 64)
		if pct {
			f /= 100
		}
		if perr != nil || math.IsNaN(f) || f < 0 || f > 1 {
			return "", nil, fmt.Errorf("%q: the %s rate %q is not a percentage from 0%% to 100%%", s, kind, value)
		}
		rates[kind] = f
	}
	if len(rates) == 0 {
		return "", nil, fmt.Errorf("%q names no rate; write them as click 3%%, reply 1%%", s)
	}
	return email, rates, nil
}

// EngageCounts counts what the simulated recipients did, by kind, as
// the tracking server took it.
type EngageCounts map[string]int

// engageAction is one thing a recipient does, at its time.
type engageAction struct {
	at   time.Time
	kind string
	key  string // the send's ledger key
	msg  *mail.Outgoing
}

// engager draws what the recipients of each delivered message do and
// does it at its time through the tracking server's own endpoints — the
// links in the message, its one-click unsubscribe, the bounce and reply
// APIs — so the store records it exactly as it records a real
// recipient's, and the engine reacts as it would.
type engager struct {
	e       *Engagement
	w       *World
	srv     *track.Server
	handler http.Handler
	seen    int
	pending []engageAction
	counts  EngageCounts
}

// apiToken guards the in-process server's API; nothing listens on it.
const apiToken = "simulate"

// newEngager checks that the programme can record what e asks for and
// starts a tracking server over the world's store.
func newEngager(ctx context.Context, w *World, e *Engagement) (*engager, error) {
	if w.Program.Sender.TrackingURL == "" {
		for _, k := range []string{EngageOpen, EngageClick, EngageUnsubscribe} {
			if e.uses(k) {
				return nil, fmt.Errorf("engagement: %s rates need a tracking server, and the programme declares none (sender: tracking: base_url): without one no %s is ever recorded", k, k)
			}
		}
	}
	ts, ok := w.Store.(track.Store)
	if !ok {
		return nil, fmt.Errorf("engagement: the simulation's store cannot take tracking events")
	}
	keys, err := worker.TrackingKeys(ctx, w.Store)
	if err != nil {
		return nil, err
	}
	srv := &track.Server{Store: ts, APIToken: apiToken, Now: w.Now}
	srv.SetKeys(keys)
	srv.SetProgram(w.Program)
	return &engager{e: e, w: w, srv: srv, handler: srv.Handler(), counts: EngageCounts{}}, nil
}

// draw is a number in [0, 1) fixed by the seed, the send and what is
// drawn.
func (g *engager) draw(key, what string) float64 {
	sum := sha256.Sum256([]byte(strconv.FormatInt(g.e.Seed, 10) + "\x00" + key + "\x00" + what))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// delay is how long after the send a recipient does kind: a bounce comes
// back in minutes; people act mostly within hours, a few days later.
func (g *engager) delay(key, kind string) time.Duration {
	if kind == EngageBounce {
		return time.Minute + time.Duration(g.draw(key, kind+"/delay")*float64(9*time.Minute))
	}
	mean := 6 * time.Hour
	if kind == EngageReply {
		mean = 12 * time.Hour
	}
	d := time.Duration(-math.Log(1-g.draw(key, kind+"/delay")) * float64(mean))
	return 10*time.Minute + min(d, 72*time.Hour)
}

// delivered draws the answers to the messages delivered since the last
// call, sent at now.
func (g *engager) delivered(ctx context.Context, now time.Time) error {
	msgs := g.w.Mail.Messages()
	for _, m := range msgs[g.seen:] {
		send, err := g.w.Store.(track.Store).SendByMessageID(ctx, m.MessageID())
		if err != nil {
			return err
		}
		if send == nil {
			continue // a hand-off's notice to an owner, not a send
		}
		if g.draw(m.Key, EngageBounce) < g.e.rate(send.Email, EngageBounce) {
			g.pending = append(g.pending, engageAction{at: now.Add(g.delay(m.Key, EngageBounce)), kind: EngageBounce, key: m.Key, msg: m})
			continue
		}
		for _, kind := range engageKinds[1:] {
			if g.draw(m.Key, kind) < g.e.rate(send.Email, kind) {
				g.pending = append(g.pending, engageAction{at: now.Add(g.delay(m.Key, kind)), kind: kind, key: m.Key, msg: m})
			}
		}
	}
	g.seen = len(msgs)
	slices.SortFunc(g.pending, func(a, b engageAction) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.key, b.key), cmp.Compare(slices.Index(engageKinds, a.kind), slices.Index(engageKinds, b.kind)))
	})
	return nil
}

// until does, in order, what the recipients do up to now.
func (g *engager) until(ctx context.Context, now time.Time) error {
	n := 0
	for ; n < len(g.pending) && !g.pending[n].at.After(now); n++ {
		a := g.pending[n]
		g.w.SetClock(a.at)
		done, err := g.do(ctx, a)
		if err != nil {
			return fmt.Errorf("engagement: %s of %s: %w", a.kind, a.key, err)
		}
		if done {
			g.counts[a.kind]++
		}
	}
	g.pending = g.pending[n:]
	return nil
}

// trackedURL finds the URLs of one kind of tracking endpoint in a
// message: its links (c), its open pixel (o).
func trackedURLs(m *mail.Outgoing, base string, kind byte) []string {
	if base == "" {
		return nil
	}
	re := regexp.MustCompile(regexp.QuoteMeta(track.URL(base, kind, "")) + `[A-Za-z0-9_\-.~]+`)
	return re.FindAllString(m.HTML, -1)
}

// do carries out one action through the server, as the recipient's
// mail client or mail provider would; false when the message gave the
// recipient no way to do it (an email with no link to click).
func (g *engager) do(ctx context.Context, a engageAction) (bool, error) {
	base := g.w.Program.Sender.TrackingURL
	m := a.msg
	switch a.kind {
	case EngageClick, EngageOpen:
		kind := track.Click
		if a.kind == EngageOpen {
			kind = track.Open
		}
		urls := trackedURLs(m, base, kind)
		if len(urls) == 0 {
			return false, nil
		}
		u := urls[int(g.draw(a.key, a.kind+"/which")*float64(len(urls)))]
		return true, g.call(ctx, http.MethodGet, u, "", nil)
	case EngageUnsubscribe:
		for _, target := range m.ListUnsubscribe {
			if strings.HasPrefix(target, track.URL(base, track.Unsubscribe, "")) {
				return true, g.call(ctx, http.MethodPost, target, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click"))
			}
		}
		return false, nil
	case EngageBounce, EngageComplaint:
		n := track.Bounce{ID: "simulate/" + a.kind + "/" + a.key, Type: "bounce", Bounce: "hard", Email: m.To, MessageID: m.MessageID(), At: a.at}
		if a.kind == EngageComplaint {
			n.Type, n.Bounce = "complaint", ""
		}
		return true, g.api(ctx, "/v1/bounces", n)
	case EngageReply:
		r := track.Reply{ID: "simulate-reply-" + a.key, InReplyTo: "<" + m.MessageID() + ">", From: m.To, At: a.at,
			Subject: "Re: " + m.Subject, Text: "Thanks, this is useful. Can we talk next week?"}
		return true, g.api(ctx, "/v1/replies", r)
	}
	return false, fmt.Errorf("no such kind")
}

func (g *engager) api(ctx context.Context, path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return g.call(ctx, http.MethodPost, path, "application/json", b)
}

// call makes one request of the server in process.
func (g *engager) call(ctx context.Context, method, target, contentType string, body []byte) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	req := httptest.NewRequestWithContext(ctx, method, u.RequestURI(), bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, req)
	if rec.Code >= 400 {
		return fmt.Errorf("%s %s: %d %s", method, u.Path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return nil
}

// summary is the counts, every kind the rates name shown even at zero.
func (g *engager) summary() EngageCounts {
	out := EngageCounts{}
	for _, k := range engageKinds {
		if g.e.uses(k) || g.counts[k] > 0 {
			out[k] = g.counts[k]
		}
	}
	return out
}
