package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ut360/ut360/internal/progress"
)

// TargetResult is the outcome of one scenario × target.
type TargetResult struct {
	// Target is redis, postgres or cache_aside.
	Target string `json:"target"`
	// Ops counts recorded operations that succeeded.
	Ops int64 `json:"ops"`
	// Errors counts recorded operations that failed; they are not in the latency figures.
	Errors int64 `json:"errors"`
	// ErrorKinds splits Errors by kind (timeout, network, redis:WRONGTYPE, postgres:42P01, decode …).
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	// ErrorRate is Errors / (Ops + Errors).
	ErrorRate float64 `json:"error_rate"`
	// NotFound counts successful operations that found nothing (an empty hash, no row).
	NotFound int64 `json:"not_found"`
	// Items counts non-empty replies and rows read.
	Items int64 `json:"items"`
	// MissingKeys counts drawn keys that were made up to not exist (keys.missing).
	MissingKeys int64 `json:"missing_keys"`
	// CacheMisses counts cache-aside reads that went to PostgreSQL.
	CacheMisses int64 `json:"cache_misses,omitempty"`
	// Late counts open-model operations whose intended start found every worker busy.
	Late int64 `json:"late,omitempty"`
	// Unsent counts open-model operations never started because the run hit its hard stop.
	Unsent int64 `json:"unsent,omitempty"`
	// Workers is the number of workers (closed: concurrency; open: max in flight).
	Workers int `json:"workers"`
	// Elapsed is the recorded window in seconds.
	Elapsed float64 `json:"elapsed_s"`
	// Throughput is successful operations per second over the recorded window.
	Throughput float64 `json:"throughput"`
	// Latency: from each operation's intended start (open model) or actual
	// start (closed model, raw).
	Latency Percentiles `json:"latency"`
	// Corrected (closed model) is Latency corrected for coordinated omission
	// with the expected interval CorrectionInterval.
	Corrected *Percentiles `json:"corrected,omitempty"`
	// CorrectionInterval (ms) is each worker's median latency plus think time, averaged.
	CorrectionInterval float64 `json:"correction_interval_ms,omitempty"`
	// Service (open model) is the latency from the actual start, which hides queueing.
	Service *Percentiles `json:"service,omitempty"`
	// Histogram is Latency's histogram, compressed and base64-encoded (V2, as in .hlog).
	Histogram string `json:"histogram"`

	hist, corrected *hdr.Histogram
}

// recorder holds one worker's histograms and counts. Its mutex is taken by the
// worker per operation and by the interval ticker once a second, so it is
// almost never contended.
type recorder struct {
	mu                              sync.Mutex
	total, interval, service        *hdr.Histogram
	errs                            map[string]int64
	ok, notFound, items, miss, late int64
	missingKeys                     int64 // made-up keys drawn for recorded operations
	lastDone                        time.Time
}

func newRecorder(open bool) *recorder {
	r := &recorder{total: newHist(), interval: newHist(), errs: map[string]int64{}}
	if open {
		r.service = newHist()
	}
	return r
}

func (r *recorder) add(lat, service time.Duration, res opResult, err error, done time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if done.After(r.lastDone) {
		r.lastDone = done
	}
	if err != nil {
		r.errs[errorKind(err)]++
		return
	}
	record(r.total, lat)
	record(r.interval, lat)
	if r.service != nil {
		record(r.service, service)
	}
	r.ok++
	r.items += int64(res.items)
	if res.items == 0 {
		r.notFound++
	}
	if res.miss {
		r.miss++
	}
}

// runSpec is one scenario × target to run.
type runSpec struct {
	sc       *Scenario
	name     string
	tg       target
	keys     []string // shuffled
	zipf     *zipfian
	hlog     io.Writer
	bar      *progress.Bar
	log      *slog.Logger
	interval time.Duration
	stall    func(recStart time.Time) // test hook: called once recording starts
}

// runTarget drives the load model against one target and merges the
// per-worker histograms.
func runTarget(ctx context.Context, rs runSpec) (*TargetResult, error) {
	l := rs.sc.Load
	open := l.Model == "open"
	n := l.Concurrency
	if open {
		n = l.MaxInFlight
	}
	workers := make([]worker, 0, n)
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	for i := range n {
		w, err := rs.tg.newWorker(ctx, i)
		if err != nil {
			return nil, err
		}
		workers = append(workers, w)
	}
	recs := make([]*recorder, n)
	pickers := make([]*keyPicker, n)
	for i := range n {
		recs[i] = newRecorder(open)
		pickers[i] = newKeyPicker(rs.sc.Keys, rs.keys, rs.zipf, i)
	}

	start := time.Now()
	recStart := start.Add(l.Warmup.D())
	end := recStart.Add(l.Duration.D())
	grace := max(5*time.Second, l.Duration.D()/2)
	hardStop := end.Add(grace)
	if l.Count > 0 {
		end = time.Time{}
		hardStop = recStart.Add(time.Hour)
	}
	opCtx, cancel := context.WithDeadline(ctx, hardStop)
	defer cancel()

	done := make(chan struct{})
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		rs.tick(ctx, recs, recStart, done)
	}()
	if rs.stall != nil {
		go func() {
			if sleepUntil(opCtx, recStart) == nil {
				rs.stall(recStart)
			}
		}()
	}

	var claimed atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if open {
				rs.openLoop(opCtx, workers[i], recs[i], pickers[i], &claimed, start, recStart, end, hardStop)
			} else {
				rs.closedLoop(opCtx, workers[i], recs[i], pickers[i], &claimed, recStart, end)
			}
		}()
	}
	wg.Wait()
	close(done)
	<-tickDone
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return rs.merge(recs, recStart), nil
}

func (rs *runSpec) closedLoop(ctx context.Context, w worker, rec *recorder, kp *keyPicker, claimed *atomic.Int64, recStart, end time.Time) {
	count := int64(rs.sc.Load.Count)
	think := rs.sc.Load.ThinkTime.D()
	var keys []string
	for ctx.Err() == nil {
		now := time.Now()
		if count == 0 && !now.Before(end) {
			return
		}
		recording := !now.Before(recStart)
		if recording && count > 0 && claimed.Add(1) > count {
			return
		}
		var ok bool
		if keys, ok = nextKeys(ctx, w, rec, kp, keys, recording); !ok {
			continue
		}
		t0 := time.Now()
		res, err := w.do(ctx, keys)
		t1 := time.Now()
		if recording {
			rec.add(t1.Sub(t0), 0, res, err, t1)
		}
		if think > 0 && sleepUntil(ctx, t1.Add(think)) != nil {
			return
		}
	}
}

// nextKeys picks the next keys and runs the worker's unrecorded preparation
// (before); ok is false when that failed, its error recorded if recording.
func nextKeys(ctx context.Context, w worker, rec *recorder, kp *keyPicker, keys []string, recording bool) (_ []string, ok bool) {
	m0 := kp.missing
	keys = kp.next(keys)
	if recording {
		rec.missingKeys += kp.missing - m0
	}
	if err := w.before(ctx, keys); err != nil {
		if recording {
			rec.add(0, 0, opResult{}, err, time.Now())
		}
		return keys, false
	}
	return keys, true
}

// openLoop claims operation indices in order; operation i is intended to
// start at start + i/rate. Its latency counts from that intended start, so a
// stall that delays later operations shows in their latencies instead of
// silently lowering the rate (coordinated omission).
func (rs *runSpec) openLoop(ctx context.Context, w worker, rec *recorder, kp *keyPicker, claimed *atomic.Int64, start, recStart, end, hardStop time.Time) {
	l := rs.sc.Load
	warmOps := int64(math.Ceil(l.Warmup.D().Seconds() * l.Rate))
	var keys []string
	for ctx.Err() == nil {
		i := claimed.Add(1) - 1
		intended := start.Add(time.Duration(float64(i) * 1e9 / l.Rate))
		now := time.Now()
		switch {
		case l.Count > 0 && i >= warmOps+int64(l.Count):
			return
		case l.Count == 0 && !intended.Before(end):
			return
		case now.After(hardStop):
			return
		}
		recording := !intended.Before(recStart)
		if l.Count > 0 {
			recording = i >= warmOps
		}
		var ok bool
		if keys, ok = nextKeys(ctx, w, rec, kp, keys, recording); !ok {
			continue
		}
		if now.Before(intended) {
			if sleepUntil(ctx, intended) != nil {
				return
			}
		} else if recording {
			rec.mu.Lock()
			rec.late++ // no worker was free at the intended start
			rec.mu.Unlock()
		}
		t0 := time.Now()
		res, err := w.do(ctx, keys)
		t1 := time.Now()
		if recording {
			rec.add(t1.Sub(intended), t1.Sub(t0), res, err, t1)
		}
	}
}

// tick merges the workers' interval histograms once per interval into the
// .hlog and the progress bar.
func (rs *runSpec) tick(ctx context.Context, recs []*recorder, recStart time.Time, done <-chan struct{}) {
	var lw *hdr.HistogramLogWriter
	if rs.hlog != nil {
		lw = hdr.NewHistogramLogWriter(rs.hlog)
		ms := recStart.UnixMilli()
		_ = lw.OutputComment(fmt.Sprintf("[ut360 bench %s %s]", rs.sc.Name, rs.name))
		_ = lw.OutputLogFormatVersion()
		_ = lw.OutputStartTime(ms)
		_ = lw.OutputBaseTime(ms)
		lw.SetBaseTime(ms)
		_ = lw.OutputLegend()
	}
	select {
	case <-time.After(time.Until(recStart)):
	case <-done:
	case <-ctx.Done():
		return
	}
	every := rs.interval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	from := recStart
	agg := newHist()
	flush := func() {
		agg.Reset()
		var ops int64
		for _, r := range recs {
			r.mu.Lock()
			agg.Merge(r.interval)
			r.interval.Reset()
			ops += r.ok + sum(r.errs)
			r.mu.Unlock()
		}
		now := time.Now()
		rs.bar.Set(ops)
		if agg.TotalCount() == 0 {
			from = now
			return
		}
		agg.SetTag(rs.name)
		agg.SetStartTimeMs(from.UnixMilli())
		agg.SetEndTimeMs(now.UnixMilli())
		if lw != nil {
			_ = lw.OutputIntervalHistogram(agg)
		}
		if rs.log != nil {
			rs.log.Debug("interval", "scenario", rs.sc.Name, "target", rs.name, "ops", agg.TotalCount(),
				"p50_ms", ms(agg.ValueAtPercentile(50)), "p99_ms", ms(agg.ValueAtPercentile(99)), "max_ms", ms(agg.Max()))
		}
		from = now
	}
	for {
		select {
		case <-t.C:
			flush()
		case <-done:
			flush()
			return
		case <-ctx.Done():
			return
		}
	}
}

func sum(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// merge combines the workers' recorders into the target's result.
func (rs *runSpec) merge(recs []*recorder, recStart time.Time) *TargetResult {
	l := rs.sc.Load
	res := &TargetResult{Target: rs.name, Workers: len(recs), ErrorKinds: map[string]int64{}, hist: newHist()}
	var service *hdr.Histogram
	if l.Model == "open" {
		service = newHist()
	}
	corrected := newHist()
	var ivSum time.Duration
	var ivN int
	last := recStart
	for _, r := range recs {
		res.hist.Merge(r.total)
		if service != nil {
			service.Merge(r.service)
		}
		res.Ops += r.ok
		res.NotFound += r.notFound
		res.Items += r.items
		res.CacheMisses += r.miss
		res.Late += r.late
		res.MissingKeys += r.missingKeys
		for k, v := range r.errs {
			res.ErrorKinds[k] += v
			res.Errors += v
		}
		if r.lastDone.After(last) {
			last = r.lastDone
		}
		if l.Model == "closed" && r.total.TotalCount() > 0 {
			iv := time.Duration(r.total.ValueAtPercentile(50)) + l.ThinkTime.D()
			corrected.Merge(correctedCopy(r.total, iv))
			ivSum += iv
			ivN++
		}
	}
	if len(res.ErrorKinds) == 0 {
		res.ErrorKinds = nil
	}
	window := l.Duration.D()
	if l.Count > 0 {
		window = last.Sub(recStart)
	}
	res.Elapsed = window.Seconds()
	if res.Elapsed > 0 {
		res.Throughput = float64(res.Ops) / res.Elapsed
	}
	if all := res.Ops + res.Errors; all > 0 {
		res.ErrorRate = float64(res.Errors) / float64(all)
	}
	res.Latency = percentilesOf(res.hist)
	res.Histogram = encodeHist(res.hist)
	if ivN > 0 {
		p := percentilesOf(corrected)
		res.Corrected, res.corrected = &p, corrected
		res.CorrectionInterval = ms(int64(ivSum) / int64(ivN))
	}
	if service != nil {
		p := percentilesOf(service)
		res.Service = &p
		intended := int64(l.Count)
		if l.Count == 0 {
			intended = int64(math.Ceil(l.Duration.D().Seconds() * l.Rate))
		}
		res.Unsent = max(0, intended-res.Ops-res.Errors)
	}
	return res
}

// metric returns a figure by threshold name: latency in ms, throughput in
// ops/s, error_rate as a share.
func (r *TargetResult) metric(name string) (float64, bool) {
	switch name {
	case "throughput":
		return r.Throughput, true
	case "error_rate":
		return r.ErrorRate, true
	}
	return r.Latency.metric(name)
}

// errorKindsSorted lists the error kinds in a stable order.
func (r *TargetResult) errorKindsSorted() []string {
	return slices.Sorted(maps.Keys(r.ErrorKinds))
}

// sleepUntil waits for t or the context.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
