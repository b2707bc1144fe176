package testlog

import (
	"sync"
	"sync/atomic"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// Writer appends to a log in the background until stopped, and now and
// then acknowledges what it was handed, so that old segments are released
// and deleted while readers look at the log.
type Writer struct {
	done     chan struct{}
	wg       sync.WaitGroup
	appended atomic.Uint64
	acks     atomic.Int64
}

// StartWriter starts appending rec(l.NextOffset()) to l. Every ackEvery
// appends (0: never) it acknowledges a batch of at most pendingMax
// records. Errors fail t; the writer then stops.
func StartWriter(t testing.TB, l *seglog.Log, ackEvery, pendingMax int, rec func(next uint64) seglog.Record) *Writer {
	t.Helper()
	w := &Writer{done: make(chan struct{})}
	w.wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-w.done:
				return
			default:
			}
			if _, err := l.AppendRecords(rec(l.NextOffset())); err != nil {
				t.Errorf("append: %v", err)
				return
			}
			w.appended.Add(1)
			if ackEvery > 0 && i%ackEvery == ackEvery-1 {
				b, err := l.Pending(pendingMax)
				if err != nil {
					t.Errorf("pending: %v", err)
					return
				}
				if _, err := l.Ack(b.Sequence + uint64(len(b.Records))); err != nil {
					t.Errorf("ack: %v", err)
					return
				}
				w.acks.Add(1)
			}
		}
	})
	return w
}

// Acks is the number of acknowledgements so far.
func (w *Writer) Acks() int64 { return w.acks.Load() }

// Stop stops the writer, waits for it and returns how many records it
// appended.
func (w *Writer) Stop() uint64 {
	close(w.done)
	w.wg.Wait()
	return w.appended.Load()
}
