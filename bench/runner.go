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
	// Errors counts recorded operations that failed: those that returned an
	// error or an unexpected not-found, plus the cancelled and unsent ones.
	Errors int64 `json:"errors"`
	// ErrorKinds splits Errors by kind (timeout, network, redis:WRONGTYPE,
	// postgres:42P01, decode, not_found, cancelled, unsent …).
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	// ErrorRate is Errors / Due: every operation the scenario asked for and
	// did not get counts against it.
	ErrorRate float64 `json:"error_rate"`
	// Due counts the recorded operations the load model asked for: the open
	// model's rate × duration (or its count); in the closed model, Sent.
	Due int64 `json:"due"`
	// Sent counts recorded operations that were started.
	Sent int64 `json:"sent"`
	// Completed counts started operations that returned (success or error)
	// before the end of the run.
	Completed int64 `json:"completed"`
	// Cancelled counts started operations cut off by the run's hard stop.
	// They are failures, in the latency histogram with their time up to the cut.
	Cancelled int64 `json:"cancelled"`
	// Unsent counts operations that were due but never started because the
	// run hit its hard stop (open model). They are failures, in the latency
	// histogram with their time from the intended start to the end of the run.
	Unsent int64 `json:"unsent"`
	// NotFound counts operations that found nothing (an empty hash, no row),
	// expected or not; the unexpected ones are also errors of kind not_found.
	NotFound int64 `json:"not_found"`
	// Items counts non-empty replies and rows read.
	Items int64 `json:"items"`
	// MissingKeys counts drawn keys that were made up to not exist (keys.missing).
	MissingKeys int64 `json:"missing_keys"`
	// CacheMisses counts cache-aside reads that went to PostgreSQL.
	CacheMisses int64 `json:"cache_misses,omitempty"`
	// Nodes (Redis Cluster only) splits the successful operations' commands
	// by the master that owns their key's slot: the per-master throughput.
	Nodes []NodeResult `json:"nodes,omitempty"`
	// Late counts open-model operations whose intended start found every worker busy.
	Late int64 `json:"late,omitempty"`
	// Workers is the number of workers (closed: concurrency; open: max in flight).
	Workers int `json:"workers"`
	// Elapsed is the recorded window in seconds.
	Elapsed float64 `json:"elapsed_s"`
	// Throughput is successful operations per second over the recorded window.
	Throughput float64 `json:"throughput"`
	// Latency: from each operation's intended start (open model) or actual
	// start (closed model, raw). It holds the successful operations and the
	// cancelled and unsent ones (which land in the tail); other failures are
	// left out.
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
	// Notes explain a result that cannot be trusted as a measurement (no
	// successful operation, none of the drawn keys found).
	Notes []string `json:"notes,omitempty"`

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
	sent, cancelled, unsent         int64
	missingKeys                     int64 // made-up keys drawn for recorded operations
	lastDone                        time.Time
	nodes                           []int64 // per Redis Cluster master: commands of successful operations
}

// Error kinds the runner itself assigns.
const (
	// KindNotFound: an operation found nothing although its keys were loaded
	// ones (or it takes no key), and the scenario does not allow that.
	KindNotFound = "not_found"
	// KindCancelled: an operation still running when the run hit its hard stop.
	KindCancelled = "cancelled"
	// KindUnsent: an operation that was due but never started.
	KindUnsent = "unsent"
)

// outcome is how a started operation ended.
type outcome struct {
	res opResult
	err error
	// cut: the run's hard stop cancelled the operation.
	cut bool
	// expectEmpty: every key of the operation was made up (keys.missing) or
	// the scenario allows not-found replies, so an empty reply is no error.
	expectEmpty bool
}

func newRecorder(open bool) *recorder {
	r := &recorder{total: newHist(), interval: newHist(), errs: map[string]int64{}}
	if open {
		r.service = newHist()
	}
	return r
}

// add records one started operation.
func (r *recorder) add(lat, service time.Duration, o outcome, done time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent++
	if done.After(r.lastDone) {
		r.lastDone = done
	}
	res, err := o.res, o.err
	switch {
	case o.cut:
		// Cut off at the end of the run: a failure whose latency so far lands in the tail.
		r.cancelled++
		r.errs[KindCancelled]++
		record(r.total, lat)
		record(r.interval, lat)
		return
	case err != nil:
		r.errs[errorKind(err)]++
		return
	case res.items == 0:
		r.notFound++
		if !o.expectEmpty {
			r.errs[KindNotFound]++
			return
		}
	}
	record(r.total, lat)
	record(r.interval, lat)
	if r.service != nil {
		record(r.service, service)
	}
	r.ok++
	r.items += int64(res.items)
	if res.miss {
		r.miss++
	}
	if len(res.nodes) > 0 {
		if r.nodes == nil {
			r.nodes = make([]int64, len(res.nodes))
		}
		for i, n := range res.nodes {
			r.nodes[i] += n
		}
	}
}

// addUnsent records n operations that were due but never started, each a
// failure with latency from its intended start to the end of the run.
func (r *recorder) addUnsent(lats []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, lat := range lats {
		r.unsent++
		r.errs[KindUnsent]++
		record(r.total, lat)
		record(r.interval, lat)
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
	grace    time.Duration            // test hook: time after the end before the hard stop (0: the default)
}

// openPlan is the open model's schedule: operation i is intended to start at
// start + i/rate; the recorded ones are first ≤ i < due.
type openPlan struct {
	start       time.Time
	rate        float64
	first, last int64 // recorded indices: first ≤ i < last
}

func (p openPlan) intended(i int64) time.Time {
	return p.start.Add(time.Duration(float64(i) * 1e9 / p.rate))
}

// index is the first operation intended at or after t.
func (p openPlan) index(t time.Time) int64 {
	i := max(0, int64(math.Ceil(t.Sub(p.start).Seconds()*p.rate)))
	for i > 0 && !p.intended(i-1).Before(t) {
		i--
	}
	for p.intended(i).Before(t) {
		i++
	}
	return i
}

// recorded tells whether operation i is in the recorded window.
func (p openPlan) recorded(i int64) bool { return i >= p.first && i < p.last }

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
	if rs.grace > 0 {
		grace = rs.grace
	}
	hardStop := end.Add(grace)
	if l.Count > 0 {
		end = time.Time{}
		hardStop = recStart.Add(time.Hour)
	}
	var plan openPlan
	if open {
		plan = openPlan{start: start, rate: l.Rate}
		if l.Count > 0 {
			plan.first = int64(math.Ceil(l.Warmup.D().Seconds() * l.Rate))
			plan.last = plan.first + int64(l.Count)
		} else {
			plan.first, plan.last = plan.index(recStart), plan.index(end)
		}
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
	abandoned := make([][]int64, n) // per worker: recorded indices claimed but never started
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if open {
				abandoned[i] = rs.openLoop(opCtx, workers[i], recs[i], pickers[i], &claimed, plan, hardStop)
			} else {
				rs.closedLoop(opCtx, workers[i], recs[i], pickers[i], &claimed, recStart, end)
			}
		}()
	}
	wg.Wait()
	if open {
		// Every recorded operation that was due and never started is a
		// failure whose latency runs from its intended start to the end of
		// the run (as wrk2 and YCSB count them), so it lands in the tail.
		runEnd := time.Now()
		var lats []time.Duration
		for _, idx := range abandoned {
			for _, i := range idx {
				lats = append(lats, runEnd.Sub(plan.intended(i)))
			}
		}
		for i := max(claimed.Load(), plan.first); i < plan.last; i++ {
			lats = append(lats, runEnd.Sub(plan.intended(i)))
		}
		recs[0].addUnsent(lats)
	}
	close(done)
	<-tickDone
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := rs.merge(recs, recStart)
	if open {
		res.Due = plan.last - plan.first
	}
	return res, nil
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
		var ok, allMade bool
		if keys, allMade, ok = rs.nextKeys(ctx, w, rec, kp, keys, recording); !ok {
			continue
		}
		t0 := time.Now()
		res, err := w.do(ctx, keys)
		t1 := time.Now()
		if recording {
			rec.add(t1.Sub(t0), 0, rs.outcome(ctx, res, err, allMade), t1)
		}
		if think > 0 && sleepUntil(ctx, t1.Add(think)) != nil {
			return
		}
	}
}

// nextKeys picks the next keys and runs the worker's unrecorded preparation
// (before); ok is false when that failed, its error recorded if recording.
// allMade tells whether every key drawn was made up to not exist.
func (rs *runSpec) nextKeys(ctx context.Context, w worker, rec *recorder, kp *keyPicker, keys []string, recording bool) (_ []string, allMade, ok bool) {
	m0 := kp.missing
	keys = kp.next(keys)
	made := kp.missing - m0
	if recording {
		rec.mu.Lock()
		rec.missingKeys += made
		rec.mu.Unlock()
	}
	allMade = rs.sc.Keys.Distribution != "none" && made == int64(len(keys))
	if err := w.before(ctx, keys); err != nil {
		if recording {
			rec.add(0, 0, rs.outcome(ctx, opResult{}, err, allMade), time.Now())
		}
		return keys, allMade, false
	}
	return keys, allMade, true
}

// outcome classifies a finished operation: cut off by the run's hard stop
// (ctx is the run's operation context), and whether an empty reply is
// expected (its keys were all made up, or the scenario allows not-found).
func (rs *runSpec) outcome(ctx context.Context, res opResult, err error, allMade bool) outcome {
	return outcome{res: res, err: err, cut: err != nil && ctx.Err() != nil,
		expectEmpty: allMade || rs.sc.Keys.NotFound == NotFoundAllowed}
}

// openLoop claims operation indices in order; operation i is intended to
// start at plan.intended(i). Its latency counts from that intended start, so
// a stall that delays later operations shows in their latencies instead of
// silently lowering the rate (coordinated omission). It returns the recorded
// indices it claimed but never started (the hard stop came first).
func (rs *runSpec) openLoop(ctx context.Context, w worker, rec *recorder, kp *keyPicker, claimed *atomic.Int64, plan openPlan, hardStop time.Time) (abandoned []int64) {
	var keys []string
	for ctx.Err() == nil {
		i := claimed.Add(1) - 1
		intended := plan.intended(i)
		now := time.Now()
		recording := plan.recorded(i)
		switch {
		case i >= plan.last:
			return abandoned
		case now.After(hardStop):
			if recording {
				abandoned = append(abandoned, i)
			}
			return abandoned
		}
		var ok, allMade bool
		if keys, allMade, ok = rs.nextKeys(ctx, w, rec, kp, keys, recording); !ok {
			continue
		}
		if now.Before(intended) {
			if sleepUntil(ctx, intended) != nil {
				if recording {
					abandoned = append(abandoned, i)
				}
				return abandoned
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
			rec.add(t1.Sub(intended), t1.Sub(t0), rs.outcome(ctx, res, err, allMade), t1)
		}
	}
	return abandoned
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
	var nodes []int64
	last := recStart
	for _, r := range recs {
		if len(r.nodes) > len(nodes) {
			nodes = append(nodes, make([]int64, len(r.nodes)-len(nodes))...)
		}
		for i, n := range r.nodes {
			nodes[i] += n
		}
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
		res.Sent += r.sent
		res.Cancelled += r.cancelled
		res.Unsent += r.unsent
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
	res.Completed = res.Sent - res.Cancelled
	res.Due = res.Sent + res.Unsent // the open model's runTarget sets its planned count
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
	}
	if nr, ok := rs.tg.(nodeReporter); ok {
		res.Nodes = nr.nodeResults(nodes, res.Elapsed)
	}
	res.Notes = notesOf(res, rs.sc)
	return res
}

// notesOf explains a result that measured nothing trustworthy.
func notesOf(r *TargetResult, sc *Scenario) []string {
	var notes []string
	nf := r.ErrorKinds[KindNotFound]
	switch {
	case r.Ops == 0 && nf > 0 && nf == r.Errors:
		notes = append(notes, fmt.Sprintf("none of the drawn keys was found: all %d operations came back empty — is the data loaded under this namespace / schema (--namespace, --pg search_path), and does --keys-file name loaded keys?", nf))
	case nf > 0:
		notes = append(notes, fmt.Sprintf("%d operations found nothing although their keys were loaded ones (beyond keys.missing %g%%); set keys.not_found: allowed if that is expected", nf, float64(sc.Keys.Missing)*100))
	}
	if r.Ops == 0 {
		notes = append(notes, fmt.Sprintf("no successful operation (%d errors): every latency threshold fails", r.Errors))
	}
	if r.Unsent > 0 || r.Cancelled > 0 {
		notes = append(notes, fmt.Sprintf("%d operations never sent and %d cancelled at the end of the run (of %d due): counted as failures, their latency to the end of the run in the tail", r.Unsent, r.Cancelled, r.Due))
	}
	return notes
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
