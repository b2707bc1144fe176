package log_test

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/wal"

	seglog "github.com/seglog/seglog/log"
)

// BenchmarkAckRelease measures releasing one segment's worth of
// acknowledged records: seglog's Ack, which saves the checkpoint and
// deletes whole segment files, beside tidwall/wal's TruncateFront, which
// rewrites the segment holding the new first record. Both release the
// same number of records of the same size, with the same segment size,
// and each fsyncs once (seglog its checkpoint, tidwall/wal its rewritten
// segment); appending the next segment's records and syncing them happen
// with the timer stopped.
//
// Each iteration writes a whole segment first, so run it with a count:
//
//	go test ./log -run '^$' -bench AckRelease -benchtime 20x
//
// Without one, only the 1 MiB size runs. The unlink variant times the
// removal of one file of the segment size alone, the part of a release
// that belongs to the filesystem.
func BenchmarkAckRelease(b *testing.B) {
	const recordSize = 1000
	data := make([]byte, recordSize)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	counted := strings.HasSuffix(flag.Lookup("test.benchtime").Value.String(), "x")
	for _, size := range []int{1 << 20, 16 << 20, 64 << 20} {
		// tidwall/wal stores a record as a uvarint length and the data,
		// and starts a segment once one reaches its size: a release of
		// per records ends exactly at one of its segment boundaries.
		per := (size + recordSize + 2 - 1) / (recordSize + 2)
		name := fmt.Sprintf("segment=%dMiB", size>>20)
		b.Run("seglog/"+name, func(b *testing.B) {
			if size > 1<<20 && !counted {
				b.Skip("writes a whole segment per iteration: run with -benchtime Nx")
			}
			benchAckReleaseSeglog(b, int64(size), per, data)
		})
		b.Run("tidwall/"+name, func(b *testing.B) {
			if size > 1<<20 && !counted {
				b.Skip("writes a whole segment per iteration: run with -benchtime Nx")
			}
			benchAckReleaseTidwall(b, size, per, data)
		})
		b.Run("unlink/"+name, func(b *testing.B) {
			if size > 1<<20 && !counted {
				b.Skip("writes a whole segment per iteration: run with -benchtime Nx")
			}
			benchUnlink(b, size)
		})
	}
}

// benchUnlink is the filesystem's share of a release: removing a synced
// file of the segment size. On some filesystems (ext4 with the discard
// mount option, for one) it grows with the file's size.
func benchUnlink(b *testing.B, size int) {
	dir := b.TempDir()
	buf := make([]byte, 1<<20)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		p := filepath.Join(dir, fmt.Sprint(i))
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		for range size / len(buf) {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		b.StartTimer()
		if err := os.Remove(p); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAckReleaseSeglog(b *testing.B, size int64, per int, data []byte) {
	l, err := seglog.Open(b.TempDir(), &seglog.Options{
		SegmentSize: size,
		Sync:        seglog.SyncNever,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	appendN := func(n int) {
		for range n {
			if _, err := l.Append(data); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	// Two segments' worth, the first acknowledged: the next Ack
	// releases it.
	appendN(2 * per)
	if _, err := l.Ack(uint64(per)); err != nil {
		b.Fatal(err)
	}
	removed := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		appendN(per)
		seq := l.State().Sequence
		b.StartTimer()
		// No Pending since the last Ack: "sent" is the pending count.
		res, err := l.Ack(seq + uint64(per))
		if err != nil {
			b.Fatal(err)
		}
		if res.Released != uint64(per) {
			b.Fatalf("released %d records, want %d", res.Released, per)
		}
		removed += res.SegmentsRemoved
	}
	b.StopTimer()
	b.ReportMetric(float64(removed)/float64(b.N), "segments/op")
	b.ReportMetric(float64(per), "records/op")
}

func benchAckReleaseTidwall(b *testing.B, size, per int, data []byte) {
	w, err := wal.Open(b.TempDir(), &wal.Options{
		NoSync:      true,
		SegmentSize: size,
		LogFormat:   wal.Binary,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	next := uint64(1)
	var batch wal.Batch
	appendN := func(n int) {
		for range n {
			batch.Write(next, data)
			next++
			if next%1024 == 0 {
				if err := w.WriteBatch(&batch); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := w.WriteBatch(&batch); err != nil {
			b.Fatal(err)
		}
		if err := w.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	appendN(2 * per)
	first := uint64(1)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		appendN(per)
		b.StartTimer()
		first += uint64(per)
		if err := w.TruncateFront(first); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(per), "records/op")
}
