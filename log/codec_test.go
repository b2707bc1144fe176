package log_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// TestCodecRoundTrip appends records from empty to 4 MiB, compressible and
// not, typed and untyped, plus random sizes, under each codec; reads them
// back; reopens with another codec and appends more; and checks that each
// frame was stored compressed exactly when that made it smaller.
func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		codec, reopen seglog.Codec
		segSize       int64
	}{
		{seglog.CodecNone, seglog.CodecZstd, seglog.MinSegmentSize},
		{seglog.CodecS2, seglog.CodecNone, 0},
		{seglog.CodecZstd, seglog.CodecS2, seglog.MinSegmentSize},
	}
	sizes := []int{0, 1, 100, 4 << 10, 1 << 20, 4 << 20}
	for _, tt := range tests {
		t.Run(tt.codec.String(), func(t *testing.T) {
			rng := newRand(t)
			dir := t.TempDir()
			opts := &seglog.Options{SegmentSize: tt.segSize, Codec: tt.codec}
			l := openLog(t, dir, opts)
			var want []seglog.Record
			compressible := map[uint64]bool{}
			add := func(size int, comp bool, typ string) {
				r := appendRecs(t, l, seglog.Record{Type: typ, Data: recordData(rng, size, comp)})[0]
				if len(typ) < 8 { // a long tag of one letter compresses
					compressible[r.Offset] = comp
				}
				want = append(want, r)
			}
			for _, size := range sizes {
				for _, comp := range []bool{true, false} {
					add(size, comp, "")
					add(size, comp, strings.Repeat("T", 1+size%seglog.MaxTypeLen))
				}
			}
			for range 20 {
				add(rng.IntN(64<<10), rng.IntN(2) == 0, []string{"", "a", "bb"}[rng.IntN(3)])
			}
			add(0, false, strings.Repeat("x", seglog.MaxTypeLen))
			checkLog(t, l, want)
			closeLog(t, l)

			// Each frame holds one record: stored compressed when that
			// shrank it, which it does for sizeable compressible data.
			for _, seg := range segmentPaths(t, dir) {
				for _, f := range fileFrames(t, seg) {
					size := len(want[f.base].Data)
					comp, known := compressible[f.base]
					switch {
					case f.count != 1:
						t.Fatalf("frame at %d of %s holds %d records, want 1", f.pos, seg, f.count)
					case tt.codec == seglog.CodecNone && f.codec != seglog.CodecNone:
						t.Fatalf("offset %d stored with %v under CodecNone", f.base, f.codec)
					case !known:
					case tt.codec != seglog.CodecNone && size >= 100 && comp && f.codec != tt.codec:
						t.Errorf("compressible offset %d (%d bytes) stored with %v, want %v", f.base, size, f.codec, tt.codec)
					case size >= 100 && !comp && f.codec != seglog.CodecNone:
						t.Errorf("random offset %d (%d bytes) stored with %v, want none", f.base, size, f.codec)
					}
				}
			}

			// Frames record their codec: a log reopened with another
			// reads the old frames and writes new ones its own way.
			o := *opts
			o.Codec = tt.reopen
			l = openLog(t, dir, &o)
			checkLog(t, l, want)
			for _, comp := range []bool{true, false} {
				for _, size := range []int{0, 100, 1 << 20} {
					add(size, comp, "reopened")
				}
			}
			batch := make([]seglog.Record, 10)
			for i := range batch {
				batch[i] = seglog.Record{Type: fmt.Sprint(i % 3), Data: recordData(rng, rng.IntN(10<<10), i%2 == 0)}
			}
			want = append(want, appendBatch(t, l, batch...)...)
			checkLog(t, l, want)
			closeLog(t, l)
			checkLog(t, openLog(t, dir, &seglog.Options{ReadOnly: true}), want)
		})
	}
}

// TestTooLarge checks the limits: a record of MaxRecordSize is accepted
// and one byte more is not, and likewise for type tags and batches; a
// refused append appends nothing, not even the good records of its batch.
func TestTooLarge(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &seglog.Options{SegmentSize: seglog.MinSegmentSize})
	want := appendRecs(t, l, seglog.Record{Data: []byte("before")})

	big := make([]byte, seglog.MaxRecordSize+1)
	for i := range big {
		big[i] = byte(i * 7)
	}
	longType := strings.Repeat("t", seglog.MaxTypeLen+1)
	small := seglog.Record{Data: []byte("small")}
	tests := []struct {
		name   string
		append func() (uint64, error)
		want   []string // in the message
	}{
		{"Append over MaxRecordSize", func() (uint64, error) { return l.Append(big) },
			[]string{fmt.Sprint(seglog.MaxRecordSize + 1), fmt.Sprint(seglog.MaxRecordSize)}},
		{"AppendRecords over MaxRecordSize", func() (uint64, error) { return l.AppendRecords(small, seglog.Record{Data: big}) },
			[]string{fmt.Sprint(seglog.MaxRecordSize + 1), fmt.Sprint(seglog.MaxRecordSize)}},
		{"type over MaxTypeLen", func() (uint64, error) { return l.AppendRecords(seglog.Record{Type: longType, Data: []byte("x")}) },
			[]string{"type", fmt.Sprint(seglog.MaxTypeLen + 1), fmt.Sprint(seglog.MaxTypeLen)}},
		{"type over MaxTypeLen in a batch", func() (uint64, error) { return l.AppendRecords(small, small, seglog.Record{Type: longType}) },
			[]string{"type", fmt.Sprint(seglog.MaxTypeLen)}},
		{"batch over MaxBatchSize", func() (uint64, error) {
			r := seglog.Record{Data: big[:seglog.MaxRecordSize]}
			return l.AppendRecords(r, r, small)
		}, []string{fmt.Sprint(seglog.MaxBatchSize)}},
	}
	for _, tt := range tests {
		next := l.NextOffset()
		_, err := tt.append()
		if !errors.Is(err, seglog.ErrTooLarge) {
			t.Fatalf("%s: %v, want ErrTooLarge", tt.name, err)
		}
		for _, s := range append(tt.want, "too large") {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: message %q does not say %q", tt.name, err, s)
			}
		}
		if got := l.NextOffset(); got != next {
			t.Fatalf("%s: NextOffset moved from %d to %d", tt.name, next, got)
		}
	}
	if _, err := l.AppendRecords(); err == nil || errors.Is(err, seglog.ErrTooLarge) {
		t.Errorf("AppendRecords(): %v, want an error for an empty batch", err)
	}

	// The limits themselves are accepted.
	want = append(want, appendRecs(t, l, seglog.Record{Data: big[:seglog.MaxRecordSize]})...)
	want = append(want, appendRecs(t, l, seglog.Record{Type: longType[:seglog.MaxTypeLen], Data: []byte("longest type")})...)
	checkLog(t, l, want)
	closeLog(t, l)
	checkLog(t, openLog(t, dir, nil), want)
}

// TestRecordLargerThanSegment appends records larger than SegmentSize,
// into an empty log and between small ones: each gets a segment of its
// own, and the records around it go to the segments before and after.
func TestRecordLargerThanSegment(t *testing.T) {
	rng := newRand(t)
	dir := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Codec: seglog.CodecS2}
	l := openLog(t, dir, opts)
	var want []seglog.Record
	huge := func() seglog.Record {
		return seglog.Record{Data: recordData(rng, 3*seglog.MinSegmentSize+rng.IntN(1000), false)}
	}
	smallRec := func() seglog.Record { return seglog.Record{Data: recordData(rng, 100, false)} }
	want = append(want, appendRecs(t, l, huge())...)                 // 0: first in the log
	want = append(want, appendRecs(t, l, smallRec(), smallRec())...) // 1, 2
	want = append(want, appendRecs(t, l, huge())...)                 // 3
	want = append(want, appendRecs(t, l, huge())...)                 // 4: right after another
	want = append(want, appendBatch(t, l, smallRec(), huge())...)    // 5, 6: a batch is one frame
	want = append(want, appendRecs(t, l, smallRec())...)             // 7
	checkLog(t, l, want)
	closeLog(t, l)

	var got [][]uint64 // the offsets each segment holds
	for _, seg := range segmentPaths(t, dir) {
		var offs []uint64
		for _, f := range fileFrames(t, seg) {
			for o := f.base; o < f.next(); o++ {
				offs = append(offs, o)
			}
		}
		got = append(got, offs)
	}
	wantSegs := [][]uint64{{0}, {1, 2}, {3}, {4}, {5, 6}, {7}}
	if fmt.Sprint(got) != fmt.Sprint(wantSegs) {
		t.Fatalf("segments hold offsets %v, want %v", got, wantSegs)
	}
	for i, seg := range segmentPaths(t, dir) {
		if base, _ := segment.ParseFileName(seg[len(seg)-len(segment.FileName(0)):]); base != wantSegs[i][0] {
			t.Fatalf("segment %s: base %d, want %d", seg, base, wantSegs[i][0])
		}
	}
	checkLog(t, openLog(t, dir, opts), want)
}
