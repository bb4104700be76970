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

// pgRecs streams recommendations rows (all, or those of isdns) to fn. The
// record passed to fn is reused: copy it to keep it.
func pgRecs(ctx context.Context, pool *pgxpool.Pool, isdns []string, fn func(*dataset.Recommendation) error) error {
	rows, err := pgQuery(ctx, pool, recSQL, isdns)
	if err != nil {
		return fmt.Errorf("postgres: read recommendations: %w", err)
	}
	defer rows.Close()
	var r dataset.Recommendation
	dest := r.ScanDest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("postgres: recommendations row: %w", err)
		}
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
	return pgQueryProfiles(ctx, pool, profileSQL, isdns, fn)
}

func pgQueryProfiles(ctx context.Context, pool *pgxpool.Pool, sql string, isdns []string, fn func(*dataset.Profile) error) error {
	rows, err := pgQuery(ctx, pool, sql, isdns)
	if err != nil {
		return fmt.Errorf("postgres: read subscriber_360_profiles: %w", err)
	}
	defer rows.Close()
	var lists [3][]byte // jsonb as text: dataset.ParseJSONList is ~5x faster than pgx's json.Unmarshal
	for rows.Next() {
		var p dataset.Profile
		// The profile's destinations, but the three list columns as raw text.
		dest := p.ScanDest()
		dest[19], dest[27], dest[28] = &lists[0], &lists[1], &lists[2]
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("postgres: subscriber_360_profiles row: %w", err)
		}
		for i, dst := range []*[]string{&p.RiskFactors, &p.InsightStrengths, &p.InsightRecommendations} {
			l, err := dataset.ParseJSONList(lists[i])
			if err != nil {
				return fmt.Errorf("postgres: subscriber_360_profiles row %s: a list column is not a JSON list of strings: %w", p.ISDN, err)
			}
			*dst = l
		}
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
	return pgQueryMonthly(ctx, pool, monthlySQL, isdns, fn)
}

func pgQueryMonthly(ctx context.Context, pool *pgxpool.Pool, sql string, isdns []string, fn func(*dataset.Monthly) error) error {
	rows, err := pgQuery(ctx, pool, sql, isdns)
	if err != nil {
		return fmt.Errorf("postgres: read subscriber_monthly_arpu: %w", err)
	}
	defer rows.Close()
	var m dataset.Monthly
	dest := m.ScanDest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
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

// byteOrderProbe is true when the database sorts text in byte order (C,
// C.UTF-8, POSIX): then ORDER BY isdn can use the primary keys.
const byteOrderProbe = `SELECT 'B' < 'a' AND '+' < '/' AND '/' < '0' AND '9' < 'A' AND 'Z' < 'a' AND '+z' < '/A'`

// orderBy returns the ORDER BY clause that yields ISDNs in byte order.
func orderBy(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var bytewise bool
	if err := pool.QueryRow(ctx, byteOrderProbe).Scan(&bytewise); err != nil {
		return "", fmt.Errorf("postgres: collation probe: %w", err)
	}
	if bytewise {
		return " ORDER BY isdn", nil
	}
	return ` ORDER BY isdn COLLATE "C"`, nil
}

// batchSize is the number of rows handed between goroutines at once.
const batchSize = 512

// digestPG streams the three tables concurrently into tallies made by mk and
// returns them. Profiles and monthly rows are read in ISDN order and merged,
// so that each profile's Redis hash can be re-encoded (profileRawHash) while
// holding one subscriber at a time.
func digestPG(ctx context.Context, pool *pgxpool.Pool, mk func() *tally) ([]*tally, error) {
	order, err := orderBy(ctx, pool)
	if err != nil {
		return nil, err
	}
	ts := []*tally{mk(), mk()}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return pgRecs(ctx, pool, nil, func(r *dataset.Recommendation) error { addRecFacts(ts[0], r); return nil })
	})
	profCh := make(chan []dataset.Profile, 4)
	monCh := make(chan []dataset.Monthly, 4)
	g.Go(func() error {
		return streamBatches(ctx, profCh, batchSize, func(each func(*dataset.Profile) error) error {
			return pgQueryProfiles(ctx, pool, profileSQL+order, nil, each)
		})
	})
	g.Go(func() error {
		return streamBatches(ctx, monCh, 8*batchSize, func(each func(*dataset.Monthly) error) error {
			return pgQueryMonthly(ctx, pool, monthlySQL+order+", data_month", nil, each)
		})
	})
	g.Go(func() error { return mergeProfiles(ts[1], profCh, monCh) })
	return ts, g.Wait()
}

// streamBatches sends the records read hands to each (a reused record) to
// ch in batches of size, and closes ch at the end.
func streamBatches[T any](ctx context.Context, ch chan<- []T, size int, read func(each func(*T) error) error) error {
	defer close(ch)
	batch := make([]T, 0, size)
	err := read(func(v *T) error {
		batch = append(batch, *v)
		if len(batch) < size {
			return nil
		}
		err := send(ctx, ch, batch)
		batch = make([]T, 0, size)
		return err
	})
	if err == nil && len(batch) > 0 {
		err = send(ctx, ch, batch)
	}
	return err
}

func send[T any](ctx context.Context, ch chan<- []T, v []T) error {
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// monthStream yields the monthly rows of one subscriber at a time.
type monthStream struct {
	ch    <-chan []dataset.Monthly
	buf   []dataset.Monthly
	group []dataset.Monthly
	last  string
}

// next returns the next subscriber's rows (nil at the end).
func (s *monthStream) next() ([]dataset.Monthly, error) {
	s.group = s.group[:0]
	for {
		if len(s.buf) == 0 {
			b, ok := <-s.ch
			if !ok {
				if len(s.group) == 0 {
					return nil, nil
				}
				return s.group, nil
			}
			s.buf = b
		}
		m := s.buf[0]
		if len(s.group) > 0 && m.ISDN != s.group[0].ISDN {
			return s.group, nil
		}
		if len(s.group) == 0 {
			if m.ISDN <= s.last && s.last != "" {
				return nil, fmt.Errorf("postgres: subscriber_monthly_arpu not in ISDN byte order (%q after %q): unexpected collation", m.ISDN, s.last)
			}
			s.last = m.ISDN
		}
		s.group = append(s.group, m)
		s.buf = s.buf[1:]
	}
}

// mergeProfiles joins profiles and monthly rows (both in ISDN byte order).
func mergeProfiles(t *tally, profCh <-chan []dataset.Profile, monCh <-chan []dataset.Monthly) error {
	ms := &monthStream{ch: monCh}
	months, err := ms.next()
	if err != nil {
		return err
	}
	orphanMonths := func() error {
		for i := range months {
			t.add(cMonthly, months[i].ISDN, months[i].Hash())
		}
		// monthly rows without a profile row: no profile hash can hold them
		t.add(cProfileRaw, months[0].ISDN, poison("months:"+months[0].ISDN))
		months, err = ms.next()
		return err
	}
	last := ""
	for batch := range profCh {
		for i := range batch {
			p := &batch[i]
			if last != "" && p.ISDN <= last {
				return fmt.Errorf("postgres: subscriber_360_profiles not in ISDN byte order (%q after %q): unexpected collation", p.ISDN, last)
			}
			last = p.ISDN
			for months != nil && months[0].ISDN < p.ISDN {
				if err := orphanMonths(); err != nil {
					return err
				}
			}
			var mine []dataset.Monthly
			if months != nil && months[0].ISDN == p.ISDN {
				mine = months
			}
			t.add(cProfile, p.ISDN, p.Hash())
			for j := range mine {
				t.add(cMonthly, p.ISDN, mine[j].Hash())
			}
			t.add(cProfileRaw, p.ISDN, profileRawHash(p, mine))
			if mine != nil {
				if months, err = ms.next(); err != nil {
					return err
				}
			}
		}
	}
	for months != nil {
		if err := orphanMonths(); err != nil {
			return err
		}
	}
	return nil
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

// pgGeneration is the generation of PostgreSQL's live snapshot (the comment
// of the recommendations table, dataset.PGGenerationQuery), 0 when none is
// recorded.
func pgGeneration(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var c *string
	if err := pool.QueryRow(ctx, dataset.PGGenerationQuery).Scan(&c); err != nil {
		return 0, fmt.Errorf("postgres: read the generation: %w", err)
	}
	if c == nil {
		return 0, nil
	}
	return dataset.ParseGenerationComment(*c), nil
}
