package capacity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Written is what WriteFiles wrote.
type Written struct {
	// Markdown is the path of capacity.md.
	Markdown string
	// Chart is the projection chart, ready to inline in another page.
	Chart template.HTML
}

// WriteFiles writes capacity.json, capacity.md, capacity.html and capacity.svg
// into dir; the chart is drawn once and used by all of them.
func (p *Plan) WriteFiles(dir string) (*Written, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	var svg, page, md bytes.Buffer
	if err := p.Chart(&svg); err != nil {
		return nil, fmt.Errorf("capacity chart: %w", err)
	}
	w := &Written{Markdown: filepath.Join(dir, "capacity.md"), Chart: Inline(svg.Bytes())}
	if err := p.writeHTML(&page, w.Chart); err != nil {
		return nil, err
	}
	p.Markdown(&md, "capacity.svg")
	for name, b := range map[string][]byte{
		"capacity.json": append(js, '\n'), "capacity.svg": svg.Bytes(), "capacity.html": page.Bytes(), "capacity.md": md.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// MB formats bytes as MB (10^6) with one decimal.
func MB(b float64) string { return fmt.Sprintf("%.1f MB", b/1e6) }

// GB formats bytes as GB (10^9) with two decimals.
func GB(b float64) string { return fmt.Sprintf("%.2f GB", b/1e9) }

// Markdown writes the report; chart is the relative path of the SVG ("" for none).
func (p *Plan) Markdown(w io.Writer, chart string) {
	m := p.Measured
	fmt.Fprintf(w, "# ut360 capacity plan\n\n")
	fmt.Fprintf(w, "Measured on a loaded snapshot of **%d subscribers** (%d monthly rows); Redis %s, PostgreSQL %s.\n\n",
		m.Subscribers, m.MonthlyRows, m.RedisVersion, m.PGVersion)
	fmt.Fprintf(w, "Model: %s.\n\n", p.Model)
	fmt.Fprintf(w, "## Projections\n\n| subscribers | Redis data | Redis maxmemory | PostgreSQL | PostgreSQL peak (load) | disk to provision | load time | verify time |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, pr := range p.Projections {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", pr.Subscribers, GB(float64(pr.RedisBytes)),
			GB(float64(pr.RedisMaxMemory)), GB(float64(pr.PGBytes)), GB(float64(pr.PGPeakBytes)), GB(float64(pr.PGDiskBytes)),
			secs(pr.LoadSeconds), secs(pr.VerifySeconds))
	}
	fmt.Fprintf(w, "\nRecommendations: Redis `maxmemory` as above (data ≤ %.0f%% of it), `maxmemory-policy %s` — %s. "+
		"PostgreSQL disk = %.1f × the peak during a load (the previous snapshot stays until the new one is swapped in).\n\n",
		p.Options.MaxMemoryUse*100, p.Eviction, p.EvictionWhy, p.Options.DiskHeadroom)
	if chart != "" {
		fmt.Fprintf(w, "![footprint against subscribers](%s)\n\n", chart)
	}
	p.clusterMarkdown(w)
	r := p.Reference
	fmt.Fprintf(w, "## Against the documented footprint (SPEC §5, %d subscribers)\n\n| store | ut360 | documented | ratio |\n|---|---:|---:|---:|\n", r.Subscribers)
	fmt.Fprintf(w, "| Redis | %s | %s | %.2f× |\n| PostgreSQL | %s | %s | %.2f× |\n\n", MB(float64(r.RedisBytes)), MB(float64(r.DocRedisBytes)), r.RedisVsDoc,
		MB(float64(r.PGBytes)), MB(float64(r.DocPGBytes)), r.PGVsDoc)
	aim := "meets"
	if !r.RedisMeetsAim {
		aim = "MISSES"
	}
	fmt.Fprintf(w, "Redis %s the project's aim of ≤ %s at reference scale.\n\n", aim, MB(float64(r.RedisAimBytes)))
	fmt.Fprintf(w, "## Redis key families\n\n| family | keys | encoding | avg bytes/key | total | bytes/subscriber |\n|---|---:|---|---:|---:|---:|\n")
	for _, f := range m.Families {
		fmt.Fprintf(w, "| %s | %d | %s | %.0f | %s | %.1f |\n", f.Name, f.Keys, f.Encoding, f.AvgKeyBytes, MB(f.TotalBytes), f.BytesPerSubscriber)
	}
	fmt.Fprintf(w, "\nSum of MEMORY USAGE: %s (%.0f B/subscriber).", MB(m.RedisBytes), m.RedisBytesPerSub)
	if m.RedisLoadDelta > 0 {
		fmt.Fprintf(w, " used_memory delta of the load: %s (%.0f B/subscriber); sample/delta = %.2f (the rest is dictionary and expiry bookkeeping).",
			MB(float64(m.RedisLoadDelta)), float64(m.RedisLoadDelta)/float64(m.Subscribers), m.RedisDeltaRatio)
	}
	fmt.Fprintf(w, " Server used_memory %s, used_memory_dataset %s (whole server); hash-max-listpack-value %s, -entries %s.\n\n",
		MB(float64(m.RedisUsedMemory)), MB(float64(m.RedisUsedDataset)), m.RedisListpackValue, m.RedisListpackEntrys)
	fmt.Fprintf(w, "## PostgreSQL relations\n\n| relation | kind | table rows | size | bytes/row | bytes/subscriber |\n|---|---|---:|---:|---:|---:|\n")
	for _, rl := range m.Relations {
		fmt.Fprintf(w, "| %s | %s | %d | %s | %.1f | %.1f |\n", rl.Name, rl.Kind, rl.Rows, MB(float64(rl.Bytes)), rl.BytesPerRow, rl.BytesPerSubscriber)
	}
	fmt.Fprintf(w, "\nTotal %s (%.0f B/subscriber).\n", MB(float64(m.PGBytes)), m.PGBytesPerSub)
	if m.LoadSeconds > 0 || m.VerifySeconds > 0 {
		fmt.Fprintf(w, "\nThroughput: load %s for %d subscribers (%s; projected as n log n); verify %s for %d subscribers (%s; projected linearly).\n",
			secs(m.LoadSeconds), m.Subscribers, orNone(m.LoadSource), secs(m.VerifySeconds), m.VerifySubscriber, orNone(m.VerifySource))
	}
}

func orNone(s string) string {
	if s == "" {
		return "not measured"
	}
	return s
}

func secs(s float64) string {
	if s <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f s", s)
}

// Chart draws footprint against subscribers (SVG): projected Redis and
// PostgreSQL lines, the recommended maxmemory, the measured points and SPEC
// §5's documented footprint.
func (p *Plan) Chart(w io.Writer) error {
	pl := plot.New()
	pl.Title.Text = "ut360 footprint against subscribers"
	pl.X.Label.Text = "subscribers (millions)"
	pl.Y.Label.Text = "GB"
	pl.Legend.Top = true
	pl.Legend.Left = true
	sizes := []int64{0, p.Measured.Subscribers}
	for _, pr := range p.Projections {
		sizes = append(sizes, pr.Subscribers)
	}
	slices.Sort(sizes)
	line := func(f func(Projection) int64) plotter.XYs {
		var xy plotter.XYs
		for _, n := range sizes {
			xy = append(xy, plotter.XY{X: float64(n) / 1e6, Y: float64(f(p.at(n))) / 1e9})
		}
		return xy
	}
	series := []struct {
		name string
		f    func(Projection) int64
		dash bool
	}{
		{"Redis data", func(pr Projection) int64 { return pr.RedisBytes }, false},
		{"Redis maxmemory (recommended)", func(pr Projection) int64 { return pr.RedisMaxMemory }, true},
		{"PostgreSQL", func(pr Projection) int64 { return pr.PGBytes }, false},
		{"PostgreSQL disk (recommended)", func(pr Projection) int64 { return pr.PGDiskBytes }, true},
	}
	for i, s := range series {
		l, err := plotter.NewLine(line(s.f))
		if err != nil {
			return err
		}
		l.Color = palette[i]
		l.Width = vg.Points(1.5)
		if s.dash {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		pl.Add(l)
		pl.Legend.Add(s.name, l)
	}
	m := p.Measured
	meas, err := plotter.NewScatter(plotter.XYs{
		{X: float64(m.Subscribers) / 1e6, Y: float64(p.at(m.Subscribers).RedisBytes) / 1e9},
		{X: float64(m.Subscribers) / 1e6, Y: float64(m.PGBytes) / 1e9},
	})
	if err != nil {
		return err
	}
	meas.GlyphStyle.Shape = draw.CircleGlyph{}
	meas.GlyphStyle.Radius = vg.Points(3.5)
	pl.Add(meas)
	pl.Legend.Add("measured", meas)
	doc, err := plotter.NewScatter(plotter.XYs{
		{X: ReferenceSubscribers / 1e6, Y: DocRedisBytes / 1e9},
		{X: ReferenceSubscribers / 1e6, Y: DocPGBytes / 1e9},
	})
	if err != nil {
		return err
	}
	doc.GlyphStyle.Shape = draw.CrossGlyph{}
	doc.GlyphStyle.Radius = vg.Points(4)
	doc.GlyphStyle.Color = palette[4]
	pl.Add(doc)
	pl.Legend.Add("documented (SPEC §5)", doc)
	pl.Add(plotter.NewGrid())
	wt, err := pl.WriterTo(8*vg.Inch, 4.5*vg.Inch, "svg")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

// TextSummary is the one-screen summary for stdout.
func (p *Plan) TextSummary(w io.Writer) {
	m, r := p.Measured, p.Reference
	fmt.Fprintf(w, "capacity: %d subscribers measured — Redis %.0f B/subscriber, PostgreSQL %.0f B/subscriber\n",
		m.Subscribers, p.RedisPerSub, p.PGPerSub)
	fmt.Fprintf(w, "  at %d (reference): Redis %s (%.2f× documented 1.2 GB), PostgreSQL %s (%.2f× documented 350 MB)\n",
		r.Subscribers, MB(float64(r.RedisBytes)), r.RedisVsDoc, MB(float64(r.PGBytes)), r.PGVsDoc)
	var b strings.Builder
	for _, pr := range p.Projections {
		fmt.Fprintf(&b, "  at %d: Redis %s (maxmemory %s), PostgreSQL %s (disk %s), load %s, verify %s\n", pr.Subscribers,
			GB(float64(pr.RedisBytes)), GB(float64(pr.RedisMaxMemory)), GB(float64(pr.PGBytes)), GB(float64(pr.PGDiskBytes)),
			secs(pr.LoadSeconds), secs(pr.VerifySeconds))
	}
	if cp := p.Cluster; cp != nil {
		for _, cs := range cp.Sizes {
			fmt.Fprintf(&b, "  cluster at %d: %s of maxmemory %s (busiest master %s at the 2× peak of a load; %s without it)\n",
				cs.Subscribers, mastersText(cs.MastersNeeded), GB(float64(cp.MasterMaxMemory)), GB(float64(cs.BusiestPeakBytes)),
				mastersText(cs.SteadyMasters))
		}
		if c := m.Cluster; c != nil {
			fmt.Fprintf(&b, "  biggest index key %s on %s: %s now\n", c.Biggest.Key, c.Biggest.Master, MB(c.Biggest.Bytes))
		}
	}
	fmt.Fprint(w, b.String())
}

// mastersText is a number of masters, "none suffices" for 0.
func mastersText(n int) string {
	switch n {
	case 0:
		return "no number of masters suffices"
	case 1:
		return "1 master"
	}
	return fmt.Sprint(n, " masters")
}

// clusterMarkdown writes the Redis Cluster section: the measured masters
// and the masters each size needs.
func (p *Plan) clusterMarkdown(w io.Writer) {
	cp, c := p.Cluster, p.Measured.Cluster
	if cp == nil {
		return
	}
	fmt.Fprintf(w, "## Redis Cluster\n\n")
	if c != nil {
		fmt.Fprintf(w, "Measured on %d masters. Per-subscriber keys are spread by hash slot; each index key sits whole on one master.\n\n", len(c.Masters))
		fmt.Fprintf(w, "| master | slots | sampled keys here | index keys | index bytes | namespace bytes (est.) | used_memory | maxmemory |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, ms := range c.Masters {
			fmt.Fprintf(w, "| %s | %d | %.1f%% | %d | %s | %s | %s | %s |\n", ms.Addr, ms.Slots, 100*ms.SampledShare, len(ms.IndexKeys),
				MB(ms.IndexBytes), MB(ms.Bytes), MB(float64(ms.UsedMemory)), maxmemoryText(ms.MaxMemory))
		}
		fmt.Fprintf(w, "\nBiggest index key: `%s` on %s, %s now (%.1f%% of the namespace).\n\n", c.Biggest.Key, c.Biggest.Master,
			MB(c.Biggest.Bytes), 100*c.Biggest.Bytes/max(p.Measured.RedisBytes, 1))
	}
	fmt.Fprintf(w, "Masters needed with maxmemory %s each (%s; data ≤ %.0f%% of it, %s usable), including the 2× peak of a load. Model: %s.\n\n",
		GB(float64(cp.MasterMaxMemory)), cp.MaxMemorySource, p.Options.MaxMemoryUse*100, GB(float64(cp.Usable)), cp.Model)
	fmt.Fprintf(w, "| subscribers | masters needed | busiest master at peak | masters without the peak | biggest index key |")
	if c != nil {
		fmt.Fprintf(w, " the measured %d masters at peak |", len(c.Masters))
	}
	fmt.Fprintf(w, "\n|---:|---:|---:|---:|---:|")
	if c != nil {
		fmt.Fprintf(w, "---|")
	}
	fmt.Fprintln(w)
	for _, cs := range cp.Sizes {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s |", cs.Subscribers, mastersText(cs.MastersNeeded), GB(float64(cs.BusiestPeakBytes)),
			mastersText(cs.SteadyMasters), GB(float64(cs.BiggestIndexBytes)))
		if c != nil {
			var parts []string
			for _, mp := range cs.Measured {
				verdict := "fits"
				if !mp.Fits {
					verdict = "too big"
				}
				parts = append(parts, fmt.Sprintf("%s %s (%s)", mp.Addr, GB(float64(mp.PeakBytes)), verdict))
			}
			fmt.Fprintf(w, " %s |", strings.Join(parts, "; "))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func maxmemoryText(b int64) string {
	if b == 0 {
		return "none"
	}
	return GB(float64(b))
}
