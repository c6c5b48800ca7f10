package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/engine"
)

// blackoutWorld is the base programme with a country attribute, mail on
// every day of the week, and blackout as its calendar. Its welcome
// sequence sends hello on the tick a new signup enters.
func blackoutWorld(t *testing.T, b *campaigns.Blackout) (*world, *[]engine.Trace) {
	t.Helper()
	w := newWorld(t)
	p := w.eng.Program
	p.Contact.Attributes[campaigns.AttrCountry] = &campaigns.Attribute{Type: campaigns.TypeString}
	if err := w.st.SyncSchema(context.Background(), &p.Contact); err != nil {
		t.Fatal(err)
	}
	p.Cadence.BusinessDays = nil
	p.Cadence.Blackout = b
	var held []engine.Trace
	w.eng.Observe = func(tr engine.Trace) {
		if tr.Deferred {
			held = append(held, tr)
		}
	}
	return w, &held
}

func days(spans ...string) []campaigns.DateSpan {
	var out []campaigns.DateSpan
	for _, s := range spans {
		from, to, ok := strings.Cut(s, "..")
		if !ok {
			to = from
		}
		out = append(out, campaigns.DateSpan{From: from, To: to})
	}
	return out
}

// A send due on a blackout date waits for the first moment of the
// sending window after the blackout, in the contact's time zone, and
// says so as a hold of its own.
func TestBlackoutDateHoldsTheSend(t *testing.T) {
	w, held := blackoutWorld(t, &campaigns.Blackout{Dates: days("12-24..12-26")})
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Thursday 24 December 2026, 10:00 in Berlin: open by the clock.
	christmasEve := time.Date(2026, 12, 24, 10, 0, 0, 0, berlin)
	w.contact("ann@acme.example", christmasEve.AddDate(0, 0, -2), "timezone", "Europe/Berlin")
	r := w.tick(christmasEve)
	if r.Enrolled["welcome"] != 1 || r.Planned != 0 || r.Deferred != 1 {
		t.Fatalf("tick on 24 December: %+v", r)
	}
	sunday8 := time.Date(2026, 12, 27, 8, 0, 0, 0, berlin)
	es := w.enrollments("ann@acme.example")
	if len(es) != 1 || !es[0].NextCheckAt.Equal(sunday8) {
		t.Fatalf("enrollment: %+v; want the next check on 27 December 08:00 Berlin", es)
	}
	wantWhy := "held back by the blackout date Thu 24 Dec 2026 in Europe/Berlin"
	if es[0].Waiting != wantWhy {
		t.Errorf("waiting = %q, want %q", es[0].Waiting, wantWhy)
	}
	if len(*held) != 1 || (*held)[0].Held != engine.HeldBlackout || !(*held)[0].Until.Equal(sunday8) {
		t.Errorf("trace: %+v; want one hold by %s until %s", *held, engine.HeldBlackout, sunday8)
	}
	// Ticks on the 25th and the 26th, and the last minute before the
	// window opens, send nothing.
	for _, at := range []time.Time{christmasEve.AddDate(0, 0, 1), christmasEve.AddDate(0, 0, 2), sunday8.Add(-time.Minute)} {
		if r := w.tick(at); r.Planned != 0 {
			t.Errorf("sent at %s, a blackout date: %+v", at.In(berlin), r)
		}
	}
	if r := w.tick(sunday8); r.Planned != 1 {
		t.Errorf("not sent when the blackout ended: %+v", r)
	}
	if diff := cmp.Diff([]string{"hello 2026-12-27T07:00:00Z"}, w.sends("ann@acme.example")); diff != "" {
		t.Errorf("ann's emails (-want +got):\n%s", diff)
	}
}

// A blackout date is a date where the contact is: at 23:30 UTC on 23
// December it is already the 24th in Berlin and still the 23rd in New
// York.
func TestBlackoutDateInTheContactsZone(t *testing.T) {
	w, _ := blackoutWorld(t, &campaigns.Blackout{Dates: days("2026-12-24")})
	w.eng.Program.Cadence.QuietHours = nil
	at := time.Date(2026, 12, 23, 23, 30, 0, 0, time.UTC)
	w.contact("berlin@acme.example", at.AddDate(0, 0, -1), "timezone", "Europe/Berlin")
	w.contact("newyork@acme.example", at.AddDate(0, 0, -1), "timezone", "America/New_York")
	if r := w.tick(at); r.Planned != 1 || r.Deferred != 1 {
		t.Fatalf("tick: %+v; want one sent and one held", r)
	}
	if got := w.sends("newyork@acme.example"); len(got) != 1 {
		t.Errorf("New York, 23 December: %v; want hello", got)
	}
	es := w.enrollments("berlin@acme.example")
	if want := time.Date(2026, 12, 24, 23, 0, 0, 0, time.UTC); len(es) != 1 || !es[0].NextCheckAt.Equal(want) {
		t.Errorf("Berlin: %+v; want the next check at midnight on the 25th, Berlin time (%s)", es, want)
	}
}

// A country's dates hold the contacts whose country attribute names it,
// in any case, and no one else.
func TestCountryBlackoutHoldsOnlyThatCountry(t *testing.T) {
	w, held := blackoutWorld(t, &campaigns.Blackout{Countries: map[string][]campaigns.DateSpan{"DE": days("12-24")}})
	berlin, _ := time.LoadLocation("Europe/Berlin")
	christmasEve := time.Date(2026, 12, 24, 10, 0, 0, 0, berlin)
	for _, c := range []struct{ email, country string }{
		{"de@acme.example", "DE"}, {"lower@acme.example", "de"}, {"us@acme.example", "US"}, {"none@acme.example", ""},
	} {
		kv := []any{"timezone", "Europe/Berlin"}
		if c.country != "" {
			kv = append(kv, "country", c.country)
		}
		w.contact(c.email, christmasEve.AddDate(0, 0, -2), kv...)
	}
	if r := w.tick(christmasEve); r.Planned != 2 || r.Deferred != 2 {
		t.Fatalf("tick: %+v; want two sent and two held", r)
	}
	for email, want := range map[string]int{"de@acme.example": 0, "lower@acme.example": 0, "us@acme.example": 1, "none@acme.example": 1} {
		if got := w.sends(email); len(got) != want {
			t.Errorf("%s: %v; want %d email", email, got, want)
		}
	}
	for _, h := range *held {
		if h.Held != engine.HeldBlackout || !strings.Contains(h.Why, "(DE)") {
			t.Errorf("hold %+v; want one by the blackout dates of DE", h)
		}
	}
	if r := w.tick(time.Date(2026, 12, 25, 8, 0, 0, 0, berlin)); r.Planned != 2 {
		t.Errorf("the 25th: %+v; want the two held sent", r)
	}
}

// When a cap frees a send on a blackout date, the blackout decides when
// it goes, and the hold names it rather than the cap.
func TestBlackoutAfterTheCapNamesTheBlackout(t *testing.T) {
	w, held := blackoutWorld(t, &campaigns.Blackout{Dates: days("12-24..12-26")})
	w.eng.Program.Cadence.Limits = []campaigns.Limit{{Max: 1, Per: campaigns.Duration(8 * 24 * time.Hour)}}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	friday18 := time.Date(2026, 12, 18, 10, 0, 0, 0, berlin)
	w.contact("ann@acme.example", friday18.AddDate(0, 0, -1), "timezone", "Europe/Berlin")
	w.tick(friday18) // hello; the guide is due a week later, on the 25th
	*held = nil
	// On the 25th the cap holds the guide until the 26th, and the
	// blackout until the 27th.
	if r := w.tick(friday18.AddDate(0, 0, 7)); r.Planned != 0 || r.Deferred != 1 {
		t.Fatalf("the guide's tick: %+v", r)
	}
	if h := (*held)[0]; h.Held != engine.HeldBlackout || h.Why != "held back by the blackout date Sat 26 Dec 2026 in Europe/Berlin" ||
		!h.Until.Equal(time.Date(2026, 12, 27, 8, 0, 0, 0, berlin)) {
		t.Errorf("hold %+v; want the blackout of the 26th until 27 December 08:00", h)
	}
}
