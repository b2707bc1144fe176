package log_test

import (
	"path/filepath"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// BenchmarkPending measures handing out a batch of 1000 records of 100
// bytes from a log without damage: the hot path of delivery, which the
// gap mechanism must not slow down.
//
//	go test ./log -run '^$' -bench Pending -count 5
func BenchmarkPending(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "log")
	l, err := seglog.Open(dir, &seglog.Options{Logger: quiet, Sync: seglog.SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	data := make([]byte, 100)
	for i := range 20000 {
		data[0] = byte(i)
		if _, err := l.Append(data); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1000 * 100)
	b.ResetTimer()
	for range b.N {
		batch, err := l.Pending(1000)
		if err != nil || len(batch.Records) != 1000 {
			b.Fatalf("Pending: %d records, %v", len(batch.Records), err)
		}
	}
}
