package scenario

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRates(t *testing.T) {
	for _, tc := range []struct {
		name, in, email string
		want            Rates
		err             string
	}{
		{name: "the rates of every email, as percentages", in: "click 3%, reply 1%, unsubscribe 0.2%, bounce 0.5%",
			want: Rates{"click": 0.03, "reply": 0.01, "unsubscribe": 0.002, "bounce": 0.005}},
		{name: "one email's, with = and a fraction", in: "emails/welcome.md: click=0.08,open 25%", email: "emails/welcome.md",
			want: Rates{"click": 0.08, "open": 0.25}},
		{name: "a rate of nothing is a rate", in: "complaint 0%", want: Rates{"complaint": 0}},
		{name: "a kind nobody does", in: "clicks 3%", err: `"clicks 3%": "clicks" is not something a recipient does; the kinds are bounce, open, click, reply, unsubscribe, complaint`},
		{name: "a rate over all", in: "click 101%", err: `"click 101%": the click rate "101%" is not a percentage from 0% to 100%`},
		{name: "a rate in words", in: "reply often", err: `"reply often": the reply rate "often" is not a percentage from 0% to 100%`},
		{name: "a kind with no rate", in: "click", err: `"click": "click" names no rate; write it as click 3%`},
		{name: "a kind twice", in: "click 3%, click 4%", err: `"click 3%, click 4%": click is given twice`},
		{name: "no email before the colon", in: ": click 3%", err: `": click 3%": name the email before the colon, as in emails/welcome.md: click 8%`},
		{name: "nothing", in: " ", err: `" " names no rate; write them as click 3%, reply 1%`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email, got, err := ParseRates(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if email != tc.email {
				t.Errorf("email %q, want %q", email, tc.email)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The draws are fixed by the seed and the send, and spread evenly: a
// rate of 3% is drawn for about 3% of sends.
func TestEngagementDraws(t *testing.T) {
	a := &engager{e: &Engagement{Seed: 1}}
	b := &engager{e: &Engagement{Seed: 2}}
	same, hits := 0, 0
	const n = 20000
	for i := range n {
		key := "k" + string(rune('a'+i%26)) + string(rune(i))
		if a.draw(key, EngageClick) != (&engager{e: &Engagement{Seed: 1}}).draw(key, EngageClick) {
			t.Fatalf("two draws of one seed and send differ")
		}
		if a.draw(key, EngageClick) == b.draw(key, EngageClick) {
			same++
		}
		if a.draw(key, EngageClick) < 0.03 {
			hits++
		}
		if d := a.delay(key, EngageClick); d < 10*60e9 || d > 72*3600e9+10*60e9 {
			t.Fatalf("a click %s after the send: outside 10m to 3d10m", d)
		}
	}
	if same > 0 {
		t.Errorf("%d draws the same under another seed", same)
	}
	if hits < n*25/1000 || hits > n*35/1000 {
		t.Errorf("a 3%% rate drew %d of %d sends, want about %d", hits, n, n*3/100)
	}
}
