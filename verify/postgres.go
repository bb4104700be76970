package verify

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/ut360/ut360/dataset"
)

// Queries of the three tables (unqualified: the schema comes from search_path),
// returning columns in dataset column order.
const (
	recSQL = `SELECT isdn, subscriber_type, service_type, advance_amount::int8, revenue_per_advance::int8,
       cluster_group, bad_debt_risk, arpu_avg_6m, arpu_growth_rate, arpu_trend,
       customer_value_score, advance_readiness_score, priority_score
  FROM recommendations`
	profileSQL = `SELECT isdn, subscriber_type, service_type, advance_amount::int8,
       arpu_avg_6m, arpu_min_6m, arpu_max_6m, arpu_std_6m, arpu_last_month, arpu_growth_rate, arpu_trend,
       revenue_call_share, revenue_sms_share, revenue_data_share,
       topup_count_6m, topup_avg_amount, days_since_last_topup,
       risk_level, risk_score, risk_factors,
       customer_value_score, advance_readiness_score, engagement_score, priority_score,
       cluster_group, cluster_label, months_active, insight_strengths, insight_recommendations
  FROM subscriber_360_profiles`
	monthlySQL = `SELECT isdn, data_month, arpu_call, arpu_sms, arpu_data, arpu_total FROM subscriber_monthly_arpu`
	byISDN     = ` WHERE isdn = ANY($1)`
)

func pgQuery(ctx context.Context, pool *pgxpool.Pool, sql string, isdns []string) (pgx.Rows, error) {
	if isdns != nil {
		return pool.Query(ctx, sql+byISDN, isdns)
	}
	return pool.Query(ctx, sql)
}

func nullFloat(p *float64) dataset.NullFloat {
	if p == nil {
		return dataset.NullFloat{}
	}
	return dataset.NullFloat{V: *p, Valid: true}
}

// pgRecs streams recommendations rows (all, or those of isdns) to fn. The
// record passed to fn is reused: copy it to keep it.
func pgRecs(ctx context.Context, pool *pgxpool.Pool, isdns []string, fn func(*dataset.Recommendation) error) error {
	rows, err := pgQuery(ctx, pool, recSQL, isdns)
	if err != nil {
		return fmt.Errorf("postgres: read recommendations: %w", err)
	}
	defer rows.Close()
	var (
		r      dataset.Recommendation
		growth *float64
	)
	for rows.Next() {
		if err := rows.Scan(&r.ISDN, &r.SubscriberType, &r.ServiceType, &r.AdvanceAmount, &r.RevenuePerAdvance,
			&r.ClusterGroup, &r.BadDebtRisk, &r.ArpuAvg6m, &growth, &r.ArpuTrend,
			&r.CustomerValueScore, &r.AdvanceReadinessScore, &r.PriorityScore); err != nil {
			return fmt.Errorf("postgres: recommendations row: %w", err)
		}
		r.ArpuGrowthRate = nullFloat(growth)
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read recommendations: %w", err)
	}
	return nil
}

// pgProfiles streams subscriber_360_profiles rows to fn (a fresh record each time).
func pgProfiles(ctx context.Context, pool *pgxpool.Pool, isdns []string, fn func(*dataset.Profile) error) error {
	rows, err := pgQuery(ctx, pool, profileSQL, isdns)
	if err != nil {
		return fmt.Errorf("postgres: read subscriber_360_profiles: %w", err)
	}
	defer rows.Close()
	var growth *float64
	for rows.Next() {
		var p dataset.Profile
		if err := rows.Scan(&p.ISDN, &p.SubscriberType, &p.ServiceType, &p.AdvanceAmount,
			&p.ArpuAvg6m, &p.ArpuMin6m, &p.ArpuMax6m, &p.ArpuStd6m, &p.ArpuLastMonth, &growth, &p.ArpuTrend,
			&p.RevenueCallShare, &p.RevenueSmsShare, &p.RevenueDataShare,
			&p.TopupCount6m, &p.TopupAvgAmount, &p.DaysSinceLastTopup,
			&p.RiskLevel, &p.RiskScore, &p.RiskFactors,
			&p.CustomerValueScore, &p.AdvanceReadinessScore, &p.EngagementScore, &p.PriorityScore,
			&p.ClusterGroup, &p.ClusterLabel, &p.MonthsActive, &p.InsightStrengths, &p.InsightRecommendations); err != nil {
			return fmt.Errorf("postgres: subscriber_360_profiles row: %w", err)
		}
		p.ArpuGrowthRate = nullFloat(growth)
		if err := fn(&p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read subscriber_360_profiles: %w", err)
	}
	return nil
}

// pgMonthly streams subscriber_monthly_arpu rows to fn. The record is reused.
func pgMonthly(ctx context.Context, pool *pgxpool.Pool, isdns []string, fn func(*dataset.Monthly) error) error {
	rows, err := pgQuery(ctx, pool, monthlySQL, isdns)
	if err != nil {
		return fmt.Errorf("postgres: read subscriber_monthly_arpu: %w", err)
	}
	defer rows.Close()
	var m dataset.Monthly
	for rows.Next() {
		if err := rows.Scan(&m.ISDN, &m.DataMonth, &m.ArpuCall, &m.ArpuSms, &m.ArpuData, &m.ArpuTotal); err != nil {
			return fmt.Errorf("postgres: subscriber_monthly_arpu row: %w", err)
		}
		if err := fn(&m); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read subscriber_monthly_arpu: %w", err)
	}
	return nil
}

// digestPG streams the three tables concurrently into tallies made by mk and
// returns them (one per table).
func digestPG(ctx context.Context, pool *pgxpool.Pool, mk func() *tally) ([]*tally, error) {
	ts := []*tally{mk(), mk(), mk()}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return pgRecs(ctx, pool, nil, func(r *dataset.Recommendation) error { addRecFacts(ts[0], r); return nil })
	})
	g.Go(func() error {
		return pgProfiles(ctx, pool, nil, func(p *dataset.Profile) error { ts[1].add(cProfile, p.ISDN, p.Hash()); return nil })
	})
	g.Go(func() error {
		return pgMonthly(ctx, pool, nil, func(m *dataset.Monthly) error { ts[2].add(cMonthly, m.ISDN, m.Hash()); return nil })
	})
	return ts, g.Wait()
}

// pgRows is what PostgreSQL holds for a set of subscribers.
type pgRows struct {
	recs     map[string]dataset.Recommendation
	profiles map[string]dataset.Profile
	months   map[string][]dataset.Monthly // sorted by month
}

// fetchPG reads the rows of isdns (in batches) from the three tables.
func fetchPG(ctx context.Context, pool *pgxpool.Pool, isdns []string) (*pgRows, error) {
	out := &pgRows{recs: map[string]dataset.Recommendation{}, profiles: map[string]dataset.Profile{},
		months: map[string][]dataset.Monthly{}}
	for start := 0; start < len(isdns); start += fetchBatch {
		batch := isdns[start:min(start+fetchBatch, len(isdns))]
		if err := pgRecs(ctx, pool, batch, func(r *dataset.Recommendation) error { out.recs[r.ISDN] = *r; return nil }); err != nil {
			return nil, err
		}
		if err := pgProfiles(ctx, pool, batch, func(p *dataset.Profile) error { out.profiles[p.ISDN] = *p; return nil }); err != nil {
			return nil, err
		}
		if err := pgMonthly(ctx, pool, batch, func(m *dataset.Monthly) error {
			out.months[m.ISDN] = append(out.months[m.ISDN], *m)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	for _, ms := range out.months {
		sortMonths(ms)
	}
	return out, nil
}

// fetchBatch is how many subscribers are fetched per query or pipeline.
const fetchBatch = 1000
