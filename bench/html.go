package bench

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var targetColors = map[string]color.RGBA{
	TargetRedis:      {R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	TargetPostgres:   {R: 0x1f, G: 0x5f, B: 0xb4, A: 0xff},
	TargetCacheAside: {R: 0x2c, G: 0x9a, B: 0x2c, A: 0xff},
}

// percentileTicks label the log-scaled percentile axis, whose value is 1/(1-p).
var percentileTicks = plot.ConstantTicks{
	{Value: 2, Label: "50%"}, {Value: 10, Label: "90%"}, {Value: 100, Label: "99%"},
	{Value: 1000, Label: "99.9%"}, {Value: 10000, Label: "99.99%"},
}

func percentileX(p float64) float64 { return 1 / (1 - p/100) }

// latencyTicks are log ticks with readable labels (ms).
type latencyTicks struct{}

func (latencyTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < min/1.01 || v > max*1.01 {
				continue
			}
			label := ""
			if m != 2 || max/min < 100 {
				label = strings.TrimSuffix(fmtMs(v), "ms") + " ms"
				if v < 1 {
					label = fmtMs(v)
				}
			}
			out = append(out, plot.Tick{Value: v, Label: label})
		}
	}
	return out
}

// Chart geometry: the plot, then a strip below it for the legends.
const (
	chartWidth  = 7 * vg.Inch
	chartHeight = 4 * vg.Inch
	legendPad   = vg.Length(8) // points
)

// chartSVG draws one scenario's latency-by-percentile chart: one line per
// target, the percentile axis log-scaled from 50% to 99.99%, the latency
// thresholds as dashed lines in the target's colour. The legends (stores on
// the left, thresholds on the right) sit in a strip below the plot, so they
// never cover a curve.
func chartSVG(sr *ScenarioResult) (string, error) {
	p := plot.New()
	p.Title.Text = sr.Scenario.Name + " — latency by percentile"
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = percentileTicks, latencyTicks{}
	p.X.Min, p.X.Max = 2, 10000
	curves, limits := plot.NewLegend(), plot.NewLegend()
	curves.Top, curves.Left, limits.Top, limits.Left = true, true, true, true
	p.Add(plotter.NewGrid())
	ymin, ymax := math.Inf(1), 0.0
	for _, r := range sr.Results {
		h, err := decodeHist(r.Histogram)
		if err != nil || h.TotalCount() == 0 {
			continue
		}
		var pts plotter.XYs
		for _, b := range h.CumulativeDistributionWithTicks(5) {
			if b.Quantile < 50 || b.Quantile >= 99.995 {
				continue
			}
			y := math.Max(ms(b.ValueAt), 0.001)
			pts = append(pts, plotter.XY{X: percentileX(b.Quantile), Y: y})
		}
		if len(pts) == 0 {
			continue
		}
		pts = append(pts, plotter.XY{X: 10000, Y: math.Max(ms(h.ValueAtPercentile(99.99)), 0.001)})
		line, err := plotter.NewLine(pts)
		if err != nil {
			return "", err
		}
		line.Color = targetColors[r.Target]
		line.Width = vg.Points(1.6)
		p.Add(line)
		curves.Add(r.Target, line)
		for _, pt := range pts {
			ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
		}
	}
	for _, t := range sr.Thresholds {
		if t.Relative || t.Metric == "throughput" || t.Metric == "error_rate" {
			continue
		}
		line, err := plotter.NewLine(plotter.XYs{{X: 2, Y: t.Limit}, {X: 10000, Y: t.Limit}})
		if err != nil {
			return "", err
		}
		line.Color = targetColors[t.Target]
		line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		line.Width = vg.Points(1)
		p.Add(line)
		limits.Add(t.Name, line)
		if t.Metric != "max" {
			x := percentileX(map[string]float64{"p50": 50, "p90": 90, "p99": 99, "p99.9": 99.9}[t.Metric])
			sc, err := plotter.NewScatter(plotter.XYs{{X: x, Y: t.Limit}})
			if err == nil {
				sc.GlyphStyle = draw.GlyphStyle{Color: targetColors[t.Target], Radius: vg.Points(3), Shape: draw.TriangleGlyph{}}
				p.Add(sc)
			}
		}
		ymin, ymax = math.Min(ymin, t.Limit), math.Max(ymax, t.Limit)
	}
	if ymax == 0 {
		ymin, ymax = 0.01, 1
	}
	p.Y.Min, p.Y.Max = ymin/1.5, ymax*1.5
	height := func(l plot.Legend) vg.Length {
		r := l.Rectangle(draw.Canvas{})
		return r.Max.Y - r.Min.Y
	}
	strip := max(height(curves), height(limits)) + 2*legendPad
	cw, err := draw.NewFormattedCanvas(chartWidth, chartHeight+strip, "svg")
	if err != nil {
		return "", err
	}
	dc := draw.New(cw)
	p.Draw(draw.Crop(dc, 0, 0, strip, 0))
	below := draw.Crop(dc, legendPad, -legendPad, legendPad, -(chartHeight + legendPad))
	curves.Draw(draw.Crop(below, 0, -chartWidth/2, 0, 0))
	limits.Draw(draw.Crop(below, chartWidth/3, 0, 0, 0))
	var buf bytes.Buffer
	if _, err := cw.WriteTo(&buf); err != nil {
		return "", err
	}
	svg := buf.String()
	if i := strings.Index(svg, "<svg"); i > 0 {
		svg = svg[i:] // drop the XML prolog: the SVG is inlined in HTML
	}
	return svg, nil
}

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"f2": f2, "pf": passFail, "val": fmtValue,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>ut360 bench — {{pf .S.Passed}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222;max-width:1100px}
h1 .PASS,td.PASS{color:#1a7f37} h1 .FAIL,td.FAIL{color:#cf222e}
table{border-collapse:collapse;margin:.5em 0 1.5em} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
td:first-child,th:first-child,td.l{text-align:left} .env{color:#555;font-size:.9em} svg{max-width:100%;height:auto}
section{border-top:1px solid #ddd;padding-top:1em;margin-top:1.5em}
th.store{text-align:center;background:#f3f3f3} td.none{text-align:center;color:#888} .note{color:#9a6700}
.wide{overflow-x:auto} table.glance{font-size:.85em} table.glance td,table.glance th{white-space:nowrap;padding:.2em .45em}
</style></head><body>
<h1>ut360 bench — <span class="{{pf .S.Passed}}">{{pf .S.Passed}}</span></h1>
<p class="env">{{.Env}}</p>
<h2>At a glance</h2>
<p>Latency in ms; threshold: the headline latency threshold (p99 where set), margin = threshold ÷ measured; result: every threshold of that scenario × store.</p>
<div class="wide"><table class="glance"><tr><th rowspan="2">scenario</th>{{range .Stores}}<th colspan="7" class="store">{{.}}</th>{{end}}</tr>
<tr>{{range .Stores}}<th>p50</th><th>p99</th><th>p99.9</th><th>ops/s</th><th>threshold</th><th>margin</th><th>result</th>{{end}}</tr>
{{range .Glance}}<tr><td>{{.Scenario}}</td>{{range .Cells}}{{if .Result}}<td>{{f2 .Result.Latency.P50}}</td><td>{{f2 .Result.Latency.P99}}</td><td>{{f2 .Result.Latency.P999}}</td><td>{{printf "%.0f" .Result.Throughput}}</td><td>{{.Threshold}}</td><td>{{.Margin}}</td><td class="{{pf .Pass}}">{{pf .Pass}}</td>{{else}}<td colspan="7" class="none">not run</td>{{end}}{{end}}</tr>
{{end}}</table></div>
{{range .Notes}}<p class="note">{{.}}</p>
{{end}}<p>Latency in ms. Open model: from each operation's intended start (no coordinated omission). Closed model: raw, with coordinated-omission-corrected figures in summary.json and *.corrected.hgrm.</p>
{{range .Charts}}{{$m := .SR.Scenario.Load.Model}}<section><h2>{{.SR.Scenario.Name}}</h2><p>{{.SR.Scenario.Description}}</p>
<table><tr><th>store</th><th>model</th><th>ops</th><th>ops/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>errors</th><th>not found</th></tr>
{{range .SR.Results}}<tr><td>{{.Target}}</td><td class="l">{{$m}}</td><td>{{.Ops}}</td><td>{{printf "%.0f" .Throughput}}</td><td>{{f2 .Latency.P50}}</td><td>{{f2 .Latency.P90}}</td><td>{{f2 .Latency.P99}}</td><td>{{f2 .Latency.P999}}</td><td>{{f2 .Latency.Max}}</td><td>{{.Errors}}</td><td>{{.NotFound}}</td></tr>
{{end}}</table>
{{if .SR.Thresholds}}<table><tr><th>threshold</th><th>actual</th><th>limit</th><th>margin</th><th>result</th></tr>
{{range .SR.Thresholds}}<tr><td>{{.Name}}</td><td>{{val .Metric .Actual}}</td><td>{{val .Metric .Limit}}</td><td>{{if .Margin}}{{printf "%.1f×" .Margin}}{{else}}—{{end}}</td><td class="{{pf .Pass}}">{{pf .Pass}}</td></tr>
{{end}}</table>{{end}}
{{.SVG}}</section>
{{end}}</body></html>
`))

// WriteHTML writes report.html: a self-contained page (inline SVG charts, no
// scripts, no external resources) that opens with the at-a-glance table of
// every scenario × store, then one section and chart per scenario.
func WriteHTML(w io.Writer, s *Summary) error {
	type chart struct {
		SR  *ScenarioResult
		SVG template.HTML
	}
	stores, rows := Glance(s)
	data := struct {
		S      *Summary
		Env    string
		Stores []string
		Glance []GlanceRow
		Notes  []string
		Charts []chart
	}{S: s, Env: strings.ReplaceAll(envLine(s), "`", ""), Glance: rows}
	for _, t := range stores {
		data.Stores = append(data.Stores, storeNames[t])
	}
	for _, sr := range s.Scenarios {
		for _, r := range sr.Results {
			for _, n := range r.Notes {
				data.Notes = append(data.Notes, sr.Scenario.Name+"/"+r.Target+": "+n)
			}
		}
	}
	for _, sr := range s.Scenarios {
		svg, err := chartSVG(sr)
		if err != nil {
			return fmt.Errorf("chart %s: %w", sr.Scenario.Name, err)
		}
		data.Charts = append(data.Charts, chart{SR: sr, SVG: template.HTML(svg)}) // #nosec: SVG made by gonum/plot from numbers and escaped labels
	}
	return htmlTmpl.Execute(w, data)
}
