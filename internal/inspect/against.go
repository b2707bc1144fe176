package inspect

import (
	"context"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/wal"

	seglog "github.com/seglog/seglog/log"
)

// benchTidwall runs Bench's workload against github.com/tidwall/wal in a
// new directory under opts.Dir: the same payloads, writers, count or
// duration and random offsets. Under SyncAlways tidwall/wal fsyncs every
// write (its default); under the buffered policies it does not sync
// (NoSync), and, as for seglog, the append phase ends with one Sync.
// Writers share its lock, since tidwall/wal takes the index of each entry
// from its caller and entries must come in order.
func benchTidwall(ctx context.Context, opts BenchOptions, res *BenchResult) error {
	dir, err := os.MkdirTemp(opts.Dir, "tidwall-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wo := *wal.DefaultOptions
	wo.NoSync = opts.Sync != seglog.SyncAlways
	if opts.SegmentSize > 0 {
		wo.SegmentSize = int(opts.SegmentSize)
	}
	w, err := wal.Open(dir, &wo)
	if err != nil {
		return err
	}
	defer w.Close()

	payloads := makePayloads(64, opts.RecordSize)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // tidwall/wal's index and our counters
		next     uint64     = 1
		firstErr error
		issued   atomic.Int64
	)
	deadline := time.Time{}
	if opts.Duration > 0 {
		deadline = time.Now().Add(opts.Duration)
	}
	start := res.Append.begin()
	for wr := range opts.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h Histogram
			var n, bytes uint64
			for i := wr; ; i++ {
				if opts.Duration > 0 {
					if time.Now().After(deadline) {
						break
					}
				} else if issued.Add(1) > int64(opts.Count) {
					break
				}
				if n&1023 == 0 && ctx.Err() != nil {
					break
				}
				p := payloads[i%len(payloads)]
				t := time.Now()
				mu.Lock()
				err := w.Write(next, p)
				next++
				mu.Unlock()
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				h.Add(uint64(time.Since(t)))
				n++
				bytes += uint64(len(p))
			}
			mu.Lock()
			res.Append.Latency.Merge(&h)
			res.Append.Ops += n
			res.Append.Bytes += bytes
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := w.Sync(); err != nil {
		return err
	}
	res.Append.end(start)
	if err := ctx.Err(); err != nil {
		return err
	}
	res.DiskBytes = dirSize(dir)
	res.Dir = dir

	last, err := w.LastIndex()
	if err != nil {
		return err
	}
	start = res.Scan.begin()
	for i := uint64(1); i <= last; i++ {
		if i&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		data, err := w.Read(i)
		if err != nil {
			return err
		}
		res.Scan.Ops++
		res.Scan.Bytes += uint64(len(data))
	}
	res.Scan.end(start)

	reads := opts.Reads
	if reads <= 0 {
		reads = int(min(last, 10000))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start = res.RandomRead.begin()
	for range reads {
		if last == 0 {
			break
		}
		// A read at random may load a whole segment: look at ctx each time.
		if err := ctx.Err(); err != nil {
			return err
		}
		t := time.Now()
		data, err := w.Read(rng.Uint64N(last) + 1)
		if err != nil {
			return err
		}
		res.RandomRead.Latency.Add(uint64(time.Since(t)))
		res.RandomRead.Ops++
		res.RandomRead.Bytes += uint64(len(data))
	}
	res.RandomRead.end(start)
	return w.Close()
}
