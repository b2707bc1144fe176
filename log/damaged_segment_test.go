package log_test

import (
	"os"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// iterateRecords collects what Records yields from offset from, going on
// after errors.
func iterateRecords(l *seglog.Log, from uint64) (offsets []uint64, errs []error) {
	for r, err := range l.Records(from) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		offsets = append(offsets, r.Offset)
	}
	return offsets, errs
}

// TestRecordsPastUnreadableSegment damages a sealed segment's file header,
// which makes the whole segment unreadable: Records reports it, and a
// caller that goes on gets the records of the segments after it, as it
// does after a damaged frame.
func TestRecordsPastUnreadableSegment(t *testing.T) {
	rng := newRand(t)
	dir := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever}
	want := buildSegments(t, rng, dir, opts, 4)
	segs := segmentPaths(t, dir)
	lo, hi := fileFrames(t, segs[1])[0].base, fileFrames(t, segs[2])[0].base
	xorByte(t, segs[1], 3, 0xff)

	l := openLog(t, dir, opts)
	offsets, errs := iterateRecords(l, 0)
	if len(errs) != 1 {
		t.Fatalf("Records: %d errors (%v), want 1", len(errs), errs)
	}
	mustCorrupt(t, errs[0], segs[1], -1)
	var wantOffsets []uint64
	for o := range uint64(len(want)) {
		if o < lo || o >= hi {
			wantOffsets = append(wantOffsets, o)
		}
	}
	if len(offsets) != len(wantOffsets) {
		t.Fatalf("Records yields %d records after going on past the damage, want %d (all but [%d, %d))", len(offsets), len(wantOffsets), lo, hi)
	}
	for i := range offsets {
		if offsets[i] != wantOffsets[i] {
			t.Fatalf("Records yields offset %d, want %d", offsets[i], wantOffsets[i])
		}
	}
	closeLog(t, l)
	xorByte(t, segs[1], 3, 0xff)
	checkLog(t, openLog(t, dir, opts), want)
}

// TestBitFlipSealedSegmentIndexLost damages one frame of a sealed segment
// whose index file is also gone, so that the index must be rebuilt from a
// damaged segment: the records of the damaged frame fail with ErrCorrupt,
// and the segment's other records should still read.
func TestBitFlipSealedSegmentIndexLost(t *testing.T) {
	rng := newRand(t)
	dir := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever}
	want := buildSegments(t, rng, dir, opts, 4)
	seg := segmentPaths(t, dir)[1]
	frames := fileFrames(t, seg)
	bad := frames[len(frames)/2]
	xorByte(t, seg, bad.pos+bad.size-1, 0x01)
	if err := os.Remove(indexOfOffset(seg)); err != nil {
		t.Fatal(err)
	}

	l := openLog(t, dir, opts)
	for o := frames[0].base; o < frames[len(frames)-1].next(); o++ {
		r, err := l.Read(o)
		if bad.holds(o) {
			mustCorrupt(t, err, seg, bad.pos)
			continue
		}
		if err != nil || !sameRecord(r, want[o]) {
			t.Fatalf("Read(%d), outside the damaged frame [%d, %d): %s, %v", o, bad.base, bad.next(), describeRecord(r), err)
		}
	}
	closeLog(t, l)
	xorByte(t, seg, bad.pos+bad.size-1, 0x01)
	checkLog(t, openLog(t, dir, opts), want)
}
