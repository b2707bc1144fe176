package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/seglog/seglog/internal/inspect"
)

// progress is a bar of the bytes a long command has read, drawn on stderr
// when it is a terminal. Lines printed while it runs go through above, so
// that they do not land in the middle of the bar when stdout is the same
// terminal.
type progress struct {
	mu   sync.Mutex
	bar  *progressbar.ProgressBar // nil: nothing is drawn
	done chan struct{}
	wg   sync.WaitGroup
}

// startProgress starts a bar for reading the segments of dir, fed by read,
// if want is set and stderr is a terminal.
func (a *app) startProgress(what, dir string, read *atomic.Int64, want bool) *progress {
	p := &progress{}
	if !want || !a.progress {
		return p
	}
	d, err := inspect.ReadDir(dir)
	if err != nil {
		return p
	}
	var total int64
	for _, s := range d.Segments {
		total += s.Size
	}
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
	p.bar.RenderBlank() // starts the bar's clock now
	p.done = make(chan struct{})
	p.wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				p.mu.Lock()
				p.bar.Set64(min(read.Load(), total))
				p.mu.Unlock()
			}
		}
	})
	return p
}

// above runs print with the bar cleared; the next tick draws it again.
func (p *progress) above(print func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
	}
	print()
}

// stop removes the bar.
func (p *progress) stop() {
	if p.bar == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
	p.bar.Clear()
}
