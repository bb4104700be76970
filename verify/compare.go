package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/ut360/ut360/dataset"
)

// Run verifies the namespace o.Keys in rdb against PostgreSQL (pool's
// search_path) and, with o.Source, the files against PostgreSQL. With
// o.Repair it then rewrites Redis from PostgreSQL and verifies again. The
// returned error is a fault (store unreachable, unreadable file, usage), never
// a mismatch: mismatches are in the Report.
func Run(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.defaults()
	if o.Sample > 0 {
		return runSample(ctx, pool, rdb, &o)
	}
	rep, st, err := runFull(ctx, pool, rdb, &o)
	if err != nil || !o.Repair {
		return rep, err
	}
	rr, err := repair(ctx, pool, rdb, &o, st, rep)
	if err != nil {
		return rep, err
	}
	rep.Repair = rr
	if !o.DryRun {
		after, _, err := runFull(ctx, pool, rdb, &o)
		if err != nil {
			return rep, fmt.Errorf("verify after repair: %w", err)
		}
		rr.After = after
	}
	return rep, nil
}

// state is what a full run learned, for repair.
type state struct {
	plan      *plan
	pgCounts  [nClass]int64
	fp        string
	indexKeys []string
	stats     map[string]string
}

// runFull is the bucketed-checksum verify.
func runFull(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, o *Options) (*Report, *state, error) {
	start := time.Now()
	rep := newReport(o, "full")
	rep.Buckets = o.Buckets
	mask := uint64(o.Buckets - 1)
	mk := func(sd side) func() *tally {
		return func() *tally { return &tally{side: sd, mask: mask, d: newDigest(o.Buckets)} }
	}

	// Pass 1: per-bucket digests of every side, concurrently.
	var (
		pgT, rdT, fT []*tally
		sc           *redisScan
		fs           = &fileScan{}
	)
	g, gctx := errgroup.WithContext(ctx)
	var pgGen int64
	g.Go(func() (err error) {
		if pgGen, err = pgGeneration(gctx, pool); err != nil {
			return err
		}
		pgT, err = digestPG(gctx, pool, mk(sPG))
		o.Log.Debug("verify: postgres read", "seconds", time.Since(start).Seconds())
		return err
	})
	g.Go(func() (err error) {
		rdT, sc, err = scanRedis(gctx, rdb, o, mk(sRedis))
		o.Log.Debug("verify: redis read", "seconds", time.Since(start).Seconds())
		return err
	})
	if o.Source != "" {
		g.Go(func() (err error) { fT, err = digestFiles(gctx, o.Source, mk(sFiles), fs); return err })
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	pgD, rdD, fD := mergeTallies(pgT), mergeTallies(rdT), mergeTallies(fT)
	o.Log.Debug("verify: pass 1 done", "seconds", time.Since(start).Seconds())

	st := &state{plan: newPlan(), indexKeys: sc.indexKeys, stats: sc.stats, fp: pgD.fingerprint().String()}
	for c := range nClass {
		st.pgCounts[c] = int64(pgD.total(c).n)
	}
	rep.Fingerprint = st.fp
	rep.RowsChecked = RowsChecked{
		PGRecommendations: st.pgCounts[cRec], PGProfiles: st.pgCounts[cProfile], PGMonthly: st.pgCounts[cMonthly],
		RedisRecKeys: sc.recKeys, RedisProfileKeys: sc.profileKeys,
		RedisIndexMembers: sc.members[idxService] + sc.members[idxRisk] + sc.members[idxCluster],
	}
	if o.Source != "" {
		rep.RowsChecked.SourceRecommendations = fs.rows[cRec]
		rep.RowsChecked.SourceProfiles = fs.rows[cProfile]
		rep.RowsChecked.SourceMonthly = fs.rows[cMonthly]
	}

	keep := make([]uint8, o.Buckets)
	nRedis := diffBuckets(pgD, rdD, keep, keepRedis, cRec, cProfileRaw, cIndex)
	nSource := 0
	if o.Source != "" {
		nSource = diffBuckets(fD, pgD, keep, keepSource, cRec, cProfile, cMonthly)
	}
	for _, b := range keep {
		if b != 0 {
			rep.DifferingBuckets++
		}
	}

	directFindings(rep, st, sc, o)
	checkStats(rep, st, sc, o)
	checkGeneration(rep, o.Keys, sc.stats, pgGen)
	if o.Source != "" {
		for _, f := range fs.faults {
			rep.add(f)
		}
		checkFileSums(rep, sc.stats, fs.sha256)
	}

	if rep.DifferingBuckets > 0 {
		if err := drill(ctx, pool, rdb, o, rep, st, sc, keep, nRedis > 0, nSource > 0); err != nil {
			return nil, nil, err
		}
	}
	rep.finish(start)
	return rep, st, nil
}

func mergeTallies(ts []*tally) digest {
	if len(ts) == 0 {
		return nil
	}
	d := ts[0].d
	for _, t := range ts[1:] {
		d.merge(t.d)
	}
	return d
}

// directFindings reports what the Redis scan saw without comparing: an
// unfinished swap, unreadable index keys, TTLs, expired keys; and counts the
// foreign keys (never findings: they are not this namespace's).
func directFindings(rep *Report, st *state, sc *redisScan, o *Options) {
	rep.ForeignKeys, rep.ForeignExamples = sc.foreign, slices.Sorted(slices.Values(sc.foreignExamples))
	if sc.swap != nil {
		rep.add(unfinishedSwap(o.Keys, sc.swap))
	}
	for _, f := range sc.badIndex {
		rep.add(f)
		st.plan.deleteKeys = append(st.plan.deleteKeys, f.Key)
	}
	slices.SortFunc(sc.ttl, func(a, b ttlIssue) int { return strings.Compare(a.Key, b.Key) })
	for _, t := range sc.ttl {
		rep.add(Finding{Class: TTL, ISDN: t.ISDN, Key: t.Key,
			Fields: []FieldDiff{{Field: "ttl", Expected: "≤ " + o.TTL.String(), Actual: ttlString(t.TTL)}}})
		st.plan.ttlKeys = append(st.plan.ttlKeys, t.Key)
	}
	rep.ExpiredDuringRun = int64(len(sc.expired))
	for _, e := range sc.expired {
		st.plan.expired[e.Key] = true
		if len(rep.ExpiredExamples) < o.MaxExamples {
			rep.ExpiredExamples = append(rep.ExpiredExamples, e.Key)
		}
	}
}

// checkStats compares meta:stats with what the stores hold, and plans the
// values repair writes (what the stores will hold once repaired).
func checkStats(rep *Report, st *state, sc *redisScan, o *Options) {
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	recs := st.pgCounts[cRec]
	type check struct {
		field, observed, repaired string
	}
	checks := []check{
		{dataset.StatRecommendations, itoa(recs), itoa(recs)},
		{dataset.StatProfiles, itoa(st.pgCounts[cProfile]), itoa(st.pgCounts[cProfile])},
		{dataset.StatMonthlyRows, itoa(st.pgCounts[cMonthly]), itoa(st.pgCounts[cMonthly])},
		{dataset.StatSubscribers, itoa(recs), itoa(recs)},
		{dataset.StatRecKeys, itoa(sc.recKeys), itoa(recs)},
		{dataset.StatProfileKeys, itoa(sc.profileKeys), itoa(st.pgCounts[cProfile])},
		{dataset.StatIndexServiceMembers, itoa(sc.members[idxService]), itoa(recs)},
		{dataset.StatIndexRiskMembers, itoa(sc.members[idxRisk]), itoa(recs)},
		{dataset.StatIndexClusterMembers, itoa(sc.members[idxCluster]), itoa(recs)},
		{dataset.StatFingerprint, st.fp, st.fp},
	}
	key := o.Keys.Stats()
	if sc.stats == nil {
		rep.add(Finding{Class: Stats, Key: key, Detail: "meta:stats is missing"})
		for _, c := range checks {
			if c.repaired != "" {
				st.plan.stats[c.field] = c.repaired
			}
		}
		return
	}
	for _, c := range checks {
		got, ok := sc.stats[c.field]
		if !ok && c.field == dataset.StatSubscribers {
			continue // optional
		}
		if got != c.observed {
			if !ok {
				got = "(missing)"
			}
			rep.add(Finding{Class: Stats, Key: key, Fields: []FieldDiff{{Field: c.field, Expected: c.observed, Actual: got}}})
		}
		if got != c.repaired && c.repaired != "" {
			st.plan.stats[c.field] = c.repaired
		}
	}
	if v, ok := sc.stats[dataset.StatIndexKeys]; ok && !sameKeySet(v, sc.indexKeys) {
		rep.add(Finding{Class: Stats, Key: key, Fields: []FieldDiff{{Field: dataset.StatIndexKeys, Expected: dataset.IndexKeysJSON(sc.indexKeys), Actual: v}}})
	}
	if v, ok := sc.stats[dataset.StatTTLSeconds]; ok {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs <= 0 || time.Duration(secs)*time.Second > o.TTL {
			rep.add(Finding{Class: Stats, Key: key, Fields: []FieldDiff{{Field: dataset.StatTTLSeconds,
				Expected: "1-" + strconv.FormatInt(int64(o.TTL/time.Second), 10), Actual: v}}})
		}
	}
}

// checkGeneration reports a generation_mismatch when PostgreSQL's live
// generation and the one the Redis snapshot was made from (meta:stats
// pg_generation) are both known and differ: the stores hold snapshots of
// different loads, whatever their rows say.
func checkGeneration(rep *Report, k dataset.Keys, stats map[string]string, pgGen int64) {
	made := stats[dataset.StatPGGeneration]
	if pgGen == 0 || made == "" || made == strconv.FormatInt(pgGen, 10) {
		return
	}
	rep.add(Finding{Class: GenerationMismatch, Key: k.Stats(),
		Fields: []FieldDiff{{Field: dataset.StatPGGeneration, Expected: strconv.FormatInt(pgGen, 10), Actual: made}},
		Detail: fmt.Sprintf("PostgreSQL holds generation %d, Redis was made from %s: run `ut360 load --to redis --from postgres`", pgGen, made)})
}

// checkFileSums compares the source files' SHA-256 with those recorded at
// load time. Different bytes are a note, not a mismatch: the files are
// compared with PostgreSQL row by row, and the same rows written by another
// writer (other compression, row groups or CSV quoting) are the same data.
func checkFileSums(rep *Report, stats map[string]string, sums map[string]string) {
	for _, file := range slices.Sorted(maps.Keys(sums)) {
		recorded, field := recordedSum(stats, file)
		if field == "" || recorded == sums[file] {
			continue
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s: the bytes differ from the file loaded (meta:stats %s %s, now %s); "+
			"its rows were compared with PostgreSQL instead, and any row that differs is a %s finding",
			file, field, shortSum(recorded), shortSum(sums[file]), SourceMismatch))
	}
}

// shortSum abbreviates a SHA-256 for a note.
func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// unfinishedSwap is the finding for a swap journal left in Redis; its
// detail names the journal's fields (state, generation, started first).
func unfinishedSwap(k dataset.Keys, j map[string]string) Finding {
	names := []string{"state", "generation", "started"}
	for _, name := range slices.Sorted(maps.Keys(j)) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	var parts []string
	for _, name := range names {
		if v, ok := j[name]; ok {
			parts = append(parts, name+"="+v)
		}
	}
	return Finding{Class: UnfinishedSwap, Key: k.SwapJournal(),
		Detail: "swap journal " + strings.Join(parts, " ") + ": a swap of a staged snapshot into the live keys is in progress " +
			"or was interrupted, so Redis may mix two generations; run `ut360 load --resume` or `ut360 load --rollback`, " +
			"or just the next `ut360 load`, which recovers it"}
}

// recordedSum finds the sha256 field of a file in meta:stats ("" when the
// load did not come from files).
func recordedSum(stats map[string]string, file string) (string, string) {
	field := map[string]string{
		dataset.RecommendationsFile: dataset.StatSHA256Recommendations,
		dataset.ProfilesFile:        dataset.StatSHA256Profiles,
		dataset.MonthlyFile:         dataset.StatSHA256Monthly,
	}[file]
	if v := stats[field]; v != "" {
		return v, field
	}
	return "", ""
}

func ttlString(d time.Duration) string {
	if d < 0 {
		return "none"
	}
	return d.Round(time.Second).String()
}

// sameKeySet reports whether a JSON list holds exactly keys, in any order.
func sameKeySet(js string, keys []string) bool {
	var l []string
	if json.Unmarshal([]byte(js), &l) != nil {
		return false
	}
	slices.Sort(l)
	return slices.Equal(l, slices.Sorted(slices.Values(keys)))
}
