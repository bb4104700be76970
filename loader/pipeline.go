package loader

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/progress"
)

const batchSize = 1024

// source yields rows of one input (a file reader or a PostgreSQL query).
type source[T any] interface {
	Next() (T, int64, error)
	Close() error
}

// input opens one of the three inputs; name is what rejects and errors call it.
type input[T any] struct {
	name string
	csv  bool // positions are CSV lines
	open func(context.Context) (source[T], error)
	// release closes what open would have handed out when the load ends
	// before asking (nil: nothing held).
	release func()
}

type load struct {
	o     Options
	pool  *pgxpool.Pool
	rdb   redis.UniversalClient
	start time.Time
	gen   int64 // this load's generation (see swap.go)

	recs     input[dataset.Recommendation]
	profiles input[dataset.Profile]
	monthly  input[dataset.Monthly]

	subs *subscribers
	rej  *rejects
	pg   *pgStage
	rs   *redisStage

	recFP, detailFP     dataset.Fingerprint
	nProfiles, nMonthly int64
	unordered           bool
	pgDone, redisDone   time.Duration
	// redisSwapping: the Redis swap has begun changing live keys; from here
	// a failure leaves the journal for the next load to roll forward.
	redisSwapping   bool
	pgBar, redisBar *progress.Bar
}

// testHook, when set by a test, is called at named points of a load
// ("recs-staged", "staged", "built", "swap-queued") to interrupt it there.
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}

// errUnordered ends the streaming detail phase: the inputs are not in
// recommendation order, so the fallback is used.
var errUnordered = errors.New("inputs not in recommendation order")

func (l *load) run(ctx context.Context) (sum *Summary, err error) {
	src := dataset.StatSourceFiles
	if l.o.FromPostgres {
		src = dataset.StatSourcePostgres
		l.pgInputs()
	} else if err := l.fileInputs(ctx); err != nil {
		return nil, err
	}
	defer l.releaseInputs()
	if l.rej, err = newRejects(l.o.RejectsPath); err != nil {
		return nil, err
	}
	defer func() {
		if cerr := l.rej.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	shas := l.hashFiles(ctx)

	pg := progress.New(ctx, l.o.Out, l.o.Progress, l.o.Log)
	defer pg.Wait()
	if l.o.Postgres {
		if l.pg, err = openPG(ctx, l.pool, l.o.Log); err != nil {
			return nil, err
		}
		l.pg.swapWait = l.o.PGSwapWait
		defer l.pg.close()
		l.pgBar = pg.Add("postgres rows", 0)
		l.pg.bar = l.pgBar.Add
	}
	if l.o.Redis {
		if l.rs, err = openRedis(ctx, l.rdb, redisOptions{keys: l.o.Keys, ttl: l.o.TTL, gen: l.gen,
			rate: l.o.RedisRate, dump: l.o.DumpRESP}); err != nil {
			return nil, err
		}
		defer l.rs.release()
		msg, err := l.rs.recover(ctx, l.o.Recover, l.pgGeneration(ctx), l.o.Log)
		if err != nil {
			return nil, err
		}
		if err := l.rs.begin(ctx); err != nil {
			return nil, err
		}
		l.redisBar = pg.Add("redis keys", 0)
		l.rs.bar = l.redisBar.Add
		defer func() {
			if sum != nil {
				sum.Recovered = msg
			}
		}()
	}
	swapped := false
	defer func() {
		if !swapped {
			l.cleanup()
		}
	}()

	if err := l.stage(ctx); err != nil {
		return nil, err
	}
	l.o.Log.Debug("staged", "elapsed", time.Since(l.start))
	hook("staged")
	if n := l.rej.count(); n > l.o.MaxRejects {
		return nil, l.rej.overLimit(l.o.MaxRejects)
	}
	if l.pg != nil {
		if err := l.pg.build(ctx); err != nil {
			return nil, err
		}
		if err := l.pg.markGeneration(ctx, l.gen); err != nil {
			return nil, fmt.Errorf("postgres: record the generation: %w", err)
		}
		l.o.Log.Debug("postgres indexes built", "elapsed", time.Since(l.start))
		hook("built")
	}
	fp := l.recFP
	fp.Merge(l.detailFP)
	sum = l.summary(src, fp.String())
	if l.rs != nil {
		if err := l.rs.prove(ctx, l.subs); err != nil {
			return nil, err
		}
		hook("proved")
		stats := l.stats(sum, <-shas)
		if sum.Leavers, err = l.rs.plan(ctx, l.subs, stats, l.pg != nil); err != nil {
			return nil, err
		}
		l.o.Log.Debug("redis swap planned", "elapsed", time.Since(l.start), "leavers", sum.Leavers)
		hook("swap-queued")
	}
	if l.pg != nil {
		// Right before PostgreSQL commits, make sure this load still owns
		// the Redis side, so that the next load can tell from the journal
		// and PostgreSQL's generation which way to recover.
		var alive func() error
		if l.rs != nil {
			alive = func() error { return l.rs.planned(ctx) }
		}
		if err := l.pg.swap(ctx, alive); err != nil {
			return nil, err
		}
		swapped = true // PostgreSQL holds the new snapshot from here on
		l.pgDone = time.Since(l.start)
		l.pgBar.Done()
		hook("pg-swapped")
	}
	if l.rs != nil {
		// Past the point of no return: a Ctrl-C must not stop a swap that
		// takes seconds and leave the generations mixed.
		l.redisSwapping = true
		t, err := l.rs.swap(context.WithoutCancel(ctx), l.subs)
		if err != nil {
			return nil, fmt.Errorf("%w: %w (the journal %s records it: the next `ut360 load` or `ut360 load --resume` finishes it)",
				ErrSwapUnfinished, err, l.o.Keys.SwapJournal())
		}
		swapped = true
		sum.SwapWindow, sum.LeaverRemoval = t.Window, t.Leaver
		l.redisDone = time.Since(l.start)
		l.redisBar.Done()
	}
	l.finishSummary(sum)
	return sum, nil
}

// cleanup removes the staging copies after a failed or refused load; it uses
// its own context because ctx may be the reason of the failure.
func (l *load) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if l.pg != nil {
		if err := retry(ctx, l.pg.cleanup); err != nil {
			l.o.Log.Warn("could not drop the PostgreSQL staging schema (the next load drops it)", "err", err)
		}
	}
	l.cleanupRedis()
}

func (l *load) cleanupRedis() {
	if l.rs == nil || l.redisSwapping {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	discard := l.rs.cleanup // SCAN: only when nothing is known yet
	if l.subs != nil {
		discard = func(ctx context.Context) error { return l.rs.abandon(ctx, l.subs) }
	}
	if err := retry(ctx, discard); err != nil {
		l.o.Log.Warn("could not remove the Redis staging keys (the next load removes them)", "err", err)
	}
}

// retry runs an idempotent step up to four times with backoff (a pooled
// connection may have died with the fault that brought us here).
func retry(ctx context.Context, fn func(context.Context) error) error {
	var err error
	for i, wait := 0, 100*time.Millisecond; i < 4; i, wait = i+1, wait*3 {
		if err = fn(ctx); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
	return err
}

// fileInputs opens the three files once up front, so a file fault is found
// before either store is touched, and keeps the readers for the first pass.
func (l *load) fileInputs(ctx context.Context) error {
	f := l.o.Files
	rr, err := dataset.Open(ctx, &dataset.Recommendations, f.Recommendations)
	if err != nil {
		return &badInput{err}
	}
	pr, err := dataset.Open(ctx, &dataset.Profiles, f.Profiles)
	if err != nil {
		rr.Close()
		return &badInput{err}
	}
	mr, err := dataset.Open(ctx, &dataset.Monthlies, f.Monthly)
	if err != nil {
		rr.Close()
		pr.Close()
		return &badInput{err}
	}
	l.recs = fileInput(&dataset.Recommendations, f.Recommendations, rr)
	l.profiles = fileInput(&dataset.Profiles, f.Profiles, pr)
	l.monthly = fileInput(&dataset.Monthlies, f.Monthly, mr)
	return nil
}

// fileInput serves the already open reader first, then reopens the file.
func fileInput[T any](kind *dataset.Kind[T], path string, first *dataset.Reader[T]) input[T] {
	return input[T]{name: path, csv: isCSV(path), open: func(ctx context.Context) (source[T], error) {
		if first != nil {
			r := first
			first = nil
			return r, nil
		}
		r, err := dataset.Open(ctx, kind, path)
		if err != nil {
			return nil, &badInput{err}
		}
		return r, nil
	}, release: func() {
		if first != nil {
			first.Close()
			first = nil
		}
	}}
}

// releaseInputs closes the readers opened up front that no phase took.
func (l *load) releaseInputs() {
	for _, rel := range []func(){l.recs.release, l.profiles.release, l.monthly.release} {
		if rel != nil {
			rel()
		}
	}
}

func isCSV(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	n, _ := io.ReadFull(f, b[:])
	return !(n == 4 && string(b[:]) == "PAR1")
}

// hashFiles computes the sha256 of the source files in the background.
func (l *load) hashFiles(ctx context.Context) <-chan [3]string {
	out := make(chan [3]string, 1)
	if l.o.FromPostgres || !l.o.Redis {
		out <- [3]string{}
		return out
	}
	go func() {
		var res [3]string
		for i, p := range []string{l.o.Files.Recommendations, l.o.Files.Profiles, l.o.Files.Monthly} {
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			h := sha256.New()
			_, err = io.Copy(h, ctxReader{ctx, f})
			f.Close()
			if err == nil {
				res[i] = hex.EncodeToString(h.Sum(nil))
			}
		}
		out <- res
	}()
	return out
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// rowFault handles a non-nil error of source.Next: a row fault becomes a
// reject (nil), anything else ends the load.
func rowFault(rej *rejects, in string, csv bool, err error) error {
	var re *dataset.RowError
	if errors.As(err, &re) {
		rej.add(in, csv, re.Pos, re.Field)
		return nil
	}
	if errors.Is(err, dataset.ErrFile) {
		return &badInput{err}
	}
	return fmt.Errorf("read %s: %w", in, err)
}

func send[T any](ctx context.Context, b T, chans ...chan T) error {
	for _, ch := range chans {
		if ch == nil {
			continue
		}
		select {
		case ch <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func closeAll[T any](chans ...chan T) {
	for _, ch := range chans {
		if ch != nil {
			close(ch)
		}
	}
}

// stage fills the staging copies of both stores: recommendations first (the
// other two inputs are checked against them), then profiles and monthly rows.
func (l *load) stage(ctx context.Context) error {
	if err := l.stageRecs(ctx); err != nil {
		return err
	}
	l.o.Log.Debug("recommendations staged", "elapsed", time.Since(l.start))
	hook("recs-staged")
	if l.subs.len() == 0 {
		return &badInput{fmt.Errorf("%s: no valid recommendation row (refusing to replace the stores with an empty snapshot)", l.recs.name)}
	}
	mark := l.rej.mark()
	err := l.stageDetails(ctx, true)
	if errors.Is(err, errUnordered) {
		l.o.Log.Info("profile/monthly inputs are not in recommendation order; using the in-memory fallback")
		l.unordered = true
		l.rej.rewind(mark)
		if l.pg != nil {
			if err := l.pg.truncate(ctx, tProfiles, tMonthly); err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
		}
		err = l.stageDetails(ctx, false)
	}
	return err
}

func (l *load) stageRecs(ctx context.Context) error {
	src, err := l.recs.open(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	l.subs = newSubscribers(1 << 16)
	g, gctx := errgroup.WithContext(ctx)
	var pgCh, rdCh chan []dataset.Recommendation
	if l.pg != nil {
		pgCh = make(chan []dataset.Recommendation, 4)
		g.Go(func() error {
			_, err := copyIn(gctx, l.pg, tRecs, dataset.RecommendationColumns, newChanSource(gctx, pgCh, recRow, encodeRec, l.pg.bar))
			return err
		})
	}
	if l.rs != nil {
		rdCh = make(chan []dataset.Recommendation, 4)
		for range redisWriters {
			g.Go(func() error { return l.rs.writeRecs(gctx, rdCh) })
		}
	}
	g.Go(func() error {
		return pump(gctx, l, l.recs, func(r *dataset.Recommendation, _ int64) (dataset.Recommendation, *dataset.FieldError, error) {
			if fe := checkRec(r); fe != nil {
				return *r, fe, nil
			}
			if _, ok := l.subs.add(r.ISDN); !ok {
				return *r, fieldErr("isdn", r.ISDN, ReasonDuplicateISDN), nil
			}
			l.recFP.AddRec(r)
			return *r, nil, nil
		}, pgCh, rdCh)
	})
	return g.Wait()
}

type profItem struct {
	p   dataset.Profile
	idx int32
}

type monItem struct {
	m   dataset.Monthly
	idx int32
}

func profRow(it *profItem) []any { return profileRow(&it.p) }
func monRow(it *monItem) []any   { return monthlyRow(&it.m) }

func encProf(w *copyWriter, it *profItem) { encodeProfile(w, &it.p) }
func encMon(w *copyWriter, it *monItem)   { encodeMonthly(w, &it.m) }

// stageDetails stages profiles and monthly rows. ordered: stream both and
// merge them for the profile hashes (errUnordered when they are not in
// recommendation order); otherwise hold the monthly rows compactly in memory.
func (l *load) stageDetails(ctx context.Context, ordered bool) error {
	l.detailFP = dataset.Fingerprint{}
	l.nProfiles, l.nMonthly = 0, 0
	l.subs.hasProfile = l.subs.hasProfile[:0]
	g, gctx := errgroup.WithContext(ctx)
	var (
		pgProf, rdProf chan []profItem
		pgMon, rdMon   chan []monItem
		hashes         chan []profileHash
		held           *heldMonths
	)
	if l.pg != nil {
		pgProf, pgMon = make(chan []profItem, 4), make(chan []monItem, 4)
		g.Go(func() error {
			_, err := copyIn(gctx, l.pg, tProfiles, dataset.ProfileColumns, newChanSource(gctx, pgProf, profRow, encProf, l.pg.bar))
			return err
		})
		g.Go(func() error {
			_, err := copyIn(gctx, l.pg, tMonthly, dataset.MonthlyColumns, newChanSource(gctx, pgMon, monRow, encMon, l.pg.bar))
			return err
		})
	}
	if l.rs != nil {
		rdProf, hashes = make(chan []profItem, 4), make(chan []profileHash, 4)
		for range redisWriters {
			g.Go(func() error { return l.rs.writeProfiles(gctx, hashes) })
		}
	}
	if ordered {
		if l.rs != nil {
			rdMon = make(chan []monItem, 8)
			g.Go(func() error { return mergeProfiles(gctx, rdProf, rdMon, hashes) })
		}
		g.Go(func() error { return l.readMonthly(gctx, pgMon, rdMon) })
	} else {
		var err error
		if held, err = l.holdMonthly(ctx); err != nil {
			closeAll(pgProf, rdProf)
			closeAll(pgMon)
			closeAll(hashes)
			g.Wait()
			return err
		}
		g.Go(func() error { return held.feed(gctx, l.subs, pgMon) })
		if l.rs != nil {
			g.Go(func() error { return held.profiles(gctx, rdProf, hashes) })
		}
	}
	g.Go(func() error { return l.readProfiles(gctx, ordered, pgProf, rdProf) })
	return g.Wait()
}

// pump reads an input to its end: row faults become rejects, accept checks
// every parsed row (a FieldError rejects it, an error ends the phase) and
// the accepted items go to every out channel in batches.
func pump[T, I any](ctx context.Context, l *load, in input[T], accept func(*T, int64) (I, *dataset.FieldError, error), out ...chan []I) error {
	defer closeAll(out...)
	src, err := in.open(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	batch := make([]I, 0, batchSize)
	for n := 0; ; n++ {
		r, pos, err := src.Next()
		if err == io.EOF {
			break
		}
		if n%batchSize == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if err := rowFault(l.rej, in.name, in.csv, err); err != nil {
				return err
			}
			continue
		}
		it, fe, err := accept(&r, pos)
		if err != nil {
			return err
		}
		if fe != nil {
			l.rej.add(in.name, in.csv, pos, fe)
			continue
		}
		batch = append(batch, it)
		if len(batch) == batchSize {
			if err := send(ctx, batch, out...); err != nil {
				return err
			}
			batch = make([]I, 0, batchSize)
		}
	}
	if len(batch) > 0 {
		return send(ctx, batch, out...)
	}
	return nil
}

// readProfiles streams profiles; ordered: in recommendation order or errUnordered.
func (l *load) readProfiles(ctx context.Context, ordered bool, out ...chan []profItem) error {
	last := int32(-1)
	return pump(ctx, l, l.profiles, func(p *dataset.Profile, _ int64) (profItem, *dataset.FieldError, error) {
		if fe := checkProfile(p); fe != nil {
			return profItem{}, fe, nil
		}
		idx, ok := l.subs.lookup(p.ISDN)
		switch {
		case !ok:
			return profItem{}, fieldErr("isdn", p.ISDN, ReasonNoRecommendation), nil
		case l.subs.hasProfile.has(idx):
			return profItem{}, fieldErr("isdn", p.ISDN, ReasonDuplicateISDN), nil
		case ordered && idx < last:
			return profItem{}, nil, errUnordered
		}
		last = idx
		l.subs.hasProfile.set(idx)
		l.detailFP.AddProfile(p)
		l.nProfiles++
		return profItem{*p, idx}, nil, nil
	}, out...)
}

// readMonthly streams monthly rows that come grouped by subscriber in
// recommendation order (else errUnordered); a duplicate month is found
// within the group.
func (l *load) readMonthly(ctx context.Context, out ...chan []monItem) error {
	last := int32(-1)
	var months []time.Time // of the current group
	return pump(ctx, l, l.monthly, func(m *dataset.Monthly, _ int64) (monItem, *dataset.FieldError, error) {
		idx, ok := l.subs.lookup(m.ISDN)
		switch {
		case !ok:
			return monItem{}, fieldErr("isdn", m.ISDN, ReasonNoRecommendation), nil
		case idx < last:
			return monItem{}, nil, errUnordered
		case idx > last:
			last, months = idx, months[:0]
		}
		if slices.ContainsFunc(months, m.DataMonth.Equal) {
			return monItem{}, fieldErr("data_month", dataset.CanonDate(m.DataMonth), ReasonDuplicateMonth), nil
		}
		months = append(months, m.DataMonth)
		l.detailFP.AddMonthly(m)
		l.nMonthly++
		return monItem{*m, idx}, nil, nil
	}, out...)
}

// monthCursor walks a channel of monthly batches.
type monthCursor struct {
	ch    <-chan []monItem
	batch []monItem
	i     int
	done  bool
}

// peek returns the next row without consuming it (nil at the end).
func (c *monthCursor) peek(ctx context.Context) (*monItem, error) {
	for !c.done && c.i >= len(c.batch) {
		select {
		case b, ok := <-c.ch:
			if !ok {
				c.done = true
				break
			}
			c.batch, c.i = b, 0
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if c.done {
		return nil, nil
	}
	return &c.batch[c.i], nil
}

// eachBatch calls fn for every batch received until ch closes.
func eachBatch[T any](ctx context.Context, ch <-chan []T, fn func([]T) error) error {
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				return nil
			}
			if err := fn(b); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// encodeProfiles turns batches of profiles into profile hashes; months
// returns the monthly rows of a profile.
func encodeProfiles(ctx context.Context, profs <-chan []profItem, out chan<- []profileHash,
	months func(*profItem) ([]dataset.Monthly, error)) error {
	defer close(out)
	return eachBatch(ctx, profs, func(batch []profItem) error {
		hs := make([]profileHash, len(batch))
		for i := range batch {
			m, err := months(&batch[i])
			if err != nil {
				return err
			}
			hs[i] = profileHash{p: &batch[i].p, months: m}
		}
		select {
		case out <- hs:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// mergeProfiles joins profiles with their monthly rows; both streams are in
// recommendation order, so one subscriber at a time is held.
func mergeProfiles(ctx context.Context, profs <-chan []profItem, mon <-chan []monItem, out chan<- []profileHash) error {
	cur := &monthCursor{ch: mon}
	defer func() { // let the monthly reader finish if profiles end first
		for range mon {
		}
	}()
	var months []dataset.Monthly
	return encodeProfiles(ctx, profs, out, func(it *profItem) ([]dataset.Monthly, error) {
		months = months[:0]
		for {
			m, err := cur.peek(ctx)
			if err != nil || m == nil || m.idx > it.idx {
				return slices.Clone(months), err
			}
			if m.idx == it.idx {
				months = append(months, m.m)
			}
			cur.i++
		}
	})
}

// profileFields is dataset's profile hash with the months in data_month order.
func profileFields(p *dataset.Profile, months []dataset.Monthly) []string {
	slices.SortFunc(months, func(a, b dataset.Monthly) int { return a.DataMonth.Compare(b.DataMonth) })
	return p.ProfileFields(months)
}

// heldMonth is one monthly row held in memory by the fallback (48 bytes).
type heldMonth struct {
	idx, month             int32 // subscriber (rec order); days since 1970-01-01
	pos                    int64
	call, sms, data, total float64
}

func (h *heldMonth) monthly(isdn string) dataset.Monthly {
	return dataset.Monthly{ISDN: isdn, DataMonth: time.Unix(int64(h.month)*86400, 0).UTC(),
		ArpuCall: h.call, ArpuSms: h.sms, ArpuData: h.data, ArpuTotal: h.total}
}

// heldMonths is every valid monthly row, sorted by subscriber and month, with
// the start of each subscriber's rows.
type heldMonths struct {
	rows  []heldMonth
	start []int32 // rows of subscriber i: rows[start[i]:start[i+1]]
}

// holdMonthly reads the whole monthly input into memory (the fallback for
// inputs not in recommendation order); duplicates keep their first row.
func (l *load) holdMonthly(ctx context.Context) (*heldMonths, error) {
	in := l.monthly
	var rows []heldMonth
	err := pump(ctx, l, in, func(m *dataset.Monthly, pos int64) (struct{}, *dataset.FieldError, error) {
		idx, ok := l.subs.lookup(m.ISDN)
		if !ok {
			return struct{}{}, fieldErr("isdn", m.ISDN, ReasonNoRecommendation), nil
		}
		rows = append(rows, heldMonth{idx: idx, month: int32(m.DataMonth.Unix() / 86400), pos: pos,
			call: m.ArpuCall, sms: m.ArpuSms, data: m.ArpuData, total: m.ArpuTotal})
		return struct{}{}, nil, nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b heldMonth) int {
		return cmp.Or(cmp.Compare(a.idx, b.idx), cmp.Compare(a.month, b.month), cmp.Compare(a.pos, b.pos))
	})
	h := &heldMonths{rows: rows[:0], start: make([]int32, l.subs.len()+1)}
	for i := range rows {
		r := rows[i]
		if n := len(h.rows); n > 0 && h.rows[n-1].idx == r.idx && h.rows[n-1].month == r.month {
			l.rej.add(in.name, in.csv, r.pos, fieldErr("data_month", dataset.CanonDate(time.Unix(int64(r.month)*86400, 0)), ReasonDuplicateMonth))
			continue
		}
		h.rows = append(h.rows, r)
		m := r.monthly(l.subs.isdn(r.idx))
		l.detailFP.AddMonthly(&m)
		l.nMonthly++
		h.start[r.idx+1]++
	}
	for i := 1; i < len(h.start); i++ {
		h.start[i] += h.start[i-1]
	}
	return h, nil
}

// feed sends the held rows to PostgreSQL.
func (h *heldMonths) feed(ctx context.Context, subs *subscribers, out chan []monItem) error {
	defer closeAll(out)
	if out == nil {
		return nil
	}
	for lo := 0; lo < len(h.rows); lo += batchSize {
		hi := min(lo+batchSize, len(h.rows))
		batch := make([]monItem, hi-lo)
		for i := lo; i < hi; i++ {
			r := &h.rows[i]
			batch[i-lo] = monItem{r.monthly(subs.isdn(r.idx)), r.idx}
		}
		if err := send(ctx, batch, out); err != nil {
			return err
		}
	}
	return nil
}

func (h *heldMonths) of(idx int32, isdn string) []dataset.Monthly {
	rows := h.rows[h.start[idx]:h.start[idx+1]]
	out := make([]dataset.Monthly, len(rows))
	for i := range rows {
		out[i] = rows[i].monthly(isdn)
	}
	return out
}

// profiles encodes the profile hashes with the held monthly rows.
func (h *heldMonths) profiles(ctx context.Context, profs <-chan []profItem, out chan<- []profileHash) error {
	return encodeProfiles(ctx, profs, out, func(it *profItem) ([]dataset.Monthly, error) {
		return h.of(it.idx, it.p.ISDN), nil
	})
}

func (l *load) summary(src, fp string) *Summary {
	s := &Summary{Source: src, Subscribers: int64(l.subs.len()), Profiles: l.nProfiles, MonthlyRows: l.nMonthly,
		Rejects: l.rej.count(), Fingerprint: fp, Unordered: l.unordered}
	if l.rej.count() > 0 {
		s.RejectsPath = l.o.RejectsPath
	}
	if l.rs != nil {
		s.RecKeys, s.ProfileKeys = l.rs.recKeys.Load(), l.rs.profileKeys.Load()
		s.ServiceMembers, s.RiskMembers, s.ClusterMembers = l.rs.family["service"], l.rs.family["risk"], l.rs.family["cluster"]
		for k := range l.rs.indexes {
			s.IndexKeys = append(s.IndexKeys, k)
		}
		slices.Sort(s.IndexKeys)
	}
	return s
}

func (l *load) stats(s *Summary, shas [3]string) map[string]string {
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return map[string]string{
		dataset.StatRecommendations: i(s.Subscribers), dataset.StatProfiles: i(s.Profiles), dataset.StatMonthlyRows: i(s.MonthlyRows),
		dataset.StatRecKeys: i(s.RecKeys), dataset.StatProfileKeys: i(s.ProfileKeys),
		dataset.StatIndexServiceMembers: i(s.ServiceMembers), dataset.StatIndexRiskMembers: i(s.RiskMembers),
		dataset.StatIndexClusterMembers: i(s.ClusterMembers), dataset.StatFingerprint: s.Fingerprint,
		dataset.StatSHA256Recommendations: shas[0], dataset.StatSHA256Profiles: shas[1], dataset.StatSHA256Monthly: shas[2],
		dataset.StatLoadedAt: time.Now().UTC().Format(time.RFC3339), dataset.StatDurationMS: i(time.Since(l.start).Milliseconds()),
		dataset.StatVersion: l.o.Version, dataset.StatSubscribers: i(s.Subscribers), dataset.StatTTLSeconds: i(int64(l.o.TTL / time.Second)),
		dataset.StatSource: s.Source, dataset.StatIndexKeys: indexKeysJSON(s.IndexKeys), dataset.StatRejects: strconv.Itoa(s.Rejects),
		dataset.StatPGGeneration: l.pgGenerationOfSnapshot(),
	}
}

// pgGenerationOfSnapshot is the PostgreSQL generation the Redis snapshot
// was made from: this load's when it loads both stores, the live one when
// it refreshes Redis from PostgreSQL (which holds the load lock, so no load
// can swap meanwhile), "" when Redis alone is loaded from files.
func (l *load) pgGenerationOfSnapshot() string {
	switch {
	case l.pg != nil:
		return strconv.FormatInt(l.gen, 10)
	case l.o.FromPostgres:
		if g := l.pgGeneration(context.Background()); g > 0 {
			return strconv.FormatInt(g, 10)
		}
	}
	return ""
}

func (l *load) finishSummary(s *Summary) {
	s.Duration = time.Since(l.start)
	rate := func(n int64, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Seconds()
	}
	if l.pg != nil {
		n := s.Subscribers + s.Profiles + s.MonthlyRows
		s.Postgres = &StoreSummary{Rows: n, Duration: l.pgDone, RowsPerSec: rate(n, l.pgDone)}
	}
	if l.rs != nil {
		n := s.RecKeys + s.ProfileKeys
		s.Redis = &StoreSummary{Rows: n, Duration: l.redisDone, RowsPerSec: rate(n, l.redisDone)}
	}
}
