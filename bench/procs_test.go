package bench

import "testing"

func TestRunProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	for _, c := range []struct {
		procs, current, workers, want int
	}{
		{0, 2, 1, 2},   // never fewer Ps than now (the cores or the CPU quota)
		{0, 2, 5, 5},   // one P per worker
		{0, 2, 64, 16}, // at most 8 per current P (an open model's max_in_flight)
		{0, 4, 8, 8},   // the current value, not the host's cores, is the floor
		{3, 2, 64, 3},  // Options.Procs (--procs) wins
		{1, 8, 8, 1},   // also downwards
	} {
		o := Options{Procs: c.procs}
		if got := o.runProcs(c.current, c.workers); got != c.want {
			t.Errorf("Procs %d, current %d, %d workers: runProcs = %d, want %d", c.procs, c.current, c.workers, got, c.want)
		}
	}
	t.Setenv("GOMAXPROCS", "3") // set by the user: left as it is
	if got := (&Options{}).runProcs(3, 64); got != 3 {
		t.Errorf("with GOMAXPROCS set: runProcs = %d, want the current 3", got)
	}
	if got := (&Options{Procs: 6}).runProcs(3, 64); got != 6 {
		t.Errorf("with GOMAXPROCS set and Procs 6: runProcs = %d, want 6", got)
	}
}
