package capacity

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/testenv"
	"github.com/ut360/ut360/loader"
)

func TestParseSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int64
		err  bool
	}{
		{"1M,5M,10M", []int64{1_000_000, 5_000_000, 10_000_000}, false},
		{"500K, 2.5m ,2500000", []int64{500_000, 2_500_000, 2_500_000}, false},
		{"214000", []int64{214_000}, false},
		{"", nil, true},
		{"0", nil, true},
		{"-1M", nil, true},
		{"lots", nil, true},
		{"1M,,x", nil, true},
	} {
		got, err := ParseSizes(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseSizes(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && !slices.Equal(got, tc.want) {
			t.Errorf("ParseSizes(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestProjectIsLinearWithRecommendations(t *testing.T) {
	m := &Measurement{Subscribers: 100_000, PGBytes: 200e6, PGBytesPerSub: 2000, RedisBytesPerSub: 1500,
		LoadSeconds: 4, VerifySeconds: 2, VerifySubscriber: 100_000}
	p := Project(m, Options{Sizes: []int64{1_000_000}})
	pr := p.Projections[0]
	wantRedisPerSub := 1500.0 + 2*KeyOverheadBytes
	if p.RedisPerSub != wantRedisPerSub {
		t.Fatalf("redis per subscriber %v, want %v (sample + dictionary overhead of two keys)", p.RedisPerSub, wantRedisPerSub)
	}
	if want := int64(wantRedisPerSub * 1e6); pr.RedisBytes != want {
		t.Errorf("redis bytes %d, want %d", pr.RedisBytes, want)
	}
	if float64(pr.RedisBytes) > 0.8*float64(pr.RedisMaxMemory) || pr.RedisMaxMemory%(256<<20) != 0 {
		t.Errorf("maxmemory %d must keep data ≤ 80%% and be a multiple of 256 MiB", pr.RedisMaxMemory)
	}
	if pr.PGBytes != 2_000_000_000 || pr.PGPeakBytes != 2*pr.PGBytes || pr.PGDiskBytes != int64(1.3*float64(pr.PGPeakBytes)) {
		t.Errorf("pg %d peak %d disk %d", pr.PGBytes, pr.PGPeakBytes, pr.PGDiskBytes)
	}
	// Load time grows as n log n (10× the subscribers: 10 × log(1e6)/log(1e5) = 12×), verify linearly.
	if math.Abs(pr.LoadSeconds-48) > 1e-9 || math.Abs(pr.VerifySeconds-20) > 1e-9 {
		t.Errorf("load %v verify %v, want 48 and 20", pr.LoadSeconds, pr.VerifySeconds)
	}
	if p.Eviction != "volatile-lru" {
		t.Errorf("eviction %s", p.Eviction)
	}
	// A measured used_memory delta replaces the sample model.
	m.RedisLoadDelta = 250e6
	if p := Project(m, Options{}); p.RedisPerSub != 2500 || len(p.Projections) != 3 {
		t.Errorf("with delta: per sub %v, %d projections", p.RedisPerSub, len(p.Projections))
	}
}

// TestMeasureLoadedStores loads a small dataset into private stores, measures
// it and checks the figures against what the stores hold.
func TestMeasureLoadedStores(t *testing.T) {
	ctx := context.Background()
	pg := testenv.NewMigratedPG(t)
	rd := testenv.NewRedis(t)
	dir := t.TempDir()
	const n = 3000
	if _, err := dataset.Generate(ctx, dataset.GenOptions{Subscribers: n, Out: dir}); err != nil {
		t.Fatal(err)
	}
	keys := dataset.NewKeys(rd.Namespace)
	sum, err := loader.Load(ctx, pg.Pool, rd.Client, loader.Options{Data: dir, Postgres: true, Redis: true, Keys: keys, RejectsPath: "-"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Measure(ctx, pg.Pool, rd.Client, MeasureOptions{Keys: keys, Sample: 500})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subscribers != n || m.MonthlyRows != sum.MonthlyRows {
		t.Errorf("subscribers %d monthly %d, want %d and %d", m.Subscribers, m.MonthlyRows, n, sum.MonthlyRows)
	}
	fam := map[string]Family{}
	for _, f := range m.Families {
		fam[f.Name] = f
	}
	for _, name := range []string{"rec", "profile", "idx:service", "idx:risk", "idx:cluster", "meta:stats"} {
		f, ok := fam[name]
		if !ok || f.TotalBytes <= 0 || f.Encoding == "" {
			t.Errorf("family %s: %+v", name, f)
		}
	}
	if s := fam["rec"].Sampled; s < 400 || s > 600 {
		t.Errorf("rec sampled %d keys, want about 500", s)
	}
	if fam["idx:service"].Keys != int64(len(dataset.ServiceTypes)) || fam["idx:risk"].Keys != 3 {
		t.Errorf("index keys: service %d risk %d", fam["idx:service"].Keys, fam["idx:risk"].Keys)
	}
	if fam["idx:service"].Encoding != "skiplist" && fam["idx:service"].Encoding != "listpack" {
		t.Errorf("service index encoding %q", fam["idx:service"].Encoding)
	}
	// A rec hash is a few hundred bytes; a profile hash (JSON, Vietnamese text) is larger.
	if r, p := fam["rec"].AvgKeyBytes, fam["profile"].AvgKeyBytes; r < 150 || r > 2000 || p < r {
		t.Errorf("avg bytes: rec %.0f profile %.0f", r, p)
	}
	var idx, totals int64
	for _, r := range m.Relations {
		switch r.Kind {
		case "index":
			idx++
		case "total":
			totals += r.Bytes
		}
	}
	if idx < 7 { // 3 primary keys + 4 SPEC indexes on recommendations
		t.Errorf("%d indexes measured, want ≥ 7", idx)
	}
	var direct int64
	if err := pg.Pool.QueryRow(ctx, `SELECT pg_total_relation_size('recommendations') + pg_total_relation_size('subscriber_360_profiles')
		+ pg_total_relation_size('subscriber_monthly_arpu')`).Scan(&direct); err != nil {
		t.Fatal(err)
	}
	if totals != direct || m.PGBytes != direct {
		t.Errorf("pg bytes %d (relations %d), catalog says %d", m.PGBytes, totals, direct)
	}
	if m.LoadSeconds <= 0 {
		t.Errorf("load seconds from meta:stats missing")
	}

	plan := Project(m, Options{})
	out := t.TempDir()
	written, err := plan.WriteFiles(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"capacity.json", "capacity.md", "capacity.html", "capacity.svg"} {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Size() < 200 {
			t.Errorf("%s: %v", f, err)
		}
	}
	b, _ := os.ReadFile(written.Markdown)
	for _, want := range []string{"# ut360 capacity plan", "| 1000000 |", "volatile-lru", "documented", "| profile |"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("capacity.md lacks %q", want)
		}
	}
	var back Plan
	js, _ := os.ReadFile(filepath.Join(out, "capacity.json"))
	if err := json.Unmarshal(js, &back); err != nil || back.FormatVersion != FormatVersion || len(back.Projections) != 3 {
		t.Errorf("capacity.json: %v %+v", err, back.Projections)
	}
	svg, _ := os.ReadFile(filepath.Join(out, "capacity.svg"))
	if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("Redis data")) {
		t.Errorf("capacity.svg is not a chart with its legend")
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"8gb": 8 << 30, "8GB": 8 << 30, "12g": 12e9, "4096mb": 4 << 30, "1.5gb": 3 << 29,
		"100m": 100e6, "64kb": 64 << 10, "2k": 2000, "1000000": 1e6, " 3b ": 3} {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "gb", "-1gb", "0", "lots", "8 tb"} {
		if _, err := ParseMemory(in); err == nil {
			t.Errorf("ParseMemory(%q) accepted", in)
		}
	}
}
