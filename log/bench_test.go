package log_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tidwall/wal"

	seglog "github.com/seglog/seglog/log"
)

// The append and read benchmarks run seglog and tidwall/wal side by side
// on the same work, so that one `go test -bench` run gives their ratio on
// the machine at hand. docs/benchmarks.md has the command and figures.

var benchSizes = []int{128, 1024}

func payload(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// parallelAppend runs b.N appends spread over writers goroutines.
func parallelAppend(b *testing.B, writers int, appendOne func() error) {
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	var failed atomic.Value
	for range writers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := appendOne(); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, sp := range []struct {
		name   string
		policy seglog.SyncPolicy
		noSync bool
	}{{"SyncNever", seglog.SyncNever, true}, {"SyncAlways", seglog.SyncAlways, false}} {
		for _, size := range benchSizes {
			for _, writers := range []int{1, 64} {
				name := fmt.Sprintf("%s/%dB/writers=%d", sp.name, size, writers)
				data := payload(size)
				b.Run("seglog/"+name, func(b *testing.B) {
					l, err := seglog.Open(b.TempDir(), &seglog.Options{Sync: sp.policy})
					if err != nil {
						b.Fatal(err)
					}
					defer l.Close()
					b.SetBytes(int64(size))
					b.ReportAllocs()
					b.ResetTimer()
					parallelAppend(b, writers, func() error { _, err := l.Append(data); return err })
					// Count handing the last records to the kernel, as
					// tidwall/wal's Write does for each one.
					if err := l.Flush(); err != nil {
						b.Fatal(err)
					}
				})
				b.Run("tidwall/"+name, func(b *testing.B) {
					w, err := wal.Open(b.TempDir(), &wal.Options{NoSync: sp.noSync})
					if err != nil {
						b.Fatal(err)
					}
					defer w.Close()
					// tidwall/wal takes the next index from the caller, so
					// concurrent writers serialise on a lock around it.
					var mu sync.Mutex
					var next uint64 = 1
					b.SetBytes(int64(size))
					b.ReportAllocs()
					b.ResetTimer()
					parallelAppend(b, writers, func() error {
						mu.Lock()
						defer mu.Unlock()
						err := w.Write(next, data)
						next++
						return err
					})
				})
			}
		}
	}
}

const ceilingFileSize = 256 << 20

// BenchmarkWriteCeiling measures what the disk and kernel allow: a plain
// loop of framed write(2) calls (one per 128 B record, with an 8-byte
// length prefix), and 1 MiB sequential writes.
func BenchmarkWriteCeiling(b *testing.B) {
	for _, size := range []int{128, 1 << 20} {
		b.Run(fmt.Sprintf("write/%dB", size), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "ceiling"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			rec := append(make([]byte, 8), payload(size)...)
			b.SetBytes(int64(size))
			b.ResetTimer()
			var pos int64
			for b.Loop() {
				if pos+int64(len(rec)) > ceilingFileSize {
					// Start over, so the file stays as small as the logs
					// the other benchmarks write.
					if err := f.Truncate(0); err != nil {
						b.Fatal(err)
					}
					pos = 0
				}
				if _, err := f.WriteAt(rec, pos); err != nil {
					b.Fatal(err)
				}
				pos += int64(len(rec))
			}
		})
	}
	b.Run("fsync", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "ceiling"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rec := payload(128)
		for b.Loop() {
			if _, err := f.Write(rec); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

const readRecords = 1 << 18

// BenchmarkRead reads a log of 256 Ki records front to back, from the page
// cache: seglog's Records iterator and Read by offset, and tidwall/wal's
// Read by index.
func BenchmarkRead(b *testing.B) {
	for _, size := range benchSizes {
		data := payload(size)
		b.Run(fmt.Sprintf("seglog/Records/%dB", size), func(b *testing.B) {
			l := filledLog(b, data)
			b.SetBytes(int64(size) * readRecords)
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				for rec, err := range l.Records(0) {
					if err != nil || len(rec.Data) != size {
						b.Fatal(err)
					}
					n++
				}
				if n != readRecords {
					b.Fatal(n)
				}
			}
		})
		b.Run(fmt.Sprintf("seglog/Read/%dB", size), func(b *testing.B) {
			l := filledLog(b, data)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var i uint64
			for b.Loop() {
				if _, err := l.Read(i % readRecords); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("tidwall/Read/%dB", size), func(b *testing.B) {
			w := filledWAL(b, data)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			var i uint64
			for b.Loop() {
				if _, err := w.Read(i%readRecords + 1); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func filledLog(b *testing.B, data []byte) *seglog.Log {
	b.Helper()
	l, err := seglog.Open(b.TempDir(), &seglog.Options{Sync: seglog.SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	for range readRecords {
		if _, err := l.Append(data); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	return l
}

// filledWAL is filledLog's counterpart in tidwall/wal (without syncs): it
// holds readRecords copies of data, at indexes 1 to readRecords.
func filledWAL(b *testing.B, data []byte) *wal.Log {
	b.Helper()
	w, err := wal.Open(b.TempDir(), &wal.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	batch := new(wal.Batch)
	for i := uint64(1); i <= readRecords; i++ {
		batch.Write(i, data)
		if i%4096 == 0 {
			if err := w.WriteBatch(batch); err != nil {
				b.Fatal(err)
			}
			batch.Clear()
		}
	}
	return w
}

// BenchmarkOpen opens logs of 4, 64 and 1024 full segments (1 MiB each,
// 128 B records, closed cleanly): Open reads only the active segment's
// tail, so its time should not grow with the log.
func BenchmarkOpen(b *testing.B) {
	for _, segs := range []int{4, 64, 1024} {
		b.Run(fmt.Sprintf("segments=%d", segs), func(b *testing.B) {
			dir := b.TempDir()
			opts := &seglog.Options{Sync: seglog.SyncNever, SegmentSize: 1 << 20}
			l, err := seglog.Open(dir, opts)
			if err != nil {
				b.Fatal(err)
			}
			data := payload(128)
			perSegment := (1 << 20) / 140
			for range segs * perSegment {
				if _, err := l.Append(data); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				l, err := seglog.Open(dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
		})
	}
}
