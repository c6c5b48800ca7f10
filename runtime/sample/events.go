package sample

import (
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
)

// evRole is what an event means to the generator, read from its name:
// it decides when and how often a contact does it.
type evRole int

const (
	evOther     evRole = iota // now and then, in a visit
	evView                    // every visit: page views
	evDownload                // some visits
	evWebReg                  // registering for a webinar…
	evWebAttend               // …and, some days later, attending it
	evDemo                    // rare, once: a demo request
	evMeeting                 // once, mostly for contacts with sales
	evTrial                   // once, when a trial begins
	evProduct                 // after a trial: using the product
	evConvert                 // rare, once: a calculator, a form
	evAccount                 // written to every contact of an account
	evEmail                   // built-in email events, from sends
)

type evType struct {
	name    string
	quoted  []byte // name as a JSON string, encoded once
	role    evRole
	builtin bool
	props   []*propSpec // sorted by name, so written in that order
}

func (t *evType) prop(k propKind) *propSpec {
	for _, p := range t.props {
		if p.kind == k {
			return p
		}
	}
	return nil
}

func (t *evType) propNamed(name string) *propSpec {
	for _, p := range t.props {
		if p.name == name {
			return p
		}
	}
	return nil
}

// propKind is what an event property holds, from its name.
type propKind int

const (
	pkGeneric propKind = iota
	pkPath
	pkURL
	pkTitle
	pkAsset
	pkWebinar
	pkMinutes
	pkConnector
	pkSource
	pkTopic
	pkPlan
	pkEmailPath
	pkSequence
	pkStep
	pkVariant
)

type propSpec struct {
	name  string
	attr  *campaigns.Attribute
	kind  propKind
	hints *fieldHints
	enumW weights
	num   numKind
	surge bool // a property of an account-wide signal such as intent
}

// prop is one property value of a generated event.
type prop struct {
	key  string
	kind uint8
	s    string
	n    int64 // ints, bools (0 or 1) and times (Unix seconds)
	f    float64
}

const (
	pStr uint8 = iota
	pInt
	pNum
	pBool
	pTime
)

func strProp(k, s string) prop { return prop{key: k, kind: pStr, s: s} }

// event is one generated event; its properties are props[p0:p1] of the
// buffer they were written to.
type event struct {
	at     int64
	ord    int32
	t      *evType
	p0, p1 int32
}

func eventRole(name, desc string, builtin bool) evRole {
	n, d := strings.ToLower(name), strings.ToLower(desc)
	has := func(s string, words ...string) bool {
		for _, w := range words {
			if strings.Contains(s, w) {
				return true
			}
		}
		return false
	}
	switch {
	case builtin:
		return evEmail
	case has(n, "intent") || has(d, "every contact", "whole account", "account-level", "account level"):
		return evAccount
	case has(n, "page_view", "pageview", "page_visit", "site_visit", "visit", "viewed"):
		return evView
	case has(n, "download"):
		return evDownload
	case has(n, "webinar", "livestream") && has(n, "regist", "signup", "signed_up", "rsvp"):
		return evWebReg
	case has(n, "webinar", "livestream") && has(n, "attend", "watch", "joined"):
		return evWebAttend
	case has(n, "demo"):
		return evDemo
	case has(n, "meeting", "call_booked", "call_scheduled"):
		return evMeeting
	case has(n, "trial") && has(n, "start", "began", "signup", "signed"):
		return evTrial
	case has(n, "connected", "created", "invited", "activated", "installed", "integrat", "dashboard", "project", "teammate", "workspace", "logged_in", "login"):
		return evProduct
	case has(n, "completed", "requested", "submitted", "signed", "booked", "calculator", "quote", "contact_sales"):
		return evConvert
	}
	return evOther
}

func propKindOf(event, name string, a *campaigns.Attribute, builtin bool) propKind {
	n, ev := strings.ToLower(name), strings.ToLower(event)
	if builtin {
		switch n {
		case "email":
			return pkEmailPath
		case "sequence":
			return pkSequence
		case "step":
			return pkStep
		case "variant":
			return pkVariant
		case "url":
			return pkURL
		}
		return pkGeneric
	}
	if a.Type == campaigns.TypeEnum {
		if n == "plan" {
			return pkPlan
		}
		return pkGeneric
	}
	if a.Type == campaigns.TypeInt || a.Type == campaigns.TypeNumber {
		if oneOf(n, "minutes", "watch_minutes", "duration_minutes", "minutes_watched", "duration") {
			return pkMinutes
		}
		return pkGeneric
	}
	if a.Type != campaigns.TypeString {
		return pkGeneric
	}
	connecty := strings.Contains(ev, "connect") || strings.Contains(ev, "source") || strings.Contains(ev, "integrat") || strings.Contains(ev, "import")
	switch {
	case oneOf(n, "path", "page", "page_path", "url_path", "pathname"):
		return pkPath
	case oneOf(n, "url", "href", "link", "page_url"):
		return pkURL
	case oneOf(n, "title", "page_title"):
		return pkTitle
	case oneOf(n, "asset", "asset_name", "asset_id", "content", "resource", "document", "whitepaper", "ebook", "file"):
		return pkAsset
	case oneOf(n, "webinar", "webinar_name", "webinar_id", "session", "event_name"):
		return pkWebinar
	case connecty && oneOf(n, "kind", "connector", "integration", "source_type", "type", "provider", "source"):
		return pkConnector
	case oneOf(n, "source", "channel", "referrer", "utm_source"):
		return pkSource
	case oneOf(n, "topic", "category", "subject"):
		return pkTopic
	case n == "plan":
		return pkPlan
	}
	return pkGeneric
}

// Built-in email events, by their use.
type emailEvents struct {
	sent, opened, clicked, replied, bounced, unsubscribed, complained *evType
}

func (g *gen) setupEvents() {
	g.events = map[string]*evType{}
	for _, name := range sortedKeys(g.p.Events) {
		et := g.p.Events[name]
		if et == nil {
			continue
		}
		t := &evType{name: name, quoted: appendJSONString(nil, name), builtin: et.Builtin || strings.HasPrefix(name, "email.")}
		for _, pn := range sortedKeys(et.Properties) {
			a := et.Properties[pn]
			if a == nil {
				continue
			}
			ps := &propSpec{name: pn, attr: a, num: numKindOf(pn)}
			if m := g.h.props[name]; m != nil {
				ps.hints = m[pn]
			}
			ps.kind = propKindOf(name, pn, a, t.builtin)
			if a.Type == campaigns.TypeEnum {
				var hinted []string
				if ps.hints != nil {
					hinted = ps.hints.strs
				}
				ps.enumW = enumWeights(a.Values, hinted)
			}
			t.props = append(t.props, ps)
		}
		t.role = eventRole(name, et.Description, t.builtin)
		for _, ps := range t.props {
			ps.surge = t.role == evAccount
		}
		g.events[name] = t
		slot := func(p **evType) {
			if *p == nil {
				*p = t
			} else {
				g.others = append(g.others, t)
			}
		}
		switch t.role {
		case evView:
			if g.view == nil || g.viewPath == nil && t.prop(pkPath) != nil {
				if g.view != nil {
					g.others = append(g.others, g.view)
				}
				g.view, g.viewPath = t, t.prop(pkPath)
			} else {
				g.others = append(g.others, t)
			}
		case evDownload:
			slot(&g.download)
		case evWebReg:
			slot(&g.webReg)
		case evWebAttend:
			slot(&g.webAtt)
		case evDemo:
			slot(&g.demo)
		case evMeeting:
			slot(&g.meeting)
		case evTrial:
			slot(&g.trial)
		case evProduct:
			g.product = append(g.product, t)
		case evConvert:
			g.convert = append(g.convert, t)
		case evAccount:
			g.account = append(g.account, t)
		case evOther:
			g.others = append(g.others, t)
		}
	}
	e := &g.email
	e.sent = g.events[campaigns.EventSent]
	e.opened = g.events[campaigns.EventOpened]
	e.clicked = g.events[campaigns.EventClicked]
	e.replied = g.events[campaigns.EventReplied]
	e.bounced = g.events[campaigns.EventBounced]
	e.unsubscribed = g.events[campaigns.EventUnsubscribed]
	e.complained = g.events[campaigns.EventComplained]
}

// seqInfo is a sequence's sends, for the email events a contact gets.
type seqInfo struct {
	name  string
	trans bool
	steps []sendStep
	entry *campaigns.EventCondition // entered on an event
	when  *campaigns.Predicate      // entered through a segment
	// triggers are the events that can bring a contact into a segment
	// that depends on behaviour.
	triggers []*campaigns.EventCondition
	// winBack is a re-engagement sequence, by its name: for quiet
	// contacts only.
	winBack bool
}

type sendStep struct {
	name     string
	variants []campaigns.Variant
	w        weights
}

type sendCand struct {
	at   int64
	s    *seqInfo
	step int
}

func (g *gen) setupSequences() {
	g.triggered = map[string][]*seqInfo{}
	for _, name := range sortedKeys(g.p.Sequences) {
		s := g.p.Sequences[name]
		if s == nil {
			continue
		}
		si := &seqInfo{name: name, trans: s.Transactional(), entry: s.Entry.Event}
		for _, w := range []string{"reengage", "re_engage", "winback", "win_back", "sunset", "dormant", "lapsed"} {
			si.winBack = si.winBack || strings.Contains(strings.ToLower(name), w)
		}
		for _, st := range s.Steps {
			if st.Kind != campaigns.StepSend || len(st.Send) == 0 {
				continue
			}
			w := make([]float64, len(st.Send))
			for i, v := range st.Send {
				w[i] = float64(max(v.Weight, 1))
			}
			si.steps = append(si.steps, sendStep{name: st.Name, variants: st.Send, w: newWeights(w)})
		}
		if len(si.steps) == 0 {
			continue
		}
		g.anySeq = append(g.anySeq, si)
		seg := g.p.Segments[s.Entry.Segment]
		switch {
		case si.entry != nil:
			g.triggered[si.entry.Name] = append(g.triggered[si.entry.Name], si)
		case seg != nil && g.hasEvents(&seg.When, 0):
			si.when = &seg.When
			si.triggers = g.positiveEvents(&seg.When, false, 0, nil)
			g.dynamic = append(g.dynamic, si)
		case seg != nil:
			si.when = &seg.When
			g.static = append(g.static, si)
		case !si.trans:
			// Entered by hand or by another sequence: the long-term
			// newsletters that fill the gaps.
			g.background = append(g.background, si)
		}
	}
}

// enrollAt is when the contact's events first bring them into a
// behavioural segment, or 0 if they never do.
func (g *gen) enrollAt(c *contact, s *seqInfo) int64 {
	best := int64(0)
	try := func(at int64) {
		if at >= c.created && (best == 0 || at < best) && g.eval(s.when, evalCtx{c: c, at: at}) == yes {
			best = at
		}
	}
	if len(s.triggers) == 0 {
		// Inactivity alone: look every two weeks.
		for at := c.created + 14*86400; at < g.now; at += 14 * 86400 {
			if try(at); best != 0 {
				break
			}
		}
		return best
	}
	for _, e := range g.evs {
		for _, ec := range s.triggers {
			if e.t.name == ec.Name && (best == 0 || e.at < best) && g.entryMatches(ec, e) {
				try(e.at)
			}
		}
	}
	return best
}

// contactEvents generates the contact's events into g.evs, unordered.
func (g *gen) contactEvents(c *contact) {
	g.evs, g.props = g.evs[:0], g.props[:0]
	a := &g.acct
	for _, e := range a.evs {
		if e.at < c.created {
			continue // the contact was not in the CRM yet
		}
		p0 := int32(len(g.props))
		g.props = append(g.props, a.props[e.p0:e.p1]...)
		g.evs = append(g.evs, event{at: e.at, ord: int32(len(g.evs)), t: e.t, p0: p0, p1: int32(len(g.props))})
	}
	end := g.now
	if c.dormantAt > 0 {
		end = min(end, c.dormantAt)
	}
	if end > c.created {
		months := float64(end-c.created) / (30 * 86400)
		for range g.r.poisson(c.rate * months) {
			g.session(c, g.localTime(c, g.r.between(c.created, end), c.created, end))
		}
	}
	g.milestones(c, end)
	g.bursts(c)
	g.keepRecent(c)
	g.emailEvents(c)
}

// localTime moves t to a plausible moment of the same day for the
// contact: mostly working hours on a working day in their time zone. It
// keeps t when the move would leave [lo, end).
func (g *gen) localTime(c *contact, t, lo, end int64) int64 {
	off := int64(c.zone.offset) * 60
	day := floorDiv(t+off, 86400)
	var sec int64
	if g.r.chance(0.82) {
		switch weekday(day) {
		case 6: // Saturday → Friday
			day--
		case 0: // Sunday → Monday
			day++
		}
		sec = 8*3600 + g.r.between(0, 10*3600)
	} else {
		sec = 7*3600 + g.r.between(0, 16*3600)
	}
	u := day*86400 + sec - off
	if u < lo || u >= end {
		return t
	}
	return u
}

// sendTime moves t to the next mailing slot: a business day of the
// programme's cadence, mid-morning in the contact's time zone.
func (g *gen) sendTime(c *contact, t int64) int64 {
	off := int64(c.zone.offset) * 60
	day := floorDiv(t+off, 86400)
	for i := 0; i < 7 && !g.business[weekday(day)]; i++ {
		day++
	}
	return day*86400 + 8*3600 + 30*60 + g.r.between(0, 3*3600) - off
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// weekday of a day number since 1970-01-01, a Thursday; 0 is Sunday.
func weekday(day int64) int { return int(((day+4)%7 + 7) % 7) }

// session is one visit: a few page views, sometimes more.
func (g *gen) session(c *contact, t int64) {
	emitted := false
	if g.view != nil {
		n := 1
		for n < 6 && g.r.chance(0.5) {
			n++
		}
		for range n {
			g.emit(c, g.view, t)
			t += g.r.between(20, 240)
		}
		emitted = true
	}
	x := g.r.Float64()
	switch {
	case x < 0.14 && g.download != nil:
		g.emit(c, g.download, t+g.r.between(30, 300))
	case x < 0.21 && (g.webReg != nil || g.webAtt != nil):
		g.webinar(c, t)
	case x < 0.29 && len(g.others) > 0:
		g.emit(c, g.others[g.r.IntN(len(g.others))], t+g.r.between(30, 600))
	case x < 0.45 && (c.trial || c.paid) && len(g.product) > 0:
		g.emit(c, g.product[g.r.IntN(len(g.product))], t+g.r.between(30, 900))
	case !emitted:
		// A programme without page views: its visits are its other events.
		var pool []*evType
		for _, t := range []*evType{g.download, g.webReg, g.webAtt} {
			if t != nil {
				pool = append(pool, t)
			}
		}
		pool = append(pool, g.others...)
		if len(pool) > 0 {
			g.emit(c, pool[g.r.IntN(len(pool))], t)
		}
	}
}

// webinar registers the contact for a webinar some days ahead and, for
// about half, records that they attended it.
func (g *gen) webinar(c *contact, t int64) {
	var name string
	for _, et := range []*evType{g.webReg, g.webAtt} {
		if et != nil && name == "" {
			if ps := et.prop(pkWebinar); ps != nil {
				name = g.propValue(ps, c).s
			}
		}
	}
	ov := func(et *evType) []prop {
		if ps := et.prop(pkWebinar); ps != nil && name != "" {
			return []prop{strProp(ps.name, name)}
		}
		return nil
	}
	if g.webReg == nil {
		g.emit(c, g.webAtt, t+g.r.between(60, 600), ov(g.webAtt)...) // on demand
		return
	}
	g.emit(c, g.webReg, t+g.r.between(30, 300), ov(g.webReg)...)
	if g.webAtt != nil && g.r.chance(0.55) {
		// Webinars start on the hour, 15:00 or 16:00 UTC, days later.
		day := floorDiv(t, 86400) + 2 + g.r.Int64N(11)
		at := day*86400 + (15+g.r.Int64N(2))*3600 + g.r.between(0, 600)
		g.emit(c, g.webAtt, at, ov(g.webAtt)...)
	}
}

// milestones are the once-only events: a demo request, a meeting, a
// trial and its first steps, a calculator or form.
func (g *gen) milestones(c *contact, end int64) {
	lvl := float64(c.level)
	if g.demo != nil && end > c.created && g.r.chance(0.015+0.05*c.stageFrac+0.008*lvl) {
		t := g.localTime(c, g.r.between(c.created, end), c.created, end)
		if g.viewPath != nil {
			// People ask for a demo from the pricing page.
			g.emit(c, g.view, t-g.r.between(30, 300), strProp(g.viewPath.name, g.hotPath))
		}
		g.emit(c, g.demo, t)
	}
	if g.meeting != nil && end > c.created {
		p := 0.01
		if c.stageFrac >= 0.5 {
			p = 0.3
		}
		if g.r.chance(p) {
			g.emit(c, g.meeting, g.localTime(c, g.r.between(c.created, end), c.created, end))
		}
	}
	for _, t := range g.convert {
		if end > c.created && g.r.chance(0.035+0.015*lvl) {
			g.emit(c, t, g.localTime(c, g.r.between(c.created, end), c.created, end))
		}
	}
	if g.trial != nil && c.trialAt > 0 {
		g.emit(c, g.trial, c.trialAt)
		for i, t := range g.product {
			if g.r.chance(0.75 - 0.2*float64(i)) {
				g.emit(c, t, c.trialAt+g.r.between(600, 4*86400))
			}
		}
	}
}

// bursts give a few contacts exactly what a "twice in the last 7 days"
// condition of the programme asks for, so it has members.
func (g *gen) bursts(c *contact) {
	for i := range g.h.bursts {
		b := &g.h.bursts[i]
		t := g.events[b.event]
		if t == nil || t.role == evAccount || c.dormantAt > 0 || !g.r.chance(0.04) {
			continue
		}
		lo := c.created
		if b.within > 0 {
			lo = max(lo, g.now-int64(b.within.Std().Seconds())+60)
		}
		n := b.min + g.r.IntN(2)
		if b.max > 0 {
			n = min(n, b.max)
		}
		for range n {
			g.emit(c, t, g.r.between(lo, g.now), g.satisfy(t, b.where)...)
		}
	}
}

// keepRecent gives an active contact a visit in the inactivity span when
// chance gave them none: only the dormant fifth should look dormant.
func (g *gen) keepRecent(c *contact) {
	if c.dormantAt > 0 {
		return
	}
	since := g.now - g.inactiveSpan() + 86400
	for _, e := range g.evs {
		if e.at >= since && e.at < g.now && campaigns.IsEngagement(e.t.name) {
			return
		}
	}
	lo := max(since, c.created)
	if lo >= g.now {
		return
	}
	g.session(c, g.localTime(c, g.r.between(lo, g.now), c.created, g.now))
}

// emailEvents are the contact's sends and what they did with them: the
// sequences their events start, and the nurture sequences between.
func (g *gen) emailEvents(c *contact) {
	e := &g.email
	if e.sent == nil {
		return
	}
	g.sends = g.sends[:0]
	n := len(g.evs)
	for i := range n {
		ev := g.evs[i]
		for _, s := range g.triggered[ev.t.name] {
			if g.entryMatches(s.entry, ev) && g.r.chance(0.85) {
				g.schedule(c, s, ev.at)
			}
		}
	}
	for _, s := range g.dynamic {
		if at := g.enrollAt(c, s); at > 0 {
			g.schedule(c, s, at)
		}
	}
	// Between those, the sequences of the segments the contact is in, each
	// once, then the long-term newsletters.
	g.pool = g.pool[:0]
	for _, s := range g.static {
		switch g.eval(s.when, evalCtx{c: c, at: g.now}) {
		case yes:
			g.pool = append(g.pool, s)
		case maybe:
			if g.r.chance(0.3) {
				g.pool = append(g.pool, s)
			}
		}
	}
	last := len(g.stages) > 1 && c.stage == len(g.stages)-1
	if len(g.pool)+len(g.background) > 0 && !(last && g.r.chance(0.7)) {
		var cur *seqInfo
		step := 0
		for t := c.created + g.r.between(86400, 10*86400); t < g.now; t += g.r.between(9*86400, 24*86400) {
			if cur == nil || step >= len(cur.steps) {
				switch cur, step = nil, 0; {
				case len(g.pool) > 0:
					i := g.r.IntN(len(g.pool))
					cur = g.pool[i]
					g.pool = slices.Delete(g.pool, i, i+1)
				case len(g.background) > 0:
					cur = g.background[g.r.IntN(len(g.background))]
					if cur.winBack && (c.dormantAt == 0 || t < c.dormantAt+30*86400) {
						cur = nil // only the quiet get the "still interested?" mail
					}
				}
				if cur == nil {
					continue
				}
			}
			g.sends = append(g.sends, sendCand{at: g.sendTime(c, t), s: cur, step: step})
			step++
		}
	}
	slices.SortStableFunc(g.sends, func(x, y sendCand) int { return cmpInt(x.at, y.at) })

	lastMkt := int64(math.MinInt64 / 2)
	stopped := false
	for _, s := range g.sends {
		at := s.at
		if at >= g.now || at < c.created {
			continue
		}
		if !s.s.trans {
			// The cadence holds a second marketing email in a week back;
			// nobody mails a contact who opted out.
			if stopped || at-lastMkt < 7*86400 {
				continue
			}
			lastMkt = at
		}
		st := &s.s.steps[s.step]
		v := st.variants[st.w.draw(g.r)]
		// The send's context, and room for one more property.
		ctx5 := [5]prop{strProp("email", v.Email), strProp("sequence", s.s.name), strProp("step", st.name), strProp("variant", v.Name)}
		ctx := ctx5[:4]
		g.emit(c, e.sent, at, ctx...)
		if c.hardBounce {
			if e.bounced != nil {
				g.emit(c, e.bounced, at+g.r.between(5, 120), with(ctx5, strProp("kind", "hard"))...)
			}
			return
		}
		if g.r.chance(0.006) {
			if e.bounced != nil {
				g.emit(c, e.bounced, at+g.r.between(5, 600), with(ctx5, strProp("kind", "soft"))...)
			}
			continue
		}
		if c.dormantAt > 0 && at >= c.dormantAt {
			continue
		}
		openP := []float64{0.12, 0.3, 0.48, 0.62}[c.level]
		if s.s.trans {
			openP += 0.2
		}
		if e.opened == nil || !g.r.chance(openP) {
			continue
		}
		openAt := at + int64(min(max(g.r.logNormal(3*3600, 1.3), 60), 4*86400))
		g.emit(c, e.opened, openAt, ctx...)
		if g.r.chance(0.15) {
			g.emit(c, e.opened, openAt+g.r.between(3600, 3*86400), ctx...)
		}
		if e.clicked != nil && g.r.chance(0.22+0.06*float64(c.level)) {
			if link, ok := g.link(v.Email); ok {
				clickAt := openAt + g.r.between(5, 180)
				g.emit(c, e.clicked, clickAt, with(ctx5, strProp("url", link))...)
				if host, path, ok := splitURL(link); ok && g.viewPath != nil && (host == g.site || host == "www."+g.site) {
					path, _, _ = strings.Cut(path, "?")
					g.emit(c, g.view, clickAt+g.r.between(2, 20), strProp(g.viewPath.name, path))
				}
			}
		}
		if e.replied != nil && g.r.chance(0.015) {
			g.emit(c, e.replied, openAt+g.r.between(600, 86400), ctx...)
		}
		if !s.s.trans {
			switch x := g.r.Float64(); {
			case x < 0.004 && e.unsubscribed != nil:
				g.emit(c, e.unsubscribed, openAt+g.r.between(10, 300), ctx...)
				stopped = true
			case x < 0.0045 && e.complained != nil:
				g.emit(c, e.complained, openAt+g.r.between(10, 3600), ctx...)
				stopped = true
			}
		}
	}
}

// with is a send's context plus one property.
func with(ctx [5]prop, p prop) []prop {
	ctx[4] = p
	return ctx[:]
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// schedule plans the sends of a sequence an event started: transactional
// mail at once and days apart, marketing mail from the next day on.
func (g *gen) schedule(c *contact, s *seqInfo, at int64) {
	t := at + g.r.between(86400, 2*86400)
	if s.trans {
		t = at + g.r.between(120, 1800)
	}
	for k := range s.steps {
		if t >= g.now {
			return
		}
		send := t
		if !s.trans {
			send = g.sendTime(c, t)
		}
		g.sends = append(g.sends, sendCand{at: send, s: s, step: k})
		if s.trans {
			t += g.r.between(86400, 3*86400)
		} else {
			t += g.r.between(7*86400, 10*86400)
		}
	}
}

// entryMatches reports whether an event meets a sequence's entry
// condition's where clauses.
func (g *gen) entryMatches(ec *campaigns.EventCondition, ev event) bool {
	for i := range ec.Where {
		cond := &ec.Where[i]
		var v prop
		ok := false
		for _, p := range g.props[ev.p0:ev.p1] {
			if p.key == cond.Field {
				v, ok = p, true
			}
		}
		if !matchCond(cond, v, ok, g.h) {
			return false
		}
	}
	return true
}

// link picks a link of an email and fills its merge fields as far as the
// generator can: the account, and fallbacks.
func (g *gen) link(email string) (string, bool) {
	links := g.links[email]
	if len(links) == 0 {
		return "", false
	}
	var b strings.Builder
	for _, part := range links[g.r.IntN(len(links))] {
		switch {
		case part.Field == campaigns.AttrAccount:
			b.WriteString(url.PathEscape(g.acct.id))
		case part.Field != "" && part.Default != nil:
			b.WriteString(url.QueryEscape(*part.Default))
		case part.Field != "" || part.Link > 0:
			return "", false
		default:
			b.WriteString(part.Text)
		}
	}
	s := b.String()
	if _, _, ok := splitURL(s); !ok {
		return "", false
	}
	return s, true
}

// accountEvents are the events the CRM sync writes to every contact of an
// account, such as third-party intent surges: some accounts surge now and
// then, a share of them recently.
func (g *gen) accountEvents(a *account) {
	for _, t := range g.account {
		if !g.r.chance(0.18) {
			continue
		}
		recent := int64(14 * 86400)
		if d, ok := g.h.recent[t.name]; ok {
			recent = int64(d.Std().Seconds())
		}
		for i := range 1 + g.r.IntN(3) {
			at := g.r.between(g.start, g.now)
			if i == 0 && g.r.chance(0.4) {
				at = g.now - g.r.between(3600, recent)
			}
			// The sync runs daily at 06:00 UTC.
			at = floorDiv(at, 86400)*86400 + 6*3600
			if at >= g.now {
				at -= 86400
			}
			if at < g.start {
				continue
			}
			p0 := int32(len(a.props))
			for _, ps := range t.props {
				if ps.attr.Required || g.r.chance(0.88) {
					a.props = append(a.props, g.propValue(ps, nil))
				}
			}
			a.evs = append(a.evs, event{at: at, t: t, p0: p0, p1: int32(len(a.props))})
		}
	}
}

// emit adds an event, its properties from ov where given and generated
// otherwise. It drops what cannot be: events outside the history, before
// the contact existed, or engagement by a contact gone quiet.
func (g *gen) emit(c *contact, t *evType, at int64, ov ...prop) {
	if at < g.start || at >= g.now || at < c.created {
		return
	}
	if c.dormantAt > 0 && at >= c.dormantAt && campaigns.IsEngagement(t.name) {
		return
	}
	if t.builtin && len(g.anySeq) > 0 && !slices.ContainsFunc(ov, func(p prop) bool { return p.key == "sequence" }) {
		// An email event outside a send (a burst): give it a send's
		// context, after the values the burst asks for. The copy goes to
		// a buffer of g's so that ov itself never escapes.
		s := g.anySeq[g.r.IntN(len(g.anySeq))]
		st := &s.steps[g.r.IntN(len(s.steps))]
		v := st.variants[st.w.draw(g.r)]
		g.ov = append(append(g.ov[:0], ov...), strProp("email", v.Email), strProp("sequence", s.name), strProp("step", st.name), strProp("variant", v.Name))
		if l, ok := g.link(v.Email); ok {
			g.ov = append(g.ov, strProp("url", l))
		}
		ov = g.ov
	}
	p0 := int32(len(g.props))
	g.curPath = ""
	for _, ps := range t.props {
		found := false
		for _, o := range ov {
			if o.key == ps.name {
				g.props = append(g.props, o)
				if ps.kind == pkPath {
					g.curPath = o.s
				}
				found = true
				break
			}
		}
		if found || t.builtin && !ps.attr.Required {
			continue
		}
		if ps.attr.Required || g.r.chance(0.88) {
			g.props = append(g.props, g.propValue(ps, c))
		}
	}
	g.evs = append(g.evs, event{at: at, ord: int32(len(g.evs)), t: t, p0: p0, p1: int32(len(g.props))})
}

// propValue generates one property value. c is nil for account events.
func (g *gen) propValue(ps *propSpec, c *contact) prop {
	a, h := ps.attr, ps.hints
	p := prop{key: ps.name, kind: pStr}
	switch a.Type {
	case campaigns.TypeEnum:
		if ps.kind == pkPlan && c != nil && slices.Contains(a.Values, c.plan) {
			p.s = c.plan
		} else if len(a.Values) > 0 {
			p.s = a.Values[ps.enumW.draw(g.r)]
		}
		return p
	case campaigns.TypeInt:
		p.kind = pInt
		if ps.surge && ps.num == numPercent && (h == nil || !g.r.chance(0.25)) {
			// A surge is a spike: its strength is rarely low.
			p.n = 30 + g.r.Int64N(71)
		} else if ps.kind == pkMinutes {
			p.n = 5 + g.r.Int64N(56)
		} else {
			p.n = int64(math.Round(g.number(ps.num, h)))
		}
		return p
	case campaigns.TypeNumber:
		p.kind, p.f = pNum, g.number(ps.num, h)
		return p
	case campaigns.TypeBool:
		p.kind = pBool
		if g.r.chance(0.5) {
			p.n = 1
		}
		return p
	case campaigns.TypeTime:
		p.kind, p.n = pTime, g.pastTime(h)
		return p
	}
	switch ps.kind {
	case pkPath:
		p.s = g.pagePath(h)
		g.curPath = p.s
	case pkURL:
		p.s = "https://" + g.site + g.pagePath(h)
	case pkTitle:
		p.s = g.pageTitle(g.curPath)
	case pkAsset:
		p.s = g.hinted(h, g.assets)
	case pkWebinar:
		p.s = g.hinted(h, g.webinars)
	case pkConnector:
		p.s = g.hinted(h, connectors)
	case pkSource:
		p.s = g.hinted(h, sourceWords)
	case pkTopic:
		p.s = g.hinted(h, topicWords)
	case pkPlan:
		p.s = "pro"
		if c != nil && c.plan != "" {
			p.s = c.plan
		}
	default:
		p.s = g.hinted(h, genericWords)
	}
	return p
}

// hinted picks from the values the programme mentions a quarter of the
// time, from the usual values otherwise.
func (g *gen) hinted(h *fieldHints, usual []string) string {
	if h != nil && len(h.strs)+len(h.pats) > 0 && g.r.chance(0.25) {
		if s := g.hintString(h, nil); s != "" {
			return s
		}
	}
	return g.r.pick(usual)
}

// hintString is one of the strings the programme mentions for a field, or
// a string its patterns match. A pattern's sample that ends in a slash
// gets a page name after it: "^/product/" gives "/product/alerts".
func (g *gen) hintString(h *fieldHints, tails []string) string {
	i := g.r.IntN(len(h.strs) + len(h.pats))
	if i < len(h.strs) {
		return h.strs[i]
	}
	pt := h.pats[i-len(h.strs)]
	s := pt.sample(g.r.Rand)
	if strings.HasSuffix(s, "/") && len(tails) > 0 {
		if t := s + g.pageName(s, tails); pt.re.MatchString(t) {
			s = t
		}
	}
	return s
}

// pageName is a page of a site section: a post under /blog/, the
// account's own page under a section the emails link per account (a
// briefing at /briefings/{{ account }}), else one of tails.
func (g *gen) pageName(section string, tails []string) string {
	if slices.Contains(g.accountSections, section) {
		return g.acct.id
	}
	switch strings.Trim(section, "/") {
	case "blog":
		return g.r.pick(blogSlugs)
	case "docs":
		return g.r.pick(docsSlugs)
	case "customers":
		return g.r.pick(g.customers)
	case "resources", "research", "guides":
		return g.r.pick(g.assets)
	case "webinars":
		return g.r.pick(g.webinars)
	}
	return g.r.pick(tails)
}

// pagePath is a page of the site: a quarter of the time one the
// programme's conditions mention, else a weighted page of the usual ones.
func (g *gen) pagePath(h *fieldHints) string {
	if h != nil && len(h.strs)+len(h.pats) > 0 && g.r.chance(0.25) {
		if s := g.hintString(h, productSlugs); s != "" {
			return s
		}
	}
	return g.paths[g.pathW.draw(g.r)]
}

func (g *gen) pageTitle(path string) string {
	// Titles repeat with their pages; the cache is bounded because pages
	// per account (/briefings/<account>) are not.
	if t, ok := g.titles[path]; ok {
		return t
	}
	t := g.makeTitle(path)
	if len(g.titles) < 4096 {
		g.titles[path] = t
	}
	return t
}

func (g *gen) makeTitle(path string) string {
	p := strings.Trim(path, "/")
	if p == "" {
		return g.brand
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	return titleFromSlug(p) + " | " + g.brand
}

// satisfy returns property values that meet every where condition, for a
// burst.
func (g *gen) satisfy(t *evType, where []campaigns.Condition) []prop {
	var out []prop
	done := map[string]bool{}
	for i := range where {
		field := where[i].Field
		ps := t.propNamed(field)
		if ps == nil || done[field] {
			continue
		}
		done[field] = true
		var conds []*campaigns.Condition
		for j := range where {
			if where[j].Field == field {
				conds = append(conds, &where[j])
			}
		}
		// A few tries: a value drawn for one condition may miss another.
		for try := 0; try < 8; try++ {
			v := g.satisfyOne(ps, conds)
			ok := true
			for _, c := range conds {
				ok = ok && matchCond(c, v, true, g.h)
			}
			if ok || try == 7 {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

func (g *gen) satisfyOne(ps *propSpec, conds []*campaigns.Condition) prop {
	b := newBounds()
	for _, c := range conds {
		switch c.Cmp {
		case campaigns.CmpEq:
			if v, ok := literal(ps, c.Value); ok {
				return v
			}
		case campaigns.CmpIn:
			if len(c.Values) > 0 {
				if v, ok := literal(ps, c.Values[g.r.IntN(len(c.Values))]); ok {
					return v
				}
			}
		case campaigns.CmpMatches:
			if s, ok := c.Value.(string); ok {
				if pt := g.h.pattern(s); pt != nil {
					if v := g.hintString(&fieldHints{pats: []*pattern{pt}}, productSlugs); v != "" {
						return strProp(ps.name, v)
					}
				}
			}
		case campaigns.CmpWithin:
			if ps.attr.Type == campaigns.TypeTime && c.Span > 0 {
				return prop{key: ps.name, kind: pTime, n: g.now - g.r.between(60, int64(c.Span.Std().Seconds()))}
			}
		}
		b.apply(c)
	}
	if ps.attr.Type == campaigns.TypeInt || ps.attr.Type == campaigns.TypeNumber {
		lo, hi := numRange(ps.num)
		if !math.IsInf(b.lo, -1) {
			lo = b.lo
			if b.loOpen && ps.attr.Type == campaigns.TypeInt {
				lo = math.Floor(lo) + 1
			}
		}
		if !math.IsInf(b.hi, 1) {
			hi = b.hi
		}
		if hi < lo {
			hi = lo + max(lo, 10)
		}
		v := lo + g.r.Float64()*(hi-lo)
		if ps.attr.Type == campaigns.TypeInt {
			n := int64(math.Ceil(v))
			if b.hiOpen && float64(n) >= b.hi {
				n = int64(math.Ceil(b.hi)) - 1
			}
			return prop{key: ps.name, kind: pInt, n: max(n, int64(math.Ceil(lo)))}
		}
		return prop{key: ps.name, kind: pNum, f: math.Round(v*100) / 100}
	}
	return g.propValue(ps, nil)
}

// literal converts a condition's value to a property of the spec's type.
func literal(ps *propSpec, v any) (prop, bool) {
	p := prop{key: ps.name}
	switch v := v.(type) {
	case string:
		if ps.attr.Type != campaigns.TypeString && ps.attr.Type != campaigns.TypeEnum {
			return p, false
		}
		p.kind, p.s = pStr, v
	case float64:
		switch ps.attr.Type {
		case campaigns.TypeInt:
			p.kind, p.n = pInt, int64(v)
		case campaigns.TypeNumber:
			p.kind, p.f = pNum, v
		default:
			return p, false
		}
	case bool:
		if ps.attr.Type != campaigns.TypeBool {
			return p, false
		}
		p.kind = pBool
		if v {
			p.n = 1
		}
	default:
		return p, false
	}
	return p, true
}

// writeEvents writes the contact's events in time order, one JSON object
// a line.
func (g *gen) writeEvents(c *contact) {
	slices.SortFunc(g.evs, func(x, y event) int {
		if x.at != y.at {
			return cmpInt(x.at, y.at)
		}
		return int(x.ord - y.ord)
	})
	g.quoted = appendJSONString(g.quoted[:0], c.email)
	for _, e := range g.evs {
		b := append(g.line[:0], `{"id":"evt_`...)
		id := mix64(g.idKey + g.idN*0x9e3779b97f4a7c15)
		g.idN++
		for s := 60; s >= 0; s -= 4 {
			b = append(b, hexDigits[id>>uint(s)&0xf])
		}
		b = append(b, `","email":`...)
		b = append(b, g.quoted...)
		b = append(b, `,"name":`...)
		b = append(b, e.t.quoted...)
		b = append(b, `,"at":"`...)
		b = appendTime(b, e.at)
		b = append(b, '"')
		if e.p1 > e.p0 {
			b = append(b, `,"properties":{`...)
			for i, p := range g.props[e.p0:e.p1] {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, p.key)
				b = append(b, ':')
				switch p.kind {
				case pStr:
					b = appendJSONString(b, p.s)
				case pInt:
					b = strconv.AppendInt(b, p.n, 10)
				case pNum:
					b = strconv.AppendFloat(b, p.f, 'f', -1, 64)
				case pBool:
					b = strconv.AppendBool(b, p.n != 0)
				case pTime:
					b = append(b, '"')
					b = appendTime(b, p.n)
					b = append(b, '"')
				}
			}
			b = append(b, '}')
		}
		b = append(b, '}', '\n')
		g.line = b
		if _, err := g.ew.Write(b); err != nil && g.err == nil {
			g.err = err
		}
		g.stats.Events++
	}
}
