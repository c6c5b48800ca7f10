package track

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/ingest"
	"github.com/nurture-dev/nurture/runtime/render"
)

// Store is what the tracking server needs of the contact store.
type Store interface {
	ContactByID(ctx context.Context, id int64) (*runtime.Contact, error)
	Contact(ctx context.Context, email string) (*runtime.Contact, error)
	Send(ctx context.Context, id int64) (*runtime.SendRecord, error)
	SendByMessageID(ctx context.Context, messageID string) (*runtime.SendRecord, error)
	RecordEvents(ctx context.Context, batch []runtime.Event) (runtime.EventResult, error)
	Suppress(ctx context.Context, batch []runtime.Suppression) (int, error)
	Preferences(ctx context.Context, contact int64) (runtime.Preferences, error)
	SetPreferences(ctx context.Context, contact int64, p runtime.Preferences, now time.Time) error
	ResolveSend(ctx context.Context, id int64, status, why string) (bool, error)
	Unsubscribed(ctx context.Context, email string) (bool, error)
	Resubscribe(ctx context.Context, email, source string) (bool, error)
}

// unsubscribeSource is the source of the unsubscribes this server's
// pages record: the ones its page offers to undo. mailSource is that of
// unsubscribes asked for by mail, which the page cannot undo: nobody
// who asked by mail is put back by a click.
const (
	unsubscribeSource = "tracking"
	mailSource        = "mail"
)

// Server is the tracking and ingestion HTTP server: tracked clicks and
// opens, one-click unsubscribes, the preference page, and the APIs that
// take events from a CRM and bounces from a mail provider.
type Server struct {
	Store Store
	// APIToken guards /v1/: requests carry it as a bearer token. Empty
	// turns the API off.
	APIToken string
	Now      func() time.Time
	Log      *slog.Logger
	// Programs returns an applied version of the programme, for the web
	// view of a send planned under it. Nil: the programme in force.
	Programs func(ctx context.Context, version int64) (*campaigns.Program, error)
	// Report, when set, serves the report page at GET /v1/report, behind
	// the API's bearer token like the rest of /v1/.
	Report http.Handler

	keys atomic.Pointer[Keys]
	prog atomic.Pointer[campaigns.Program]
}

// SetKeys and SetProgram replace the keys that verify tokens and the
// programme in force; the server picks them up from its next request.
func (s *Server) SetKeys(k *Keys)                 { s.keys.Store(k) }
func (s *Server) SetProgram(p *campaigns.Program) { s.prog.Store(p) }

// Handler routes the server's endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /c/{token}", s.click)
	mux.HandleFunc("HEAD /c/{token}", s.click)
	mux.HandleFunc("GET /o/{token}", s.open)
	mux.HandleFunc("GET /u/{token}", s.unsubscribePage)
	mux.HandleFunc("POST /u/{token}", s.unsubscribe)
	mux.HandleFunc("GET /p/{token}", s.preferencesPage)
	mux.HandleFunc("POST /p/{token}", s.savePreferences)
	mux.HandleFunc("GET /v/{token}", s.webView)
	mux.HandleFunc("POST /v1/events", s.api(s.events))
	mux.HandleFunc("POST /v1/bounces", s.api(s.bounces))
	mux.HandleFunc("POST /v1/replies", s.api(s.replies))
	mux.HandleFunc("POST /v1/inbound", s.api(s.inbound))
	if s.Report != nil {
		mux.HandleFunc("GET /v1/report", s.api(s.Report.ServeHTTP))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	return mux
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// token verifies the request's token and its kind; anything else is a
// 404 that changes nothing, the same for a forged token as for no page.
func (s *Server) token(w http.ResponseWriter, r *http.Request, kind byte) (Token, bool) {
	k := s.keys.Load()
	if k == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return Token{}, false
	}
	t, err := k.Parse(r.PathValue("token"))
	if err != nil || t.Kind != kind {
		http.NotFound(w, r)
		return Token{}, false
	}
	return t, true
}

// contactOf verifies the request's token and finds its contact; on false
// the response is written.
func (s *Server) contactOf(w http.ResponseWriter, r *http.Request, kind byte) (Token, *runtime.Contact, bool) {
	t, ok := s.token(w, r, kind)
	if !ok {
		return t, nil, false
	}
	c, err := s.Store.ContactByID(r.Context(), t.Contact)
	if err != nil {
		s.fail(w, r, err)
		return t, nil, false
	}
	if c == nil {
		http.NotFound(w, r)
		return t, nil, false
	}
	return t, c, true
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log().Error("request failed", "path", r.URL.Path, "err", err)
	http.Error(w, "something went wrong on our side; please try again later", http.StatusInternalServerError)
}

// emailEvent records a built-in email event of a send: once per ID.
func (s *Server) emailEvent(ctx context.Context, id, name string, send *runtime.SendRecord, contact *runtime.Contact, extra map[string]any) error {
	props := map[string]any{"email": send.Email, "sequence": send.Sequence, "step": send.Step}
	if send.Variant != "" {
		props["variant"] = send.Variant
	}
	for k, v := range extra {
		props[k] = v
	}
	_, err := s.Store.RecordEvents(ctx, []runtime.Event{{ID: id, Email: contact.Email, Name: name, At: s.now(), Props: props}})
	return err
}

// sendOf finds the send and contact a token names; nil when either is
// gone (a store restored from a backup, a contact erased).
func (s *Server) sendOf(ctx context.Context, t Token) (*runtime.SendRecord, *runtime.Contact, error) {
	send, err := s.Store.Send(ctx, t.Send)
	if err != nil || send == nil || send.Contact != t.Contact {
		return nil, nil, err
	}
	c, err := s.Store.ContactByID(ctx, send.Contact)
	if err != nil || c == nil {
		return nil, nil, err
	}
	return send, c, nil
}

// click records a click and redirects to the link's URL, which the token
// carries signed: only a URL that was in the email can be reached. A HEAD
// (link scanners) redirects without recording.
func (s *Server) click(w http.ResponseWriter, r *http.Request) {
	t, ok := s.token(w, r, Click)
	if !ok {
		return
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodGet {
		send, c, err := s.sendOf(r.Context(), t)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if send != nil {
			id := fmt.Sprintf("click/%d/%d", send.ID, t.Link)
			if err := s.emailEvent(r.Context(), id, campaigns.EventClicked, send, c, map[string]any{"url": t.URL}); err != nil {
				s.fail(w, r, err)
				return
			}
			s.resolve(r.Context(), send, "the recipient clicked a link in it")
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// resolve settles an unknown send the recipient evidently got.
func (s *Server) resolve(ctx context.Context, send *runtime.SendRecord, why string) {
	if send.Status != runtime.SendUnknown {
		return
	}
	if ok, err := s.Store.ResolveSend(ctx, send.ID, runtime.SendAccepted, why); err != nil {
		s.log().Error("resolving an unknown send", "send", send.Key, "err", err)
	} else if ok {
		s.log().Info("unknown send resolved as accepted", "send", send.Key, "why", why)
	}
}

// pixel is a transparent 1×1 GIF.
var pixel = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// open records an open. Opens are unreliable: mail clients that block
// images never report one, and some fetch every image on delivery
// (Apple Mail Privacy Protection). The event says so.
func (s *Server) open(w http.ResponseWriter, r *http.Request) {
	t, ok := s.token(w, r, Open)
	if !ok {
		return
	}
	send, c, err := s.sendOf(r.Context(), t)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if send != nil {
		if err := s.emailEvent(r.Context(), fmt.Sprintf("open/%d", send.ID), campaigns.EventOpened, send, c, map[string]any{"unreliable": true}); err != nil {
			s.fail(w, r, err)
			return
		}
		s.resolve(r.Context(), send, "the recipient's mail client loaded it")
	}
	w.Header().Set("Content-Type", "image/gif")
	w.Header().Set("Cache-Control", "no-store, max-age=0")
	w.Write(pixel)
}

// webView shows the email a send delivered, in the browser: the version
// of the email the send was planned under, rendered for the contact with
// the same signed links, the sender in force (as the engine sends it);
// without the open pixel and without a link to itself. It records
// nothing: a page a link scanner may fetch.
func (s *Server) webView(w http.ResponseWriter, r *http.Request) {
	t, ok := s.token(w, r, WebView)
	if !ok {
		return
	}
	ctx := r.Context()
	send, c, err := s.sendOf(ctx, t)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.prog.Load()
	if send == nil || now == nil {
		http.NotFound(w, r)
		return
	}
	p := now
	if s.Programs != nil && send.Version != 0 {
		old, err := s.Programs(ctx, send.Version)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if old != nil {
			q := *old
			q.Sender = now.Sender
			p = &q
		}
	}
	e := p.Emails[send.Email]
	if e == nil {
		http.NotFound(w, r)
		return
	}
	o := SendOptions(p, s.keys.Load(), send.ID, c.ID, send.Sequence, send.Step)
	o.OpenPixel, o.WebViewURL = "", ""
	m := render.Render(e, render.WithTrigger(c.Values, send.TriggerProps), send.Key, o)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Robots-Tag", "noindex")
	io.WriteString(w, m.HTML)
}

// unsubscribePage asks to confirm, and offers fewer emails instead: a
// GET is what link scanners and previews fetch, so it changes nothing.
// Once the address is unsubscribed it says so, with the undo, and never
// asks again.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	_, c, ok := s.contactOf(w, r, Unsubscribe)
	if !ok {
		return
	}
	done, err := s.Store.Unsubscribed(r.Context(), c.Email)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	less := campaigns.Strictest(s.program().Frequencies())
	d := pageData{Title: "Unsubscribe", Email: c.Email, Action: r.URL.Path, Confirm: !done, Done: done, Sender: s.senderName(),
		LessOften: c.Prefs.Frequency != less.Name, Less: less.Label, LessName: less.Name}
	if done {
		d.Title = "Unsubscribed"
	}
	s.page(w, http.StatusOK, d)
}

// unsubscribe suppresses the contact's address at once (RFC 8058: the
// mailbox provider's one-click POST carries List-Unsubscribe=One-Click;
// the confirm page's form posts the same). Doing it twice is the same as
// once. The page's other forms post instead=NAME, the strictest of the
// programme's frequencies (fewer emails, not none), or undo=1 (lift an
// unsubscribe made here); a one-click POST always unsubscribes,
// whatever else it carries.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	t, c, ok := s.contactOf(w, r, Unsubscribe)
	if !ok {
		return
	}
	ctx := r.Context()
	if r.PostFormValue("List-Unsubscribe") != "One-Click" {
		switch {
		case r.PostFormValue("undo") != "":
			s.resubscribe(w, r, c)
			return
		case r.PostFormValue("instead") != "" && r.PostFormValue("instead") == campaigns.Strictest(s.program().Frequencies()).Name:
			less := campaigns.Strictest(s.program().Frequencies())
			p := c.Prefs
			p.Frequency = less.Name
			if err := s.Store.SetPreferences(ctx, c.ID, p, s.now()); err != nil {
				s.fail(w, r, err)
				return
			}
			s.log().Info("less often instead of unsubscribing", "contact", c.ID)
			d := pageData{Title: "Less often", Email: c.Email, Sender: s.senderName(), Fewer: true, Less: lowerFirst(less.Label)}
			if k := s.keys.Load(); k != nil {
				d.Preferences = "/p/" + k.Sign(Token{Kind: Preferences, Send: t.Send, Contact: c.ID})
			}
			s.page(w, http.StatusOK, d)
			return
		}
	}
	send, _, err := s.sendOf(ctx, t)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.optOut(ctx, c.Email, c, send, unsubscribeSource, s.now(), nil); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log().Info("unsubscribed", "contact", c.ID, "one_click", r.PostFormValue("List-Unsubscribe") == "One-Click")
	s.page(w, http.StatusOK, pageData{Title: "Unsubscribed", Email: c.Email, Action: r.URL.Path, Done: true, Sender: s.senderName()})
}

// optOut unsubscribes an address, however it asked: the suppression,
// whose commit moves the store's opt-out serial so that delivery's
// last check before each message sees it, and the contact's
// email.unsubscribed, once per contact, naming the send it came from
// when there is one. extra goes into the event (the Message-ID of a
// request by mail).
func (s *Server) optOut(ctx context.Context, email string, c *runtime.Contact, send *runtime.SendRecord, source string, at time.Time, extra map[string]any) error {
	if _, err := s.Store.Suppress(ctx, []runtime.Suppression{{Email: email, Reason: runtime.ReasonUnsubscribed, Source: source, At: at}}); err != nil {
		return err
	}
	if c == nil {
		return nil
	}
	props := map[string]any{}
	if send != nil {
		props["email"], props["sequence"], props["step"] = send.Email, send.Sequence, send.Step
		if send.Variant != "" {
			props["variant"] = send.Variant
		}
	}
	for k, v := range extra {
		props[k] = v
	}
	_, err := s.Store.RecordEvents(ctx, []runtime.Event{{ID: fmt.Sprintf("unsubscribe/%d", c.ID), Email: c.Email, Name: campaigns.EventUnsubscribed, At: at, Props: props}})
	return err
}

// resubscribe undoes an unsubscribe made on this server's page. The
// contact's enrollments ended with it; sequences take them in again as
// their entry and re-entry rules say.
func (s *Server) resubscribe(w http.ResponseWriter, r *http.Request, c *runtime.Contact) {
	lifted, err := s.Store.Resubscribe(r.Context(), c.Email, unsubscribeSource)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if lifted {
		s.log().Info("unsubscribe undone", "contact", c.ID)
	}
	still, err := s.Store.Unsubscribed(r.Context(), c.Email)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if still {
		// Not one this page made (an import, a reply to the unsubscribe
		// mailbox): it stays, and the page says so rather than pretend.
		s.page(w, http.StatusOK, pageData{Title: "Unsubscribed", Email: c.Email, Done: true, Sticky: true, Sender: s.senderName()})
		return
	}
	s.page(w, http.StatusOK, pageData{Title: "Subscribed again", Email: c.Email, Resubscribed: true, Sender: s.senderName()})
}

// senderName is the company the pages name: the sender's company, or
// its from name.
func (s *Server) senderName() string {
	if p := s.prog.Load(); p != nil {
		if p.Sender.Company != "" {
			return p.Sender.Company
		}
		return p.Sender.FromName
	}
	return ""
}

// preferencesPage shows the contact's frequency, its pause and topics.
func (s *Server) preferencesPage(w http.ResponseWriter, r *http.Request) {
	t, c, ok := s.contactOf(w, r, Preferences)
	if !ok {
		return
	}
	s.page(w, http.StatusOK, s.prefsData(r, t, c, c.Prefs, ""))
}

// program is the programme in force, or an empty one before the first:
// the default frequencies, no pause, no topics.
func (s *Server) program() *campaigns.Program {
	if p := s.prog.Load(); p != nil {
		return p
	}
	return &campaigns.Program{}
}

// topicOrder is the order the page lists the programme's topics in: as
// written, or by name for a programme compiled before the order was kept.
func topicOrder(prog *campaigns.Program) []string {
	if len(prog.Sender.TopicOrder) == len(prog.Sender.Topics) {
		return prog.Sender.TopicOrder
	}
	return slices.Sorted(mapKeys(prog.Sender.Topics))
}

func (s *Server) prefsData(r *http.Request, t Token, c *runtime.Contact, p runtime.Preferences, saved string) pageData {
	d := pageData{Title: "Email preferences", Email: c.Email, Action: r.URL.Path, Prefs: true, Saved: saved, Sender: s.senderName()}
	// Only a notice hangs on it: a failed lookup leaves the page as it was.
	d.Unsubscribed, _ = s.Store.Unsubscribed(r.Context(), c.Email)
	prog := s.program()
	d.Frequencies = append(d.Frequencies, choice{Value: "", Label: "Everything we think is useful", On: p.Frequency == ""})
	f, offered, chose := prog.Frequency(p.Frequency)
	if chose && !offered {
		// A choice the programme no longer offers holds the contact to
		// the strictest offered: the page says so, and shows that one.
		d.Stale = f.Label
	}
	for _, o := range prog.Frequencies() {
		d.Frequencies = append(d.Frequencies, choice{Value: o.Name, Label: o.Label, On: chose && o.Name == f.Name})
	}
	if p.Paused(s.now()) {
		d.PausedUntil = p.PausedUntil.UTC().Format("2 January 2006")
	} else {
		for _, span := range prog.PauseChoices() {
			d.Pauses = append(d.Pauses, choice{Value: span.String(), Label: "Pause all marketing email for " + spanWords(span)})
		}
	}
	for _, name := range topicOrder(prog) {
		d.Topics = append(d.Topics, choice{Value: name, Label: prog.Sender.Topics[name], Note: prog.Sender.TopicNotes[name], On: !p.OptedOut(name)})
	}
	if k := s.keys.Load(); k != nil {
		d.Unsubscribe = "/u/" + k.Sign(Token{Kind: Unsubscribe, Send: t.Send, Contact: c.ID})
	}
	return d
}

// spanWords writes a pause as the page says it: "30 days", "2 weeks".
func spanWords(d campaigns.Duration) string {
	h := d.Std().Hours()
	switch {
	case h >= 24*7 && int(h)%(24*7) == 0 && int(h)/(24*7) < 10:
		return plural(int(h)/(24*7), "week")
	case h >= 24 && int(h)%24 == 0:
		return plural(int(h)/24, "day")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprint(n) + " " + unit + "s"
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// savePreferences records the form: the frequency chosen and the topics
// left ticked, a pause (pause=SPAN, one the programme offers) or its end
// (resume=1). A pause or a resume keeps the other choices; saving the
// form keeps the pause.
func (s *Server) savePreferences(w http.ResponseWriter, r *http.Request) {
	t, c, ok := s.contactOf(w, r, Preferences)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	ctx, now := r.Context(), s.now()
	prog := s.program()
	p := c.Prefs
	var event *runtime.Event
	saved := "Saved. Your choices apply from the next email."
	switch {
	case r.PostForm.Has("pause"):
		span, err := campaigns.ParseDuration(r.PostForm.Get("pause"))
		if err != nil || !slices.Contains(prog.PauseChoices(), span) {
			http.Error(w, "pause: choose one of the options on the page", http.StatusBadRequest)
			return
		}
		p.PausedUntil = now.Add(span.Std())
		event = &runtime.Event{ID: fmt.Sprintf("pause/%d/%d", c.ID, now.UnixMilli()), Email: c.Email, Name: campaigns.EventPaused, At: now,
			Props: map[string]any{"until": p.PausedUntil.UTC().Format(time.RFC3339)}}
		// The page says until when, beside the way to resume.
		saved = ""
	case r.PostForm.Has("resume"):
		if !p.Paused(now) {
			// Resumed already, in another tab: nothing to do.
			s.page(w, http.StatusOK, s.prefsData(r, t, c, p, "Your email is not paused."))
			return
		}
		p.PausedUntil = time.Time{}
		event = &runtime.Event{ID: fmt.Sprintf("resume/%d/%d", c.ID, now.UnixMilli()), Email: c.Email, Name: campaigns.EventResumed, At: now}
		saved = "Resumed. Your email comes again from the next one due."
	default:
		p.Frequency, p.TopicsOut = r.PostForm.Get("frequency"), nil
		if p.Frequency != "" && !slices.ContainsFunc(prog.Frequencies(), func(f campaigns.Frequency) bool { return f.Name == p.Frequency }) {
			http.Error(w, "frequency: choose one of the options on the page", http.StatusBadRequest)
			return
		}
		kept := r.PostForm["topic"]
		for _, name := range topicOrder(prog) {
			if !slices.Contains(kept, name) {
				p.TopicsOut = append(p.TopicsOut, name)
			}
		}
	}
	if err := s.Store.SetPreferences(ctx, c.ID, p, now); err != nil {
		s.fail(w, r, err)
		return
	}
	if event != nil {
		if _, err := s.Store.RecordEvents(ctx, []runtime.Event{*event}); err != nil {
			s.fail(w, r, err)
			return
		}
		s.log().Info(event.Name, "contact", c.ID, "until", p.PausedUntil)
	}
	s.page(w, http.StatusOK, s.prefsData(r, t, c, p, saved))
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// api guards a /v1/ endpoint with the bearer token.
func (s *Server) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.APIToken == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.APIToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nurture"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "send the API token as Authorization: Bearer TOKEN"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<20)
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

type rejected struct {
	Line   int    `json:"line"`
	Email  string `json:"email,omitempty"`
	Reason string `json:"reason"`
}

// events takes events as JSON Lines, the format of nurture events
// import: {"email", "name", "at", "id", "properties"}. Each is stored
// once by its id (or, without one, by its content), so a retried or
// reordered delivery records nothing twice. Lines that are wrong are
// rejected one by one and the rest stored. Events of addresses not
// imported yet that the store keeps for their contact are counted as
// pending: neither recorded nor rejected. The answer is 422 only when
// nothing was recorded, found already recorded, or kept.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	prog := s.prog.Load()
	if prog == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "no programme is applied yet"})
		return
	}
	er, err := ingest.NewEventReader(r.Body, "request body", ingest.JSONL, prog.Events, ingest.Options{})
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	res := struct {
		Inserted  int        `json:"inserted"`
		Duplicate int        `json:"duplicate"`
		Pending   int        `json:"pending"`
		Rejected  []rejected `json:"rejected"`
	}{Rejected: []rejected{}}
	var batch []runtime.Event
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := s.Store.RecordEvents(r.Context(), batch)
		if err != nil {
			return err
		}
		res.Inserted += out.Inserted
		res.Duplicate += out.Duplicate
		res.Pending += out.Pending
		for _, x := range out.Rejected {
			res.Rejected = append(res.Rejected, rejected{Line: x.Line, Email: x.Email, Reason: x.Reason})
		}
		batch = batch[:0]
		return nil
	}
	for {
		ev, rej, err := er.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("the body is over %d bytes: send fewer events per request", mbe.Limit)})
			return
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		if rej != nil {
			res.Rejected = append(res.Rejected, rejected{Line: rej.Line, Email: rej.Email, Reason: rej.Reason})
			continue
		}
		if batch = append(batch, ev); len(batch) == 500 {
			if err := flush(); err != nil {
				s.fail(w, r, err)
				return
			}
		}
	}
	if err := flush(); err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if res.Inserted+res.Duplicate+res.Pending == 0 && len(res.Rejected) > 0 {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, res)
}

// Bounce is one notice of a provider webhook: a bounce or a complaint.
type Bounce struct {
	// ID is the provider's own ID of the notice: the same notice delivered
	// twice is recorded once.
	ID   string `json:"id"`
	Type string `json:"type"` // "bounce" or "complaint"
	// Bounce is "hard" (the address does not exist) or "soft"
	// (temporary: a full mailbox); bounces only.
	Bounce    string    `json:"bounce"`
	Email     string    `json:"email"`
	MessageID string    `json:"message_id"`
	At        time.Time `json:"at"`
	Reason    string    `json:"reason"`
}

// bounces takes a provider's bounce and complaint notices, one JSON object
// or an array. A hard bounce or a complaint suppresses the address; every
// notice is recorded as an event of the send its Message-ID names, once
// by its ID whatever the order they come in.
func (s *Server) bounces(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": err.Error()})
		return
	}
	var notices []Bounce
	if t := strings.TrimSpace(string(body)); strings.HasPrefix(t, "[") {
		err = json.Unmarshal(body, &notices)
	} else {
		var one Bounce
		err = json.Unmarshal(body, &one)
		notices = []Bounce{one}
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "the body is not a bounce notice or an array of them: " + err.Error()})
		return
	}
	for i, n := range notices {
		if msg := n.check(); msg != "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("notice %d: %s", i+1, msg)})
			return
		}
	}
	ctx := r.Context()
	res := struct {
		Recorded   int `json:"recorded"`
		Duplicate  int `json:"duplicate"`
		Suppressed int `json:"suppressed"`
		Unknown    int `json:"unknown_address"`
	}{}
	for _, n := range notices {
		at := n.At
		if at.IsZero() {
			at = s.now()
		}
		var send *runtime.SendRecord
		if n.MessageID != "" {
			if send, err = s.Store.SendByMessageID(ctx, n.MessageID); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		email := n.Email
		if email == "" && send != nil {
			c, err := s.Store.ContactByID(ctx, send.Contact)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if c != nil {
				email = c.Email
			}
		}
		if email == "" {
			res.Unknown++
			continue
		}
		if (n.Type == "complaint" || n.Bounce == "hard") && email != "" {
			reason := runtime.ReasonBounced
			if n.Type == "complaint" {
				reason = runtime.ReasonComplained
			}
			k, err := s.Store.Suppress(ctx, []runtime.Suppression{{Email: email, Reason: reason, Source: "webhook", At: at}})
			if err != nil {
				s.fail(w, r, err)
				return
			}
			res.Suppressed += k
		}
		name, props := campaigns.EventComplained, map[string]any{}
		if n.Type == "bounce" {
			name, props["kind"] = campaigns.EventBounced, n.Bounce
		}
		if send != nil {
			props["email"], props["sequence"], props["step"] = send.Email, send.Sequence, send.Step
			if send.Variant != "" {
				props["variant"] = send.Variant
			}
			if n.Type == "bounce" && n.Bounce == "hard" && send.Status == runtime.SendUnknown {
				if _, err := s.Store.ResolveSend(ctx, send.ID, runtime.SendFailed, "the provider reported a hard bounce"); err != nil {
					s.fail(w, r, err)
					return
				}
			}
		}
		out, err := s.Store.RecordEvents(ctx, []runtime.Event{{ID: "webhook/" + n.ID, Email: email, Name: name, At: at, Props: props}})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res.Recorded += out.Inserted
		res.Duplicate += out.Duplicate
		if len(out.Rejected) > 0 {
			res.Unknown++
		}
	}
	writeJSON(w, http.StatusOK, res)
}

// Reply is a reply to one of the programme's emails, or a message to
// its unsubscribe mailbox, as an inbox that reads the reply-to address
// reports it, as POST /v1/inbound and the SMTP listener read it from the
// message itself (ReadMessage).
type Reply struct {
	// ID is the reply's own Message-ID, or the inbox's ID of it: the same
	// reply reported twice is recorded once.
	ID string `json:"id"`
	// InReplyTo and References are the reply's headers of those names:
	// the Message-IDs of the messages it answers, which name the send.
	InReplyTo  string   `json:"in_reply_to"`
	References []string `json:"references"`
	// From is who replied; it names the contact when no send matches.
	From string `json:"from"`
	// To holds the addresses the message went to; one of them the
	// programme's unsubscribe mailbox makes it an unsubscribe request.
	To      []string  `json:"to,omitempty"`
	Subject string    `json:"subject,omitempty"`
	At      time.Time `json:"at"`
	// Auto marks an automatic reply (RFC 3834 Auto-Submitted, an
	// out-of-office notice): counted apart, never as a reply.
	Auto bool `json:"auto"`
	// Text is the start of the reply's plain text; a first line that asks
	// to unsubscribe unsubscribes the address the email was sent to.
	Text string `json:"text,omitempty"`

	// report marks a delivery or read report (a bounce): not a person's
	// request of any kind.
	report bool
}

// check says what is wrong with a reply, and reads From and To as
// addresses, with or without a display name.
func (n *Reply) check() string {
	if strings.TrimSpace(n.From) != "" {
		a, err := mail.ParseAddress(n.From)
		if err != nil {
			return fmt.Sprintf(`field "from": %q is not an address`, n.From)
		}
		n.From = a.Address
	}
	for i, to := range n.To {
		a, err := mail.ParseAddress(to)
		if err != nil {
			return fmt.Sprintf(`field "to": %q is not an address`, to)
		}
		n.To[i] = a.Address
	}
	switch {
	case strings.TrimSpace(n.ID) == "":
		return `field "id": required, the reply's Message-ID or the inbox's ID of it (it makes a redelivery harmless)`
	case len(n.ID) > 200:
		return `field "id": longer than 200 characters`
	case n.From == "" && n.InReplyTo == "" && len(n.References) == 0:
		return `fields "from", "in_reply_to" and "references": give at least one`
	}
	return ""
}

// Received is what became of replies and inbound messages.
type Received struct {
	Recorded  int `json:"recorded"`
	Duplicate int `json:"duplicate"`
	// Matched counts the replies and requests whose send was found;
	// automatic replies are not counted here but in Auto.
	Matched int `json:"matched"`
	Auto    int `json:"auto_replies"`
	Unknown int `json:"unknown_address"`
	// Unsubscribed counts the addresses unsubscribed: by mail to the
	// unsubscribe mailbox, or by a reply that asks.
	Unsubscribed int `json:"unsubscribed"`
}

func (r *Received) add(o Received) {
	r.Recorded += o.Recorded
	r.Duplicate += o.Duplicate
	r.Matched += o.Matched
	r.Auto += o.Auto
	r.Unknown += o.Unknown
	r.Unsubscribed += o.Unsubscribed
}

// replies takes replies to the programme's emails as JSON, one object
// or an array, and hands each to Receive.
func (s *Server) replies(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": err.Error()})
		return
	}
	var replies []Reply
	if t := strings.TrimSpace(string(body)); strings.HasPrefix(t, "[") {
		err = json.Unmarshal(body, &replies)
	} else {
		var one Reply
		err = json.Unmarshal(body, &one)
		replies = []Reply{one}
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "the body is not a reply or an array of them: " + err.Error()})
		return
	}
	for i := range replies {
		if msg := replies[i].check(); msg != "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("reply %d: %s", i+1, msg)})
			return
		}
	}
	var res Received
	for _, n := range replies {
		o, err := s.Receive(r.Context(), n)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res.add(o)
	}
	writeJSON(w, http.StatusOK, res)
}

// inbound takes one raw message (RFC 5322, MIME) as the reply-to
// mailbox received it, and hands it to Receive: the same as the SMTP
// listener does with what it is given.
func (s *Server) inbound(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxInbound+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "reading the body: " + err.Error()})
		return
	}
	if len(raw) > MaxInbound {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("the message is over %d bytes; nurture reads replies, not their attachments", MaxInbound)})
		return
	}
	n, err := ReadMessage(raw)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "the body is not a message nurture can read: " + err.Error()})
		return
	}
	// An envelope recipient the mailbox knows and the header does not
	// (a Bcc) may come as ?to=.
	for _, to := range r.URL.Query()["to"] {
		a, err := mail.ParseAddress(to)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("query parameter \"to\": %q is not an address", to)})
			return
		}
		n.To = append(n.To, a.Address)
	}
	res, err := s.Receive(r.Context(), n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// Receive is the one way a reply or an inbound message acts, whether it
// came as JSON, as raw MIME or over SMTP:
//
//   - mail to the programme's unsubscribe mailbox (the List-Unsubscribe
//     mailto:) unsubscribes its From address, as the one-click POST does;
//   - an automatic reply is counted and changes nothing;
//   - any other reply is recorded once, by its ID, as email.replied of the
//     send its In-Reply-To (else References, latest first) names, with
//     that send's sequence, step, email and arm, so that the report
//     counts it and an exit rule on email.replied ends the sequence; one
//     that names no send counts for its From address alone;
//   - a reply whose first line asks to unsubscribe (unsubscribeAsks)
//     unsubscribes the address the send went to — never its From, which
//     anyone can write.
func (s *Server) Receive(ctx context.Context, n Reply) (Received, error) {
	var res Received
	at := n.At
	if at.IsZero() || at.After(s.now()) {
		at = s.now()
	}
	send, err := s.answered(ctx, n)
	if err != nil {
		return res, err
	}
	var c *runtime.Contact
	if send != nil {
		if c, err = s.Store.ContactByID(ctx, send.Contact); err != nil {
			return res, err
		}
	}
	if s.toUnsubscribeMailbox(n.To) {
		if n.report || n.From == "" {
			// A bounce of whatever was sent from the mailbox: nobody asked.
			res.Auto = 1
			return res, nil
		}
		if c == nil || runtime.EmailKey(c.Email) != runtime.EmailKey(n.From) {
			if c, err = s.Store.Contact(ctx, n.From); err != nil {
				return res, err
			}
			send = nil
		}
		if err := s.optOut(ctx, n.From, c, send, mailSource, at, map[string]any{"message_id": n.ID}); err != nil {
			return res, err
		}
		s.log().Info("unsubscribed by mail to the unsubscribe mailbox", "message_id", n.ID, "known_contact", c != nil)
		res.Unsubscribed = 1
		if send != nil {
			res.Matched = 1
		}
		return res, nil
	}
	if n.Auto {
		s.log().Info("automatic reply counted, not recorded", "message_id", n.ID, "matched", send != nil)
		res.Auto = 1
		return res, nil
	}
	email, props := n.From, map[string]any{}
	if c != nil {
		email = c.Email
	}
	if send != nil {
		res.Matched = 1
		props["email"], props["sequence"], props["step"] = send.Email, send.Sequence, send.Step
		if send.Variant != "" {
			props["variant"] = send.Variant
		}
	}
	if email == "" {
		res.Unknown = 1
		return res, nil
	}
	out, err := s.Store.RecordEvents(ctx, []runtime.Event{{ID: "reply/" + n.ID, Email: email, Name: campaigns.EventReplied, At: at, Props: props}})
	if err != nil {
		return res, err
	}
	res.Recorded, res.Duplicate = out.Inserted, out.Duplicate
	if len(out.Rejected) > 0 {
		res.Unknown = 1
	}
	if unsubscribeAsks(n.Text) {
		if c == nil {
			s.log().Info("a reply asks to unsubscribe but answers no send; left for a person to read", "message_id", n.ID)
			return res, nil
		}
		if err := s.optOut(ctx, c.Email, c, send, mailSource, at, map[string]any{"message_id": n.ID}); err != nil {
			return res, err
		}
		s.log().Info("unsubscribed by a reply that asks", "message_id", n.ID, "contact", c.ID)
		res.Unsubscribed = 1
	}
	return res, nil
}

// answered finds the send a reply answers: by In-Reply-To, else by
// References from the latest.
func (s *Server) answered(ctx context.Context, n Reply) (*runtime.SendRecord, error) {
	ids := []string{n.InReplyTo}
	for i := len(n.References) - 1; i >= 0; i-- {
		ids = append(ids, n.References[i])
	}
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			continue
		}
		send, err := s.Store.SendByMessageID(ctx, id)
		if err != nil || send != nil {
			return send, err
		}
	}
	return nil, nil
}

// toUnsubscribeMailbox reports whether one of the addresses is the
// programme's unsubscribe mailbox.
func (s *Server) toUnsubscribeMailbox(to []string) bool {
	p := s.prog.Load()
	if p == nil || p.Sender.UnsubscribeMail == "" {
		return false
	}
	return slices.ContainsFunc(to, func(a string) bool { return strings.EqualFold(a, p.Sender.UnsubscribeMail) })
}

func (n Bounce) check() string {
	switch {
	case strings.TrimSpace(n.ID) == "":
		return `field "id": required, the provider's ID of the notice (it makes a redelivery harmless)`
	case len(n.ID) > 200:
		return `field "id": longer than 200 characters`
	case n.Type != "bounce" && n.Type != "complaint":
		return fmt.Sprintf(`field "type": %q is not "bounce" or "complaint"`, n.Type)
	case n.Type == "bounce" && n.Bounce != "hard" && n.Bounce != "soft":
		return fmt.Sprintf(`field "bounce": %q is not "hard" or "soft"`, n.Bounce)
	case n.Email == "" && n.MessageID == "":
		return `fields "email" and "message_id": give at least one`
	case strings.ContainsAny(n.Email, "\r\n<>"):
		return `field "email": not an address`
	}
	return ""
}

type choice struct {
	Value, Label string
	// Note is a line under the label: a topic's description.
	Note string
	On   bool
}

type pageData struct {
	Title, Email, Action, Sender string
	Confirm, Done                bool
	Prefs                        bool
	// Saved is what the last post did, said to the contact.
	Saved                       string
	Frequencies, Topics, Pauses []choice
	// PausedUntil is the date a pause ends, while one lasts; Stale the
	// label of the frequency that holds a contact whose choice the
	// programme no longer offers.
	PausedUntil, Stale string
	Unsubscribe        string
	// LessOften offers one email a month instead, on the confirm page;
	// Fewer says it was chosen, with a link to the Preferences page.
	LessOften, Fewer bool
	// Less is the strictest frequency's label, LessName its name.
	Less, LessName string
	Preferences    string
	// Resubscribed: an unsubscribe undone. Sticky: an unsubscribe that
	// was not made here and that this page cannot undo.
	Resubscribed, Sticky bool
	// Unsubscribed marks the preference page of an unsubscribed address.
	Unsubscribed bool
}

func (s *Server) page(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(status)
	if err := pages.Execute(w, d); err != nil {
		s.log().Error("page", "err", err)
	}
}

var pages = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title>
<style>body{font:16px/1.6 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2937;background:#f3f4f6;margin:0;padding:24px}
main{max-width:480px;margin:40px auto;background:#fff;border-radius:8px;padding:32px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:22px;margin:0 0 16px}button{font:inherit;background:#2563eb;color:#fff;border:0;border-radius:6px;padding:10px 18px;cursor:pointer}
fieldset{border:0;padding:0;margin:0 0 20px}legend{font-weight:600;margin-bottom:8px}label{display:block;margin:6px 0}.muted{color:#6b7280;font-size:14px}button.quiet{background:#fff;color:#1f2937;border:1px solid #d1d5db;padding:6px 12px}
fieldset.pauses{margin-top:28px}fieldset.pauses form{display:inline-block;margin:0 8px 8px 0}</style></head>
<body><main>
{{if .Confirm}}<h1>Unsubscribe{{if .Sender}} from {{.Sender}}{{end}}?</h1>
<p>{{.Email}} will get no more marketing email{{if .Sender}} from {{.Sender}}{{end}}.</p>
<form method="post" action="{{.Action}}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>
{{if .LessOften}}<p class="muted">Too many emails? Stay, and hear from us less:</p>
<form method="post" action="{{.Action}}"><input type="hidden" name="instead" value="{{.LessName}}"><button type="submit" class="quiet">{{.Less}} instead</button></form>{{end}}
{{else if .Done}}<h1>You are unsubscribed</h1>
<p>{{.Email}} will get no more marketing email{{if .Sender}} from {{.Sender}}{{end}}. Messages you ask for, such as receipts, still come.</p>
{{if .Sticky}}<p class="muted">This unsubscribe was not made on this page, so it cannot be undone here: reply to any email{{if .Sender}} from {{.Sender}}{{end}} to ask.</p>
{{else if .Action}}<form method="post" action="{{.Action}}"><input type="hidden" name="undo" value="1"><p class="muted">Unsubscribed by mistake? <button type="submit" class="quiet">Undo</button></p></form>{{end}}
{{else if .Resubscribed}}<h1>You are subscribed again</h1>
<p>{{.Email}} will hear from {{if .Sender}}{{.Sender}}{{else}}us{{end}} again.</p>
{{else if .Fewer}}<h1>Less often it is</h1>
<p>{{.Email}} will get {{.Less}}{{if .Sender}} from {{.Sender}}{{end}}.</p>
{{if .Preferences}}<p class="muted"><a href="{{.Preferences}}">Change your email preferences</a></p>{{end}}
{{else if .Prefs}}<h1>Email preferences</h1>
{{if .Saved}}<p><strong>{{.Saved}}</strong></p>{{end}}
<p class="muted">Email{{if .Sender}} from {{.Sender}}{{end}} to {{.Email}}</p>
{{if .Unsubscribed}}<p><strong>You are unsubscribed</strong>{{if .Sender}} from {{.Sender}}{{end}}'s marketing email; these choices apply if you subscribe again.</p>{{end}}
{{if .PausedUntil}}<form method="post" action="{{.Action}}"><p><strong>Marketing email is paused until {{.PausedUntil}}.</strong> <input type="hidden" name="resume" value="1"><button type="submit" class="quiet">Resume now</button></p></form>{{end}}
<form method="post" action="{{.Action}}">
<fieldset><legend>How often</legend>{{if .Stale}}<p class="muted">The choice you made is no longer offered: you get email as "{{.Stale}}" until you choose again.</p>{{end}}{{range .Frequencies}}<label><input type="radio" name="frequency" value="{{.Value}}"{{if .On}} checked{{end}}> {{.Label}}</label>{{end}}</fieldset>
{{if .Topics}}<fieldset><legend>Topics</legend>{{range .Topics}}<label><input type="checkbox" name="topic" value="{{.Value}}"{{if .On}} checked{{end}}> {{.Label}}{{if .Note}}<br><span class="muted">{{.Note}}</span>{{end}}</label>{{end}}</fieldset>{{end}}
<button type="submit">Save</button></form>
{{if .Pauses}}<fieldset class="pauses"><legend>Need a break?</legend>{{range .Pauses}}<form method="post" action="{{$.Action}}"><input type="hidden" name="pause" value="{{.Value}}"><button type="submit" class="quiet">{{.Label}}</button></form>{{end}}</fieldset>{{end}}
{{if .Unsubscribe}}{{if .Unsubscribed}}<p class="muted"><a href="{{.Unsubscribe}}">Subscribe again</a></p>{{else}}<p class="muted">Or <a href="{{.Unsubscribe}}">unsubscribe from all marketing email</a>.</p>{{end}}{{end}}
{{end}}
</main></body></html>
`))
