package log_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
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
