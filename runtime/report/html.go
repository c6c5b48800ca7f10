package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// HTML writes the report as one self-contained page: inline CSS, charts
// drawn here as inline SVG, no script and nothing fetched from elsewhere,
// so that it opens from a file, an attachment or behind a proxy alike.
// The charts' viewBoxes are sized for a phone, where they are drawn at
// about their own size, and the tables turn into cards on a narrow
// screen rather than scroll sideways.
func HTML(w io.Writer, r Report) error {
	return page.Execute(w, htmlData(r))
}

type htmlSequence struct {
	Sequence
	Chart template.HTML
	Line  string
	Color string
}

type htmlExperiment struct {
	Experiment
	Where string
	Chart template.HTML
}

type htmlHoldout struct {
	Holdout
	Where, Lift string
	Chart       template.HTML
	Sure        bool
}

type htmlPage struct {
	Title, Period, Benchmarks, Machine string
	Summary                            []summaryCard
	Funnel                             template.HTML
	FunnelOf                           string
	StageTimes                         []StageTime
	StageNote                          string
	SubjectTests                       []htmlExperiment
	Sequences                          []htmlSequence
	Experiments                        []htmlExperiment
	Holdouts                           []htmlHoldout
	Columns                            []string
	Flags                              []string
}

type summaryCard struct{ Label, Value, Note string }

// palette tells the sequences apart; it cycles past its end.
var palette = []string{"#2f6fba", "#d9822b", "#3a9a5b", "#8e5bb5", "#c0463f", "#4b9fa8"}

func htmlData(r Report) htmlPage {
	p := htmlPage{Title: "nurture report", Period: period(r), Benchmarks: benchmarkLine(), Machine: machineNote(r), Columns: columns}
	var total Row
	for _, s := range r.Sequences {
		total.Sent += s.Total.Sent
		total.Delivered += s.Total.Delivered
		total.Clicks += s.Total.Clicks
		total.Replies += s.Total.Replies
		total.Unsubscribes += s.Total.Unsubscribes
	}
	outcome, of := r.Programme, "all sequences, each contact once"
	if outcome == nil && len(r.Sequences) == 1 {
		outcome, of = &r.Sequences[0].Outcome, r.Sequences[0].Name
	}
	if outcome != nil {
		p.Summary = append(p.Summary, summaryCard{"contacts enrolled", strconv.Itoa(outcome.Contacts), of})
	}
	p.Summary = append(p.Summary,
		summaryCard{"sent", strconv.Itoa(total.Sent), strconv.Itoa(total.Delivered) + " delivered"},
		summaryCard{"click-through", Percent(float64(NewRate(total.Clicks, total.Delivered).Value)), strconv.Itoa(total.Clicks) + " contacts clicked"},
		summaryCard{"unsubscribed", Percent(float64(NewRate(total.Unsubscribes, total.Delivered).Value)), strconv.Itoa(total.Unsubscribes) + " contacts"},
	)
	if outcome != nil {
		p.Summary = append(p.Summary, summaryCard{"hand-offs to sales", strconv.Itoa(outcome.Handoffs), Percent(float64(outcome.HandoffRate.Value)) + " of contacts"})
		if g := outcome.Goal; g != nil {
			note := strconv.Itoa(g.Rate.Count) + " " + plural(g.Rate.Count, "contact", "contacts")
			if g.Exits > 0 {
				note += "; goal exits after " + days(float64(g.DaysToExit)) + " on average"
			}
			p.Summary = append(p.Summary, summaryCard{"reached a goal", Percent(float64(g.Rate.Value)), note})
		}
		p.Funnel, p.FunnelOf = funnelChart(outcome.Funnel), of
		if hasStageTimes(outcome.StageTimes) {
			p.StageTimes, p.StageNote = outcome.StageTimes, stageNote(r)
		}
	}
	for i, s := range r.Sequences {
		color := palette[i%len(palette)]
		p.Sequences = append(p.Sequences, htmlSequence{Sequence: s, Chart: weekChart(s.Weeks, color), Line: funnelLine(s.Outcome), Color: color})
	}
	for _, ex := range r.Experiments {
		p.Experiments = append(p.Experiments, htmlExperiment{Experiment: ex, Where: where(ex.Sequence, ex.Step, ""), Chart: armChart(ex)})
	}
	for _, ex := range r.SubjectTests {
		p.SubjectTests = append(p.SubjectTests, htmlExperiment{Experiment: ex, Where: subjectWhere(ex), Chart: armChart(ex)})
	}
	for _, h := range r.Holdouts {
		p.Holdouts = append(p.Holdouts, htmlHoldout{Holdout: h, Where: holdoutName(h), Lift: liftLine(h), Chart: holdoutChart(h), Sure: float64(h.Lift.Low) > 0})
	}
	for _, f := range r.Flags {
		p.Flags = append(p.Flags, where(f.Sequence, f.Step, f.Variant)+": "+f.Message)
	}
	return p
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"cells": func(row Row, total bool) []string { return cells(row, total) },
	"flagged": func(row Row, col string) bool {
		switch col {
		case "CTR":
			return row.CTR.Flag != nil
		case "CTOR":
			return row.CTOR.Flag != nil
		case "REPLY":
			return row.ReplyRate.Flag != nil
		case "UNSUB":
			return row.UnsubRate.Flag != nil
		}
		return false
	},
	"col":  func(i int) string { return columns[i] },
	"num":  func(i int) bool { return i >= 3 },
	"many": func(n int) bool { return n > 1 },
	"span": stageSpan,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{.Title}}</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:.2em 0}
h2{font-size:1.2em;margin:0 0 .5em}
h3{font-size:1em;margin:0 0 .4em;overflow-wrap:anywhere}
p{margin:.4em 0}
.muted{color:#5b6475;font-size:.9em}
section{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:14px;margin:14px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:14px 0}
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:10px 12px}
.card b{display:block;font-size:1.5em}
.card span{display:block;color:#5b6475;font-size:.85em}
svg{display:block;width:100%;height:auto;max-width:480px}
svg text{font-family:inherit}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.4em;vertical-align:-.05em}
table{border-collapse:collapse;width:100%;font-size:.85em;margin:.6em 0}
th,td{padding:4px 6px;border-bottom:1px solid #e8ebf0;text-align:left;white-space:nowrap}
th{color:#5b6475;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.flag{color:#b3261e;font-weight:600}
tr.total td{font-weight:600;border-top:2px solid #c9ced8}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:14px}
.verdict{font-weight:600;font-size:.95em}
.win{color:#1f7a3f}
ul.flags,ul.subjects{padding-left:1.2em;margin:.3em 0}
ul.subjects li{overflow-wrap:anywhere}
table.stages th,table.stages td{white-space:normal}
ul.flags li{color:#b3261e;overflow-wrap:anywhere}
@media (max-width:760px){
 main{padding:10px}
 table.steps thead{display:none}
 table.steps,table.steps tbody,table.steps tr,table.steps td{display:block;width:100%}
 table.steps tr{border:1px solid #e1e5ec;border-radius:6px;margin:0 0 8px;padding:6px 10px;display:grid;grid-template-columns:1fr 1fr;column-gap:18px}
 table.steps td{border:0;padding:2px 0;white-space:normal;overflow-wrap:anywhere;display:flex;justify-content:space-between;gap:8px}
 table.steps td[data-label=EMAIL]{grid-column:1/-1}
 table.steps td.n{text-align:right}
 table.steps td::before{content:attr(data-label);color:#5b6475;font-weight:600;text-align:left}
 table.steps td.empty{display:none}
}
</style></head>
<body><main>
<h1>{{.Title}}</h1>
<p>{{.Period}}</p>
<p class="muted">{{.Benchmarks}}</p>
<div class="cards">{{range .Summary}}<div class="card"><span>{{.Label}}</span><b>{{.Value}}</b><span>{{.Note}}</span></div>{{end}}</div>
{{if .Funnel}}<section id="funnel"><h2>Funnel</h2><p class="muted">Contacts by how far they got through the lifecycle stages, {{.FunnelOf}}.</p>{{.Funnel}}{{if .StageTimes}}
<table class="stages"><thead><tr><th>stage</th><th class="n">from entry: median, p75 (contacts)</th><th class="n">from creation: median, p75 (contacts)</th></tr></thead><tbody>
{{range .StageTimes}}<tr><td>{{.Stage}}</td><td class="n">{{span .FromEntry}}</td><td class="n">{{span .FromCreated}}</td></tr>
{{end}}</tbody></table><p class="muted">{{.StageNote}}</p>{{end}}</section>{{end}}
{{if not .Sequences}}<section><p>Nothing was sent and nobody was enrolled in the period.</p></section>{{end}}
{{range .Sequences}}<section class="sequence" id="seq-{{.Name}}">
<h2><span class="swatch" style="background:{{.Color}}"></span>{{.Name}}</h2>
<p class="muted">Sends a week (bars) and the contacts who clicked that week per send (line).</p>
{{.Chart}}
{{if .Emails}}<table class="steps"><thead><tr>{{range $i, $c := $.Columns}}<th{{if num $i}} class="n"{{end}}>{{$c}}</th>{{end}}</tr></thead><tbody>
{{range .Emails}}{{$row := .}}<tr>{{range $i, $c := cells . false}}<td data-label="{{col $i}}" class="{{if num $i}}n{{end}}{{if flagged $row (col $i)}} flag{{end}}{{if eq $c ""}} empty{{end}}">{{$c}}</td>{{end}}</tr>
{{end}}{{if many (len .Emails)}}<tr class="total">{{range $i, $c := cells .Total true}}<td data-label="{{col $i}}" class="{{if num $i}}n{{end}}{{if eq $c ""}} empty{{end}}">{{$c}}</td>{{end}}</tr>{{end}}
</tbody></table>{{end}}
<p>{{.Line}}</p>
</section>
{{end}}
{{if .Experiments}}<section id="experiments"><h2>Experiments</h2><p class="muted">Clicks of delivered per arm, with 95% intervals (the bar) around the rate (the dot).</p>
<div class="grid">{{range .Experiments}}<div class="experiment"><h3>{{.Where}}{{if ne .Metric "clicks"}} ({{.Metric}} of delivered){{end}}</h3>{{.Chart}}<p class="verdict{{if .Winner}} win{{end}}">{{.Verdict}}</p></div>{{end}}</div>
</section>{{end}}
{{if .SubjectTests}}<section id="subject-tests"><h2>Subject-line tests</h2><p class="muted">Clicks of delivered per subject line, with 95% intervals (the bar) around the rate (the dot).</p>
<div class="grid">{{range .SubjectTests}}<div class="experiment"><h3>{{.Where}}</h3>{{.Chart}}<ul class="subjects">{{range .Arms}}<li><b>{{.Variant}}</b>: {{.Subject}}</li>{{end}}</ul><p class="verdict{{if .Winner}} win{{end}}">{{.Verdict}}</p></div>{{end}}</div>
</section>
{{end}}{{if .Holdouts}}<section id="holdouts"><h2>Holdouts</h2><p class="muted">Contacts who reached a goal, treated against held out (no email), with 95% intervals (the bar) around the rate (the dot).</p>
<div class="grid">{{range .Holdouts}}<div class="experiment holdout"><h3>{{.Where}}</h3>{{.Chart}}<p>Lift {{.Lift}}</p><p class="verdict{{if .Sure}} win{{end}}">{{.Verdict}}</p></div>{{end}}</div>
</section>
{{end}}{{if .Flags}}<section id="flags"><h2>Flags</h2><ul class="flags">{{range .Flags}}<li>{{.}}</li>{{end}}</ul></section>{{end}}
<p class="muted">{{.Machine}}</p>
</main></body></html>
`))

// svg starts an SVG of the given viewBox, labelled for screen readers.
func svg(b *strings.Builder, w, h int, label string) {
	fmt.Fprintf(b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s">`, w, h, template.HTMLEscapeString(label))
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// funnelChart draws each stage as a bar as long as its share of the
// first stage, its count and share written beside it.
func funnelChart(stages []Stage) template.HTML {
	if len(stages) == 0 {
		return ""
	}
	const w, row, left, right = 360, 30, 84, 96
	top := stages[0].Reached
	for _, s := range stages {
		top = max(top, s.Reached)
	}
	var b strings.Builder
	svg(&b, w, row*len(stages)+4, "funnel by lifecycle stage")
	for i, s := range stages {
		y := i*row + 2
		frac := 0.0
		if top > 0 {
			frac = float64(s.Reached) / float64(top)
		}
		bw := frac * float64(w-left-right)
		share := "–"
		if stages[0].Reached > 0 {
			share = Percent(float64(s.Reached) / float64(stages[0].Reached))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" text-anchor="end" fill="#1d2330">%s</text>`, left-8, y+19, esc(s.Stage))
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="%d" rx="3" fill="#2f6fba" fill-opacity="%.2f"/>`,
			left, y+3, math.Max(bw, 1), row-8, 1-0.1*float64(i%5))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="13" fill="#1d2330">%d · %s</text>`, float64(left)+math.Max(bw, 1)+6, y+19, s.Reached, share)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// weekChart draws a sequence's sends a week as bars on the left axis
// and its click rate a week as a line on the right one.
func weekChart(weeks []Week, color string) template.HTML {
	if len(weeks) == 0 {
		return ""
	}
	const w, h, left, right, top, bottom = 360, 180, 40, 44, 12, 28
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	maxSent, maxRate := 0, 0.0
	for _, wk := range weeks {
		maxSent = max(maxSent, wk.Sent)
		if !math.IsNaN(float64(wk.ClickRate)) {
			maxRate = math.Max(maxRate, float64(wk.ClickRate))
		}
	}
	sentTop := niceCeil(float64(maxSent))
	rateTop := niceCeil(maxRate * 100)
	var b strings.Builder
	svg(&b, w, h, "sends and click rate week by week")
	for i := 0; i <= 4; i++ {
		y := float64(top) + ph - ph*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e6ec"/>`, left, y, float64(left)+pw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#5b6475">%s</text>`, left-5, y+4, axisNum(sentTop*float64(i)/4))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#5b6475">%s%%</text>`, float64(left)+pw+5, y+4, axisNum(rateTop*float64(i)/4))
	}
	slot := pw / float64(len(weeks))
	every := int(math.Ceil(float64(len(weeks)) / 5))
	var pts []string
	for i, wk := range weeks {
		x := float64(left) + slot*float64(i)
		bh := 0.0
		if sentTop > 0 {
			bh = ph * float64(wk.Sent) / sentTop
		}
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.55"><title>week of %s: %d sent, %d clicked</title></rect>`,
			x+slot*0.15, float64(top)+ph-bh, slot*0.7, bh, color, wk.Start.Format("Jan 2"), wk.Sent, wk.Clicks)
		if i%every == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#5b6475">%s</text>`, x+slot/2, h-9, wk.Start.Format("Jan 2"))
		}
		if r := float64(wk.ClickRate); !math.IsNaN(r) && rateTop > 0 {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x+slot/2, float64(top)+ph-ph*r*100/rateTop))
		}
	}
	if len(pts) > 0 {
		fmt.Fprintf(&b, `<polyline class="line" points="%s" fill="none" stroke="#1d2330" stroke-width="1.6"/>`, strings.Join(pts, " "))
		for _, p := range pts {
			xy := strings.Split(p, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.4" fill="#1d2330"/>`, xy[0], xy[1])
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// armChart draws each arm as a line of text (its rate, interval and
// sample) over a bar of its interval with its rate as a dot, all on one
// scale from zero.
func armChart(ex Experiment) template.HTML {
	return rateChart(ex.Arms, ex.Winner, "click rate of each arm with its interval")
}

// holdoutChart draws a holdout's two groups as armChart draws arms, the
// treated group green when the lift is sure.
func holdoutChart(h Holdout) template.HTML {
	winner := ""
	if float64(h.Lift.Low) > 0 {
		winner = "treated"
	}
	return rateChart(holdoutArms(h), winner, "goal rate of the treated and held-out contacts with their intervals")
}

// rateChart draws each arm's rate (a dot) within its interval (a bar)
// on one scale, the winner's green.
func rateChart(arms []Arm, winner, label string) template.HTML {
	const w, row, left, right = 360, 46, 8, 8
	hi := 0.0
	for _, a := range arms {
		if !math.IsNaN(float64(a.Rate.High)) {
			hi = math.Max(hi, float64(a.Rate.High))
		}
	}
	scale := niceCeil(hi*100) / 100
	pw := float64(w - left - right)
	x := func(v float64) float64 {
		if scale == 0 {
			return float64(left)
		}
		return float64(left) + pw*v/scale
	}
	var b strings.Builder
	h := row*len(arms) + 22
	svg(&b, w, h, label)
	for i, a := range arms {
		y := float64(i * row)
		fill := "#2f6fba"
		if a.Variant == winner {
			fill = "#1f7a3f"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="13" fill="#1d2330"><tspan font-weight="700">%s</tspan> %s · %s of %d</text>`,
			left, y+15, esc(a.Variant), Percent(float64(a.Rate.Value)), interval(a.Rate), a.Rate.Of)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eef0f4" stroke-width="8" stroke-linecap="round"/>`, left, y+30, float64(left)+pw, y+30)
		if a.Rate.Of > 0 {
			lo, v, up := x(float64(a.Rate.Low)), x(float64(a.Rate.Value)), x(float64(a.Rate.High))
			fmt.Fprintf(&b, `<rect class="interval" x="%.1f" y="%.1f" width="%.1f" height="8" rx="4" fill="%s" fill-opacity="0.35"/>`, lo, y+26, math.Max(up-lo, 2), fill)
			fmt.Fprintf(&b, `<circle class="rate" cx="%.1f" cy="%.1f" r="5.5" fill="%s"/>`, v, y+30, fill)
		}
	}
	axis := float64(len(arms)*row) + 2
	for i := 0; i <= 4; i++ {
		v := scale * float64(i) / 4
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="%s" fill="#5b6475">%s</text>`, x(v), axis+12, anchor, Percent(v))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, so that
// an axis's quarter marks are round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// axisNum writes an axis mark with no more digits than it needs.
func axisNum(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}
