package jetstream_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	seglog "github.com/seglog/seglog/log"
	sinkjs "github.com/seglog/seglog/log/ship/jetstream"
)

// TestRefusedNotice: a batch's notice of refused records (Batch.Refused)
// becomes a message of its own before the batch's entries, which takes no
// label: with records, alone in an empty batch, and before a resend; a
// fresh sink (a restarted agent) finds the next label past a notice.
func TestRefusedNotice(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := "own stream"
		if shared {
			name = "shared stream"
		}
		t.Run(name, func(t *testing.T) {
			node := startNode(t)
			nc := connect(t, node.url())
			createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}})
			opts := sinkjs.Options{Subject: "seglog.r", LogID: "00112233445566778899aabbccddeeff", SharedStream: shared}
			s, err := sinkjs.New(nc, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			rec := func(off uint64) seglog.Record { return seglog.Record{Offset: off, Data: []byte{byte('a' + off)}} }
			b := seglog.Batch{Sequence: 0, Records: []seglog.Record{rec(0), rec(1)}, Refused: 7}
			if r, err := s.Send(ctx, b); err != nil || r.Next != 2 {
				t.Fatalf("batch with a notice: next %d, %v", r.Next, err)
			}
			if r, err := s.Send(ctx, seglog.Batch{Sequence: 2, Refused: 2}); err != nil || r.Next != 2 {
				t.Fatalf("notice alone: next %d, %v", r.Next, err)
			}
			if r, err := s.Send(ctx, seglog.Batch{Sequence: 1, Records: []seglog.Record{rec(1)}, Refused: 1}); err != nil || r.Next != 2 {
				t.Fatalf("resend with a notice: next %d, %v", r.Next, err)
			}
			s2, err := sinkjs.New(nc, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if r, err := s2.Send(ctx, seglog.Batch{Sequence: 2, Records: []seglog.Record{rec(2)}}); err != nil || r.Next != 3 {
				t.Fatalf("after a restart: next %d, %v", r.Next, err)
			}
			got := readStream(t, nc, "SHIP")
			want := []sinkjs.Entry{{Label: 0, Refused: 7}, {Label: 0, Data: []byte("a")}, {Label: 1, Offset: 1, Data: []byte("b")},
				{Label: 2, Refused: 2}, {Label: 2, Refused: 1}, {Label: 2, Offset: 2, Data: []byte("c")}}
			if len(got) != len(want) {
				t.Fatalf("%d messages, want %d: %+v", len(got), len(want), got)
			}
			for i, w := range want {
				g := got[i].Entry
				if g.Label != w.Label || g.Refused != w.Refused || g.Offset != w.Offset || string(g.Data) != string(w.Data) || g.End() != w.End() {
					t.Errorf("message %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
