package jetstream_test

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
)

// cycleShipper appends to a log and ships it to a sink in the background
// while a test cycles the cluster's nodes; once the cycling ends it ships
// the rest and stops.
type cycleShipper struct {
	l        *seglog.Log
	ctx      context.Context
	cycling  atomic.Bool
	wg       sync.WaitGroup
	err      error
	failures int // sends that failed
}

// startCycleShipper starts shipping l to s; rng is the shipper's own.
func startCycleShipper(ctx context.Context, l *seglog.Log, s ship.Sink, rng *rand.Rand) *cycleShipper {
	c := &cycleShipper{l: l, ctx: ctx}
	c.cycling.Store(true)
	c.wg.Go(func() {
		for ctx.Err() == nil {
			if c.cycling.Load() && l.State().PendingCount < 2000 {
				if err := appendUpTo(l, 1+rng.IntN(200), math.MaxUint64); err != nil {
					c.err = err
					return
				}
			}
			empty, err := shipOnce(ctx, l, s, 1+rng.IntN(300))
			if err != nil {
				c.failures++
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if empty && !c.cycling.Load() {
				return
			}
		}
		c.err = ctx.Err()
	})
	return c
}

// waitShipped waits until the log's cursor reaches at least n.
func (c *cycleShipper) waitShipped(t *testing.T, n uint64) {
	t.Helper()
	for c.l.State().Cursor < n {
		if c.ctx.Err() != nil {
			t.Fatalf("shipping stalled at %d, waiting for %d", c.l.State().Cursor, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish ends the cycling, waits until the shipper shipped the rest and
// returns how many sends failed.
func (c *cycleShipper) finish(t *testing.T) int {
	t.Helper()
	c.cycling.Store(false)
	c.wg.Wait()
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.failures
}
