package log_test

import (
	"path/filepath"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// BenchmarkPendingAccepted measures an exchange (Pending of 1000 records
// and its Ack) without an accepted set, and with one in force that accepts
// every record (typed "m") or holds one in ten ("h"): what judging records
// and making the held store's frontier durable add to a batch.
//
//	go test ./log -run '^$' -bench 'Pending' -count 5
func BenchmarkPendingAccepted(b *testing.B) {
	for _, c := range []struct {
		name      string
		set, held bool
	}{{"no-set", false, false}, {"none-held", true, false}, {"tenth-held", true, true}} {
		set, held := c.set, c.held
		b.Run(c.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "log")
			l, err := seglog.Open(dir, &seglog.Options{Logger: quiet, Sync: seglog.SyncNever})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			if set {
				if err := l.SetAcceptedTypes([]string{"m"}); err != nil {
					b.Fatal(err)
				}
			}
			data := make([]byte, 100)
			n := 0
			fill := func() {
				for range 20000 {
					data[0] = byte(n)
					typ := "m"
					if held && n%10 == 9 {
						typ = "h"
					}
					n++
					if _, err := l.AppendTyped(typ, data); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			fill()
			b.SetBytes(1000 * 100)
			b.ResetTimer()
			for range b.N {
				batch, err := l.Pending(1000)
				if err != nil || len(batch.Records) != 1000 {
					b.Fatalf("Pending: %d records, %v", len(batch.Records), err)
				}
				// Each batch is acknowledged, so that the next one
				// reaches new records, as a sender's does.
				if _, err := l.Ack(batch.Next()); err != nil {
					b.Fatal(err)
				}
				if l.State().PendingCount < 1000 {
					b.StopTimer()
					fill()
					b.StartTimer()
				}
			}
		})
	}
}
