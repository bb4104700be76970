package loader

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ut360/ut360/dataset"
)

// pgSource streams the live tables back, ordered by isdn, for a refresh of
// Redis from PostgreSQL (--from postgres). Each row is validated like a file
// row, so both paths write the same bytes.
type pgSource[T any] struct {
	rows  pgx.Rows
	n     int64
	table string
	scan  func(pgx.Rows) (T, error)
	check func(*T) *dataset.FieldError
}

func (s *pgSource[T]) Next() (T, int64, error) {
	var zero T
	if !s.rows.Next() {
		if err := s.rows.Err(); err != nil {
			return zero, s.n, fmt.Errorf("postgres: read %s: %w", s.table, err)
		}
		return zero, s.n, io.EOF
	}
	s.n++
	v, err := s.scan(s.rows)
	if err != nil {
		return zero, s.n, &dataset.RowError{File: s.table, Pos: s.n, Field: fieldErr("*", "", err.Error())}
	}
	if fe := s.check(&v); fe != nil {
		return zero, s.n, &dataset.RowError{File: s.table, Pos: s.n, Field: fe}
	}
	return v, s.n, nil
}

func (s *pgSource[T]) Close() error { s.rows.Close(); return nil }

func pgInput[T any](l *load, table string, cols []string, order string, scan func(pgx.Rows) (T, error), check func(*T) *dataset.FieldError) input[T] {
	q := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(cols, ", "), qi(table), order)
	return input[T]{name: table, open: func(ctx context.Context) (source[T], error) {
		rows, err := l.pool.Query(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("postgres: read %s: %w", table, err)
		}
		return &pgSource[T]{rows: rows, table: table, scan: scan, check: check}, nil
	}}
}

func toNull(p *float64) dataset.NullFloat {
	if p == nil {
		return dataset.NullFloat{}
	}
	return dataset.NullFloat{V: *p, Valid: true}
}

// pgInputs reads the three live tables: recommendations in isdn order (that
// order is the "rec order"), the others in the same order.
func (l *load) pgInputs() {
	l.recs = pgInput(l, tRecs, dataset.RecommendationColumns, "isdn", func(rows pgx.Rows) (r dataset.Recommendation, err error) {
		var g *float64
		err = rows.Scan(&r.ISDN, &r.SubscriberType, &r.ServiceType, &r.AdvanceAmount, &r.RevenuePerAdvance, &r.ClusterGroup,
			&r.BadDebtRisk, &r.ArpuAvg6m, &g, &r.ArpuTrend, &r.CustomerValueScore, &r.AdvanceReadinessScore, &r.PriorityScore)
		r.ArpuGrowthRate = toNull(g)
		return r, err
	}, (*dataset.Recommendation).Validate)
	l.profiles = pgInput(l, tProfiles, dataset.ProfileColumns, "isdn", func(rows pgx.Rows) (p dataset.Profile, err error) {
		var g *float64
		err = rows.Scan(&p.ISDN, &p.SubscriberType, &p.ServiceType, &p.AdvanceAmount,
			&p.ArpuAvg6m, &p.ArpuMin6m, &p.ArpuMax6m, &p.ArpuStd6m, &p.ArpuLastMonth, &g, &p.ArpuTrend,
			&p.RevenueCallShare, &p.RevenueSmsShare, &p.RevenueDataShare,
			&p.TopupCount6m, &p.TopupAvgAmount, &p.DaysSinceLastTopup,
			&p.RiskLevel, &p.RiskScore, &p.RiskFactors,
			&p.CustomerValueScore, &p.AdvanceReadinessScore, &p.EngagementScore, &p.PriorityScore,
			&p.ClusterGroup, &p.ClusterLabel, &p.MonthsActive, &p.InsightStrengths, &p.InsightRecommendations)
		p.ArpuGrowthRate = toNull(g)
		return p, err
	}, (*dataset.Profile).Validate)
	l.monthly = pgInput(l, tMonthly, dataset.MonthlyColumns, "isdn, data_month", func(rows pgx.Rows) (m dataset.Monthly, err error) {
		err = rows.Scan(&m.ISDN, &m.DataMonth, &m.ArpuCall, &m.ArpuSms, &m.ArpuData, &m.ArpuTotal)
		m.DataMonth = m.DataMonth.UTC()
		return m, err
	}, (*dataset.Monthly).Validate)
}
