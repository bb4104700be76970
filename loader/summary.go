// What a load did: the Summary and the meta:stats hash.

package loader

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/ut360/ut360/dataset"
)

func (l *load) summary(src, fp string) *Summary {
	s := &Summary{Source: src, Subscribers: int64(l.subs.len()), Profiles: l.nProfiles, MonthlyRows: l.nMonthly,
		Rejects: l.rej.count(), Fingerprint: fp, Unordered: l.unordered}
	if l.rej.count() > 0 {
		s.RejectsPath = l.o.RejectsPath
	}
	if l.rs != nil {
		s.RecKeys, s.ProfileKeys = l.rs.recKeys.Load(), l.rs.profileKeys.Load()
		s.ServiceMembers, s.RiskMembers, s.ClusterMembers = l.rs.family["service"], l.rs.family["risk"], l.rs.family["cluster"]
		for k := range l.rs.indexes {
			s.IndexKeys = append(s.IndexKeys, k)
		}
		slices.Sort(s.IndexKeys)
	}
	return s
}

func (l *load) stats(ctx context.Context, s *Summary, shas [3]string) map[string]string {
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return map[string]string{
		dataset.StatRecommendations: i(s.Subscribers), dataset.StatProfiles: i(s.Profiles), dataset.StatMonthlyRows: i(s.MonthlyRows),
		dataset.StatRecKeys: i(s.RecKeys), dataset.StatProfileKeys: i(s.ProfileKeys),
		dataset.StatIndexServiceMembers: i(s.ServiceMembers), dataset.StatIndexRiskMembers: i(s.RiskMembers),
		dataset.StatIndexClusterMembers: i(s.ClusterMembers), dataset.StatFingerprint: s.Fingerprint,
		dataset.StatSHA256Recommendations: shas[0], dataset.StatSHA256Profiles: shas[1], dataset.StatSHA256Monthly: shas[2],
		dataset.StatLoadedAt: time.Now().UTC().Format(time.RFC3339), dataset.StatDurationMS: i(time.Since(l.start).Milliseconds()),
		dataset.StatVersion: l.o.Version, dataset.StatSubscribers: i(s.Subscribers), dataset.StatTTLSeconds: i(int64(l.o.TTL / time.Second)),
		dataset.StatSource: s.Source, dataset.StatIndexKeys: dataset.IndexKeysJSON(s.IndexKeys), dataset.StatRejects: strconv.Itoa(s.Rejects),
		dataset.StatPGGeneration: l.pgGenerationOfSnapshot(ctx),
	}
}

// pgGenerationOfSnapshot is the PostgreSQL generation the Redis snapshot
// was made from: this load's when it loads both stores, the live one when
// it refreshes Redis from PostgreSQL (which holds the load lock, so no load
// can swap meanwhile), "" when Redis alone is loaded from files.
func (l *load) pgGenerationOfSnapshot(ctx context.Context) string {
	switch {
	case l.pg != nil:
		return strconv.FormatInt(l.gen, 10)
	case l.o.FromPostgres:
		if g := l.pgGeneration(ctx); g > 0 {
			return strconv.FormatInt(g, 10)
		}
	}
	return ""
}

func (l *load) finishSummary(s *Summary) {
	s.Duration = time.Since(l.start)
	rate := func(n int64, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Seconds()
	}
	if l.pg != nil {
		n := s.Subscribers + s.Profiles + s.MonthlyRows
		s.Postgres = &StoreSummary{Rows: n, Duration: l.pgDone, RowsPerSec: rate(n, l.pgDone)}
	}
	if l.rs != nil {
		n := s.RecKeys + s.ProfileKeys
		s.Redis = &StoreSummary{Rows: n, Duration: l.redisDone, RowsPerSec: rate(n, l.redisDone)}
	}
}
