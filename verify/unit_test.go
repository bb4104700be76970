package verify

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
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
