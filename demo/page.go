package demo

import (
	"html/template"
	"io"
	"time"
)

// Step is one stage of the demo as shown on the index page.
type Step struct {
	Name     string
	OK       bool
	Duration time.Duration
	// Lines are the key figures of the step.
	Lines []string
	// Links are reports of the step, relative to the index page.
	Links []Link
}

// Link is a report on the index page.
type Link struct {
	Title, Href string
}

// Page is everything index.html shows.
type Page struct {
	Version     string
	Subscribers int
	Started     time.Time
	Total       time.Duration
	Steps       []Step
	// ChartSVGs are inlined charts (capacity projection …) with their titles.
	Charts []Chart
}

// Chart is an inlined SVG chart.
type Chart struct {
	Title string
	SVG   template.HTML
	Href  string
}

var pageTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>ut360 demo — {{.Subscribers}} subscribers</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
.steps{display:grid;grid-template-columns:repeat(auto-fill,minmax(21em,1fr));gap:1em}
.step{border:1px solid #ddd;border-radius:6px;padding:.8em 1em}
.step h2{font-size:1.1em;margin:.1em 0 .5em} .ok{color:#1a7f37} .fail{color:#cf222e}
.step ul{padding-left:1.1em;margin:.3em 0} .step li{margin:.15em 0}
.chart{border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0} .chart svg{max-width:100%;height:auto}
</style></head><body>
<h1>ut360 demo</h1>
<p class="sub">{{.Subscribers}} subscribers · ut360 {{.Version}} · {{.Started.Format "2006-01-02 15:04:05 MST"}} · {{.Total}}</p>
<div class="steps">
{{range .Steps}}<section class="step"><h2>{{if .OK}}<span class="ok">✔</span>{{else}}<span class="fail">✘</span>{{end}} {{.Name}} <small>({{.Duration}})</small></h2>
<ul>{{range .Lines}}<li>{{.}}</li>{{end}}</ul>
{{range .Links}}<a href="{{.Href}}">{{.Title}}</a><br>{{end}}</section>
{{end}}</div>
{{range .Charts}}<div class="chart"><h2>{{.Title}}</h2>{{.SVG}}{{if .Href}}<p><a href="{{.Href}}">full report</a></p>{{end}}</div>
{{end}}
</body></html>
`))

// Write renders the index page.
func (p *Page) Write(w io.Writer) error { return pageTmpl.Execute(w, p) }
