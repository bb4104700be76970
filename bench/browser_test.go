package bench

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is Debian's headless browser; `make services` installs it.
const chromium = "/usr/bin/chromium"

// TestReportInBrowser opens report.html in headless Chromium: the
// at-a-glance table comes first, with the stores side by side; every chart
// draws, and no legend entry lies inside a plot (each is below the x-axis
// label).
func TestReportInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s missing: run `make services` (it installs Debian's chromium package)", chromium)
	}
	s := fixedSummary()
	dir := t.TempDir()
	if err := (&Run{Dir: dir, Summary: s}).writeReports(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000), chromedp.Flag("disable-background-networking", true))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/report.html"), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		t.Fatalf("open report.html: %v", err)
	}

	// The first table is the at-a-glance one, before every scenario section,
	// its first header row naming Redis and PostgreSQL side by side.
	type glance struct {
		FirstIsGlance bool     `json:"firstIsGlance"`
		BeforeDetail  bool     `json:"beforeDetail"`
		Stores        []string `json:"stores"`
		Rows          int      `json:"rows"`
	}
	layout, err := chromedp.Run(ctx, chromedp.Evaluate[glance](`(() => {
		const t = document.querySelector('table'), s = document.querySelector('section');
		return {firstIsGlance: t.classList.contains('glance'),
			beforeDetail: !!(t.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_FOLLOWING),
			stores: [...t.rows[0].querySelectorAll('th.store')].map(th => th.textContent),
			rows: t.rows.length - 2};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if !layout.FirstIsGlance || !layout.BeforeDetail || fmt.Sprint(layout.Stores) != "[Redis PostgreSQL]" || layout.Rows != len(s.Scenarios) {
		t.Errorf("at-a-glance table: %+v", layout)
	}

	// Every legend entry (store and threshold names) sits below the plot.
	var legends []string
	for _, sr := range s.Scenarios {
		for _, r := range sr.Results {
			legends = append(legends, r.Target)
		}
		for _, th := range sr.Thresholds {
			if !th.Relative && th.Metric != "error_rate" && th.Metric != "throughput" && th.Metric != "ops" {
				legends = append(legends, th.Name)
			}
		}
	}
	overlaps, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`(() => {
		const names = new Set(%q.split('\n')), bad = [];
		document.querySelectorAll('svg').forEach((svg, i) => {
			const texts = [...svg.querySelectorAll('text')];
			const axis = texts.find(x => x.textContent === 'percentile');
			if (!axis) { bad.push('chart ' + i + ': no x-axis label'); return; }
			const floor = axis.getBoundingClientRect().bottom;
			let n = 0;
			texts.filter(x => names.has(x.textContent)).forEach(x => {
				n++;
				if (x.getBoundingClientRect().top < floor) bad.push('chart ' + i + ': legend "' + x.textContent + '" inside the plot');
			});
			if (n === 0) bad.push('chart ' + i + ': no legend entry found');
		});
		return bad;
	})()`, joinLines(legends))))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range overlaps {
		t.Error(o)
	}

	// Every chart draws something.
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => { const c = document.querySelectorAll('svg'); c.forEach((e, i) => e.id = 'chart' + i); return c.length })()`))
	if err != nil {
		t.Fatal(err)
	}
	if n != len(s.Scenarios) {
		t.Errorf("%d charts, want %d", n, len(s.Scenarios))
	}
	for i := range n {
		shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID(fmt.Sprintf("chart%d", i))))
		if err != nil {
			t.Fatalf("screenshot chart %d: %v", i, err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		bg := img.At(b.Min.X, b.Min.Y)
		diff := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if img.At(x, y) != bg {
					diff++
				}
			}
		}
		if frac := float64(diff) / float64(b.Dx()*b.Dy()); frac < 0.01 {
			t.Errorf("chart %d looks blank (%.2f%% drawn)", i, frac*100)
		}
	}
}

func joinLines(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(x)
	}
	return b.String()
}
