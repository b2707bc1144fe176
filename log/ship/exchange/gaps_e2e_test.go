package exchange_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship/exchange"
	"github.com/seglog/seglog/segment"
)

// Gaps end to end: an agent's log with a damaged frame, and one with a
// middle segment deleted, and one whose size limit dropped its oldest
// unsent records while the server was away, ships through the HTTP
// exchange. The server's
// inbox holds every good record at its label and a marker record for each
// label of the gap; the agent's log counts the gap once and is left with
// nothing pending.
func TestGapsShippedOverHTTP(t *testing.T) {
	for _, damage := range []string{"flipped byte", "missing segment", "size limit"} {
		t.Run(damage, func(t *testing.T) {
			srv, hs, dir := newServer(t, nil)
			agentDir := t.TempDir()
			opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Logger: slog.New(slog.DiscardHandler)}
			if damage == "size limit" {
				opts.MaxBytes, opts.Limit = 3*seglog.MinSegmentSize, seglog.LimitDrop
			}
			l, err := seglog.Open(agentDir, opts)
			if err != nil {
				t.Fatal(err)
			}
			const n = 400
			payload := func(i int) []byte { return fmt.Appendf(nil, "record %04d %s", i, bytes.Repeat([]byte{'x'}, 80)) }
			for i := range n {
				if _, err := l.Append(payload(i)); err != nil {
					t.Fatal(err)
				}
			}
			dropped := l.State().First
			l.Close()
			from, to := uint64(0), uint64(0)
			segs, _ := filepath.Glob(filepath.Join(agentDir, "*"+segment.Suffix))
			if len(segs) < 3 {
				t.Fatalf("%d segments", len(segs))
			}
			switch damage {
			case "flipped byte":
				b, _ := os.ReadFile(segs[0])
				i := bytes.Index(b, payload(20))
				b[i+20] ^= 1
				os.WriteFile(segs[0], b, 0o640)
				from, to = 20, 21
			case "size limit":
				if dropped == 0 {
					t.Fatal("the size limit dropped nothing")
				}
				from, to = 0, dropped
			default:
				from, _ = segment.ParseFileName(filepath.Base(segs[1]))
				to, _ = segment.ParseFileName(filepath.Base(segs[2]))
				os.Remove(segs[1])
			}
			if l, err = seglog.Open(agentDir, opts); err != nil {
				t.Fatal(err)
			}
			defer l.Close()

			shipTo(t, srv, newClient(t, hs.URL, "a", secretA), l, 50, n)
			recs := inbox(t, dir, "a")
			if len(recs) != n {
				t.Fatalf("inbox holds %d records, want %d", len(recs), n)
			}
			for i, r := range recs {
				inGap := uint64(i) >= from && uint64(i) < to
				switch {
				case inGap && r.Type != exchange.GapType:
					t.Fatalf("inbox label %d: type %q, want a gap marker", i, r.Type)
				case !inGap && !bytes.Equal(r.Data, payload(i)):
					t.Fatalf("inbox label %d: %q", i, r.Data)
				}
			}
			if st := l.State(); st.Gaps != 1 || st.GapOffsets != to-from || st.PendingCount != 0 {
				t.Fatalf("agent state %+v: want 1 gap over %d offsets, nothing pending", st, to-from)
			}
		})
	}
}
