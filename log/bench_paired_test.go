package log_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/wal"

	seglog "github.com/seglog/seglog/log"
)

// The paired benchmarks measure seglog, tidwall/wal and the disk's
// ceiling in turns, a short slice each, round after round, and report the
// ratios of the totals. On a shared machine whose disk slows and speeds up
// from one second to the next, figures taken minutes apart (even in the
// same go test run) are not comparable; slices taken in turns are. Each
// b.N iteration is one round: run with -benchtime Nx.

// slice runs fn in writers goroutines until d has passed and returns the
// calls made and the time taken.
func slice(b *testing.B, writers int, d time.Duration, fn func() error) (int64, time.Duration) {
	var stop atomic.Bool
	var n atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for range writers {
		wg.Go(func() {
			for !stop.Load() {
				if err := fn(); err != nil {
					failed.Store(err)
					stop.Store(true)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	return n.Load(), time.Since(start)
}

// BenchmarkPairedDurable: SyncAlways appends of 128 B from 1 and 64
// goroutines, tidwall/wal's fsync per write, and the ceiling: an
// fdatasync after a write into blocks the file already holds, of one
// framed record (1 goroutine) or of 64 (a full group), in 250 ms turns.
func BenchmarkPairedDurable(b *testing.B) {
	const size, turn = 128, 250 * time.Millisecond
	data := payload(size)
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("128B/writers=%d", writers), func(b *testing.B) {
			l, err := seglog.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			w, err := wal.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			var mu sync.Mutex
			next := uint64(1)
			const fileSize = 64 << 20
			f := ceilingFile(b, fileSize)
			group := payload(40 + writers*(2+size))
			var pos int64
			var sN, tN, cN int64
			var sT, tT, cT time.Duration
			for b.Loop() {
				n, d := slice(b, writers, turn, func() error { _, err := l.Append(data); return err })
				sN, sT = sN+n, sT+d
				n, d = slice(b, writers, turn, func() error {
					mu.Lock()
					defer mu.Unlock()
					err := w.Write(next, data)
					next++
					return err
				})
				tN, tT = tN+n, tT+d
				n, d = slice(b, 1, turn, func() error {
					if pos+int64(len(group)) > fileSize {
						pos = 0
					}
					if _, err := f.WriteAt(group, pos); err != nil {
						return err
					}
					pos += int64(len(group))
					return syscall.Fdatasync(int(f.Fd()))
				})
				cN, cT = cN+n*int64(writers), cT+d
			}
			per := func(t time.Duration, n int64) float64 { return float64(t.Nanoseconds()) / float64(max(n, 1)) }
			s, t, c := per(sT, sN), per(tT, tN), per(cT, cN)
			b.ReportMetric(s, "seglog-ns/append")
			b.ReportMetric(t, "tidwall-ns/write")
			b.ReportMetric(c, "ceiling-ns/record")
			b.ReportMetric(t/s, "x-tidwall")
			b.ReportMetric(100*c/s, "%-of-ceiling")
		})
	}
}

// BenchmarkPairedDurableEnd: one goroutine appends 500,000 records of
// 128 B, then closes (which syncs), in turns: seglog under SyncNever,
// tidwall/wal with NoSync, and two ceilings of the same framed records
// written by hand and synced once, in 1 MiB writes or one pwrite each.
func BenchmarkPairedDurableEnd(b *testing.B) {
	const size, count = 128, 500_000
	data := payload(size)
	rec := binary.LittleEndian.AppendUint64(nil, size)
	rec = append(rec, data...)
	var times [4]time.Duration
	names := [4]string{"seglog", "tidwall", "buffered", "pwrite"}
	timed := func(i int, fn func() error) {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		times[i] += time.Since(start)
	}
	for b.Loop() {
		dir := b.TempDir()
		l, err := seglog.Open(dir+"/seglog", &seglog.Options{Sync: seglog.SyncNever})
		if err != nil {
			b.Fatal(err)
		}
		timed(0, func() error {
			for range count {
				if _, err := l.Append(data); err != nil {
					return err
				}
			}
			return l.Close()
		})
		w, err := wal.Open(dir+"/tidwall", &wal.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		timed(1, func() error {
			for i := range count {
				if err := w.Write(uint64(i)+1, data); err != nil {
					return err
				}
			}
			return w.Close()
		})
		for i, bulk := range []bool{true, false} {
			f, err := os.Create(fmt.Sprintf("%s/ceiling%d", dir, i))
			if err != nil {
				b.Fatal(err)
			}
			timed(2+i, func() error {
				buf := make([]byte, 0, 1<<20)
				var pos int64
				for range count {
					if !bulk || len(buf)+len(rec) > cap(buf) {
						if _, err := f.WriteAt(buf, pos); err != nil {
							return err
						}
						pos += int64(len(buf))
						buf = buf[:0]
					}
					buf = append(buf, rec...)
				}
				if _, err := f.WriteAt(buf, pos); err != nil {
					return err
				}
				return syscall.Fdatasync(int(f.Fd()))
			})
			f.Close()
		}
		os.RemoveAll(dir)
	}
	var per [4]float64
	for i := range times {
		per[i] = float64(times[i].Nanoseconds()) / float64(b.N*count)
		b.ReportMetric(per[i], names[i]+"-ns/record")
	}
	b.ReportMetric(per[1]/per[0], "x-tidwall")
	b.ReportMetric(100*per[2]/per[0], "%-of-buffered-ceiling")
	b.ReportMetric(per[3]/per[0], "x-pwrite-ceiling")
}
