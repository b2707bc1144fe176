package log_test

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/wal"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// groupRecords is the group a commit of 64 appenders writes: what the
// durable-append benchmarks with 64 goroutines aim at.
const groupRecords = 64

// BenchmarkSyncCeiling measures the price of making a write durable, the
// floor under every SyncAlways append: a write that extends the file,
// followed by fsync (which must commit the new size), against the same
// write into blocks the file already holds (zero-filled and synced
// beforehand), followed by fdatasync. The writes are the size of one
// framed 128 B record and of a group of 64 of them; ns/op is per write
// and sync, so per record it is ns/op divided by the records.
func BenchmarkSyncCeiling(b *testing.B) {
	const frameHeader, recOverhead, size = 40, 2, 128
	for _, recs := range []int{1, groupRecords} {
		n := frameHeader + recs*(recOverhead+size)
		buf := payload(n)
		b.Run(fmt.Sprintf("extend+fsync/records=%d", recs), func(b *testing.B) {
			f := ceilingFile(b, 0)
			var pos int64
			for b.Loop() {
				if _, err := f.WriteAt(buf, pos); err != nil {
					b.Fatal(err)
				}
				pos += int64(n)
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("extend+fdatasync/records=%d", recs), func(b *testing.B) {
			f := ceilingFile(b, 0)
			var pos int64
			for b.Loop() {
				if _, err := f.WriteAt(buf, pos); err != nil {
					b.Fatal(err)
				}
				pos += int64(n)
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("overwrite+fdatasync/records=%d", recs), func(b *testing.B) {
			const fileSize = 64 << 20
			f := ceilingFile(b, fileSize)
			var pos int64
			for b.Loop() {
				if pos+int64(n) > fileSize {
					pos = 0
				}
				if _, err := f.WriteAt(buf, pos); err != nil {
					b.Fatal(err)
				}
				pos += int64(n)
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// ceilingFile creates a file of size zero bytes, written and synced, so
// that later writes below size land in blocks the file already has.
func ceilingFile(b *testing.B, size int64) *os.File {
	b.Helper()
	f, err := os.Create(filepath.Join(b.TempDir(), "ceiling"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	zeros := make([]byte, 1<<20)
	for pos := int64(0); pos < size; pos += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-pos)], pos); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkDurableEnd times buffered appends to a durable end: b.N
// appends of 128 B from one goroutine, then Close, which syncs, on both
// sides (seglog under SyncNever, tidwall/wal with NoSync; tidwall/wal's
// Close syncs its last segment). Beside them, two ceilings of the same
// work done by hand: records framed (an 8-byte length before each) into
// a 1 MiB buffer written out as it fills, and the same framing written
// with one pwrite per record; each ends with an fdatasync. Run it with a
// fixed count (-benchtime 2000000x), so that both sides write the same
// data.
func BenchmarkDurableEnd(b *testing.B) {
	const size = 128
	data := payload(size)
	b.Run("seglog/SyncNever/128B", func(b *testing.B) {
		l, err := seglog.Open(b.TempDir(), &seglog.Options{Sync: seglog.SyncNever})
		if err != nil {
			b.Fatal(err)
		}
		appendThenClose(b, size, func(int) error {
			_, err := l.Append(data)
			return err
		}, l.Close)
	})
	b.Run("tidwall/NoSync/128B", func(b *testing.B) {
		w, err := wal.Open(b.TempDir(), &wal.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		appendThenClose(b, size, func(i int) error { return w.Write(uint64(i)+1, data) }, w.Close)
	})
	frame := func(dst []byte) []byte {
		dst = binary.LittleEndian.AppendUint64(dst, size)
		return append(dst, data...)
	}
	b.Run("ceiling/framed-buffered/128B", func(b *testing.B) {
		f := ceilingFile(b, 0)
		buf := make([]byte, 0, 1<<20)
		var pos int64
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			if len(buf)+8+size > cap(buf) {
				if _, err := f.WriteAt(buf, pos); err != nil {
					b.Fatal(err)
				}
				pos += int64(len(buf))
				buf = buf[:0]
			}
			buf = frame(buf)
		}
		if _, err := f.WriteAt(buf, pos); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("ceiling/framed-pwrite/128B", func(b *testing.B) {
		f := ceilingFile(b, 0)
		rec := frame(nil)
		var pos int64
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			if _, err := f.WriteAt(rec, pos); err != nil {
				b.Fatal(err)
			}
			pos += int64(len(rec))
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	})
}

// appendThenClose times b.N calls of appendOne (records of size bytes)
// and then finish, which makes them durable: it reports the time per
// append and the time finish took.
func appendThenClose(b *testing.B, size int64, appendOne func(i int) error, finish func() error) {
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := appendOne(i); err != nil {
			b.Fatal(err)
		}
	}
	appended := time.Now()
	if err := finish(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(appended.Sub(start).Nanoseconds())/float64(b.N), "append-ns/op")
	b.ReportMetric(float64(time.Since(appended).Microseconds()), "close-µs")
}

// syncCountFS counts the syncs of segment files, for the records-per-sync
// figure of the durable append benchmarks.
type syncCountFS struct {
	vfs.FS
	syncs *atomic.Int64
}

type syncCountFile struct {
	vfs.File
	syncs *atomic.Int64
}

func (f syncCountFile) Sync() error {
	f.syncs.Add(1)
	return f.File.Sync()
}

func (c syncCountFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, segment.Suffix) {
		return f, err
	}
	return syncCountFile{f, c.syncs}, nil
}

// BenchmarkGroupCommit is BenchmarkAppend's SyncAlways case for 128 B
// records, reporting the records each segment sync covered on average
// (records/sync) beside the time per append.
func BenchmarkGroupCommit(b *testing.B) {
	data := payload(128)
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("seglog/SyncAlways/128B/writers=%d", writers), func(b *testing.B) {
			var syncs atomic.Int64
			l, err := seglog.Open(b.TempDir(), &seglog.Options{FS: syncCountFS{vfs.Default, &syncs}})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(128)
			b.ResetTimer()
			syncs.Store(0)
			parallelAppend(b, writers, func() error { _, err := l.Append(data); return err })
			b.ReportMetric(float64(b.N)/float64(max(syncs.Load(), 1)), "records/sync")
		})
	}
}
