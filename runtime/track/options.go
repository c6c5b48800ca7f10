package track

import (
	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/render"
)

// SendOptions are the options a send renders with: its sequence's UTM
// parameters and, when the programme has a tracking server and k is not
// nil, its click, open, unsubscribe, preference and web-view URLs signed
// for the send. The engine renders a send with them, and the web view
// renders it again with the same ones, so that both show one email.
func SendOptions(p *campaigns.Program, k *Keys, send, contact int64, sequence, step string) render.Options {
	utm := campaigns.UTM{Source: p.Sender.UTM.Source, Medium: p.Sender.UTM.Medium, Campaign: p.Sender.UTM.Campaign, Content: step}
	if seq := p.Sequences[sequence]; seq != nil {
		utm = seq.UTM
		if utm.Content == "" {
			utm.Content = step
		}
	}
	o := render.Options{UTM: utm}
	base := p.Sender.TrackingURL
	if base == "" || k == nil {
		return o
	}
	sign := func(t Token) string { return URL(base, t.Kind, k.Sign(t)) }
	o.TrackLink = func(n int, u string) string {
		return sign(Token{Kind: Click, Send: send, Contact: contact, Link: n, URL: u})
	}
	o.OpenPixel = sign(Token{Kind: Open, Send: send, Contact: contact})
	o.UnsubscribeURL = sign(Token{Kind: Unsubscribe, Send: send, Contact: contact})
	o.PreferencesURL = sign(Token{Kind: Preferences, Send: send, Contact: contact})
	o.WebViewURL = sign(Token{Kind: WebView, Send: send, Contact: contact})
	return o
}
