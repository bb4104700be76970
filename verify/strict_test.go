package verify

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/progress"
	"github.com/ut360/ut360/internal/testenv"
	"github.com/ut360/ut360/loader"
)

// editJSON rewrites one JSON object member by member (the result has its
// members in sorted order: json.Marshal of a map).
func editJSON(t *testing.T, js string, edit func(m map[string]json.RawMessage)) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// text is the one-screen report.
func text(t *testing.T, rep *Report) string {
	t.Helper()
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// verdictLine is the first line of the text report (the verdict of this
// run; a repair's "after" line comes later).
func verdictLine(t *testing.T, rep *Report) string {
	t.Helper()
	line, _, _ := strings.Cut(text(t, rep), "\n")
	return line
}

// TestStrictDrillDown: every change of bytes the canonical encoding does not
// define as equal meaning is a field_mismatch naming the ISDN and the field;
// the report is never CLEAN then. Each case is repaired before the next.
func TestStrictDrillDown(t *testing.T) {
	dir := dataDir(t)
	x := firstRecs(t, dir, 1)[0]
	w := load(t, dir)
	ctx := context.Background()
	k := w.keys
	recKey, profKey := k.Rec(x.ISDN), k.Profile(x.ISDN)
	prof := w.rdb.HGetAll(ctx, profKey).Val()
	rec := w.rdb.HGetAll(ctx, recKey).Val()
	if len(prof) != len(dataset.ProfileFieldNames) || len(rec) != len(dataset.RecommendationColumns) {
		t.Fatalf("loaded hashes: %v %v", prof, rec)
	}
	setProf := func(field, v string) func(t *testing.T) {
		return func(t *testing.T) { w.redis(t, "HSET", profKey, field, v) }
	}
	setRec := func(field, v string) func(t *testing.T) {
		return func(t *testing.T) { w.redis(t, "HSET", recKey, field, v) }
	}
	renameField := func(key, from, to string, h map[string]string) func(t *testing.T) {
		return func(t *testing.T) {
			w.redis(t, "HDEL", key, from)
			w.redis(t, "HSET", key, to, h[from])
		}
	}
	cases := []struct {
		name   string
		inject func(t *testing.T)
		key    string
		fields []string
	}{
		{"profile member renamed by case", setProf(dataset.PFRisk, strings.Replace(prof[dataset.PFRisk], `"level":`, `"LEVEL":`, 1)),
			profKey, []string{"risk.level", "risk.LEVEL"}},
		{"profile member added", setProf(dataset.PFRisk, editJSON(t, prof[dataset.PFRisk], func(m map[string]json.RawMessage) {
			m["note"] = json.RawMessage(`"x"`)
		})), profKey, []string{"risk.note"}},
		{"profile member removed", setProf(dataset.PFKPI, editJSON(t, prof[dataset.PFKPI], func(m map[string]json.RawMessage) {
			delete(m, "priority")
		})), profKey, []string{"kpi_scores.priority"}},
		{"profile member repeated", setProf(dataset.PFRisk, strings.Replace(prof[dataset.PFRisk], `{"level":`, `{"level":"HIGH","level":`, 1)),
			profKey, []string{"risk.level"}},
		{"profile member of another type", setProf(dataset.PFCluster, editJSON(t, prof[dataset.PFCluster], func(m map[string]json.RawMessage) {
			m["label"] = json.RawMessage(`7`)
		})), profKey, []string{"cluster.label"}},
		{"NaN in a profile member", setProf(dataset.PFKPI, regexp.MustCompile(`"engagement":[^,}]*`).
			ReplaceAllString(prof[dataset.PFKPI], `"engagement":NaN`)), profKey, []string{"kpi_scores.engagement"}},
		{"integer profile member written as a float", setProf(dataset.PFBasic, strings.Replace(prof[dataset.PFBasic],
			`"advance":`+dataset.CanonInt(x.AdvanceAmount), `"advance":`+dataset.CanonInt(x.AdvanceAmount)+".0", 1)),
			profKey, []string{dataset.PFBasic}},
		{"profile hash field renamed by case", renameField(profKey, dataset.PFRisk, "RISK", prof), profKey, []string{dataset.PFRisk, "RISK"}},
		{"rec value with a space and a sign", setRec("advance_amount", " +"+rec["advance_amount"]), recKey, []string{"advance_amount"}},
		{"rec value with a sign", setRec("advance_amount", "+"+rec["advance_amount"]), recKey, []string{"advance_amount"}},
		{"rec float with a trailing space", setRec("customer_value_score", rec["customer_value_score"]+" "), recKey, []string{"customer_value_score"}},
		{"NaN in a rec value", setRec("arpu_avg_6m", "NaN"), recKey, []string{"arpu_avg_6m"}},
		{"rec text changed by case", setRec("bad_debt_risk", strings.ToLower(rec["bad_debt_risk"])), recKey, []string{"bad_debt_risk"}},
		{"rec field renamed by case", renameField(recKey, "advance_amount", "Advance_amount", rec), recKey, []string{"advance_amount", "Advance_amount"}},
		{"rec field added", setRec("note", "x"), recKey, []string{"note"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.inject(t)
			rep := w.run(t, Options{Buckets: 16, Repair: true})
			if rep.Clean || strings.Contains(verdictLine(t, rep), "CLEAN") {
				t.Fatalf("drift reported clean:\n%s", dump(rep))
			}
			for _, f := range tc.fields {
				want(t, rep, FieldMismatch, x.ISDN, tc.key, f)
			}
			only(t, rep, FieldMismatch)
			if rep.Class(FieldMismatch).Count != 1 {
				t.Errorf("want one field_mismatch finding:\n%s", dump(rep))
			}
			if rep.Repair.After == nil || !rep.Repair.After.Clean {
				t.Fatalf("repair left mismatches:\n%s", dump(rep.Repair.After))
			}
		})
	}

	// Equal meaning where the canonical encoding defines it: member order,
	// whitespace, float formatting (in the JSON and in a rec float field).
	t.Run("equal meaning", func(t *testing.T) {
		score := rec["customer_value_score"]
		if strings.Contains(score, ".") {
			score += "00"
		} else {
			score += ".0e0"
		}
		w.redis(t, "HSET", recKey, "customer_value_score", score)
		w.redis(t, "HSET", profKey, dataset.PFKPI, reorderJSON(t, prof[dataset.PFKPI]))
		w.redis(t, "HSET", profKey, dataset.PFRisk, " "+editJSON(t, prof[dataset.PFRisk], func(map[string]json.RawMessage) {})+"\n")
		rep := w.run(t, Options{Buckets: 16})
		if !rep.Clean || rep.DifferingBuckets == 0 || rep.EqualInMeaning != 1 {
			t.Fatalf("equal meaning: clean %v, %d differing buckets, %d equal in meaning (want clean, >0, 1):\n%s",
				rep.Clean, rep.DifferingBuckets, rep.EqualInMeaning, dump(rep))
		}
		if out := text(t, rep); !strings.Contains(out, "CLEAN") || !strings.Contains(out, "not in meaning") {
			t.Errorf("text report:\n%s", out)
		}
	})
}

// TestUnexplainedBucket: a bucket whose digests differed in pass 1 but
// whose drill-down finds no subscriber is a finding, never CLEAN.
func TestUnexplainedBucket(t *testing.T) {
	w := load(t, dataDir(t))
	o := Options{Keys: w.keys, Buckets: 16}
	o.defaults()
	rep := newReport(&o, "full")
	rep.Buckets = o.Buckets
	keep := make([]uint8, o.Buckets)
	keep[3] = keepRedis // as if pass 1 had seen a difference that is gone by pass 2
	rep.DifferingBuckets = 1
	st := &state{plan: newPlan()}
	if err := drill(context.Background(), w.pool, w.rdb, &o, rep, st, &redisScan{members: map[string]int64{}}, keep, true, false); err != nil {
		t.Fatal(err)
	}
	rep.finish(rep.StartedAt)
	want(t, rep, UnexplainedBucket, "", "bucket 3 of 16", "")
	only(t, rep, UnexplainedBucket)
	if rep.Clean || strings.Contains(verdictLine(t, rep), "CLEAN") {
		t.Fatalf("unexplained bucket reported clean:\n%s", dump(rep))
	}
}

// TestUnfinishedSwap: the loader's swap journal in Redis is a finding of its
// own until the loader recovers; repair leaves it to the loader.
func TestUnfinishedSwap(t *testing.T) {
	w := load(t, dataDir(t))
	journal := w.keys.Namespace() + ":meta:swap"
	started := time.Now().UTC().Format(time.RFC3339)
	w.redis(t, "HSET", journal, "state", "swapping", "generation", "7", "started", started)
	for _, o := range []Options{{Buckets: 16}, {Sample: 20, Seed: 3}, {Repair: true}} {
		rep := w.run(t, o)
		want(t, rep, UnfinishedSwap, "", journal, "")
		only(t, rep, UnfinishedSwap)
		f := rep.Class(UnfinishedSwap).Examples[0]
		if !strings.Contains(f.Detail, "ut360 load --resume") || !strings.Contains(f.Detail, "--rollback") ||
			!strings.Contains(f.Detail, "state=swapping generation=7 started="+started) {
			t.Errorf("finding: %+v", f)
		}
		if out := text(t, rep); !strings.Contains(out, "swap     swap journal state=swapping") {
			t.Errorf("text report does not say what to run:\n%s", out)
		}
		if rep.Clean || strings.Contains(verdictLine(t, rep), "CLEAN") {
			t.Fatalf("%+v: unfinished swap reported clean:\n%s", o, dump(rep))
		}
		if o.Repair {
			if rep.Repair.After == nil || rep.Repair.After.Clean || rep.Repair.Plan.Total() != 0 ||
				!slices.ContainsFunc(rep.Repair.NotRepairable, func(s string) bool { return strings.HasPrefix(s, UnfinishedSwap) }) {
				t.Errorf("repair must leave the swap to the loader and say so:\n%s", dump(rep))
			}
			if w.rdb.Exists(context.Background(), journal).Val() != 1 {
				t.Errorf("repair removed the swap journal")
			}
		}
	}
	w.redis(t, "DEL", journal)
	if rep := w.run(t, Options{}); !rep.Clean {
		t.Fatalf("after the journal is gone:\n%s", dump(rep))
	}
}

// loadInto loads dir into namespace ns of rdb, with a PostgreSQL schema of its own.
func loadInto(t *testing.T, w *world, dir, ns string) *world {
	t.Helper()
	pg := testenv.NewMigratedPG(t)
	o := &world{pool: pg.Pool, rdb: w.rdb, keys: dataset.NewKeys(ns), dir: dir}
	_, err := loader.Load(context.Background(), o.pool, o.rdb, loader.Options{Data: dir, Postgres: true, Redis: true,
		Keys: o.keys, RejectsPath: "-", Progress: progress.Quiet, Out: io.Discard})
	if err != nil {
		t.Fatalf("load %s: %v", ns, err)
	}
	return o
}

// keysUnder is the snapshot of every key of w's database that starts with prefix.
func keysUnder(t *testing.T, w *world, prefix string) map[string]string {
	t.Helper()
	all := snapshot(t, w)
	maps.DeleteFunc(all, func(k, _ string) bool { return !strings.HasPrefix(k, prefix) })
	return all
}

// TestTenantsAreSafe: namespace ns and a second one, ns:t2, sharing its
// prefix, both loaded. verify and repair on ns count ns:t2's keys as foreign:
// no orphan, nothing of ns:t2 deleted or changed. The loader's meta and
// staging keys are neither orphans nor foreign.
func TestTenantsAreSafe(t *testing.T) {
	dir := dataDir(t)
	rv := load(t, dir)
	ns := rv.keys.Namespace()
	t2 := loadInto(t, rv, dir, ns+":t2")
	ctx := context.Background()
	isdn := firstRecs(t, dir, 1)[0].ISDN
	// Foreign keys that look like ns's families, and ns's own loader keys.
	rv.redis(t, "SET", ns+":junk", "x")
	rv.redis(t, "HSET", ns+":rec:not-an-isdn", "isdn", "x")
	rv.redis(t, "HSET", ns+":rec:"+isdn+":x", "isdn", isdn)
	rv.redis(t, "SADD", ns+":idx:other:A", isdn)
	rv.redis(t, "SET", ns+":stage:{ab}:rec:"+isdn, "staged")
	rv.redis(t, "SET", ns+":meta:load_lock", "someone")
	// A real drift in ns, so repair has work to do.
	rv.redis(t, "HSET", rv.keys.Rec(isdn), "advance_amount", "1")

	t2Before := keysUnder(t, rv, ns+":t2:")
	if len(t2Before) < 2*testSubscribers || t2Before[t2.keys.Stats()] == "" {
		t.Fatalf("namespace %s:t2 not loaded: %d keys", ns, len(t2Before))
	}
	foreign := int64(len(t2Before) + 4)
	rep := rv.run(t, Options{Repair: true})
	only(t, rep, FieldMismatch)
	want(t, rep, FieldMismatch, isdn, rv.keys.Rec(isdn), "advance_amount")
	if rep.Class(OrphanInRedis).Count != 0 || rep.ForeignKeys != foreign || len(rep.ForeignExamples) == 0 {
		t.Errorf("orphans %d, foreign %d (want 0, %d):\n%s", rep.Class(OrphanInRedis).Count, rep.ForeignKeys, foreign, dump(rep))
	}
	if rep.RowsChecked.RedisRecKeys != testSubscribers || rep.RowsChecked.RedisIndexMembers != 3*testSubscribers {
		t.Errorf("rows checked %+v: ns:t2's keys were counted as ns's", rep.RowsChecked)
	}
	if p := rep.Repair.Plan; p.KeysDeleted != 0 || p.RecRewrites != 1 || p.Total() != 1 {
		t.Errorf("repair plan %+v, want one rec rewrite and nothing else", p)
	}
	if a := rep.Repair.After; a == nil || !a.Clean || a.ForeignKeys != foreign {
		t.Fatalf("after repair:\n%s", dump(a))
	}
	if t2After := keysUnder(t, rv, ns+":t2:"); !maps.Equal(t2Before, t2After) {
		t.Errorf("verify --repair on %s changed %s:t2's keys (%d before, %d after)", ns, ns, len(t2Before), len(t2After))
	}
	for _, key := range []string{ns + ":junk", ns + ":rec:not-an-isdn", ns + ":rec:" + isdn + ":x", ns + ":idx:other:A",
		ns + ":stage:{ab}:rec:" + isdn, ns + ":meta:load_lock"} {
		if rv.rdb.Exists(ctx, key).Val() != 1 {
			t.Errorf("%s was deleted", key)
		}
	}
	if out := text(t, rep.Repair.After); !strings.Contains(out, "CLEAN") || !strings.Contains(out, "outside its key scheme") {
		t.Errorf("text report after repair:\n%s", out)
	}
	// The second tenant verifies clean on its own, and sees nothing of ns.
	if rep := t2.run(t, Options{Repair: true}); !rep.Clean || rep.ForeignKeys != 0 || rep.Repair.Plan.Total() != 0 {
		t.Errorf("verify of %s:t2:\n%s", ns, dump(rep))
	}
}
