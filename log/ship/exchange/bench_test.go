package exchange_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	"github.com/seglog/seglog/log/ship/exchange"
)

// BenchmarkShipLoopback ships b.N records, appended beforehand, from a
// log through a Sender, the HTTP client, a loopback connection and the
// server into the inbox, both logs on disk under SyncAlways: each batch
// costs the inbox's fsync and the agent's checkpoint fsync. It reports
// records per second end to end.
func BenchmarkShipLoopback(b *testing.B) {
	for _, size := range []int{128, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			tokens, err := exchange.NewTokens(map[string]string{"a": "secret-of-agent-a-0123456789"})
			if err != nil {
				b.Fatal(err)
			}
			srv, err := exchange.NewServer(b.TempDir(), tokens, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			hs := httptest.NewServer(srv)
			defer hs.Close()
			l, err := seglog.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			data := make([]byte, size)
			for i := range data {
				data[i] = byte('a' + i*7%26) // text-like: compresses somewhat
			}
			recs := make([]seglog.Record, 1000)
			for i := range recs {
				recs[i] = seglog.Record{Type: "event", Data: data}
			}
			for left := b.N; left > 0; left -= len(recs) {
				if _, err := l.AppendRecords(recs[:min(left, len(recs))]...); err != nil {
					b.Fatal(err)
				}
			}
			c, err := exchange.NewClient(hs.URL, "a", "secret-of-agent-a-0123456789", nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			snd := ship.NewSender(l, c, &ship.Options{OnSuccess: func(ex ship.Exchange) {
				if ex.Ack.State.PendingCount == 0 {
					cancel()
				}
			}})
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := time.Now()
			if err := snd.Run(ctx); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if next, err := srv.Next("a"); err != nil || next != uint64(b.N) {
				b.Fatalf("server expects %d, %v; want %d", next, err, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
		})
	}
}
