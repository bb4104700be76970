package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrowserCheckCatchesFaults proves the browser check can fail: a broken
// link, a console error and a blank chart are each reported, and a good page
// passes.
func TestBrowserCheckCatchesFaults(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", `<!doctype html><html><head><link rel="icon" href="data:,"></head><body><a href="ok.html">ok</a>
<svg width="200" height="100"><rect x="10" y="10" width="150" height="60" fill="#d55e00"/></svg></body></html>`)
	write("ok.html", `<!doctype html><html><head><link rel="icon" href="data:,"></head><body>fine</body></html>`)
	write("bad.html", `<!doctype html><html><body><a href="missing.html">gone</a>
<svg width="200" height="100"></svg><script>console.error("boom")</script></body></html>`)

	if p := browserProblems(t, dir, "index.html"); len(p) != 0 {
		t.Fatalf("good page: unexpected problems %q", p)
	}
	got := strings.Join(browserProblems(t, dir, "bad.html"), "\n")
	for _, want := range []string{"missing.html: HTTP 404", "looks blank", "console error", "boom"} {
		if !strings.Contains(got, want) {
			t.Errorf("bad page: problem %q not reported; got:\n%s", want, got)
		}
	}
}
