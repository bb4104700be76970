package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/ut360/ut360/dataset"
)

// TestGenerationMismatch: after a load both stores are on one generation
// (clean); once PostgreSQL's recommendations table records another one,
// verify (full and sample) reports generation_mismatch naming both and the
// command that remakes Redis, and --repair says it cannot fix it.
func TestGenerationMismatch(t *testing.T) {
	w := load(t, dataDir(t))
	ctx := context.Background()
	made := w.rdb.HGet(ctx, w.keys.Stats(), dataset.StatPGGeneration).Val()
	if made == "" || made == "0" {
		t.Fatalf("meta:stats %s = %q after a load of both stores", dataset.StatPGGeneration, made)
	}
	if rep := w.run(t, Options{}); !rep.Clean {
		t.Fatalf("fresh load not clean:\n%s", dump(rep))
	}
	w.exec(t, "COMMENT ON TABLE recommendations IS 'ut360 generation 1'")
	wantDetail := "PostgreSQL holds generation 1, Redis was made from " + made + ": run `ut360 load --to redis --from postgres`"
	for _, o := range []Options{{}, {Sample: 20, Seed: 3}} {
		rep := w.run(t, o)
		only(t, rep, GenerationMismatch)
		c := rep.Class(GenerationMismatch)
		if rep.Clean || c.Count != 1 || c.Examples[0].Detail != wantDetail {
			t.Fatalf("mode %s: want one generation_mismatch %q:\n%s", rep.Mode, wantDetail, dump(rep))
		}
		want(t, rep, GenerationMismatch, "", w.keys.Stats(), dataset.StatPGGeneration)
		if txt := text(t, rep); !strings.Contains(txt, wantDetail) || !strings.Contains(txt, "MISMATCH") {
			t.Errorf("text report does not give the finding in full:\n%s", txt)
		}
	}
	rep := w.run(t, Options{Repair: true})
	if rp := rep.Repair; rp == nil || !strings.Contains(strings.Join(rp.NotRepairable, " "), GenerationMismatch) ||
		rp.After == nil || rp.After.Class(GenerationMismatch).Count != 1 {
		t.Fatalf("repair must leave generation_mismatch to the loader:\n%s", dump(rep))
	}
	// Unknown on either side: no finding (no comment, or a Redis loaded from files alone).
	w.exec(t, "COMMENT ON TABLE recommendations IS NULL")
	if rep := w.run(t, Options{}); !rep.Clean {
		t.Fatalf("no PostgreSQL generation recorded, yet:\n%s", dump(rep))
	}
	w.exec(t, "COMMENT ON TABLE recommendations IS 'ut360 generation 1'")
	w.redis(t, "HSET", w.keys.Stats(), dataset.StatPGGeneration, "")
	if rep := w.run(t, Options{}); !rep.Clean {
		t.Fatalf("meta:stats without pg_generation, yet:\n%s", dump(rep))
	}
}
