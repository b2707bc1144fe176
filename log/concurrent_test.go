package log_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// concData is the self-describing payload of writer g's n-th record:
// a header naming both, then bytes derived from them, so a reader can check
// any record it meets without knowing who wrote it.
func concData(g, n, size int) []byte {
	b := fmt.Appendf(nil, "g%d n%d|", g, n)
	for i := len(b); i < size; i++ {
		b = append(b, byte(g*31+n*7+i))
	}
	return b
}

// concCheck checks a record read from a concurrently written log.
func concCheck(r seglog.Record) error {
	var g, n int
	if _, err := fmt.Sscanf(string(r.Data), "g%d n%d|", &g, &n); err != nil {
		return fmt.Errorf("offset %d: unparsable record %q: %v", r.Offset, r.Data[:min(len(r.Data), 20)], err)
	}
	if want := concData(g, n, len(r.Data)); !bytes.Equal(r.Data, want) {
		return fmt.Errorf("offset %d: record of writer %d, #%d is damaged", r.Offset, g, n)
	}
	if r.Type != "" && r.Type != fmt.Sprintf("g%d", g) {
		return fmt.Errorf("offset %d: writer %d's record has type %q", r.Offset, g, r.Type)
	}
	return nil
}

// TestConcurrentAppendRead runs appenders (single records and batches,
// some larger than a segment) beside readers that Read random offsets
// below NextOffset and iterate Records. Every offset handed out is unique
// and the offsets are dense; every reader sees whole, correct records in
// offset order; every record reads back what its appender wrote.
func TestConcurrentAppendRead(t *testing.T) {
	const writers, perWriter = 8, 120
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			seed := newRand(t).Uint64()
			dir := t.TempDir()
			opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: policy, Codec: seglog.CodecS2}
			l := openLog(t, dir, opts)

			type written struct {
				g, n, size int
				typ        string
			}
			var mu sync.Mutex
			byOffset := map[uint64]written{}
			record := func(off uint64, w written) {
				mu.Lock()
				defer mu.Unlock()
				if prev, dup := byOffset[off]; dup {
					t.Errorf("offset %d handed out twice: to writer %d #%d and writer %d #%d", off, prev.g, prev.n, w.g, w.n)
				}
				byOffset[off] = w
			}

			var writersWG, readersWG sync.WaitGroup
			var done atomic.Bool
			for g := range writers {
				writersWG.Add(1)
				go func() {
					defer writersWG.Done()
					rng := rand.New(rand.NewPCG(seed, uint64(g)))
					for n := 0; n < perWriter; {
						size := 10 + rng.IntN(1500)
						if rng.IntN(40) == 0 {
							size = seglog.MinSegmentSize + rng.IntN(4000)
						}
						if rng.IntN(4) > 0 {
							off, err := l.Append(concData(g, n, size))
							if err != nil {
								t.Errorf("writer %d: Append: %v", g, err)
								return
							}
							record(off, written{g, n, size, ""})
							n++
							continue
						}
						k := 1 + rng.IntN(4)
						batch := make([]seglog.Record, k)
						for i := range batch {
							batch[i] = seglog.Record{Type: fmt.Sprintf("g%d", g), Data: concData(g, n+i, size/k)}
						}
						first, err := l.AppendRecords(batch...)
						if err != nil {
							t.Errorf("writer %d: AppendRecords: %v", g, err)
							return
						}
						for i := range batch {
							record(first+uint64(i), written{g, n + i, size / k, batch[i].Type})
						}
						n += k
					}
				}()
			}
			var reads, iterated atomic.Int64
			for r := range 2 {
				readersWG.Add(1)
				go func() { // random Reads below NextOffset
					defer readersWG.Done()
					rng := rand.New(rand.NewPCG(seed, 100+uint64(r)))
					for !done.Load() {
						next := l.NextOffset()
						if next == 0 {
							continue
						}
						o := rng.Uint64N(next)
						rec, err := l.Read(o)
						if err == nil && rec.Offset != o {
							err = fmt.Errorf("Read(%d) returned offset %d", o, rec.Offset)
						}
						if err == nil {
							err = concCheck(rec)
						}
						if err != nil {
							t.Errorf("reader %d: %v", r, err)
							return
						}
						reads.Add(1)
					}
				}()
			}
			readersWG.Add(1)
			go func() { // whole-log iterations
				defer readersWG.Done()
				for !done.Load() {
					want := uint64(0)
					for rec, err := range l.Records(0) {
						if err == nil && rec.Offset != want {
							err = fmt.Errorf("Records yields offset %d, want %d", rec.Offset, want)
						}
						if err == nil {
							err = concCheck(rec)
						}
						if err != nil {
							t.Errorf("iterator: %v", err)
							return
						}
						want++
						iterated.Add(1)
					}
				}
			}()
			writersWG.Wait()
			done.Store(true)
			readersWG.Wait()
			t.Logf("%d reads and %d iterated records beside the appends", reads.Load(), iterated.Load())
			if t.Failed() {
				return
			}

			total := uint64(len(byOffset))
			if l.NextOffset() != total {
				t.Fatalf("NextOffset %d after %d appended records", l.NextOffset(), total)
			}
			want := make([]seglog.Record, total)
			for o := range total {
				w, ok := byOffset[o]
				if !ok {
					t.Fatalf("offset %d was never handed out: offsets are not dense", o)
				}
				want[o] = seglog.Record{Offset: o, Type: w.typ, Data: concData(w.g, w.n, w.size)}
			}
			// Each writer's records appear in the order it appended them.
			last := make([]int, writers)
			for i := range last {
				last[i] = -1
			}
			for o := range total {
				w := byOffset[o]
				if w.n <= last[w.g] {
					t.Fatalf("writer %d's record #%d at offset %d follows its #%d", w.g, w.n, o, last[w.g])
				}
				last[w.g] = w.n
				if err := concCheck(want[o]); err != nil {
					t.Fatal(err)
				}
			}
			checkLog(t, l, want)
			closeLog(t, l)
			checkLog(t, openLog(t, dir, opts), want)
		})
	}
}
