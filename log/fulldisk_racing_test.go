package log_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// TestFailedWritesManyAppenders: under SyncAlways, segment writes fail now
// and then with ENOSPC while many goroutines append and another calls
// Flush. An append that returned nil must hold its offset, on stable
// storage, whatever failed and succeeded around it; an append whose group
// was discarded must say so.
func TestFailedWritesManyAppenders(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	for run := range 20 {
		rng := rand.New(rand.NewPCG(seed, uint64(run)))
		var rngMu sync.Mutex
		fsys := crashfs.New()
		const dir = "/failing"
		opts := &seglog.Options{FS: fsys, SegmentSize: 1 << 20, Logger: quiet}
		verifyAtEnd(t, fsys, dir)
		l, err := seglog.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		var failing atomic.Bool
		failing.Store(true)
		fsys.SetHook(func(op crashfs.Op) error {
			if op.Kind != crashfs.OpWrite || !failing.Load() {
				return nil
			}
			rngMu.Lock()
			fail := rng.IntN(4) == 0
			rngMu.Unlock()
			if fail {
				return syscall.ENOSPC
			}
			return nil
		})
		var mu sync.Mutex
		acked := map[uint64]string{}
		var wg sync.WaitGroup
		stopFlush := make(chan struct{})
		flushed := make(chan struct{})
		go func() { // Flush writes records of groups under way, unsynced
			defer close(flushed)
			for {
				select {
				case <-stopFlush:
					return
				default:
				}
				l.Flush()
			}
		}()
		for g := range 8 {
			wg.Go(func() {
				for i := range 60 {
					data := fmt.Sprintf("run %d goroutine %d append %d", run, g, i)
					off, err := l.Append([]byte(data))
					if err != nil {
						if !errors.Is(err, syscall.ENOSPC) {
							t.Errorf("Append: %v, want ENOSPC", err)
						}
						continue
					}
					mu.Lock()
					if prev, dup := acked[off]; dup {
						t.Errorf("run %d: offset %d returned for %q and for %q", run, off, prev, data)
					}
					acked[off] = data
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(stopFlush)
		<-flushed
		// Power fails: what an Append that returned nil promised must be
		// on stable storage.
		survivor := fsys.Crash(nil, crashfs.CrashLoseUnsynced)
		failing.Store(false)
		l.Close()
		o2 := *opts
		o2.FS = survivor
		l2, err := seglog.Open(dir, &o2)
		if err != nil {
			t.Fatal(err)
		}
		for off, data := range acked {
			if r, err := l2.Read(off); err != nil || string(r.Data) != data {
				t.Fatalf("run %d: offset %d, whose Append returned nil for %q, reads %q, %v", run, off, data, r.Data, err)
			}
		}
		l2.Close()
	}
}
