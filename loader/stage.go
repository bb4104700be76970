// Staging: rows into both stores' staging copies; profile hashes merged
// with their monthly rows, streaming or from a compact in-memory copy.

package loader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ut360/ut360/dataset"
)

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

func monRow(it *monItem) []any { return monthlyRow(&it.m) }

func encProf(w *copyWriter, it *profItem) { encodeProfile(w, &it.p) }

func encMon(w *copyWriter, it *monItem) { encodeMonthly(w, &it.m) }

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
