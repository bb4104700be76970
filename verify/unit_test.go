package verify

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ut360/ut360/dataset"
)

func TestWilson(t *testing.T) {
	for _, tc := range []struct {
		x, n      int
		low, high float64
	}{
		{0, 100, 0, 0.03699},
		{1, 400, 0.000442, 0.01400},
		{50, 100, 0.40383, 0.59617},
		{100, 100, 0.96301, 1},
	} {
		lo, hi := Wilson(tc.x, tc.n, z95)
		if math.Abs(lo-tc.low) > 1e-4 || math.Abs(hi-tc.high) > 1e-4 {
			t.Errorf("Wilson(%d,%d) = %.5f–%.5f, want %.5f–%.5f", tc.x, tc.n, lo, hi, tc.low, tc.high)
		}
	}
	if lo, hi := Wilson(0, 0, z95); lo != 0 || hi != 1 {
		t.Errorf("Wilson(0,0) = %v–%v, want 0–1", lo, hi)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{DryRun: true}, {Repair: true, Sample: 3}, {Sample: -1}, {Buckets: -2}} {
		if err := o.Validate(); !errors.Is(err, ErrUsage) {
			t.Errorf("%+v: err = %v, want ErrUsage", o, err)
		}
	}
	o := Options{Buckets: 1000}
	o.defaults()
	if o.Buckets != 1024 || o.TTL != DefaultTTL || o.MaxExamples != 20 {
		t.Errorf("defaults: %+v", o)
	}
}

func TestDigestDuplicatesDoNotCancel(t *testing.T) {
	a, b := newDigest(4), newDigest(4)
	ta := &tally{mask: 3, d: a}
	tb := &tally{mask: 3, d: b}
	ta.add(cRec, "x", 10)
	ta.add(cRec, "x", 10)
	tb.add(cRec, "x", 20) // same sum, one row fewer
	keep := make([]uint8, 4)
	if n := diffBuckets(a, b, keep, keepRedis, cRec); n != 1 {
		t.Fatalf("a duplicated row cancelled out: %d differing buckets", n)
	}
}

func TestReportWriters(t *testing.T) {
	o := Options{}
	o.defaults()
	r := newReport(&o, "full")
	for i := range 25 {
		r.add(Finding{Class: FieldMismatch, ISDN: "isdn" + strings.Repeat("x", i%3), Key: "k",
			Fields: []FieldDiff{{Field: "monthly_arpu[2026-05-01].arpu_call", Expected: "1|2", Actual: "3"}}})
	}
	r.add(Finding{Class: Stats, Key: "ns:meta:stats", Detail: "meta:stats is missing"})
	r.finish(r.StartedAt)
	if c := r.Class(FieldMismatch); c.Count != 25 || len(c.Examples) != 20 || c.Fields["monthly_arpu.arpu_call"] != 25 {
		t.Errorf("class = %d findings, %d examples, fields %v", c.Count, len(c.Examples), c.Fields)
	}
	var js, md, txt bytes.Buffer
	if err := r.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"format_version": 1`) {
		t.Errorf("json: %v %s", err, js.String()[:80])
	}
	if err := r.WriteMarkdown(&md); err != nil || !strings.Contains(md.String(), `1\|2`) || !strings.Contains(md.String(), "| `stats` | 1 |") {
		t.Errorf("markdown: %v\n%s", err, md.String())
	}
	if err := r.WriteText(&txt); err != nil || strings.Count(txt.String(), "\n") > 24 || !strings.Contains(txt.String(), "MISMATCH") {
		t.Errorf("text: %v\n%s", err, txt.String())
	}
}

func TestIsJSONNumber(t *testing.T) {
	for s, ok := range map[string]bool{
		"0": true, "-0": true, "20000": true, "70.5": true, "7.05e1": true, "1E+2": true, "-1.5e-9": true,
		"": false, " 1": false, "1 ": false, "+1": false, "01": false, "1.": false, ".5": false, "1e": false,
		"NaN": false, "Inf": false, "-Inf": false, "0x10": false, "1_000": false, "--1": false,
	} {
		if got := isJSONNumber(s); got != ok {
			t.Errorf("isJSONNumber(%q) = %v, want %v", s, got, ok)
		}
	}
}

func TestSameScalar(t *testing.T) {
	for _, tc := range []struct {
		k         scalarKind
		want, got string
		same      bool
	}{
		{kFloat, "70.5", "70.5", true},
		{kFloat, "70.5", "70.50", true},
		{kFloat, "70.5", "7.05e1", true},
		{kFloat, "70", "70.0", true},
		{kFloat, "0", "-0", true},
		{kFloat, "70.5", " 70.5", false},
		{kFloat, "70.5", "+70.5", false},
		{kFloat, "70.5", "NaN", false},
		{kFloat, "70.5", "70.6", false},
		{kFloat, "", "0", false}, // NULL is only ""
		{kFloat, "1.5", "", false},
		{kInt, "20000", "20000", true},
		{kInt, "20000", " +20000", false},
		{kInt, "20000", "20000.0", false},
		{kInt, "20000", "2e4", false},
		{kText, "LOW", "low", false},
		{kText, "LOW", "LOW ", false},
	} {
		if got := sameScalar(tc.k, tc.want, tc.got); got != tc.same {
			t.Errorf("sameScalar(%d, %q, %q) = %v, want %v", tc.k, tc.want, tc.got, got, tc.same)
		}
	}
}

func TestCompareJSON(t *testing.T) {
	const want = `{"level":"LOW","score":12.5,"factors":["a","b"],"growth":null}`
	for _, tc := range []struct {
		got                string
		structural, values []string // field paths
	}{
		{want, nil, nil},
		{` { "factors" : [ "a" , "b" ] , "growth":null, "score":1.25e1,"level":"\u004cOW" } `, nil, nil},
		{`{"LEVEL":"LOW","score":12.5,"factors":["a","b"],"growth":null}`, []string{"risk.LEVEL", "risk.level"}, nil},
		{`{"level":"LOW","score":12.5,"factors":["a","b"],"growth":null,"note":"x"}`, []string{"risk.note"}, nil},
		{`{"level":"LOW","factors":["a","b"],"growth":null}`, []string{"risk.score"}, nil},
		{`{"level":"LOW","level":"LOW","score":12.5,"factors":["a","b"],"growth":null}`, []string{"risk.level"}, nil},
		{`{"level":1,"score":12.5,"factors":["a","b"],"growth":null}`, []string{"risk.level"}, nil},
		{`{"level":"LOW","score":"12.5","factors":["a","b"],"growth":null}`, []string{"risk.score"}, nil},
		{`{"level":"LOW","score":NaN,"factors":["a","b"],"growth":null}`, []string{"risk.score"}, nil},
		{`{"level":"LOW","score":+12.5,"factors":["a","b"],"growth":null}`, []string{"risk.score"}, nil},
		{`{"level":"LOW","score":12.5,"factors":["a","b"],"growth":null}x`, []string{"risk"}, nil},
		{`{"level":"LOW","score":12.5,"factors":["a","b"],"growth":null}{}`, []string{"risk"}, nil},
		{`{"level":"LOW","score":12.5,"factors":["a","b"]`, []string{"risk"}, nil},
		{"{\"level\":\"L\xffW\",\"score\":12.5,\"factors\":[\"a\",\"b\"],\"growth\":null}", []string{"risk"}, nil},
		{`{"level":"LOW","score":12.6,"factors":["a","c"],"growth":1}`, nil, []string{"risk.score", "risk.factors[1]", "risk.growth"}},
		{`{"level":"LOW","score":12.5,"factors":["a"],"growth":null}`, nil, []string{"risk.factors"}},
	} {
		var st, val []FieldDiff
		compareJSONField("risk", want, tc.got, &st, &val)
		paths := func(ds []FieldDiff) []string {
			var out []string
			for _, d := range ds {
				out = append(out, d.Field)
			}
			slices.Sort(out)
			return out
		}
		ws, wv := slices.Sorted(slices.Values(tc.structural)), slices.Sorted(slices.Values(tc.values))
		if !slices.Equal(paths(st), ws) || !slices.Equal(paths(val), wv) {
			t.Errorf("%s:\nstructural %v, want %v\nvalues %v, want %v", tc.got, st, ws, val, wv)
		}
	}
}

func TestClassify(t *testing.T) {
	k := dataset.NewKeys("rv")
	isdn := dataset.ISDNFor(1, 0)
	for key, want := range map[string]family{
		"rv:rec:" + isdn:            famRec,
		"rv:profile:" + isdn:        famProfile,
		"rv:idx:service:EasyCredit": famIndex,
		"rv:idx:risk:LOW":           famIndex,
		"rv:idx:cluster:3":          famIndex,
		"rv:meta:stats":             famMeta,
		"rv:meta:swap":              famMeta,
		"rv:stage:{ab}:rec:" + isdn: famStage,
		"rv:t2:rec:" + isdn:         famForeign,
		"rv:t2:meta:stats":          famForeign,
		"rv:t2:idx:risk:LOW":        famForeign,
		"rv:rec:x":                  famForeign,
		"rv:rec:" + isdn + ":x":     famForeign,
		"rv:rec:" + isdn[:23] + "A": famForeign,
		"rv:profile:":               famForeign,
		"rv:idx:other:x":            famForeign,
		"rv:idx:risk:":              famForeign,
		"rv:idx:risk":               famForeign,
		"rv:junk":                   famForeign,
		"rv:meta":                   famForeign,
		"rvx:rec:" + isdn:           famForeign,
		"other:rec:" + isdn:         famForeign,
	} {
		if got, _ := classify(k, key); got != want {
			t.Errorf("classify(%q) = %d, want %d", key, got, want)
		}
	}
	if _, got := classify(k, "rv:profile:"+isdn); got != isdn {
		t.Errorf("ISDN of a profile key = %q", got)
	}
	if owned(k, "rv:meta:stats") || owned(k, "rv:stage:{ab}:idx:risk:LOW") || owned(k, "rv:t2:rec:"+isdn) || !owned(k, "rv:idx:risk:LOW") {
		t.Error("owned: only rec, profile and index keys of the scheme are verify's to write")
	}
}

func TestPlanKeepsOwnedKeys(t *testing.T) {
	k := dataset.NewKeys("rv")
	isdn := dataset.ISDNFor(1, 0)
	p := newPlan()
	p.deleteKeys = []string{"rv:rec:" + isdn, "rv:t2:rec:" + isdn, "rv:junk", "rv:meta:stats", "rv:stage:{a}:rec:" + isdn}
	p.ttlKeys = []string{"rv:profile:" + isdn, "rv:t2:profile:" + isdn}
	p.rewriteRec = []string{isdn, "garbage"}
	p.indexRemove = []indexOp{{isdn: isdn, m: member{Key: "rv:idx:risk:LOW"}}, {isdn: isdn, m: member{Key: "rv:t2:idx:risk:LOW"}}}
	p.keepOwned(k)
	if !slices.Equal(p.deleteKeys, []string{"rv:rec:" + isdn}) || len(p.ttlKeys) != 1 || !slices.Equal(p.rewriteRec, []string{isdn}) ||
		len(p.indexRemove) != 1 {
		t.Errorf("plan after keepOwned: %+v", p)
	}
}

func TestNeverCleanWithFindings(t *testing.T) {
	for _, c := range Classes {
		o := Options{}
		o.defaults()
		r := newReport(&o, "full")
		r.add(Finding{Class: c, Key: "k"})
		r.finish(r.StartedAt)
		var b bytes.Buffer
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if r.Clean || strings.Contains(b.String(), "CLEAN") {
			t.Errorf("%s: report with a finding says clean:\n%s", c, b.String())
		}
		r.Clean = true // even a caller's stale flag cannot make the text say CLEAN
		if r.verdict() == "CLEAN" {
			t.Errorf("%s: verdict CLEAN with a finding", c)
		}
	}
}

func TestOptionsRefuseNamespace(t *testing.T) {
	for _, ns := range []string{"rv:stage", "rv:rec:x", "rv*", "{rv}", "r v"} {
		o := Options{Keys: dataset.NewKeys(ns)}
		if err := o.Validate(); !errors.Is(err, ErrUsage) || !errors.Is(err, dataset.ErrNamespace) {
			t.Errorf("namespace %q: err = %v, want ErrUsage and dataset.ErrNamespace", ns, err)
		}
	}
}

// TestValidISDNAgreesWithDataset: the scan's allocation-free check accepts
// exactly what dataset.ValidISDN accepts.
func TestValidISDNAgreesWithDataset(t *testing.T) {
	cands := []string{"", "==", "AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAAAAB==", "AAAAAAAAAAAAAAAAAAAAAQ==",
		"AAAAAAAAAAAAAAAAAAAAA===", "AAAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAA-_==", "AAAAAAAAAAAAAAAAAAAA\x00A==",
		"AAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAA==x", "++/hZFPrCDRre55vsZqqxQ=="}
	for i := range 2000 {
		isdn := dataset.ISDNFor(uint64(i%7), i)
		cands = append(cands, isdn)
		for _, c := range []byte{'A', 'Q', 'g', 'w', '/', '+', '=', '-', ' '} { // every position, a few bytes
			b := []byte(isdn)
			b[i%24] = c
			cands = append(cands, string(b))
		}
	}
	for _, s := range cands {
		if validISDN(s) != dataset.ValidISDN(s) {
			t.Errorf("validISDN(%q) = %v, dataset.ValidISDN = %v", s, validISDN(s), dataset.ValidISDN(s))
		}
	}
}
