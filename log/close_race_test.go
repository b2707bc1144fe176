package log_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// TestCloseRacingAppends closes a log while goroutines append to it and
// read from it. Every append either fails with ErrClosed or returned an
// offset that the reopened log holds, under every sync policy.
func TestCloseRacingAppends(t *testing.T) {
	policies := []seglog.SyncPolicy{seglog.SyncNever, seglog.SyncAlways, seglog.SyncInterval}
	for run := range 60 {
		policy := policies[run%len(policies)]
		fsys := crashfs.New()
		const dir = "/closing"
		opts := &seglog.Options{FS: fsys, SegmentSize: seglog.MinSegmentSize, Sync: policy, Logger: quiet}
		verifyAtEnd(t, fsys, dir)
		l, err := seglog.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		acked := map[uint64]string{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 4 {
			wg.Go(func() {
				<-start
				for i := 0; ; i++ {
					data := fmt.Sprintf("g%d-%d-%0700d", g, i, i)
					off, err := l.Append([]byte(data))
					if err != nil {
						if !errors.Is(err, seglog.ErrClosed) {
							t.Errorf("run %d (%v): Append: %v, want ErrClosed", run, policy, err)
						}
						return
					}
					mu.Lock()
					acked[off] = data
					mu.Unlock()
					if i%7 == 0 {
						if _, err := l.Read(off); err != nil && !errors.Is(err, seglog.ErrClosed) {
							t.Errorf("run %d (%v): Read(%d): %v", run, policy, off, err)
						}
					}
				}
			})
		}
		close(start)
		for l.NextOffset() < 40 {
			runtime.Gosched()
		}
		if err := l.Close(); err != nil {
			t.Fatalf("run %d (%v): Close: %v", run, policy, err)
		}
		wg.Wait()
		l2, err := seglog.Open(dir, opts)
		if err != nil {
			t.Fatalf("run %d (%v): reopen: %v", run, policy, err)
		}
		for off, data := range acked {
			r, err := l2.Read(off)
			if err != nil || string(r.Data) != data {
				t.Fatalf("run %d (%v): offset %d whose Append returned nil: %v", run, policy, off, err)
			}
		}
		if rec := l2.Recovery(); rec != (seglog.Recovery{}) {
			t.Errorf("run %d (%v): reopen after Close recovered: %+v", run, policy, rec)
		}
		l2.Close()
	}
}
