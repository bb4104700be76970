package dataset

import (
	"encoding/json"
	"slices"
	"time"
)

// RecFields returns the rec hash of r as alternating field/value pairs, ready
// for HSET: one field per column, canonical values, NULL as "".
func (r *Recommendation) RecFields() []string {
	vals := r.Values()
	out := make([]string, 0, 2*len(vals))
	for i, c := range RecommendationColumns {
		out = append(out, c, vals[i])
	}
	return out
}

// RecommendationFromHash rebuilds a recommendation from a rec hash (HGETALL).
// A missing or extra field is an error.
func RecommendationFromHash(h map[string]string) (Recommendation, *FieldError) {
	vals, fe := fieldsInOrder(h, RecommendationColumns)
	if fe != nil {
		return Recommendation{}, fe
	}
	return ParseRecommendation(vals)
}

func fieldsInOrder(h map[string]string, cols []string) ([]string, *FieldError) {
	vals := make([]string, len(cols))
	for i, c := range cols {
		v, ok := h[c]
		if !ok {
			return nil, ferr(c, "", "field missing from hash")
		}
		vals[i] = v
	}
	if len(h) != len(cols) {
		for f := range h {
			if !slices.Contains(cols, f) {
				return nil, ferr(f, h[f], "unexpected field in hash")
			}
		}
	}
	return vals, nil
}

// The profile hash (SPEC §3) holds one compact JSON document per group. Field
// names and the JSON layout are defined here once; loader writes them and
// verify reads them back through ProfileFromHash.
const (
	monthLayout = "2006-01"

	PFBasic   = "basic"
	PFMonthly = "monthly_arpu"
	PFKPI     = "kpi_scores"
	PFArpu    = "arpu_stats"
	PFRevenue = "revenue"
	PFTopup   = "topup"
	PFRisk    = "risk"
	PFCluster = "cluster"
	PFInsight = "insights"
)

// ProfileFieldNames lists the fields of a profile hash in a fixed order.
var ProfileFieldNames = []string{PFBasic, PFMonthly, PFKPI, PFArpu, PFRevenue, PFTopup, PFRisk, PFCluster, PFInsight}

type pBasic struct {
	ISDN           string `json:"isdn"`
	SubscriberType string `json:"subscriber_type"`
	Service        string `json:"service"`
	Advance        int64  `json:"advance"`
}

// pMonthly is column-oriented: one array per series, ready for a chart;
// months are "YYYY-MM" (every data_month is the first of its month).
type pMonthly struct {
	Month []string  `json:"month"`
	Call  []float64 `json:"call"`
	SMS   []float64 `json:"sms"`
	Data  []float64 `json:"data"`
	Total []float64 `json:"total"`
}

type pKPI struct {
	CustomerValue    float64 `json:"customer_value"`
	AdvanceReadiness float64 `json:"advance_readiness"`
	Engagement       float64 `json:"engagement"`
	Priority         float64 `json:"priority"`
}

// Groups whose key names SPEC §3 does not fix use short ones: every byte of
// a profile hash costs ~214 KB of Redis memory at reference scale.
type pArpu struct {
	Avg6m     float64  `json:"avg"`
	Min6m     float64  `json:"min"`
	Max6m     float64  `json:"max"`
	Std6m     float64  `json:"std"`
	LastMonth float64  `json:"last"`
	Growth    *float64 `json:"growth"`
	Trend     string   `json:"trend"`
}

type pRevenue struct {
	Call float64 `json:"call"`
	SMS  float64 `json:"sms"`
	Data float64 `json:"data"`
}

type pTopup struct {
	Count6m       int32   `json:"count"`
	AvgAmount     float64 `json:"avg"`
	DaysSinceLast int32   `json:"days_since"`
}

type pRisk struct {
	Level   string   `json:"level"`
	Score   float64  `json:"score"`
	Factors []string `json:"factors"`
}

type pCluster struct {
	Group        int32  `json:"group"`
	Label        string `json:"label"`
	MonthsActive int32  `json:"months"`
}

type pInsights struct {
	Strengths       []string `json:"strengths"`
	Recommendations []string `json:"recommendations"`
}

// ProfileFromHash decodes a profile hash (HGETALL) back into the profile and its
// monthly rows. Every field must be present and decode; the result is
// validated like an input row.
func ProfileFromHash(h map[string]string) (Profile, []Monthly, *FieldError) {
	vals, fe := fieldsInOrder(h, ProfileFieldNames)
	if fe != nil {
		return Profile{}, nil, fe
	}
	var (
		b   pBasic
		m   pMonthly
		k   pKPI
		a   pArpu
		rv  pRevenue
		t   pTopup
		rk  pRisk
		c   pCluster
		ins pInsights
	)
	targets := []any{&b, &m, &k, &a, &rv, &t, &rk, &c, &ins}
	for i, dst := range targets {
		if err := json.Unmarshal([]byte(vals[i]), dst); err != nil {
			return Profile{}, nil, ferr(ProfileFieldNames[i], vals[i], "invalid JSON: %v", err)
		}
	}
	pr := Profile{
		ISDN: b.ISDN, SubscriberType: b.SubscriberType, ServiceType: b.Service, AdvanceAmount: b.Advance,
		ArpuAvg6m: a.Avg6m, ArpuMin6m: a.Min6m, ArpuMax6m: a.Max6m, ArpuStd6m: a.Std6m, ArpuLastMonth: a.LastMonth,
		ArpuTrend: a.Trend, RevenueCallShare: rv.Call, RevenueSmsShare: rv.SMS, RevenueDataShare: rv.Data,
		TopupCount6m: t.Count6m, TopupAvgAmount: t.AvgAmount, DaysSinceLastTopup: t.DaysSinceLast,
		RiskLevel: rk.Level, RiskScore: rk.Score, RiskFactors: rk.Factors,
		CustomerValueScore: k.CustomerValue, AdvanceReadinessScore: k.AdvanceReadiness,
		EngagementScore: k.Engagement, PriorityScore: k.Priority,
		ClusterGroup: c.Group, ClusterLabel: c.Label, MonthsActive: c.MonthsActive,
		InsightStrengths: ins.Strengths, InsightRecommendations: ins.Recommendations,
	}
	if a.Growth != nil {
		pr.ArpuGrowthRate = NullFloat{V: *a.Growth, Valid: true}
	}
	if fe := pr.Validate(); fe != nil {
		return Profile{}, nil, fe
	}
	n := len(m.Month)
	if len(m.Call) != n || len(m.SMS) != n || len(m.Data) != n || len(m.Total) != n {
		return Profile{}, nil, ferr(PFMonthly, vals[1], "series of different lengths")
	}
	months := make([]Monthly, n)
	for i := range n {
		d, err := time.Parse(monthLayout, m.Month[i])
		if err != nil {
			return Profile{}, nil, ferr(PFMonthly, m.Month[i], "not a month (YYYY-MM)")
		}
		months[i] = Monthly{ISDN: pr.ISDN, DataMonth: d, ArpuCall: m.Call[i], ArpuSms: m.SMS[i], ArpuData: m.Data[i], ArpuTotal: m.Total[i]}
	}
	return pr, months, nil
}

// ProfileDigest is the hash of a profile together with its monthly rows (in
// month order): what the profile hash in Redis must reproduce.
func ProfileDigest(pr *Profile, months []Monthly) uint64 {
	vals := pr.Values()
	for i := range months {
		vals = append(vals, months[i].Values()...)
	}
	return HashValues(vals)
}
