package dataset

import "testing"

func TestStageKeys(t *testing.T) {
	k := NewKeys("t1")
	for _, live := range []string{k.Rec("++/hZFPrCDRre55vsZqqxQ=="), k.Profile("++/hZFPrCDRre55vsZqqxQ=="),
		k.ServiceIndex("Easy{Credit}"), k.RiskIndex("LOW"), k.ClusterIndex(3), k.Stats()} {
		st := k.Stage(live)
		if Slot(st) != Slot(live) {
			t.Errorf("%s: staging name %s in slot %d, live in %d", live, st, Slot(st), Slot(live))
		}
		if back, ok := k.LiveOf(st); !ok || back != live {
			t.Errorf("LiveOf(%s) = %q %v, want %q", st, back, ok, live)
		}
	}
	for _, bad := range []string{"t1:rec:x", "t1:stage:x", "t1:stage:{}:rec:x", "t1:stage:{ab}rec", "t2:stage:{a}:rec:x"} {
		if live, ok := k.LiveOf(bad); ok {
			t.Errorf("LiveOf(%q) = %q, want not a staging key", bad, live)
		}
	}
}
