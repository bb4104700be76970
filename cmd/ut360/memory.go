package main

import (
	"os"
	"runtime/debug"
)

// genMemoryLimit is the soft heap limit of gen. Its live heap stays near
// 100 MB at any N, but the default GC pacing lets the heap grow to twice
// that between cycles; the limit keeps peak RSS within the 300 MB target at
// a small CPU cost. GOMEMLIMIT, when set, wins.
const genMemoryLimit = 200 << 20

// limitMemory sets a soft heap limit unless GOMEMLIMIT already does.
func limitMemory(limit int64) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}

// heapLimit is the soft memory limit of load, verify, bench and demo: well
// inside the 512 MB budget at 1,000,000 subscribers.
const heapLimit = 400 << 20

// tuneGC trades memory for CPU during a load (garbage collection was a fifth
// of its CPU profile) and a bench (less client CPU to share with the servers;
// the measured effect is in docs/figures.md): collect less often, under the
// soft heapLimit.
// GOGC and GOMEMLIMIT in the environment win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	limitMemory(heapLimit)
}
