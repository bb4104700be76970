package verify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/ut360/ut360/dataset"
)

// sourceDetail caps how many subscribers get field-level source_mismatch
// detail (the files cannot be read by ISDN: one more pass over them).
const sourceDetail = 1000

// drill is pass 2: re-stream every side keeping per-subscriber digests of the
// differing buckets only, then compare the subscribers whose digests differ
// by reading them by ISDN from both stores.
func drill(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, o *Options, rep *Report, st *state,
	sc *redisScan, keep []uint8, redisToo, sourceToo bool) error {
	mask := uint64(o.Buckets - 1)
	rec := newRecorder()
	mk := func(sd side) func() *tally {
		return func() *tally { return &tally{side: sd, mask: mask, keep: keep, rec: rec} }
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { _, err := digestPG(gctx, pool, mk(sPG)); return err })
	if redisToo {
		g.Go(func() error { _, _, err := scanRedis(gctx, rdb, o, mk(sRedis)); return err })
	}
	if sourceToo {
		g.Go(func() error { _, err := digestFiles(gctx, o.Source, mk(sFiles), nil); return err })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var redisCand, sourceCand []string
	for isdn, s := range rec.subs {
		b := keep[dataset.HashISDN(isdn)&mask]
		if b&keepRedis != 0 && (s.c[sPG][cRec] != s.c[sRedis][cRec] || s.c[sPG][cProfileRaw] != s.c[sRedis][cProfileRaw] ||
			s.c[sPG][cIndex] != s.c[sRedis][cIndex]) {
			redisCand = append(redisCand, isdn)
		}
		if b&keepSource != 0 && (s.c[sPG][cRec] != s.c[sFiles][cRec] || s.c[sPG][cProfile] != s.c[sFiles][cProfile] ||
			s.c[sPG][cMonthly] != s.c[sFiles][cMonthly]) {
			sourceCand = append(sourceCand, isdn)
		}
	}
	slices.Sort(redisCand)
	slices.Sort(sourceCand)
	o.Log.Debug("verify: drill-down", "redis_candidates", len(redisCand), "source_candidates", len(sourceCand))
	unexplained(rep, keep, mask, keepRedis, redisCand, "PostgreSQL and Redis")
	unexplained(rep, keep, mask, keepSource, sourceCand, "the source files and PostgreSQL")
	found := map[string]bool{}
	for start := 0; start < len(redisCand); start += fetchBatch {
		batch := redisCand[start:min(start+fetchBatch, len(redisCand))]
		if err := compareBatch(ctx, pool, rdb, o.Keys, st.indexKeys, batch, st.plan,
			func(isdn string, _ Finding) { found[isdn] = true }, rep.add, 0); err != nil {
			return err
		}
	}
	for _, isdn := range redisCand {
		// A candidate without a finding differs in bytes only, where the
		// canonical encoding defines equal meaning (or its key expired).
		if !found[isdn] && !st.plan.expired[o.Keys.Rec(isdn)] && !st.plan.expired[o.Keys.Profile(isdn)] {
			rep.EqualInMeaning++
		}
	}
	return drillSource(ctx, pool, o, rep, rec, sourceCand)
}

// unexplained reports every bucket marked with bit whose second pass found
// no subscriber that differs: a difference verify cannot attribute (most
// likely the data changed between the passes) is never clean.
func unexplained(rep *Report, keep []uint8, mask uint64, bit uint8, cands []string, sides string) {
	explained := map[uint64]bool{}
	for _, isdn := range cands {
		explained[dataset.HashISDN(isdn)&mask] = true
	}
	for b, k := range keep {
		if k&bit == 0 || explained[uint64(b)] {
			continue
		}
		rep.add(Finding{Class: UnexplainedBucket, Key: fmt.Sprintf("bucket %d of %d", b, len(keep)),
			Detail: "the digests of " + sides + " differ in this bucket, but no subscriber in it differs when read again: " +
				"the data changed during the run (a load?) or verify cannot attribute the difference; run verify again"})
	}
}

// compareBatch reads a batch of subscribers from both stores and compares
// them; onSubject is called with each finding and its subscriber. With
// maxTTL > 0 (sample mode) the keys' TTLs are checked too.
func compareBatch(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, k dataset.Keys, indexKeys []string,
	isdns []string, pl *plan, onSubject func(string, Finding), add func(Finding), maxTTL time.Duration) error {
	pr, err := fetchPG(ctx, pool, isdns)
	if err != nil {
		return err
	}
	// Only keys of the key scheme are read: an index member that is no ISDN
	// has no rec or profile hash of this namespace (those names would be
	// another namespace's or nobody's), so its hashes count as absent.
	keys := make([]string, 0, 2*len(isdns))
	for _, isdn := range isdns {
		if dataset.ValidISDN(isdn) {
			keys = append(keys, k.Rec(isdn), k.Profile(isdn))
		}
	}
	got, err := readHashes(ctx, rdb, keys)
	if err != nil {
		return err
	}
	reads := make([]hashRead, 2*len(isdns))
	for i, j := 0, 0; i < len(isdns); i++ {
		if dataset.ValidISDN(isdns[i]) {
			reads[2*i], reads[2*i+1] = got[j], got[j+1]
			j += 2
		} else {
			reads[2*i], reads[2*i+1] = hashRead{ttl: -2}, hashRead{ttl: -2}
		}
	}
	idxKeys := slices.Clone(indexKeys)
	for _, r := range pr.recs {
		for _, m := range expectedMembers(k, &r) {
			if !slices.Contains(idxKeys, m.Key) {
				idxKeys = append(idxKeys, m.Key)
			}
		}
	}
	actual, err := lookupMembers(ctx, rdb, k, idxKeys, isdns)
	if err != nil {
		return err
	}
	for i, isdn := range isdns {
		emit := func(f Finding) { onSubject(isdn, f); add(f) }
		compareSubscriber(k, pl, isdn, pr, reads[2*i], reads[2*i+1], actual[isdn], emit)
		if maxTTL > 0 {
			for j, key := range []string{k.Rec(isdn), k.Profile(isdn)} {
				if ttl := reads[2*i+j].ttl; ttl == -1 || ttl > maxTTL {
					emit(Finding{Class: TTL, ISDN: isdn, Key: key, Fields: []FieldDiff{{Field: "ttl", Expected: "≤ " + maxTTL.String(), Actual: ttlString(ttl)}}})
				}
			}
		}
	}
	return nil
}

func exists(rd hashRead) bool { return rd.err != nil || len(rd.fields) > 0 }

// compareSubscriber compares one subscriber's rows with its Redis hashes and
// index memberships, emits findings and plans the repair.
func compareSubscriber(k dataset.Keys, pl *plan, isdn string, pr *pgRows, recRd, profRd hashRead, actual []member, emit func(Finding)) {
	recKey, profKey := k.Rec(isdn), k.Profile(isdn)
	want, hasRec := pr.recs[isdn]
	switch {
	case !hasRec && exists(recRd):
		emit(Finding{Class: OrphanInRedis, ISDN: isdn, Key: recKey, Detail: "no recommendations row"})
		pl.deleteKeys = append(pl.deleteKeys, recKey)
	case hasRec && !exists(recRd):
		if !pl.expired[recKey] {
			emit(Finding{Class: MissingInRedis, ISDN: isdn, Key: recKey})
		}
		pl.rewriteRec = append(pl.rewriteRec, isdn)
	case hasRec:
		if diffs, detail := recDiffs(&want, recRd); len(diffs) > 0 {
			emit(Finding{Class: FieldMismatch, ISDN: isdn, Key: recKey, Fields: diffs, Detail: detail})
			pl.rewriteRec = append(pl.rewriteRec, isdn)
		}
	}
	wantP, hasProf := pr.profiles[isdn]
	months := pr.months[isdn]
	switch {
	case !hasProf && exists(profRd):
		emit(Finding{Class: OrphanInRedis, ISDN: isdn, Key: profKey, Detail: "no subscriber_360_profiles row"})
		pl.deleteKeys = append(pl.deleteKeys, profKey)
	case !hasProf && len(months) > 0:
		emit(Finding{Class: MissingInRedis, ISDN: isdn, Key: profKey,
			Detail: "monthly rows in PostgreSQL without a profile row: no profile hash can hold them"})
		pl.unrepairable = true
	case hasProf && !exists(profRd):
		if !pl.expired[profKey] {
			emit(Finding{Class: MissingInRedis, ISDN: isdn, Key: profKey})
		}
		pl.rewriteProfile = append(pl.rewriteProfile, isdn)
	case hasProf:
		if diffs, detail := profileDiffs(&wantP, months, profRd); len(diffs) > 0 {
			emit(Finding{Class: FieldMismatch, ISDN: isdn, Key: profKey, Fields: diffs, Detail: detail})
			pl.rewriteProfile = append(pl.rewriteProfile, isdn)
		}
	}
	var expected []member
	if hasRec {
		expected = expectedMembers(k, &want)
	}
	compareMembers(isdn, expected, actual, pl, emit)
}

// compareMembers finds missing, stale and mis-scored index members.
func compareMembers(isdn string, expected, actual []member, pl *plan, emit func(Finding)) {
	for _, e := range expected {
		i := slices.IndexFunc(actual, func(a member) bool { return a.Key == e.Key })
		switch {
		case i < 0:
			f := Finding{Class: IndexMismatch, ISDN: isdn, Key: e.Key, Detail: "member missing"}
			if e.ZSet {
				f.Fields = []FieldDiff{{Field: "score", Expected: dataset.CanonFloat(e.Score), Actual: "(absent)"}}
			}
			emit(f)
			pl.indexAdd = append(pl.indexAdd, indexOp{isdn: isdn, m: e})
		case e.ZSet && actual[i].Score != e.Score:
			emit(Finding{Class: IndexMismatch, ISDN: isdn, Key: e.Key, Detail: "wrong score",
				Fields: []FieldDiff{{Field: "score", Expected: dataset.CanonFloat(e.Score), Actual: dataset.CanonFloat(actual[i].Score)}}})
			pl.indexRescore = append(pl.indexRescore, indexOp{isdn: isdn, m: e})
		}
	}
	for _, a := range actual {
		if !slices.ContainsFunc(expected, func(e member) bool { return e.Key == a.Key }) {
			detail := "stale member: no recommendations row"
			if len(expected) > 0 {
				detail = "stale member: the row belongs to another index"
			}
			emit(Finding{Class: IndexMismatch, ISDN: isdn, Key: a.Key, Detail: detail})
			pl.indexRemove = append(pl.indexRemove, indexOp{isdn: isdn, m: a})
		}
	}
}

// diffValues compares canonical column strings.
func diffValues(cols, want, got []string, prefix string) []FieldDiff {
	var out []FieldDiff
	for i, c := range cols {
		if want[i] != got[i] {
			out = append(out, FieldDiff{Field: prefix + c, Expected: want[i], Actual: got[i]})
		}
	}
	return out
}

func raw(h map[string]string, f string) string {
	if v, ok := h[f]; ok {
		return v
	}
	return "(missing)"
}

func unreadable(rd hashRead) []FieldDiff {
	return []FieldDiff{{Field: "(key)", Expected: "hash", Actual: rd.err.Error()}}
}

// monthDiffs compares two month lists (sorted) month by month.
func monthDiffs(want, got []dataset.Monthly, name string) []FieldDiff {
	byMonth := func(ms []dataset.Monthly) map[string][]string {
		out := make(map[string][]string, len(ms))
		for i := range ms {
			out[dataset.CanonDate(ms[i].DataMonth)] = ms[i].Values()
		}
		return out
	}
	w, g := byMonth(want), byMonth(got)
	var months []string
	for m := range w {
		months = append(months, m)
	}
	for m := range g {
		if _, ok := w[m]; !ok {
			months = append(months, m)
		}
	}
	slices.Sort(months)
	var out []FieldDiff
	for _, m := range months {
		wv, inW := w[m]
		gv, inG := g[m]
		field := name + "[" + m + "]"
		switch {
		case !inG:
			out = append(out, FieldDiff{Field: field, Expected: strings.Join(wv[2:], ","), Actual: "(absent)"})
		case !inW:
			out = append(out, FieldDiff{Field: field, Expected: "(absent)", Actual: strings.Join(gv[2:], ",")})
		default:
			out = append(out, diffValues(dataset.MonthlyColumns, wv, gv, field+".")...)
		}
	}
	return out
}

// drillSource reports files-vs-PostgreSQL differences per subscriber and table.
func drillSource(ctx context.Context, pool *pgxpool.Pool, o *Options, rep *Report, rec *recorder, cands []string) error {
	if len(cands) == 0 {
		return nil
	}
	detailed := cands[:min(len(cands), sourceDetail)]
	want := make(map[string]bool, len(detailed))
	for _, isdn := range detailed {
		want[isdn] = true
	}
	files, err := readFileRows(ctx, o.Source, want)
	if err != nil {
		return err
	}
	pr, err := fetchPG(ctx, pool, detailed)
	if err != nil {
		return err
	}
	tables := []struct {
		c    class
		file string
	}{{cRec, dataset.RecommendationsFile}, {cProfile, dataset.ProfilesFile}, {cMonthly, dataset.MonthlyFile}}
	for _, isdn := range cands {
		s := rec.subs[isdn]
		for _, t := range tables {
			fc, pc := s.c[sFiles][t.c], s.c[sPG][t.c]
			if fc == pc {
				continue
			}
			f := Finding{Class: SourceMismatch, ISDN: isdn, Key: t.file}
			switch {
			case fc.n == 0:
				f.Detail = "row in PostgreSQL, not in the file"
			case pc.n == 0:
				f.Detail = "row in the file, not in PostgreSQL"
			case t.c != cMonthly && fc.n > 1:
				f.Detail = "row duplicated in the file"
			default:
				f.Detail = "row differs"
				if want[isdn] {
					f.Fields = sourceFields(t.c, isdn, files, pr)
				}
			}
			rep.add(f)
		}
	}
	return nil
}

func sourceFields(c class, isdn string, files, pg *pgRows) []FieldDiff {
	switch c {
	case cRec:
		fr, pr := files.recs[isdn], pg.recs[isdn]
		return diffValues(dataset.RecommendationColumns, fr.Values(), pr.Values(), "")
	case cProfile:
		fp, pp := files.profiles[isdn], pg.profiles[isdn]
		return diffValues(dataset.ProfileColumns, fp.Values(), pp.Values(), "")
	}
	return monthDiffs(files.months[isdn], pg.months[isdn], "monthly")
}

// monthsSorted reports whether months are in strictly ascending order.
func monthsSorted(ms []dataset.Monthly) bool {
	for i := 1; i < len(ms); i++ {
		if !ms[i-1].DataMonth.Before(ms[i].DataMonth) {
			return false
		}
	}
	return true
}

func sortMonths(ms []dataset.Monthly) {
	slices.SortFunc(ms, func(a, b dataset.Monthly) int { return a.DataMonth.Compare(b.DataMonth) })
}
