package engine

import (
	"math"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

func TestCapFree(t *testing.T) {
	day := 24 * time.Hour
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ago := func(ds ...float64) []time.Time {
		var out []time.Time
		for _, d := range ds {
			out = append(out, t0.Add(-time.Duration(d*float64(day))))
		}
		return out
	}
	weekly := []campaigns.Limit{{Max: 1, Per: campaigns.MustDuration("7d")}}
	both := []campaigns.Limit{{Max: 1, Per: campaigns.MustDuration("7d")}, {Max: 3, Per: campaigns.MustDuration("30d")}}
	for _, c := range []struct {
		name   string
		limits []campaigns.Limit
		sent   []time.Time
		want   time.Duration // after t0
	}{
		{"nothing sent", weekly, nil, 0},
		{"no limits", nil, ago(0), 0},
		{"sent 8 days ago", weekly, ago(8), 0},
		{"sent exactly 7 days ago: out of the window", weekly, ago(7), 0},
		{"sent 3 days ago: wait 4 more", weekly, ago(3), 4 * day},
		{"sent just now", weekly, ago(0), 7 * day},
		{"two of three in 30 days, none this week", both, ago(10, 20), 0},
		{"three in 30 days: the oldest must leave", both, ago(10, 20, 25), 5 * day},
		{"both limits hold: the later wins", both, ago(2, 20, 25), 5 * day},
		{"unordered input", both, ago(25, 2, 20), 5 * day},
		{"a send in the future does not count yet", weekly, ago(-1), 0},
	} {
		got := CapFree(c.limits, c.sent, t0).Sub(t0)
		if got != c.want {
			t.Errorf("%s: free after %s, want %s", c.name, got, c.want)
		}
	}
}

func TestSendTime(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	w := Window{Quiet: &campaigns.QuietHours{From: tod("19:00"), To: tod("08:00")}, Days: []string{"mon", "tue", "wed", "thu", "fri"}, Loc: ny}
	weekly := []campaigns.Limit{{Max: 1, Per: campaigns.MustDuration("7d")}}
	// Sent Tuesday 10:00; the cap frees the next Tuesday 10:00, in hours.
	sent := []time.Time{time.Date(2026, 11, 24, 10, 0, 0, 0, ny)}
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, ny)
	if got, want := SendTime(w, weekly, sent, t0, false), time.Date(2026, 12, 1, 10, 0, 0, 0, ny); !got.Equal(want) {
		t.Errorf("capped: %s, want %s", got, want)
	}
	// Sent Friday 20:00 (transactional, say): the cap frees Friday 20:00
	// a week on, which is quiet and then the weekend: Monday 08:00.
	sent = []time.Time{time.Date(2026, 11, 27, 20, 0, 0, 0, ny)}
	t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, ny)
	if got, want := SendTime(w, weekly, sent, t0, false), time.Date(2026, 12, 7, 8, 0, 0, 0, ny); !got.Equal(want) {
		t.Errorf("capped into a weekend: %s, want %s", got, want)
	}
	if got := SendTime(w, weekly, sent, t0, true); !got.Equal(t0) {
		t.Errorf("transactional: %s, want now", got)
	}
}

func TestVariant(t *testing.T) {
	vs := []campaigns.Variant{{Name: "long", Weight: 50}, {Name: "short", Weight: 30}, {Name: "tiny", Weight: 20}}
	counts := map[string]int{}
	const n = 20000
	for id := range int64(n) {
		v := Variant(vs, id, "nurture", "webinar")
		if again := Variant(vs, id, "nurture", "webinar"); again.Name != v.Name {
			t.Fatalf("contact %d got %s, then %s", id, v.Name, again.Name)
		}
		counts[v.Name]++
	}
	for _, v := range vs {
		share := float64(counts[v.Name]) / n * 100
		if math.Abs(share-float64(v.Weight)) > 2 {
			t.Errorf("%s: %.1f%% of contacts, want about %d%%", v.Name, share, v.Weight)
		}
	}
	// Another step deals the arms afresh.
	same := 0
	for id := range int64(1000) {
		if Variant(vs, id, "nurture", "webinar").Name == Variant(vs, id, "nurture", "other").Name {
			same++
		}
	}
	if same > 500 {
		t.Errorf("%d of 1000 contacts got the same arm in two steps; the steps are not independent", same)
	}
	if v := Variant(vs[:1], 7, "a", "b"); v.Name != "long" {
		t.Errorf("one arm: %s", v.Name)
	}
}
