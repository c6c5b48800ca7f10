package cli

import (
	"bufio"
	"bytes"
	crand "crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"mime"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// slowPeer is an SMTP server that takes every message, slowly: it
// answers each message's final "." only after delay, so that a worker
// killed at a random moment is often mid-delivery. It notes every
// message it got whole, by Message-ID, whether or not the client stayed
// for the answer: those are the messages that may have been delivered.
type slowPeer struct {
	Addr  string
	delay time.Duration
	// rcptDelay slows the answer to RCPT TO: the time between a claim
	// and the hand-over of its message.
	rcptDelay time.Duration
	mu        sync.Mutex
	got       map[string]int       // by Message-ID
	at        map[string]time.Time // when a recipient's last message came whole
	to        map[string]string    // recipient by Message-ID
	subject   map[string]string    // Subject header, decoded, by Message-ID
}

func startSlowPeer(t testing.TB, delay time.Duration) *slowPeer {
	t.Helper()
	p := &slowPeer{delay: delay, got: map[string]int{}, at: map[string]time.Time{}, to: map[string]string{}, subject: map[string]string{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &slowSession{p: p}, nil }))
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0) // killed clients reset their connections
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *slowPeer) counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.got))
	for k, v := range p.got {
		out[k] = v
	}
	return out
}

// total is how many messages reached the peer.
func (p *slowPeer) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := 0
	for _, v := range p.got {
		k += v
	}
	return k
}

// waitFor returns once n messages reached the peer, stop is closed, or
// max has passed.
func (p *slowPeer) waitFor(n int, stop <-chan struct{}, max time.Duration) {
	deadline := time.Now().Add(max)
	for p.total() < n && time.Now().Before(deadline) {
		select {
		case <-stop:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

type slowSession struct {
	p  *slowPeer
	to string
}

func (s *slowSession) Reset()                               {}
func (s *slowSession) Logout() error                        { return nil }
func (s *slowSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *slowSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	time.Sleep(s.p.rcptDelay)
	s.to = to
	return nil
}
func (s *slowSession) Data(r io.Reader) error {
	began := time.Now()
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparseable message"}
	}
	mid := strings.Trim(h.Get("Message-Id"), "<>")
	s.p.mu.Lock()
	s.p.got[mid]++
	s.p.to[mid] = strings.ToLower(s.to)
	subj, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		subj = h.Get("Subject")
	}
	s.p.subject[mid] = subj
	s.p.at[strings.ToLower(s.to)] = began
	s.p.mu.Unlock()
	time.Sleep(s.p.delay)
	return nil
}

// pgSchema is like pgStore, but holds no connection between creating
// the schema and dropping it: a long run makes hundreds of schemas.
func pgSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("NURTURE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("NURTURE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("NURTURE_REQUIRE_POSTGRES=1 but NURTURE_TEST_POSTGRES names no server")
		}
		t.Skip("SKIPPED: set NURTURE_TEST_POSTGRES to run the PostgreSQL crash test")
	}
	exec := func(q string) error {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return err
		}
		defer admin.Close()
		_, err = admin.Exec(q)
		return err
	}
	schema := "nurture_crash_" + strings.ToLower(crand.Text()[:10])
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec("DROP SCHEMA " + schema + " CASCADE") })
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// crashStore is a fresh store of one kind, and SQL to look into it.
type crashStore struct {
	spec string
	db   *sql.DB
}

func newCrashStore(t *testing.T, kind string) crashStore {
	t.Helper()
	var s crashStore
	var err error
	switch kind {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "nurture.db")
		s.spec = "sqlite:" + path
		s.db, err = sql.Open("sqlite", path)
	case "postgres":
		s.spec = pgSchema(t)
		s.db, err = sql.Open("pgx", s.spec)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.db.Close() })
	return s
}

// query runs q and returns its rows as lines of space-separated values;
// the killed or running writer may hold SQLite's lock a moment.
func (s crashStore) query(t *testing.T, q string) []string {
	t.Helper()
	var err error
	for range 100 {
		var rows *sql.Rows
		if rows, err = s.db.Query(q); err == nil {
			var out []string
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err = rows.Scan(ptrs...); err != nil {
					break
				}
				parts := make([]string, len(vals))
				for i, v := range vals {
					if b, ok := v.([]byte); ok {
						v = string(b)
					}
					parts[i] = fmt.Sprint(v)
				}
				out = append(out, strings.Join(parts, " "))
			}
			rows.Close()
			if err == nil {
				if err = rows.Err(); err == nil {
					return out
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %v", q, err)
	return nil
}

func (s crashStore) count(t *testing.T, q string) int {
	t.Helper()
	n, _ := strconv.Atoi(s.query(t, q)[0])
	return n
}

// TestTickKilledAtRandom kills real nurture tick processes with SIGKILL
// at seeded random moments while they deliver to a slow SMTP peer over a
// pool of connections, on SQLite and PostgreSQL, and compares the
// outcome with the same ticks run without interruption:
//
//   - the same decisions: the same sends planned, the same enrollments;
//   - no duplicate: no Message-ID reaches the peer twice;
//   - nothing lost beyond the in-flight bound: every send ends accepted
//     (and the peer has it) or unknown, and each killed worker leaves at
//     most one pool of sends unknown, each marked as handed over;
//   - none lost: every send a killed worker held claimed but had not
//     marked as handed over is sent again, and reaches the peer once.
//
// NURTURE_CRASH_KILLS sets the kill points per store (default 50);
// NURTURE_CRASH_SEED the seed (default: the time, logged).
func TestTickKilledAtRandom(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs nurture as child processes")
	}
	kills := 50
	if s := os.Getenv("NURTURE_CRASH_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("NURTURE_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (NURTURE_CRASH_SEED=%d repeats it)", seed, seed)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "nurture")
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	const n, pool = 600, 4
	contacts := signups(t, n)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			// Each round's two stores, the killed one and the reference,
			// are copies of one with the sign-ups imported and the
			// programme applied.
			copies := storeCopies(t, kind, func(spec string) {
				for _, args := range [][]string{
					{"contacts", "import", contacts, "--dir", "testdata/base", "--rejects", filepath.Join(t.TempDir(), "r.csv")},
					{"apply", "testdata/base", "--auto-approve", "--now", "2026-11-23T14:00:00Z"},
				} {
					if out, errOut, code := run(t, append(args, "--store", spec)...); code != 0 {
						t.Fatalf("%s: %s%s", args[0], out, errOut)
					}
				}
			})
			rng := rand.New(rand.NewPCG(seed, 17))
			var midDelivery, requeued, rounds int
			for done := 0; done < kills; rounds++ {
				done += crashRound(t, kind, bin, copies, pool, rng, min(kills-done, 25), &midDelivery, &requeued)
				if t.Failed() {
					return
				}
				if kills > 50 {
					t.Logf("%d kill points checked, %d mid-delivery", done, midDelivery)
				}
			}
			t.Logf("%d kill points in %d rounds, %d of them while the worker had sends claimed; %d claimed sends never begun were sent again", kills, rounds, midDelivery, requeued)
			if midDelivery == 0 {
				t.Error("no kill landed mid-delivery: slow the peer or widen the kill window")
			}
		})
	}
}

// crashRound takes a fresh copy of the store and kills up to max ticks
// at random moments until every email is delivered, then checks the
// outcome against the same ticks run uninterrupted on another copy. It
// returns the kills made.
func crashRound(t *testing.T, kind, bin string, copies func(*testing.T) crashStore, pool int, rng *rand.Rand, max int, midDelivery, requeued *int) int {
	t.Helper()
	// A peer per round: the next round's store plans the same keys, so
	// the same Message-IDs.
	peer := startSlowPeer(t, 2*time.Millisecond)
	sender := fmt.Sprintf("smtp://%s?tls=none&pool=%d", peer.Addr, pool)
	st, ref := copies(t), copies(t)
	// Closed with the round: a long run would otherwise hold two pools of
	// connections per round until the end.
	defer st.db.Close()
	defer ref.db.Close()
	// Monday 10:00 in New York, then a tick every 16 minutes: past the
	// claims' lease, so each finds what the killed one left.
	at := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	var output bytes.Buffer
	var ats []string
	// unmarked are the sends killed workers held claimed without having
	// begun to hand them over: each must go again.
	unmarked := map[string]string{}
	kills := 0
	for ; kills < max; kills++ {
		now := at.Add(time.Duration(kills) * 16 * time.Minute).Format(time.RFC3339)
		ats = append(ats, now)
		if kills > 0 && st.count(t, `SELECT COUNT(*) FROM sends WHERE status IN ('planned', 'claimed')`) == 0 {
			break
		}
		spec := st.spec
		if kind == "postgres" {
			// Named, so that the server's sessions of this worker can be
			// told apart from the test's own and waited out after the kill.
			spec += "&application_name=" + fmt.Sprintf("w%d", kills)
		}
		cmd := exec.Command(bin, "tick", "--now", now, "--sender", sender, "--worker", fmt.Sprintf("w%d", kills), "--store", spec)
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if rng.IntN(2) == 0 {
			// A moment in the first 400ms: start-up, the lock, decisions.
			time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		} else {
			// A moment in delivery, however slowly a loaded machine gets
			// there: after a random number of messages more reach the peer.
			peer.waitFor(peer.total()+1+rng.IntN(40), exited, 30*time.Second)
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if st.count(t, fmt.Sprintf(`SELECT COUNT(*) FROM sends WHERE status = 'claimed' AND claimed_by = 'w%d'`, kills)) > 0 {
			*midDelivery++
		}
		if kind == "postgres" {
			// The server runs to the end a statement the killed worker
			// had sent, even one it has not yet read from the socket on a
			// busy machine: a mark may still commit. Each of the worker's
			// sessions ends only after that, when it finds the client
			// gone; wait until none is left.
			deadline := time.Now().Add(time.Minute)
			for st.count(t, fmt.Sprintf(`SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'w%d'`, kills)) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the killed worker w%d still has sessions on the server a minute later", kills)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		for _, key := range st.query(t, fmt.Sprintf(`SELECT key FROM sends WHERE status = 'claimed' AND claimed_by = 'w%d' AND handover_at IS NULL`, kills)) {
			unmarked[key] = fmt.Sprintf("w%d", kills)
		}
		// The operator who knows the worker is dead frees its lock.
		for _, id := range st.query(t, `SELECT id FROM locks WHERE name = 'tick'`) {
			if out, errOut, code := run(t, "force-unlock", id, "--store", st.spec); code != 0 {
				t.Fatalf("force-unlock: %s%s", out, errOut)
			}
		}
	}
	// A killed worker's last statement may still commit on the server
	// after the unlock above (PostgreSQL runs what it was sent): free
	// the lock once more rather than wait out its lease.
	for _, id := range st.query(t, `SELECT id FROM locks WHERE name = 'tick'`) {
		run(t, "force-unlock", id, "--store", st.spec)
	}
	// One more, uninterrupted, finds the last claims and sends the rest.
	last := at.Add(time.Duration(kills+1) * 16 * time.Minute).Format(time.RFC3339)
	ats = append(ats, last)
	if out, errOut, code := run(t, "tick", "--now", last, "--sender", sender, "--worker", "final", "--store", st.spec); code != 0 {
		t.Fatalf("the tick after the kills: %s%s\nthe killed ticks' output:\n%s", out, errOut, output.String())
	}
	// The same ticks, uninterrupted, to a peer of their own.
	refPeer := startSlowPeer(t, 0)
	for _, now := range ats {
		if out, errOut, code := run(t, "tick", "--now", now, "--sender", "smtp://"+refPeer.Addr+"?tls=none", "--worker", "ref", "--store", ref.spec); code != 0 {
			t.Fatalf("reference tick at %s: %s%s", now, out, errOut)
		}
	}

	const sends = `SELECT key FROM sends ORDER BY key`
	const enrollments = `SELECT e.sequence, c.email, e.state, e.step FROM enrollments e JOIN contacts c ON c.id = e.contact_id ORDER BY e.sequence, c.email`
	for _, q := range []string{sends, enrollments} {
		want, got := ref.query(t, q), st.query(t, q)
		if !slices.Equal(want, got) {
			t.Errorf("%s: %d rows uninterrupted, %d after %d kills; first differences: %v", q, len(want), len(got), kills, firstRowDiff(want, got))
		}
	}
	got := peer.counts()
	for mid, k := range got {
		if k > 1 {
			t.Errorf("Message-ID <%s> reached the peer %d times", mid, k)
		}
	}
	resent := 0
	for _, row := range st.query(t, `SELECT status, COALESCE(message_id, ''), key, CASE WHEN handover_at IS NULL THEN 'unmarked' ELSE 'marked' END, COALESCE(claimed_by, '') FROM sends`) {
		f := strings.Fields(row + " -")
		status, mid, key, mark, by := f[0], f[1], f[2], f[3], f[4]
		switch status {
		case "accepted":
			if got[mid] != 1 {
				t.Errorf("send <%s> is accepted but the peer got it %d times", mid, got[mid])
			}
			if unmarked[key] != "" {
				resent++
			}
		case "unknown":
			if mark != "marked" {
				t.Errorf("send %s is unknown but was never marked as handed over: it should have been sent again", key)
			}
			// Sent again, it may be another killed worker's unknown.
			if w := unmarked[key]; w == by {
				t.Errorf("send %s, which %s held claimed and never began to hand over, ended unknown instead of being sent again", key, w)
			} else if w != "" {
				resent++
			}
		default:
			t.Errorf("a send ended %s: %s", status, row)
		}
	}
	if resent != len(unmarked) {
		t.Errorf("%d sends killed workers held claimed and never began to hand over; %d of them were sent again", len(unmarked), resent)
	}
	*requeued += resent
	for _, row := range st.query(t, `SELECT claimed_by, COUNT(*) FROM sends WHERE status = 'unknown' GROUP BY claimed_by`) {
		var w string
		var k int
		fmt.Sscan(row, &w, &k)
		if k > pool {
			t.Errorf("killed worker %s left %d sends unknown, more than its pool of %d", w, k, pool)
		}
	}
	if t.Failed() {
		t.Logf("the killed ticks' output:\n%s", output.String())
	}
	return kills
}

func firstRowDiff(a, b []string) []string {
	var out []string
	for i := 0; i < max(len(a), len(b)) && len(out) < 3; i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("%q ≠ %q", x, y))
		}
	}
	return out
}

// signups writes a contacts file of n new sign-ups of the base programme
// who gave their consent, c0000@acme.example on.
func signups(t *testing.T, n int) string {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("email,company,industry,employees,signup_at,first_name,consent_at,consent_source,consent_wording\n")
	for i := range n {
		fmt.Fprintf(&csv, "c%04d@acme.example,Acme,saas,500,2026-11-20T09:00:00Z,C%d,2026-11-20T09:00:00Z,signup_form,v1\n", i, i)
	}
	contacts := filepath.Join(t.TempDir(), "contacts.csv")
	if err := os.WriteFile(contacts, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return contacts
}
