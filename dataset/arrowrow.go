package dataset

import (
	"math"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// arrowRow reads one row of a Parquet batch straight into typed fields, with
// the checks of the text parser. It is the fast path of the Parquet reader:
// formatting every cell to its canonical string and parsing it back was
// almost a third of a load's CPU (docs/figures.md). It only ever accepts:
// any doubt (a NULL, an unexpected array type, a failed check) clears ok, and
// the reader then takes the text path for that row, which yields the same
// record or the precise row error. So for every row the fast
// path accepts, the result equals Parse(canonical strings of the row) —
// TestArrowFastPathMatchesParse.
type arrowRow struct {
	cols []arrow.Array
	i    int
	ok   bool
}

func (r *arrowRow) str(c int) string {
	a, ok := r.cols[c].(*array.String)
	if !ok || a.IsNull(r.i) {
		r.ok = false
		return ""
	}
	return a.Value(r.i)
}

func (r *arrowRow) isdn(c int) string {
	s := r.str(c)
	if r.ok && !ValidISDN(s) {
		r.ok = false
	}
	return s
}

func (r *arrowRow) enum(c int, allowed []string) string {
	s := r.str(c)
	if !ValidEnum(allowed, s) {
		r.ok = false
	}
	return s
}

func (r *arrowRow) text(c int) string {
	s := r.str(c)
	if !utf8.ValidString(s) {
		r.ok = false
	}
	return s
}

func (r *arrowRow) i64(c int) int64 {
	a, ok := r.cols[c].(*array.Int64)
	if !ok || a.IsNull(r.i) {
		r.ok = false
		return 0
	}
	return a.Value(r.i)
}

func (r *arrowRow) amount(c int) int64 {
	v := r.i64(c)
	if v < 0 {
		r.ok = false
	}
	return v
}

func (r *arrowRow) i32(c int) int32 {
	a, ok := r.cols[c].(*array.Int32)
	if !ok || a.IsNull(r.i) {
		r.ok = false
		return 0
	}
	return a.Value(r.i)
}

// float64At reads a finite float; -0 becomes 0 as in the canonical form.
func (r *arrowRow) float64At(a *array.Float64) float64 {
	v := a.Value(r.i)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		r.ok = false
	}
	if v == 0 {
		v = 0
	}
	return v
}

func (r *arrowRow) f64(c int) float64 {
	a, ok := r.cols[c].(*array.Float64)
	if !ok || a.IsNull(r.i) {
		r.ok = false
		return 0
	}
	return r.float64At(a)
}

func (r *arrowRow) nullF64(c int) NullFloat {
	a, ok := r.cols[c].(*array.Float64)
	if !ok {
		r.ok = false
		return NullFloat{}
	}
	if a.IsNull(r.i) {
		return NullFloat{}
	}
	return NullFloat{V: r.float64At(a), Valid: true}
}

func (r *arrowRow) ranged(c int, hi float64) float64 {
	v := r.f64(c)
	if v < 0 || v > hi {
		r.ok = false
	}
	return v
}

func (r *arrowRow) score(c int) float64 { return r.ranged(c, 100) }
func (r *arrowRow) share(c int) float64 { return r.ranged(c, 1) }

// list reads a list<string>; NULL is the empty list, as in the canonical form.
func (r *arrowRow) list(c int) []string {
	a, ok := r.cols[c].(*array.List)
	if !ok {
		r.ok = false
		return nil
	}
	if a.IsNull(r.i) {
		return []string{}
	}
	elems, ok := a.ListValues().(*array.String)
	if !ok {
		r.ok = false
		return nil
	}
	start, end := a.ValueOffsets(r.i)
	l := make([]string, 0, end-start)
	for j := start; j < end; j++ {
		s := elems.Value(int(j))
		if !utf8.ValidString(s) {
			r.ok = false
		}
		l = append(l, s)
	}
	return l
}

func (r *arrowRow) date(c int) time.Time {
	a, ok := r.cols[c].(*array.Date32)
	if !ok || a.IsNull(r.i) {
		r.ok = false
		return time.Time{}
	}
	t := a.Value(r.i).ToTime()
	if t.Day() != 1 || t.Year() < 1 || t.Year() > 9999 {
		r.ok = false
	}
	return t
}

func profileFromArrow(cols []arrow.Array, i int) (Profile, bool) {
	r := arrowRow{cols: cols, i: i, ok: true}
	pr := Profile{
		ISDN: r.isdn(0), SubscriberType: r.enum(1, SubscriberTypes), ServiceType: r.enum(2, ServiceTypes),
		AdvanceAmount: r.amount(3), ArpuAvg6m: r.f64(4), ArpuMin6m: r.f64(5), ArpuMax6m: r.f64(6),
		ArpuStd6m: r.f64(7), ArpuLastMonth: r.f64(8), ArpuGrowthRate: r.nullF64(9), ArpuTrend: r.enum(10, ArpuTrends),
		RevenueCallShare: r.share(11), RevenueSmsShare: r.share(12), RevenueDataShare: r.share(13),
		TopupCount6m: r.i32(14), TopupAvgAmount: r.f64(15), DaysSinceLastTopup: r.i32(16),
		RiskLevel: r.enum(17, RiskLevels), RiskScore: r.score(18), RiskFactors: r.list(19),
		CustomerValueScore: r.score(20), AdvanceReadinessScore: r.score(21), EngagementScore: r.score(22),
		PriorityScore: r.score(23), ClusterGroup: r.i32(24), ClusterLabel: r.text(25),
		MonthsActive: r.i32(26), InsightStrengths: r.list(27), InsightRecommendations: r.list(28),
	}
	return pr, r.ok
}

func monthlyFromArrow(cols []arrow.Array, i int) (Monthly, bool) {
	r := arrowRow{cols: cols, i: i, ok: true}
	m := Monthly{ISDN: r.isdn(0), DataMonth: r.date(1), ArpuCall: r.f64(2), ArpuSms: r.f64(3),
		ArpuData: r.f64(4), ArpuTotal: r.f64(5)}
	return m, r.ok
}
