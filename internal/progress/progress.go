// Package progress shows progress of long work: live bars (vbauerster/mpb) on a
// terminal, a log line every few seconds otherwise, nothing when quiet.
package progress

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Mode selects how progress is shown.
type Mode int

// Modes.
const (
	Auto  Mode = iota // bars on a terminal, log lines otherwise
	Quiet             // nothing
	Log               // log lines
)

// Group is a set of progress counters shown together.
type Group struct {
	p      *mpb.Progress
	log    *slog.Logger
	every  time.Duration
	mu     sync.Mutex
	bars   []*Bar
	cancel context.CancelFunc
	done   chan struct{}
}

// Bar counts the progress of one task.
type Bar struct {
	name  string
	total int64
	n     atomic.Int64
	bar   *mpb.Bar
	start time.Time
}

// New starts a group writing to w (bars if w is a terminal and mode is Auto).
func New(ctx context.Context, w io.Writer, mode Mode, log *slog.Logger) *Group {
	g := &Group{log: log, every: 3 * time.Second, done: make(chan struct{})}
	if mode == Quiet {
		close(g.done)
		return g
	}
	if f, ok := w.(*os.File); ok && mode == Auto && term.IsTerminal(int(f.Fd())) {
		g.p = mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
		close(g.done)
		return g
	}
	ctx, g.cancel = context.WithCancel(ctx)
	go g.logLoop(ctx)
	return g
}

func (g *Group) logLoop(ctx context.Context) {
	defer close(g.done)
	t := time.NewTicker(g.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.mu.Lock()
			for _, b := range g.bars {
				n := b.n.Load()
				rate := float64(n) / time.Since(b.start).Seconds()
				if g.log != nil && (b.total == 0 || n < b.total) {
					g.log.Info("progress", "task", b.name, "done", n, "total", b.total, "per_sec", int64(rate))
				}
			}
			g.mu.Unlock()
		}
	}
}

// Add adds a counter named name; total 0 means unknown.
func (g *Group) Add(name string, total int64) *Bar {
	b := &Bar{name: name, total: total, start: time.Now()}
	if g.p != nil {
		b.bar = g.p.AddBar(total,
			mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace}),
				decor.CountersNoUnit("%d / %d", decor.WCSyncWidth)),
			mpb.AppendDecorators(decor.AverageSpeed(0, "%.0f/s", decor.WCSyncSpace),
				decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO, decor.WCSyncSpace), "done")))
	}
	g.mu.Lock()
	g.bars = append(g.bars, b)
	g.mu.Unlock()
	return b
}

// Add records n more units done.
func (b *Bar) Add(n int) {
	if b == nil {
		return
	}
	b.n.Add(int64(n))
	if b.bar != nil {
		b.bar.IncrBy(n)
	}
}

// Set records the absolute count done.
func (b *Bar) Set(n int64) {
	if b == nil {
		return
	}
	b.n.Store(n)
	if b.bar != nil {
		b.bar.SetCurrent(n)
	}
}

// Done marks the task finished (completes the bar even if the total was a guess).
func (b *Bar) Done() {
	if b != nil && b.bar != nil {
		b.bar.SetTotal(-1, true)
	}
}

// Count is the number of units done so far.
func (b *Bar) Count() int64 { return b.n.Load() }

// Wait stops the group: bars are completed or aborted, the log loop ends.
func (g *Group) Wait() {
	if g.p != nil {
		g.mu.Lock()
		for _, b := range g.bars {
			if !b.bar.Completed() {
				b.bar.Abort(false)
			}
		}
		g.mu.Unlock()
		g.p.Wait()
	}
	if g.cancel != nil {
		g.cancel()
	}
	<-g.done
}
