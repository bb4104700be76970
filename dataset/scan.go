package dataset

import "fmt"

// Scan makes *NullFloat a database/sql Scanner (pgx uses it for a
// destination of that kind): NULL is the zero value, a float8 sets V.
func (n *NullFloat) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n = NullFloat{}
	case float64:
		*n = NullFloat{V: v, Valid: true}
	case float32:
		*n = NullFloat{V: float64(v), Valid: true}
	default:
		return fmt.Errorf("NullFloat: cannot scan %T", src)
	}
	return nil
}

// The ScanDest methods return the destinations of a row read with the
// kind's columns in order (RecommendationColumns, ProfileColumns,
// MonthlyColumns): the one place a PostgreSQL row becomes a row value, for
// `rows.Scan(r.ScanDest()...)` without this package importing a driver.

// ScanDest is the recommendation's destinations in RecommendationColumns order.
func (r *Recommendation) ScanDest() []any {
	return []any{&r.ISDN, &r.SubscriberType, &r.ServiceType, &r.AdvanceAmount, &r.RevenuePerAdvance, &r.ClusterGroup,
		&r.BadDebtRisk, &r.ArpuAvg6m, &r.ArpuGrowthRate, &r.ArpuTrend, &r.CustomerValueScore, &r.AdvanceReadinessScore,
		&r.PriorityScore}
}

// ScanDest is the profile's destinations in ProfileColumns order.
func (p *Profile) ScanDest() []any {
	return []any{&p.ISDN, &p.SubscriberType, &p.ServiceType, &p.AdvanceAmount,
		&p.ArpuAvg6m, &p.ArpuMin6m, &p.ArpuMax6m, &p.ArpuStd6m, &p.ArpuLastMonth, &p.ArpuGrowthRate, &p.ArpuTrend,
		&p.RevenueCallShare, &p.RevenueSmsShare, &p.RevenueDataShare,
		&p.TopupCount6m, &p.TopupAvgAmount, &p.DaysSinceLastTopup,
		&p.RiskLevel, &p.RiskScore, &p.RiskFactors,
		&p.CustomerValueScore, &p.AdvanceReadinessScore, &p.EngagementScore, &p.PriorityScore,
		&p.ClusterGroup, &p.ClusterLabel, &p.MonthsActive, &p.InsightStrengths, &p.InsightRecommendations}
}

// ScanDest is the monthly row's destinations in MonthlyColumns order; the
// caller normalises DataMonth to UTC.
func (m *Monthly) ScanDest() []any {
	return []any{&m.ISDN, &m.DataMonth, &m.ArpuCall, &m.ArpuSms, &m.ArpuData, &m.ArpuTotal}
}
