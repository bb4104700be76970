package capacity

import (
	"bytes"
	"html/template"
	"io"
)

var htmlTmpl = template.Must(template.New("capacity").Funcs(template.FuncMap{
	"gb":   func(b int64) string { return GB(float64(b)) },
	"mb":   func(b float64) string { return MB(b) },
	"mbi":  func(b int64) string { return MB(float64(b)) },
	"secs": secs,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>ut360 capacity plan</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.chart svg{max-width:100%;height:auto}</style></head><body>
<h1>ut360 capacity plan</h1>
<p>Measured on <b>{{.Measured.Subscribers}}</b> subscribers ({{.Measured.MonthlyRows}} monthly rows); Redis {{.Measured.RedisVersion}}, PostgreSQL {{.Measured.PGVersion}}.<br>Model: {{.Model}}.</p>
<div class="chart" id="capacity-chart">{{.SVG}}</div>
<h2>Projections</h2>
<table><tr><th>subscribers</th><th>Redis data</th><th>Redis maxmemory</th><th>PostgreSQL</th><th>peak during load</th><th>disk to provision</th><th>load time</th><th>verify time</th></tr>
{{range .Projections}}<tr><td>{{.Subscribers}}</td><td>{{gb .RedisBytes}}</td><td>{{gb .RedisMaxMemory}}</td><td>{{gb .PGBytes}}</td><td>{{gb .PGPeakBytes}}</td><td>{{gb .PGDiskBytes}}</td><td>{{secs .LoadSeconds}}</td><td>{{secs .VerifySeconds}}</td></tr>
{{end}}</table>
<p>Eviction policy: <code>{{.Eviction}}</code> — {{.EvictionWhy}}.</p>
{{with .Cluster}}<h2>Redis Cluster</h2>
<p>Masters needed with maxmemory {{gb .MasterMaxMemory}} each ({{.MaxMemorySource}}), including the 2× peak of a load (0: no number of masters suffices). Model: {{.Model}}.</p>
<table><tr><th>subscribers</th><th>masters needed</th><th>busiest master at peak</th><th>masters without the peak</th><th>biggest index key</th></tr>
{{range .Sizes}}<tr><td>{{.Subscribers}}</td><td>{{.MastersNeeded}}</td><td>{{gb .BusiestPeakBytes}}</td><td>{{.SteadyMasters}}</td><td>{{gb .BiggestIndexBytes}}</td></tr>
{{end}}</table>{{end}}
{{with .Measured.Cluster}}<table><tr><th>master</th><th>slots</th><th>index keys</th><th>namespace bytes (est.)</th><th>used_memory</th></tr>
{{range .Masters}}<tr><td>{{.Addr}}</td><td>{{.Slots}}</td><td>{{len .IndexKeys}}</td><td>{{mb .Bytes}}</td><td>{{mbi .UsedMemory}}</td></tr>
{{end}}</table><p>Biggest index key: <code>{{.Biggest.Key}}</code> on {{.Biggest.Master}}, {{mb .Biggest.Bytes}}.</p>{{end}}
<h2>Against the documented footprint ({{.Reference.Subscribers}} subscribers)</h2>
<table><tr><th>store</th><th>ut360</th><th>documented</th><th>ratio</th></tr>
<tr><td>Redis</td><td>{{mbi .Reference.RedisBytes}}</td><td>{{mbi .Reference.DocRedisBytes}}</td><td>{{printf "%.2f×" .Reference.RedisVsDoc}}</td></tr>
<tr><td>PostgreSQL</td><td>{{mbi .Reference.PGBytes}}</td><td>{{mbi .Reference.DocPGBytes}}</td><td>{{printf "%.2f×" .Reference.PGVsDoc}}</td></tr></table>
<h2>Redis key families</h2>
<table><tr><th>family</th><th>keys</th><th>encoding</th><th>avg bytes/key</th><th>total</th><th>bytes/subscriber</th></tr>
{{range .Measured.Families}}<tr><td>{{.Name}}</td><td>{{.Keys}}</td><td>{{.Encoding}}</td><td>{{printf "%.0f" .AvgKeyBytes}}</td><td>{{mb .TotalBytes}}</td><td>{{printf "%.1f" .BytesPerSubscriber}}</td></tr>
{{end}}</table>
<h2>PostgreSQL relations</h2>
<table><tr><th>relation</th><th>kind</th><th>rows</th><th>size</th><th>bytes/row</th><th>bytes/subscriber</th></tr>
{{range .Measured.Relations}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{.Rows}}</td><td>{{mbi .Bytes}}</td><td>{{printf "%.1f" .BytesPerRow}}</td><td>{{printf "%.1f" .BytesPerSubscriber}}</td></tr>
{{end}}</table>
</body></html>
`))

// writeHTML writes a self-contained page with the chart inlined.
func (p *Plan) writeHTML(w io.Writer, chart template.HTML) error {
	return htmlTmpl.Execute(w, struct {
		*Plan
		SVG template.HTML
	}{p, chart})
}

// Inline turns an SVG document into markup for an HTML page: the <?xml …?>
// prolog is dropped.
func Inline(svg []byte) template.HTML {
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:]
	}
	return template.HTML(svg)
}
