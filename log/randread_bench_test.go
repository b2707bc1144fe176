package log_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/wal"

	"github.com/seglog/seglog/internal/inspect"
	seglog "github.com/seglog/seglog/log"
)

// BenchmarkRandomRead reads 1 KiB records at random offsets of a log held
// in the page cache. SEGLOG_RANDREAD_SIZES lists the log sizes (default
// "64MiB"; docs/benchmarks.md uses "1GiB,10GiB"), and SEGLOG_RANDREAD_DIR,
// if set, keeps the logs there between runs, since writing 10 GiB takes a
// while. SEGLOG_RANDREAD_TIDWALL=1 adds tidwall/wal's Read on the same
// records (which loads a whole 20 MiB segment to read one entry).
func BenchmarkRandomRead(b *testing.B) {
	const recSize = 1024
	for _, sz := range strings.Split(envOr("SEGLOG_RANDREAD_SIZES", "64MiB"), ",") {
		bytes, err := parseBenchSize(sz)
		if err != nil {
			b.Fatal(err)
		}
		records := uint64(bytes / recSize)
		b.Run("seglog/Read/"+sz, func(b *testing.B) {
			l := randReadLog(b, sz, records, recSize)
			warm(b, l, records)
			rng := rand.New(rand.NewPCG(1, 2))
			b.SetBytes(recSize)
			b.ReportAllocs()
			inspect.ResetPeakRSS()
			cpu := cpuTime()
			for b.Loop() {
				if _, err := l.Read(rng.Uint64N(records)); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
			reportRSS(b)
		})
		b.Run("seglog/ReadAppend/"+sz, func(b *testing.B) {
			l := randReadLog(b, sz, records, recSize)
			warm(b, l, records)
			rng := rand.New(rand.NewPCG(1, 2))
			b.SetBytes(recSize)
			b.ReportAllocs()
			var buf []byte
			inspect.ResetPeakRSS()
			cpu := cpuTime()
			for b.Loop() {
				rec, err := l.ReadAppend(buf[:0], rng.Uint64N(records))
				if err != nil {
					b.Fatal(err)
				}
				buf = rec.Data
			}
			reportCPU(b, cpu)
			reportRSS(b)
		})
		if os.Getenv("SEGLOG_RANDREAD_TIDWALL") == "1" {
			b.Run("tidwall/Read/"+sz, func(b *testing.B) {
				w := randReadTidwall(b, sz, records, recSize)
				rng := rand.New(rand.NewPCG(1, 2))
				b.SetBytes(recSize)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := w.Read(rng.Uint64N(records) + 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start: on a shared
// machine, where the wall clock also counts the time spent waiting for a
// core, it tells the work a read costs.
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 {
		b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// reportRSS reports the peak resident memory of the benchmark process
// since the last inspect.ResetPeakRSS, where the system tells it.
func reportRSS(b *testing.B) {
	if n, ok := inspect.PeakRSS(); ok {
		b.ReportMetric(float64(n)/(1<<20), "peak-RSS-MiB")
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func parseBenchSize(s string) (int64, error) {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * u.mult, err
		}
	}
	return 0, fmt.Errorf("log size %q: want a number of MiB or GiB", s)
}

// randReadDir returns where the log named name is kept, and whether it
// was filled in an earlier run.
func randReadDir(b *testing.B, name string) (string, bool) {
	root := os.Getenv("SEGLOG_RANDREAD_DIR")
	if root == "" {
		return filepath.Join(b.TempDir(), name), false
	}
	dir := filepath.Join(root, name)
	_, err := os.Stat(filepath.Join(dir, "complete"))
	return dir, err == nil
}

func randReadLog(b *testing.B, sz string, records uint64, recSize int) *seglog.Log {
	b.Helper()
	dir, done := randReadDir(b, "seglog-"+sz)
	opts := &seglog.Options{Sync: seglog.SyncNever}
	if !done {
		os.RemoveAll(dir)
		l, err := seglog.Open(dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		// One Append per record, as an agent appends: frames of about
		// 32 KiB (a batch of AppendRecords is one frame, of any size).
		data := payload(recSize)
		for range records {
			if _, err := l.Append(data); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	l, err := seglog.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	if l.NextOffset() < records {
		b.Fatalf("%s holds %d records, want %d", dir, l.NextOffset(), records)
	}
	return l
}

// warm reads one record of every segment, so that the timed reads find
// the log open, as a long-running reader does.
func warm(b *testing.B, l *seglog.Log, records uint64) {
	b.Helper()
	for o := uint64(0); o < records; o += 16 << 10 {
		if _, err := l.Read(o); err != nil {
			b.Fatal(err)
		}
	}
}

func randReadTidwall(b *testing.B, sz string, records uint64, recSize int) *wal.Log {
	b.Helper()
	dir, done := randReadDir(b, "tidwall-"+sz)
	if !done {
		os.RemoveAll(dir)
	}
	w, err := wal.Open(dir, &wal.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	if !done {
		data := payload(recSize)
		batch := new(wal.Batch)
		for i := uint64(1); i <= records; i++ {
			batch.Write(i, data)
			if i%4096 == 0 || i == records {
				if err := w.WriteBatch(batch); err != nil {
					b.Fatal(err)
				}
				batch.Clear()
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return w
}

// BenchmarkReadInOrderPaired reads a log of 256 Ki records front to back
// by offset, seglog's Read and tidwall/wal's Read taking turns every 4096
// reads, so that both see the same load on a shared, noisy machine. It
// reports each one's time per read and seglog's speed over tidwall/wal's.
func BenchmarkReadInOrderPaired(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			data := payload(size)
			l := filledLog(b, data)
			w := filledWAL(b, data)
			const turn = 4096
			var seg, tw time.Duration
			var i, j uint64
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n += turn {
				start := time.Now()
				for range turn {
					if _, err := l.Read(i % readRecords); err != nil {
						b.Fatal(err)
					}
					i++
				}
				mid := time.Now()
				for range turn {
					if _, err := w.Read(j%readRecords + 1); err != nil {
						b.Fatal(err)
					}
					j++
				}
				seg += mid.Sub(start)
				tw += time.Since(mid)
			}
			b.ReportMetric(float64(seg.Nanoseconds())/float64(i), "seglog-ns/read")
			b.ReportMetric(float64(tw.Nanoseconds())/float64(j), "tidwall-ns/read")
			b.ReportMetric(float64(tw)/float64(seg), "seglog/tidwall-speed")
		})
	}
}
