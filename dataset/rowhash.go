package dataset

import (
	"encoding/binary"
	"math"

	"github.com/zeebo/xxh3"
)

// Profile and monthly rows are hashed from their typed values, not from
// their canonical strings: formatting every float of 1.4 million monthly rows
// only to hash it was an eighth of a load's CPU (docs/figures.md). Both sides
// of every comparison of these hashes (files, PostgreSQL) hold typed records,
// so the definition only has to be deterministic. Recommendation.Hash stays on the canonical strings because
// verify compares it with a rec hash's raw values.

// rowHash appends typed values to a buffer and hashes it.
type rowHash struct{ b []byte }

func (h *rowHash) str(s string) {
	h.b = binary.AppendUvarint(h.b, uint64(len(s)))
	h.b = append(h.b, s...)
}

func (h *rowHash) i64(v int64) { h.b = binary.LittleEndian.AppendUint64(h.b, uint64(v)) }

func (h *rowHash) f64(v float64) {
	if v == 0 {
		v = 0 // fold -0 into 0, as CanonFloat does
	}
	h.b = binary.LittleEndian.AppendUint64(h.b, math.Float64bits(v))
}

func (h *rowHash) nullF64(v NullFloat) {
	if !v.Valid {
		h.b = append(h.b, 0)
		return
	}
	h.b = append(h.b, 1)
	h.f64(v.V)
}

func (h *rowHash) list(l []string) {
	h.b = binary.AppendUvarint(h.b, uint64(len(l)))
	for _, s := range l {
		h.str(s)
	}
}

func (h *rowHash) sum() uint64 { return xxh3.Hash(h.b) }

// Hash is the row hash of the profile alone (typed, see rowHash).
func (pr *Profile) Hash() uint64 {
	var buf [512]byte
	h := rowHash{buf[:0]}
	h.str(pr.ISDN)
	h.str(pr.SubscriberType)
	h.str(pr.ServiceType)
	h.i64(pr.AdvanceAmount)
	for _, v := range [...]float64{pr.ArpuAvg6m, pr.ArpuMin6m, pr.ArpuMax6m, pr.ArpuStd6m, pr.ArpuLastMonth} {
		h.f64(v)
	}
	h.nullF64(pr.ArpuGrowthRate)
	h.str(pr.ArpuTrend)
	for _, v := range [...]float64{pr.RevenueCallShare, pr.RevenueSmsShare, pr.RevenueDataShare} {
		h.f64(v)
	}
	h.i64(int64(pr.TopupCount6m))
	h.f64(pr.TopupAvgAmount)
	h.i64(int64(pr.DaysSinceLastTopup))
	h.str(pr.RiskLevel)
	h.f64(pr.RiskScore)
	h.list(pr.RiskFactors)
	for _, v := range [...]float64{pr.CustomerValueScore, pr.AdvanceReadinessScore, pr.EngagementScore, pr.PriorityScore} {
		h.f64(v)
	}
	h.i64(int64(pr.ClusterGroup))
	h.str(pr.ClusterLabel)
	h.i64(int64(pr.MonthsActive))
	h.list(pr.InsightStrengths)
	h.list(pr.InsightRecommendations)
	return h.sum()
}

// Hash is the row hash of m (typed, see rowHash).
func (m *Monthly) Hash() uint64 {
	var buf [96]byte
	h := rowHash{buf[:0]}
	h.str(m.ISDN)
	h.i64(m.DataMonth.Unix())
	for _, v := range [...]float64{m.ArpuCall, m.ArpuSms, m.ArpuData, m.ArpuTotal} {
		h.f64(v)
	}
	return h.sum()
}
