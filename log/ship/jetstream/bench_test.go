package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	sinkjs "github.com/seglog/seglog/log/ship/jetstream"
)

// BenchmarkShip ships b.N records of 128 bytes from a log into a local
// single-node stream (file storage, the server in this process) with a
// ship.Sender, in batches of up to 4096. It reports records/s.
//
//	go test -run '^$' -bench BenchmarkShip -benchtime 200000x ./log/ship/jetstream/
func BenchmarkShip(b *testing.B) {
	for _, bc := range []struct {
		name    string
		window  int
		shared  bool
		dup     time.Duration
		noMsgID bool
		batch   int
	}{
		{"window=1024/dup=2m", 1024, false, 2 * time.Minute, false, 4096},
		{"window=1024/dup=5s", 1024, false, 5 * time.Second, false, 4096},
		{"window=1024/no-msg-id", 1024, false, 2 * time.Minute, true, 4096},
		{"window=4096/dup=5s", 4096, false, 5 * time.Second, false, 4096},
		{"window=4096/batch=16384", 4096, false, 2 * time.Minute, false, 16384},
		{"window=4096/batch=16384/no-msg-id", 4096, false, 5 * time.Second, true, 16384},
		{"shared/dup=5s", 1, true, 5 * time.Second, false, 4096},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := b.N
			if bc.shared && n > 20000 {
				n = 20000 // one round trip per record
			}
			node := startNode(b)
			nc := connect(b, node.url())
			createStream(b, nc, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Duplicates: bc.dup})
			l, err := seglog.Open(b.TempDir(), &seglog.Options{Sync: seglog.SyncNever})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			data := make([]byte, 128)
			recs := make([]seglog.Record, 0, 4096)
			for i := 0; i < n; i += len(recs) {
				recs = recs[:0]
				for j := i; j < n && len(recs) < cap(recs); j++ {
					recs = append(recs, seglog.Record{Data: data})
				}
				if _, err := l.AppendRecords(recs...); err != nil {
					b.Fatal(err)
				}
			}
			s, err := sinkjs.New(nc, sinkjs.Options{Subject: "bench.a", LogID: l.ID().String(), Window: bc.window, SharedStream: bc.shared, NoMsgID: bc.noMsgID})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			snd := ship.NewSender(l, s, &ship.Options{
				MaxRecords: bc.batch,
				OnSuccess: func(ex ship.Exchange) {
					if ex.Ack.State.PendingCount == 0 {
						cancel()
					}
				},
			})
			b.SetBytes(128)
			b.ResetTimer()
			start := time.Now()
			if err := snd.Run(ctx); err != nil {
				b.Fatal(err)
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(n)/el.Seconds(), "records/s")
			if st := l.State(); st.Cursor != uint64(n) {
				b.Fatalf("shipped up to %d of %d", st.Cursor, n)
			}
		})
	}
}
