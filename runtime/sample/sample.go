package sample

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// Options say how much data to make and over which time.
type Options struct {
	// Contacts is how many contacts to write.
	Contacts int
	// Seed picks the data: the same programme and Options give the same
	// bytes, another seed other people and events.
	Seed int64
	// Now is the end of the history: every time written is before it. It
	// is required, so that output never depends on when it was made.
	Now time.Time
	// Months is the span of history before Now; 6 when zero.
	Months int
	// Accounts, when set and the programme declares account attributes,
	// receives the accounts' own records as CSV: account (the key the
	// contacts' account column holds), then the account attributes in
	// name order. Asking for them changes nothing else a seed gives.
	Accounts io.Writer
}

// Stats count what Generate wrote.
type Stats struct {
	Contacts int
	Events   int
	// Accounts counts the account records written (Options.Accounts).
	Accounts int
}

// The fixed names of the contacts file's columns.
const (
	colConsentAt      = "consent_at"
	colConsentSource  = "consent_source"
	colConsentWording = "consent_wording"
)

// MaxMonths bounds Options.Months: a longer history is not a sample.
const MaxMonths = 120

// Generate writes opt.Contacts synthetic contacts of programme p as CSV to
// contacts and their events as JSON Lines to events.
//
// The contacts file has a header: email, stage (when the programme has
// stages), account, account_tier (when it declares tiers), timezone, the
// declared attributes in name order, and, when the lawful basis is
// consent, consent_at, consent_source and consent_wording. An empty cell
// is an unknown optional value; required attributes always have one.
// Times are in the history, except the end of a trial still running
// (trial_ends_at and the like), which is up to 14 days after Now.
//
// Each events line is {"id","email","name","at","properties"}, the
// properties typed as the event declares them (the key is left out when
// an event has none). Every time is in [Now − Months, Now), in UTC to the
// second. Events are in time order per contact, and contacts follow one
// another: the file is not sorted by time across contacts, which would
// need every event in memory at once. Event IDs are "evt_" and 16 hex
// digits, unique within a file and the same on every run.
func Generate(p *campaigns.Program, opt Options, contacts io.Writer, events io.Writer) (Stats, error) {
	if p == nil {
		return Stats{}, errors.New("sample: no programme")
	}
	if opt.Contacts < 0 {
		return Stats{}, fmt.Errorf("sample: %d contacts: want zero or more", opt.Contacts)
	}
	if opt.Now.IsZero() {
		return Stats{}, errors.New("sample: Options.Now is required: the time the history ends")
	}
	if opt.Months == 0 {
		opt.Months = 6
	}
	if opt.Months < 0 || opt.Months > MaxMonths {
		return Stats{}, fmt.Errorf("sample: %d months of history: want 1 to %d", opt.Months, MaxMonths)
	}
	g := newGen(p, opt)
	g.cw = csv.NewWriter(contacts)
	g.ew = bufio.NewWriterSize(events, 256<<10)
	if err := g.run(); err != nil {
		return g.stats, err
	}
	return g.stats, nil
}

// gen is one run: the programme read into tables once, the random source,
// and the state of the account being written.
type gen struct {
	p     *campaigns.Program
	opt   Options
	r     rng
	h     *hints
	start int64 // Unix seconds: the history is [start, now)
	now   int64

	cols     []*column
	header   []string
	stages   []string
	stageW   weights
	tiers    []string
	tierW    weights
	consent  bool
	roleCol  *column // the enum that says what a contact does: persona, committee_role, …
	planCol  *column
	abm      bool
	business [7]bool // days mail goes out, by time.Weekday

	countries []country
	countryW  weights
	zoneW     map[string]weights // by country code
	groupW    weights

	events   map[string]*evType
	view     *evType // the page-view-like event, if any
	viewPath *propSpec
	download *evType
	webReg   *evType
	webAtt   *evType
	demo     *evType
	meeting  *evType
	trial    *evType
	product  []*evType
	convert  []*evType
	account  []*evType // events the sync writes to a whole account
	others   []*evType
	email    emailEvents
	curPath  string // the path of the page view being generated, for its title
	titles   map[string]string
	ov       []prop

	site        string // the programme's website host
	brand       string
	paths       []string
	pathWeights []float64 // while the paths are collected
	pathW       weights
	assets      []string
	webinars    []string
	customers   []string
	hotPath     string // a pricing-like path, visited before a demo request
	// accountSections are site sections with a page per account, from
	// email links such as https://site/briefings/{{ account }}.
	accountSections []string
	background      []*seqInfo // entered by hand: long-term newsletters
	static          []*seqInfo // entered through segments on attributes alone
	dynamic         []*seqInfo // entered through segments on behaviour
	anySeq          []*seqInfo
	pool            []*seqInfo
	colIdx          map[string]int
	triggered       map[string][]*seqInfo
	links           map[string][]campaigns.Template
	aes             []person

	// Accounts and their names. Domains are unique by construction: a set
	// while generated names last, then the account number in the domain.
	acct        account
	acctN       int
	usedNames   map[string]bool
	usedDomains map[string]bool
	numbered    bool
	special     map[string]bool // domains taken from the programme's email patterns

	cur contact // the contact being written, reused
	cw  *csv.Writer
	ew  *bufio.Writer
	// The accounts' records, when written: their writer, their own
	// random source, header and columns.
	aw         *csv.Writer
	ar         rng
	acctHeader []string
	acctCols   []acctCol
	row        []string
	evs        []event
	props      []prop
	sends      []sendCand
	line       []byte
	quoted     []byte // the contact's email as a JSON string
	idKey      uint64
	idN        uint64
	stats      Stats
	err        error
}

// person is an account executive of the sender.
type person struct{ name, email string }

func newGen(p *campaigns.Program, opt Options) *gen {
	now := opt.Now.UTC().Truncate(time.Second)
	if now.Before(opt.Now) {
		// Keep Now itself out of the range when it has a fraction.
		now = now.Add(time.Second)
	}
	g := &gen{
		p:           p,
		opt:         opt,
		r:           newRNG(opt.Seed),
		h:           collectHints(p),
		now:         now.Unix(),
		start:       now.AddDate(0, -opt.Months, 0).Unix(),
		usedNames:   map[string]bool{},
		titles:      map[string]string{},
		usedDomains: map[string]bool{},
		special:     map[string]bool{},
		idKey:       mix64(uint64(opt.Seed) ^ 0x65767421),
	}
	g.stages = p.Contact.Stages
	g.tiers = p.Accounts.Tiers
	g.abm = len(g.tiers) > 0
	g.consent = p.Sender.LawfulBasis == "consent"
	g.setupDays()
	g.setupSite()
	g.setupColumns()
	g.setupCountries()
	g.setupEvents()
	g.setupSequences()
	g.setupTeam()
	g.setupAccounts()
	return g
}

func (g *gen) setupDays() {
	for _, d := range g.p.Cadence.BusinessDays {
		for wd := time.Sunday; wd <= time.Saturday; wd++ {
			if strings.EqualFold(d, wd.String()[:3]) {
				g.business[wd] = true
			}
		}
	}
	if g.business == [7]bool{} {
		for wd := time.Monday; wd <= time.Friday; wd++ {
			g.business[wd] = true
		}
	}
}

func (g *gen) setupCountries() {
	// A region enum can only say some regions; contacts come from
	// countries it can say, so every contact has a valid region.
	var regionVals []string
	for _, c := range g.cols {
		if c.kind == kRegion && c.attr.Type == campaigns.TypeEnum {
			regionVals = c.attr.Values
		}
	}
	var hinted []string
	if h := g.h.attrs["country"]; h != nil {
		hinted = h.strs
	}
	var w []float64
	for _, c := range countries {
		if regionVals != nil && regionValue(c.region, regionVals) == "" {
			continue
		}
		g.countries = append(g.countries, c)
		x := c.weight
		if slices.Contains(hinted, c.code) {
			x *= 1.25
		}
		w = append(w, x)
	}
	if len(g.countries) == 0 { // a region enum naming nothing known
		g.countries = slices.Clone(countries)
		w = w[:0]
		for _, c := range countries {
			w = append(w, c.weight)
		}
	}
	g.countryW = newWeights(w)
	g.zoneW = map[string]weights{}
	for _, c := range g.countries {
		zw := make([]float64, len(c.zones))
		for i, z := range c.zones {
			zw[i] = z.weight
		}
		g.zoneW[c.code] = newWeights(zw)
	}
	gw := make([]float64, numGroups)
	for _, c := range countries {
		gw[c.group] += c.weight
	}
	g.groupW = newWeights(gw)
}

// regionValue returns the enum value that names region r, or "".
func regionValue(r int, values []string) string {
	for _, v := range values {
		if slices.Contains(regionSynonyms[r], strings.ToLower(v)) {
			return v
		}
	}
	return ""
}

// setupSite finds the sender's website, its brand and the pages its
// emails link to, which become pages contacts visit.
func (g *gen) setupSite() {
	g.links = map[string][]campaigns.Template{}
	hosts := map[string]int{}
	var urls []string
	for _, path := range sortedKeys(g.p.Emails) {
		e := g.p.Emails[path]
		if e == nil {
			continue
		}
		for _, l := range e.Links {
			g.links[path] = append(g.links[path], l.URL)
			u := literalPrefix(l.URL)
			if n := len(l.URL); n >= 2 && l.URL[n-1].Field == campaigns.AttrAccount && l.URL[n-2].Field == "" {
				if _, p, ok := splitURL(u); ok && strings.HasSuffix(p, "/") {
					addUnique(&g.accountSections, p)
				}
			}
			host, _, ok := splitURL(u)
			if ok {
				hosts[host]++
				urls = append(urls, u)
			}
		}
	}
	// The site is the host most links go to, not an app. or docs.
	// subdomain; failing links, the sender's own domain.
	best := 0
	for _, h := range sortedKeys(hosts) {
		if n := hosts[h]; n > best && !strings.HasPrefix(h, "app.") && !strings.HasPrefix(h, "docs.") && !strings.HasPrefix(h, "go.") {
			g.site, best = h, n
		}
	}
	if g.site == "" {
		for _, addr := range []string{g.p.Sender.ReplyTo, g.p.Sender.FromEmail} {
			if _, d, ok := strings.Cut(addr, "@"); ok && d != "" {
				g.site = strings.TrimPrefix(strings.ToLower(d), "mail.")
				break
			}
		}
	}
	if g.site == "" {
		g.site = "acme.example"
	}
	label, _, _ := strings.Cut(strings.TrimPrefix(g.site, "www."), ".")
	g.brand = titleFromSlug(label)

	// Pages: the usual sections of a B2B site, weighted, plus every page
	// an email links to.
	add := func(p string, w float64) {
		if i := slices.Index(g.paths, p); i >= 0 {
			return
		}
		g.paths = append(g.paths, p)
		g.pathWeights = append(g.pathWeights, w)
	}
	add("/", 10)
	add("/pricing", 6)
	add("/product", 4)
	for _, s := range productSlugs {
		add("/product/"+s, 1)
	}
	for _, s := range blogSlugs {
		add("/blog/"+s, 1)
	}
	for _, s := range docsSlugs {
		add("/docs/"+s, 0.7)
	}
	add("/customers", 2)
	add("/integrations", 2)
	add("/about", 1)
	add("/careers", 0.6)
	add("/security", 1)
	add("/contact", 0.8)
	g.customers = slices.Clone(customerSlugs)
	g.assets = slices.Clone(assetSlugs)
	g.webinars = slices.Clone(webinarSlugs)
	for _, u := range urls {
		host, path, _ := splitURL(u)
		if host != g.site && host != "www."+g.site {
			continue
		}
		path, _, _ = strings.Cut(path, "?")
		if path == "" || strings.HasSuffix(path, "/") && path != "/" {
			continue // a link whose end is a merge field
		}
		if strings.Contains(path, "preferences") || strings.Contains(path, "unsubscribe") || strings.Contains(path, "opt-out") {
			continue // reached from an email, not browsed to
		}
		add(path, 0.5)
		section, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		if rest == "" || strings.Contains(rest, "/") {
			continue
		}
		switch section {
		case "customers":
			addUnique(&g.customers, rest)
		case "resources", "research", "guides", "ebooks", "whitepapers", "reports":
			addUnique(&g.assets, rest)
		case "webinars", "events":
			addUnique(&g.webinars, rest)
		}
	}
	for _, c := range g.customers {
		add("/customers/"+c, 0.8)
	}
	g.pathW = newWeights(g.pathWeights)
	g.pathWeights = nil
	g.hotPath = "/pricing"
	if vh := g.h.props; vh != nil {
		for _, ev := range sortedKeys(vh) {
			for _, name := range sortedKeys(vh[ev]) {
				for _, s := range vh[ev][name].strs {
					if strings.Contains(s, "pricing") && strings.HasPrefix(s, "/") {
						g.hotPath = s
					}
				}
			}
		}
	}
}

func addUnique(s *[]string, v string) {
	if !slices.Contains(*s, v) {
		*s = append(*s, v)
	}
}

// literalPrefix is a link's text up to its first merge field.
func literalPrefix(t campaigns.Template) string {
	var b strings.Builder
	for _, part := range t {
		if part.Field != "" || part.Link > 0 {
			break
		}
		b.WriteString(part.Text)
	}
	return b.String()
}

// splitURL splits an http(s) URL into host and path.
func splitURL(u string) (host, path string, ok bool) {
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(u, "http://"); !ok {
			return "", "", false
		}
	}
	host, path, _ = strings.Cut(rest, "/")
	return strings.ToLower(host), "/" + path, host != ""
}

// setupTeam makes the sender's account executives, who own accounts.
func (g *gen) setupTeam() {
	n := 5 + g.r.IntN(4)
	seen := map[string]bool{}
	for len(g.aes) < n {
		grp := nameGroups[g.groupW.draw(g.r)]
		first, last := g.r.pick(grp.first), g.r.pick(grp.last)
		local := asciiFold(first) + "." + asciiFold(last)
		if seen[local] {
			continue
		}
		seen[local] = true
		g.aes = append(g.aes, person{name: first + " " + last, email: local + "@" + g.site})
	}
}

// run writes the header, then account after account until enough
// contacts are written.
func (g *gen) run() error {
	if err := g.cw.Write(g.header); err != nil {
		return err
	}
	g.row = make([]string, len(g.cols))
	for g.stats.Contacts < g.opt.Contacts {
		g.newAccount(g.opt.Contacts - g.stats.Contacts)
		for g.acct.done < g.acct.size {
			c := g.newContact()
			g.writeContact(c)
			g.contactEvents(c)
			g.writeEvents(c)
			g.acct.done++
			g.stats.Contacts++
			if g.err != nil {
				return g.err
			}
		}
		if err := g.cw.Error(); err != nil {
			return err
		}
	}
	g.cw.Flush()
	if err := g.cw.Error(); err != nil {
		return err
	}
	if g.aw != nil {
		if g.aw.Flush(); g.aw.Error() != nil {
			return g.aw.Error()
		}
	}
	if g.err != nil {
		return g.err
	}
	return g.ew.Flush()
}
