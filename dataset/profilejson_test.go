package dataset

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
)

// marshalProfileFields is the reference: the p* structs through json.Marshal.
func marshalProfileFields(pr *Profile, months []Monthly) []string {
	must := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	nonNil := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	m := pMonthly{Month: make([]string, len(months)), Call: make([]float64, len(months)),
		SMS: make([]float64, len(months)), Data: make([]float64, len(months)), Total: make([]float64, len(months))}
	for i, r := range months {
		m.Month[i], m.Call[i], m.SMS[i], m.Data[i], m.Total[i] = r.DataMonth.UTC().Format(monthLayout), r.ArpuCall, r.ArpuSms, r.ArpuData, r.ArpuTotal
	}
	var growth *float64
	if pr.ArpuGrowthRate.Valid {
		g := pr.ArpuGrowthRate.V
		growth = &g
	}
	return []string{
		PFBasic, must(pBasic{pr.ISDN, pr.SubscriberType, pr.ServiceType, pr.AdvanceAmount}),
		PFMonthly, must(m),
		PFKPI, must(pKPI{pr.CustomerValueScore, pr.AdvanceReadinessScore, pr.EngagementScore, pr.PriorityScore}),
		PFArpu, must(pArpu{pr.ArpuAvg6m, pr.ArpuMin6m, pr.ArpuMax6m, pr.ArpuStd6m, pr.ArpuLastMonth, growth, pr.ArpuTrend}),
		PFRevenue, must(pRevenue{pr.RevenueCallShare, pr.RevenueSmsShare, pr.RevenueDataShare}),
		PFTopup, must(pTopup{pr.TopupCount6m, pr.TopupAvgAmount, pr.DaysSinceLastTopup}),
		PFRisk, must(pRisk{pr.RiskLevel, pr.RiskScore, nonNil(pr.RiskFactors)}),
		PFCluster, must(pCluster{pr.ClusterGroup, pr.ClusterLabel, pr.MonthsActive}),
		PFInsight, must(pInsights{nonNil(pr.InsightStrengths), nonNil(pr.InsightRecommendations)}),
	}
}

func TestProfileFieldsMatchEncodingJSON(t *testing.T) {
	check := func(name string, p *Profile, months []Monthly) {
		t.Helper()
		if got, want := p.ProfileFields(months), marshalProfileFields(p, months); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
	}
	for i := range 2000 {
		s := GenSubscriber(7, i, i%12+1)
		check("generated", &s.Profile, s.Monthly)
	}
	s := GenSubscriber(7, 1, 6)
	p := s.Profile
	p.ClusterLabel = "a<b>&\"c\"\\\n\t\x01\x7f\u2028\u2029\xff end"
	p.RiskFactors = nil
	p.InsightStrengths = []string{"", "Ổn định", "\x00"}
	p.ArpuGrowthRate = NullFloat{}
	p.ArpuAvg6m, p.ArpuMin6m, p.ArpuMax6m = 1e21, 1e-7, math.Copysign(0, -1)
	p.ArpuStd6m, p.ArpuLastMonth = 123456789012345678, 5e-324
	p.RiskScore, p.AdvanceAmount = 99.99999999999999, math.MaxInt64
	check("edge cases", &p, nil)
	s.Monthly[0].ArpuCall = -1.5e-300
	check("edge months", &p, s.Monthly)
}

// FuzzProfileJSON checks the hand-written string and float encoders against
// encoding/json on arbitrary input.
func FuzzProfileJSON(f *testing.F) {
	f.Add("Giá trị cao", 1.5)
	f.Add("<\x00\xff\u2028\"", 1e-7)
	f.Add("", math.Copysign(0, -1))
	f.Fuzz(func(t *testing.T, s string, v float64) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("string %q: got %s want %s", s, got, want)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		want, _ = json.Marshal(v)
		if got := appendJSONFloat(nil, v); string(got) != string(want) {
			t.Errorf("float %v: got %s want %s", v, got, want)
		}
	})
}

// FuzzParseJSONList: the fast list reader agrees with json.Unmarshal on
// every input, errors included.
func FuzzParseJSONList(f *testing.F) {
	for _, s := range []string{`[]`, ` [ ] `, `["a", "b"]`, `["Ổn định","x"]`, `["a\"b"]`, `["\u00e9"]`,
		`[1]`, `null`, `["a",]`, `["a" "b"]`, "[\"\xff\"]", `["a"] x`, "[\"\t\"]", ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want []string
		werr := json.Unmarshal(b, &want)
		got, err := ParseJSONList(b)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, json.Unmarshal %v", b, err, werr)
		}
		if err == nil && (!slices.Equal(got, want) || (got == nil) != (want == nil)) {
			t.Fatalf("%q: got %q, json.Unmarshal %q", b, got, want)
		}
	})
}
