package loader

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ut360/ut360/dataset"
)

// TestSpecUseCases: every SPEC §4 query and command works verbatim on the
// loaded stores (the Redis commands with the test's own prefix).
func TestSpecUseCases(t *testing.T) {
	s := newStores(t)
	dir := gen(t, 2000, 1)
	sum := s.load(t, s.opts(dir))
	ctx := context.Background()
	recs := readAll(t, &dataset.Recommendations, dir+"/"+dataset.RecommendationsFile)
	ns := s.keys.Namespace()
	cmd := func(line string) any {
		args := []any{}
		for _, f := range strings.Fields(strings.ReplaceAll(line, "ut360:", ns+":")) {
			args = append(args, f)
		}
		v, err := s.rdb.Do(ctx, args...).Result()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return v
	}
	// 1. real-time offer
	r := recs[0]
	h := cmd("HGETALL ut360:rec:" + r.ISDN).(map[any]any)
	if h["bad_debt_risk"] != r.BadDebtRisk || h["isdn"] != r.ISDN {
		t.Errorf("HGETALL rec: %v", h)
	}
	// 2. customer-360 modal
	p := cmd("HGETALL ut360:profile:" + r.ISDN).(map[any]any)
	for _, f := range []string{dataset.PFBasic, dataset.PFMonthly, dataset.PFKPI} {
		if v, _ := p[f].(string); !strings.HasPrefix(v, "{") {
			t.Errorf("profile field %s = %q", f, v)
		}
	}
	top := cmd("ZREVRANGE ut360:idx:service:EasyCredit 0 99").([]any)
	low := cmd("SMEMBERS ut360:idx:risk:LOW").([]any)
	stats := cmd("HGETALL ut360:meta:stats").(map[any]any)
	var easy, lowN int
	for _, r := range recs {
		if r.ServiceType == "EasyCredit" {
			easy++
		}
		if r.BadDebtRisk == "LOW" {
			lowN++
		}
	}
	if len(top) != min(100, easy) || len(low) != lowN || stats[dataset.StatFingerprint] != sum.Fingerprint {
		t.Errorf("ZREVRANGE %d (of %d), SMEMBERS %d (want %d), stats %v", len(top), easy, len(low), lowN, stats)
	}
	// The top 100 are the EasyCredit subscribers of highest priority, in order.
	prio := map[string]float64{}
	var easyPrio []float64
	for _, r := range recs {
		prio[r.ISDN] = r.PriorityScore
		if r.ServiceType == "EasyCredit" {
			easyPrio = append(easyPrio, r.PriorityScore)
		}
	}
	slices.Sort(easyPrio)
	slices.Reverse(easyPrio)
	for i, m := range top {
		if got, want := prio[m.(string)], easyPrio[i]; got != want {
			t.Fatalf("ZREVRANGE position %d: %s has priority %v, want %v", i, m, got, want)
		}
	}
	// 3. campaign, 4. dashboard, count — verbatim SQL.
	rows, err := s.pool.Query(ctx, `SELECT isdn, advance_amount, revenue_per_advance, customer_value_score
   FROM recommendations
   WHERE bad_debt_risk = 'LOW' AND customer_value_score >= 70 AND advance_readiness_score >= 80
   ORDER BY priority_score DESC LIMIT 10000;`)
	if err != nil {
		t.Fatal(err)
	}
	campaign, last := 0, 101.0
	for rows.Next() {
		var isdn string
		var amount, revenue, value float64
		if err := rows.Scan(&isdn, &amount, &revenue, &value); err != nil {
			t.Fatal(err)
		}
		if p := prio[isdn]; p > last {
			t.Fatalf("campaign row %d: priority %v after %v, want descending", campaign, p, last)
		} else {
			last = p
		}
		campaign++
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	want := 0
	for _, r := range recs {
		if r.BadDebtRisk == "LOW" && r.CustomerValueScore >= 70 && r.AdvanceReadinessScore >= 80 {
			want++
		}
	}
	if want == 0 {
		t.Fatal("the generated dataset has no campaign-eligible subscriber: the check would be vacuous")
	}
	if campaign != want {
		t.Errorf("campaign query: %d rows, want %d", campaign, want)
	}
	rows, err = s.pool.Query(ctx, `SELECT service_type, bad_debt_risk, COUNT(*) AS subscriber_count,
          SUM(advance_amount) AS total_advance, SUM(revenue_per_advance) AS total_revenue,
          AVG(customer_value_score) AS avg_value
   FROM recommendations GROUP BY service_type, bad_debt_risk ORDER BY service_type, bad_debt_risk;`)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		total += vals[2].(int64)
	}
	var count int64
	if err := s.pool.QueryRow(ctx, "SELECT COUNT(*) FROM recommendations").Scan(&count); err != nil {
		t.Fatal(err)
	}
	if total != int64(len(recs)) || count != int64(len(recs)) {
		t.Errorf("dashboard total %d, count %d, want %d", total, count, len(recs))
	}
}
