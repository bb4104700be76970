package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/testenv"
)

// TestDemoPageInBrowser runs a small demo end to end against the real stores
// and opens its index.html in headless Chromium: every link resolves, no
// console errors, every chart draws. A second run on the same stores works too.
func TestDemoPageInBrowser(t *testing.T) {
	pg := testenv.NewPG(t)
	rd := testenv.NewRedis(t)
	dir := t.TempDir()
	o := Options{
		Subscribers: 1500, Data: filepath.Join(dir, "data"), Out: filepath.Join(dir, "demo"),
		BenchDuration: 300 * time.Millisecond, Keys: dataset.NewKeys(rd.Namespace), PGURL: pg.URL, Version: "test",
	}
	var out bytes.Buffer
	o.Stdout = &out
	ctx := context.Background()
	o.Bench.Warmup, o.Bench.WarmupSet = 0, true
	o.Bench.Concurrency = 2 // the test pool has 4 connections
	res, err := Run(ctx, pg.Pool, rd.Client, o)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	for _, s := range res.Page.Steps {
		// Bench thresholds may miss on a loaded CI machine; every other step must pass.
		if !s.OK && s.Name != "bench" {
			t.Errorf("step %s failed: %v", s.Name, s.Lines)
		}
	}
	names := make([]string, 0, len(res.Page.Steps))
	for _, s := range res.Page.Steps {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "generate,migrate,load,verify,bench,capacity" {
		t.Errorf("steps %s", got)
	}
	if !strings.Contains(out.String(), "open "+res.Index) {
		t.Errorf("summary does not say where the page is:\n%s", out.String())
	}
	if _, err := os.Stat(res.Index); err != nil {
		t.Fatal(err)
	}
	checkInBrowser(t, o.Out, "index.html")

	// Second run on the same stores and folders (the bench is not what is tested again).
	o.SkipBench = true
	res2, err := Run(ctx, pg.Pool, rd.Client, o)
	if err != nil {
		t.Fatalf("second demo run: %v", err)
	}
	for _, s := range res2.Page.Steps {
		if !s.OK && s.Name != "bench" {
			t.Errorf("second run: step %s failed: %v", s.Name, s.Lines)
		}
	}
}
