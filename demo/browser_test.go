package demo

import (
	"bytes"
	"context"
	"fmt"

	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is Debian's headless browser; `make services` installs it.
const chromium = "/usr/bin/chromium"

// checkInBrowser fails the test on every problem browserProblems finds.
func checkInBrowser(t *testing.T, dir, page string) {
	t.Helper()
	for _, p := range browserProblems(t, dir, page) {
		t.Error(p)
	}
}

// browserProblems opens dir/page in headless Chromium and lists what is wrong:
// a link that does not resolve, a console error on the page or a linked HTML
// page, a chart (every svg and img) that draws nothing.
func browserProblems(t *testing.T, dir, page string) []string {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s missing: run `make services` (it installs Debian's chromium package)", chromium)
	}
	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
		// The machine's network is closed: keep Chromium from calling home.
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()

	var (
		mu     sync.Mutex
		errs   []string
		onPage string
	)
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, onPage+": "+m.String())
				mu.Unlock()
			}
		}
	}()

	visit := func(url string) []string {
		mu.Lock()
		onPage = url
		mu.Unlock()
		tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
		defer tcancel()
		if err := chromedp.Do(tctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		n, err := chromedp.Run(tctx, chromedp.Evaluate[int](
			`(() => { const c = document.querySelectorAll('svg:not(svg svg), img'); c.forEach((e, i) => e.id = 'chk' + i); return c.length })()`))
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		for i := range n {
			shot, err := chromedp.Run(tctx, chromedp.Screenshot(chromedp.ID(fmt.Sprintf("chk%d", i))))
			if err != nil {
				problem("%s: screenshot of chart %d: %v", url, i, err)
				continue
			}
			if frac := drawnFraction(t, shot); frac < 0.01 {
				problem("%s: chart %d looks blank (%.2f%% of pixels differ from the background)", url, i, 100*frac)
			}
		}
		hrefs, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll('a[href]')].map(a => a.href)`))
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		return hrefs
	}

	start := srv.URL + "/" + page
	links := visit(start)
	if len(links) == 0 {
		problem("%s has no links", start)
	}
	for _, href := range links {
		if !strings.HasPrefix(href, srv.URL) {
			problem("%s links outside the report folder: %s (the page must work offline)", start, href)
			continue
		}
		resp, err := http.Get(href)
		if err != nil {
			problem("link %s: %v", href, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			problem("link %s: HTTP %d", href, resp.StatusCode)
			continue
		}
		if strings.HasSuffix(href, ".html") {
			visit(href)
		}
	}
	time.Sleep(300 * time.Millisecond) // let late console events arrive
	mu.Lock()
	defer mu.Unlock()
	for _, e := range errs {
		problem("console error: %s", e)
	}
	return problems
}

// drawnFraction is the share of pixels that differ from the top-left pixel.
func drawnFraction(t *testing.T, shot []byte) float64 {
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	b := img.Bounds()
	bg := img.At(b.Min.X, b.Min.Y)
	br, bgc, bb, _ := bg.RGBA()
	var diff, total int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			total++
			if r != br || g != bgc || bl != bb {
				diff++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(diff) / float64(total)
}
