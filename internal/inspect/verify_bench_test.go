package inspect_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/seglog/seglog/internal/inspect"
	seglog "github.com/seglog/seglog/log"
)

var (
	verifySize = flag.Int64("verify-size", 1<<30, "bytes of records in the log BenchmarkVerify reads")
	verifyDir  = flag.String("verify-dir", "", "keep BenchmarkVerify's log here and reuse it (default: a new temporary log)")
)

// BenchmarkVerify measures Verify on an uncompressed log of -verify-size
// bytes (1 GiB by default) of 1 KiB records in 64 MiB segments, read from
// the page cache (the log is verified once before the timing starts):
//
//	go test -run '^$' -bench BenchmarkVerify -benchtime 5x ./internal/inspect/
//
// The MB/s column is the throughput.
func BenchmarkVerify(b *testing.B) {
	dir := *verifyDir
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "log")
	}
	if _, err := os.Stat(dir); err != nil {
		writeLog(b, dir, *verifySize)
	}
	r, err := inspect.Verify(context.Background(), dir, inspect.Options{})
	if err != nil || !r.Healthy() {
		b.Fatalf("%v %+v", err, r.Findings)
	}
	b.SetBytes(r.TotalBytes)
	b.ResetTimer()
	for range b.N {
		if _, err := inspect.Verify(context.Background(), dir, inspect.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyOneWorker is BenchmarkVerify reading one segment at a time.
func BenchmarkVerifyOneWorker(b *testing.B) {
	dir := *verifyDir
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "log")
	}
	if _, err := os.Stat(dir); err != nil {
		writeLog(b, dir, *verifySize)
	}
	r, err := inspect.Verify(context.Background(), dir, inspect.Options{Workers: 1})
	if err != nil || !r.Healthy() {
		b.Fatalf("%v %+v", err, r.Findings)
	}
	b.SetBytes(r.TotalBytes)
	b.ResetTimer()
	for range b.N {
		if _, err := inspect.Verify(context.Background(), dir, inspect.Options{Workers: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

func writeLog(b *testing.B, dir string, size int64) {
	b.Helper()
	l, err := seglog.Open(dir, &seglog.Options{Sync: seglog.SyncNever, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 1024)
	for i := range rec {
		rec[i] = byte('a' + i%26)
	}
	batch := make([]seglog.Record, 32)
	for i := range batch {
		batch[i] = seglog.Record{Type: "event", Data: rec}
	}
	for n := int64(0); n < size; n += int64(len(batch) * len(rec)) {
		if _, err := l.AppendRecords(batch...); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
