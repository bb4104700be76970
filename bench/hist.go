package bench

import (
	"encoding/base64"
	"fmt"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 µs to 60 s at 3 significant digits, values in nanoseconds.
const (
	histLowest  = int64(time.Microsecond)
	histHighest = int64(60 * time.Second)
	histDigits  = 3
)

func newHist() *hdr.Histogram { return hdr.New(histLowest, histHighest, histDigits) }

// record stores d, clamped into the histogram's range (a 61 s stall counts as 60 s).
func record(h *hdr.Histogram, d time.Duration) {
	v := min(max(int64(d), histLowest), histHighest)
	_ = h.RecordValue(v) // cannot fail: v is in range
}

// correctedCopy returns h corrected for coordinated omission as HdrHistogram's
// copyCorrectedForCoordinatedOmission does: a value v that is longer than the
// expected interval between operations stands for the operations that would
// have been issued meanwhile, with latencies v-interval, v-2·interval, … .
func correctedCopy(h *hdr.Histogram, interval time.Duration) *hdr.Histogram {
	out := newHist()
	iv := int64(interval)
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue
		}
		v := b.To
		_ = out.RecordValues(v, b.Count)
		if iv <= 0 {
			continue
		}
		for m := v - iv; m >= iv; m -= iv {
			_ = out.RecordValues(max(m, histLowest), b.Count)
		}
	}
	return out
}

// Percentiles are the reported figures of one histogram, in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99.9_ms"`
	P9999 float64 `json:"p99.99_ms"`
	Max   float64 `json:"max_ms"`
}

func ms(v int64) float64 { return float64(v) / 1e6 }

func percentilesOf(h *hdr.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	q := h.ValueAtPercentiles([]float64{50, 90, 99, 99.9, 99.99})
	return Percentiles{Count: h.TotalCount(), Min: ms(h.Min()), Mean: h.Mean() / 1e6,
		P50: ms(q[50]), P90: ms(q[90]), P99: ms(q[99]), P999: ms(q[99.9]), P9999: ms(q[99.99]), Max: ms(h.Max())}
}

// metric returns a latency figure by threshold name (p50 … max), in ms.
func (p Percentiles) metric(name string) (float64, bool) {
	switch name {
	case "p50":
		return p.P50, true
	case "p90":
		return p.P90, true
	case "p99":
		return p.P99, true
	case "p99.9":
		return p.P999, true
	case "max":
		return p.Max, true
	}
	return 0, false
}

// encodeHist is the compressed V2 encoding (as in .hlog files), base64.
func encodeHist(h *hdr.Histogram) string {
	b, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// decodeHist reverses encodeHist.
func decodeHist(s string) (*hdr.Histogram, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	h, err := hdr.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	return h, nil
}
