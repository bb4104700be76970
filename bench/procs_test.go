package bench

import (
	"runtime"
	"testing"
)

func TestRunProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	cores := runtime.NumCPU()
	for _, c := range []struct {
		procs, workers, want int
	}{
		{0, 1, cores},               // never fewer Ps than cores
		{0, cores + 3, cores + 3},   // one P per worker
		{0, 100 * cores, 8 * cores}, // at most 8 per core (an open model's max_in_flight)
		{3, 64, 3},                  // --procs wins
	} {
		o := Options{Procs: c.procs}
		if got := o.runProcs(c.workers); got != c.want {
			t.Errorf("Procs %d, %d workers: runProcs = %d, want %d", c.procs, c.workers, got, c.want)
		}
	}
	t.Setenv("GOMAXPROCS", "1") // the runtime read it at start; only its presence matters here
	if got, want := (&Options{}).runProcs(64), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("with GOMAXPROCS set: runProcs = %d, want the current %d", got, want)
	}
}
