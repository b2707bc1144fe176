package log_test

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// The log has two ways to be read, and two ways to read it: the writer's
// own Log, and a read-only Open of its directory beside it (which reads
// what another process writes), each through Read (one offset) and
// Records (an iteration). TestReaders runs one table of cases against all
// four, as Prometheus runs its WAL cases against both its readers: each
// must return the same records, and report the same offsets as damaged.

// readersCase builds a log through its writer and returns the records it
// holds from its first offset on (with a nil Data for a record a case
// damaged), so that the readers can be checked against it.
type readersCase struct {
	name string
	opts seglog.Options
	// build appends to w (whose directory is dir) and returns the
	// records it wrote, in offset order from offset 0.
	build func(t *testing.T, w *seglog.Log, dir string, want []seglog.Record) []seglog.Record
	// torn: once built, the writer is closed and the last frame of the
	// log cut in half, as a crash during its write leaves it; the
	// read-only log is opened on that, and then the writer again, which
	// cuts the torn frame off.
	torn bool
}

// readersAppend appends n records of varied sizes, some typed and some in
// batches, and returns them.
func readersAppend(t *testing.T, w *seglog.Log, n int, seed uint64) []seglog.Record {
	t.Helper()
	var out []seglog.Record
	for i := 0; i < n; {
		k := uint64(i) + seed
		r := seglog.Record{Data: fmt.Appendf(nil, "record %d %0*d", k, int(k%7)*300, k)}
		if k%3 == 0 {
			r.Type = fmt.Sprintf("t%d", k%4)
		}
		if k%11 == 0 && i+3 <= n {
			batch := []seglog.Record{r, {Data: []byte(fmt.Sprint("batch ", k))}, {Type: "b", Data: []byte{}}}
			out = append(out, appendBatch(t, w, batch...)...)
			i += 3
			continue
		}
		out = append(out, appendRecs(t, w, r)...)
		i++
	}
	return out
}

func TestReaders(t *testing.T) {
	small := seglog.Options{SegmentSize: seglog.MinSegmentSize}
	cases := []readersCase{
		{name: "empty", build: func(t *testing.T, w *seglog.Log, dir string, want []seglog.Record) []seglog.Record {
			return nil
		}},
		{name: "one segment", build: func(t *testing.T, w *seglog.Log, dir string, want []seglog.Record) []seglog.Record {
			return readersAppend(t, w, 60, 0)
		}},
		{name: "many segments", opts: small, build: func(t *testing.T, w *seglog.Log, dir string, want []seglog.Record) []seglog.Record {
			want = readersAppend(t, w, 400, 0)
			if n := len(segmentPaths(t, dir)); n < 3 {
				t.Fatalf("%d segments, want 3 or more", n)
			}
			return want
		}},
		{name: "compressed", opts: seglog.Options{SegmentSize: seglog.MinSegmentSize, Codec: seglog.CodecZstd}, build: func(t *testing.T, w *seglog.Log, dir string, want []seglog.Record) []seglog.Record {
			return readersAppend(t, w, 300, 5)
		}},
		{name: "buffered", opts: seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever}, build: func(t *testing.T, w *seglog.Log, dir string, want []seglog.Record) []seglog.Record {
			want = readersAppend(t, w, 300, 9)
			if err := w.Flush(); err != nil { // the reader sees what is written
				t.Fatal(err)
			}
			return want
		}},
		{name: "released", opts: small, build: func(t *testing.T, w *seglog.Log, dir string, want []seglog.Record) []seglog.Record {
			want = readersAppend(t, w, 400, 1)
			b := mustPending(t, w, 250)
			mustAck(t, w, b.Next())
			b = mustPending(t, w, 1)
			mustAck(t, w, b.Next()) // releases the batch acknowledged before
			seglog.WaitReleases(w)
			if w.FirstOffset() == 0 {
				t.Fatal("nothing released")
			}
			return want
		}},
		{name: "reset", opts: small, build: func(t *testing.T, w *seglog.Log, dir string, want []seglog.Record) []seglog.Record {
			want = readersAppend(t, w, 200, 2)
			if err := w.Reset(); err != nil {
				t.Fatal(err)
			}
			seglog.WaitReleases(w)
			return append(want, readersAppend(t, w, 100, 3)...)
		}},
		{name: "damaged sealed frame", opts: small, build: func(t *testing.T, w *seglog.Log, dir string, want []seglog.Record) []seglog.Record {
			want = readersAppend(t, w, 400, 4)
			segs := segmentPaths(t, dir)
			if len(segs) < 3 {
				t.Fatalf("%d segments, want 3 or more", len(segs))
			}
			frames := fileFrames(t, segs[1])
			f := frames[len(frames)/2]
			xorByte(t, segs[1], f.end()-1, 0x40) // the last byte of its body
			verifyExpectDamage(t, dir)
			for o := f.base; o < f.next(); o++ {
				want[o].Data = nil
			}
			return want
		}},
		{name: "torn tail", opts: small, torn: true, build: func(t *testing.T, w *seglog.Log, dir string, want []seglog.Record) []seglog.Record {
			return readersAppend(t, w, 300, 6)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := c.opts
			w := openLog(t, dir, &opts)
			want := c.build(t, w, dir, nil)
			var ro *seglog.Log
			if c.torn {
				closeLog(t, w)
				segs := segmentPaths(t, dir)
				last := segs[len(segs)-1]
				frames := fileFrames(t, last)
				f := frames[len(frames)-1]
				if err := os.Truncate(last, f.pos+f.size/2); err != nil {
					t.Fatal(err)
				}
				want = want[:f.base]
				ro = openLog(t, dir, &seglog.Options{ReadOnly: true})
				w = openLog(t, dir, &opts)
				if rec := w.Recovery(); rec.TornBytes == 0 || rec.TornFrom != f.base {
					t.Fatalf("recovery %+v, want a torn frame from offset %d", rec, f.base)
				}
			} else {
				ro = openLog(t, dir, &seglog.Options{ReadOnly: true})
			}
			for _, r := range []struct {
				name string
				l    *seglog.Log
			}{{"writer", w}, {"read-only", ro}} {
				if first, next := r.l.FirstOffset(), r.l.NextOffset(); first != w.FirstOffset() || next != uint64(len(want)) {
					t.Fatalf("%s: offsets [%d, %d), want [%d, %d)", r.name, first, next, w.FirstOffset(), len(want))
				}
				first := int(r.l.FirstOffset())
				byRead := readersByRead(t, r.l)
				byRecords := readersByRecords(t, r.l)
				for i, got := range [][]seglog.Record{byRead, byRecords} {
					how := []string{"Read", "Records"}[i]
					if len(got) != len(want)-first {
						t.Fatalf("%s %s: %d records, want %d", r.name, how, len(got), len(want)-first)
					}
					for j, g := range got {
						wr := want[first+j]
						if wr.Data == nil && g.Data == nil {
							continue // damaged, and reported so
						}
						if (wr.Data == nil) != (g.Data == nil) || !sameRecord(g, wr) {
							t.Fatalf("%s %s: offset %d = %s, want %s", r.name, how, first+j, describeRecord(g), describeRecord(wr))
						}
					}
				}
			}
		})
	}
}

// readersByRead reads every offset of l with Read. A record that Read
// reports damaged (ErrCorrupt) has a nil Data; any other error fails the
// test.
func readersByRead(t *testing.T, l *seglog.Log) []seglog.Record {
	t.Helper()
	var out []seglog.Record
	for o := l.FirstOffset(); o < l.NextOffset(); o++ {
		r, err := l.Read(o)
		switch {
		case errors.Is(err, seglog.ErrCorrupt):
			r = seglog.Record{Offset: o}
		case err != nil:
			t.Fatalf("Read(%d): %v", o, err)
		case r.Data == nil:
			r.Data = []byte{} // an empty record, not a damaged one
		}
		out = append(out, r)
	}
	return out
}

// readersByRecords reads l with Records from offset 0. The offsets of a
// gap it yields get a record with a nil Data; any other error fails the
// test.
func readersByRecords(t *testing.T, l *seglog.Log) []seglog.Record {
	t.Helper()
	var out []seglog.Record
	for r, err := range l.Records(0) {
		var gap *seglog.GapError
		switch {
		case errors.As(err, &gap):
			for o := gap.Gap.Offset; o < gap.Gap.End(); o++ {
				out = append(out, seglog.Record{Offset: o})
			}
			continue
		case err != nil:
			t.Fatalf("Records: %v", err)
		}
		r.Data = slices.Clone(r.Data) // valid only until the iteration moves on
		if r.Data == nil {
			r.Data = []byte{}
		}
		out = append(out, r)
	}
	return out
}
