package log_test

import (
	"errors"
	"testing"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// A missing or shortened middle segment: the offsets it held, which the
// neighbouring segments prove were appended, never vanish. Reading across
// them is damage naming the segment and the range; delivery hands them out
// as a gap, and State does not count records that Pending can never return.

// middleOf builds a log of the smallest segments holding 300 records and returns
// its segment bases; the test then damages the second.
func middleOf(t *testing.T) (*crashfs.FS, *seglog.Options, []uint64) {
	t.Helper()
	fsys := crashfs.New()
	opts := crashOpts(fsys, seglog.MinSegmentSize, seglog.SyncAlways)
	l := openCrash(t, opts)
	for i := range 300 {
		if _, err := l.Append(tracedPayload(uint64(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := logFiles(t, fsys, crashDir)
	if len(segs) < 3 {
		t.Fatalf("only %d segments", len(segs))
	}
	return fsys, opts, segs
}

// checkHole checks that offsets [from, to) read as one gap, and every
// other record as itself.
func checkHole(t *testing.T, l *seglog.Log, from, to uint64) {
	t.Helper()
	next := uint64(0)
	holes := 0
	for rec, err := range l.Records(0) {
		if err != nil {
			var ge *seglog.GapError
			if !errors.As(err, &ge) || !errors.Is(err, seglog.ErrCorrupt) {
				t.Fatalf("Records: %v, want a GapError", err)
			}
			if ge.Gap.Offset != next || ge.Gap.End() != to || next != from {
				t.Fatalf("Records: gap [%d, %d) after offset %d, want [%d, %d)", ge.Gap.Offset, ge.Gap.End(), next, from, to)
			}
			t.Logf("Records: %v", err)
			holes++
			next = ge.Gap.End()
			continue
		}
		if rec.Offset != next {
			t.Fatalf("Records: offset %d after %d: offsets skipped in silence", rec.Offset, next)
		}
		next++
	}
	if holes != 1 || next != 300 {
		t.Fatalf("Records: %d holes, ended at %d", holes, next)
	}
	b, err := l.Pending(1000)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	if len(b.Gaps) != 1 || b.Gaps[0].Offset != from || b.Gaps[0].End() != to || b.Next() != 300 ||
		uint64(len(b.Records)) != 300-(to-from) {
		t.Fatalf("Pending: %d records, gaps %+v, next %d", len(b.Records), b.Gaps, b.Next())
	}
	if res := mustAck(t, l, b.Next()); res.Branch != seglog.AckNormal || res.State.PendingCount != 0 {
		t.Fatalf("Ack(%d) = %+v", b.Next(), res)
	}
	if b := mustPending(t, l, 1000); !b.Empty() {
		t.Fatalf("after the ack: %+v", b)
	}
}

func TestMissingMiddleSegment(t *testing.T) {
	fsys, opts, segs := middleOf(t)
	verifyExpectDamage(t, crashDir)
	for _, name := range []string{segment.FileName(segs[1]), index.FileName(segs[1])} {
		if err := fsys.Remove(crashDir + "/" + name); err != nil {
			t.Fatal(err)
		}
	}
	l := openCrash(t, opts)
	defer l.Close()
	checkHole(t, l, segs[1], segs[2])
}

func TestShortenedMiddleSegment(t *testing.T) {
	for _, cut := range []struct {
		name string
		keep func(size int64) int64
	}{
		{"header only", func(int64) int64 { return segment.HeaderSize }},
		{"mid frame", func(size int64) int64 { return size / 2 }},
	} {
		t.Run(cut.name, func(t *testing.T) {
			fsys, opts, segs := middleOf(t)
			verifyExpectDamage(t, crashDir)
			name := crashDir + "/" + segment.FileName(segs[1])
			b, err := fsys.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := fsys.WriteFile(name, b[:cut.keep(int64(len(b)))]); err != nil {
				t.Fatal(err)
			}
			l := openCrash(t, opts)
			defer l.Close()
			// What survives of the segment is read; the rest, up to the
			// next segment, is one gap.
			from := segs[1]
			for rec, err := range l.Records(segs[1]) {
				if err != nil || rec.Offset != from {
					break
				}
				from++
			}
			if from == segs[2] {
				t.Fatal("nothing was cut")
			}
			checkHole(t, l, from, segs[2])
		})
	}
}

// A middle segment deleted behind the back of a running writer (which
// holds the lock, so nothing else may delete its files): the same gap.
func TestMissingMiddleSegmentLive(t *testing.T) {
	fsys, opts, segs := middleOf(t)
	verifyExpectDamage(t, crashDir)
	l := openCrash(t, opts)
	defer l.Close()
	for _, name := range []string{segment.FileName(segs[1]), index.FileName(segs[1])} {
		if err := fsys.Remove(crashDir + "/" + name); err != nil {
			t.Fatal(err)
		}
	}
	checkHole(t, l, segs[1], segs[2])
}
