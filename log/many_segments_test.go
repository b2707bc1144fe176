package log_test

import (
	"bytes"
	"flag"
	"io/fs"
	"math/bits"
	"os"
	"sync/atomic"
	"testing"

	"github.com/seglog/seglog/internal/testlog"
	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
)

var scaleSegments = flag.Int("scale.segments", 20000, "segments in the largest log of the many-segments tests (the docs' figures use 300000)")

// opsFS counts the file operations a log makes: opens, reads and
// directory listings.
type opsFS struct {
	vfs.FS
	ops atomic.Int64
}

type opsFile struct {
	vfs.File
	ops *atomic.Int64
}

func (f *opsFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f.ops.Add(1)
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return opsFile{file, &f.ops}, nil
}

func (f *opsFS) ReadDir(dir string) ([]string, error) {
	f.ops.Add(1)
	return f.FS.ReadDir(dir)
}

func (f opsFile) ReadAt(b []byte, off int64) (int, error) {
	f.ops.Add(1)
	return f.File.ReadAt(b, off)
}

// scaleWork is the work one pass over a log of n one-record segments did.
type scaleWork struct {
	n                       int
	openOps                 int64  // file operations of Open
	recordsOps, readsOps    int64  // of Records over the whole log, of a Read in every segment
	recordsProbe, readProbe uint64 // segments examined to find segments
}

func measureScale(t *testing.T, n int) scaleWork {
	t.Helper()
	const dir = "/many"
	mem := crashfs.New()
	if err := testlog.WriteTinySegments(mem, dir, n, 1, 0); err != nil {
		t.Fatal(err)
	}
	fsys := &opsFS{FS: mem}
	w := scaleWork{n: n}
	l, err := seglog.Open(dir, &seglog.Options{FS: fsys, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w.openOps = fsys.ops.Swap(0)
	if got := l.NextOffset(); got != uint64(n) {
		t.Fatalf("%d segments: next offset %d", n, got)
	}
	p0 := seglog.SegmentProbes(l)
	next := uint64(0)
	for r, err := range l.Records(0) {
		if err != nil {
			t.Fatalf("Records at %d: %v", next, err)
		}
		if r.Offset != next || !bytes.Equal(r.Data, testlog.Record(next)) {
			t.Fatalf("Records: offset %d, want %d", r.Offset, next)
		}
		next++
	}
	if next != uint64(n) {
		t.Fatalf("Records stopped at %d of %d", next, n)
	}
	w.recordsOps, w.recordsProbe = fsys.ops.Swap(0), seglog.SegmentProbes(l)-p0
	p0 = seglog.SegmentProbes(l)
	// Every segment in turn, from both ends toward the middle, so that
	// no read is near the end of the list.
	for i := range n {
		o := uint64(i / 2)
		if i%2 == 1 {
			o = uint64(n - 1 - i/2)
		}
		if r, err := l.Read(o); err != nil || !bytes.Equal(r.Data, testlog.Record(o)) {
			t.Fatalf("Read(%d): %v", o, err)
		}
	}
	w.readsOps, w.readProbe = fsys.ops.Swap(0), seglog.SegmentProbes(l)-p0
	return w
}

// TestManySegmentsLinear reads logs of n/4 and n one-record segments
// (-scale.segments; 20,000 by default) through Open, Records and Read, and
// counts the work: file operations, and segments examined to find the one
// holding an offset. Open must do a fixed number of file operations
// whatever the log's size; Records and Read a fixed number per segment;
// finding a segment must examine at most log2(n)+1 of them (a scan of the
// list made iterating 200,000 segments quadratic). The CLI's info and
// verify are measured in cmd/seglog (TestManySegmentsInfoVerify).
func TestManySegmentsLinear(t *testing.T) {
	big := *scaleSegments
	if testing.Short() {
		big = min(big, 4000)
	}
	var ws []scaleWork
	for _, n := range []int{big / 4, big} {
		w := measureScale(t, n)
		ws = append(ws, w)
		t.Logf("%d segments: Open %d file operations; Records %d operations, %d segments examined; a Read in every segment %d operations, %d examined",
			n, w.openOps, w.recordsOps, w.recordsProbe, w.readsOps, w.readProbe)
		lookups := uint64(bits.Len(uint(n)) + 1)
		switch {
		case w.openOps > 40:
			t.Errorf("%d segments: Open did %d file operations, want a fixed few", n, w.openOps)
		case w.recordsOps > 8*int64(n), w.readsOps > 8*int64(n):
			t.Errorf("%d segments: %d and %d file operations for Records and Reads, want at most 8 a segment", n, w.recordsOps, w.readsOps)
		case w.recordsProbe > 2*lookups*uint64(n):
			t.Errorf("%d segments: Records examined %d segments (%.0f a segment), want at most %d a segment", n, w.recordsProbe, float64(w.recordsProbe)/float64(n), 2*lookups)
		case w.readProbe > lookups*uint64(n):
			t.Errorf("%d segments: Reads examined %d segments (%.0f a read), want at most %d a read", n, w.readProbe, float64(w.readProbe)/float64(n), lookups)
		}
	}
	small, large := ws[0], ws[1]
	ratio := float64(large.n) / float64(small.n)
	work := func(w scaleWork) float64 {
		return float64(w.openOps + w.recordsOps + w.readsOps + int64(w.recordsProbe+w.readProbe))
	}
	if g := work(large) / work(small); g > 1.5*ratio {
		t.Errorf("work grew %.1f times for %.0f times the segments: not linear", g, ratio)
	}
}

// BenchmarkManySegments opens and reads a log of -scale.segments
// one-record segments on the operating system's filesystem: Open, Records
// over the whole log, and a Read in every segment (one op is one pass).
// Writing the files takes minutes for 200,000 segments: a log left by an
// earlier run can be named with $SEGLOG_MANY_SEGMENTS_DIR.
func BenchmarkManySegments(b *testing.B) {
	n := *scaleSegments
	dir := os.Getenv("SEGLOG_MANY_SEGMENTS_DIR")
	if dir == "" {
		dir = b.TempDir()
		if err := testlog.WriteTinySegments(vfs.Default, dir, n, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
	opts := &seglog.Options{Logger: quiet}
	if l, err := seglog.Open(dir, opts); err != nil {
		b.Fatal(err)
	} else {
		n = int(l.NextOffset())
		l.Close()
	}
	b.Run("Open", func(b *testing.B) {
		for b.Loop() {
			l, err := seglog.Open(dir, opts)
			if err != nil {
				b.Fatal(err)
			}
			l.Close()
		}
	})
	l, err := seglog.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.Run("Records", func(b *testing.B) {
		for b.Loop() {
			k := 0
			for _, err := range l.Records(0) {
				if err != nil {
					b.Fatal(err)
				}
				k++
			}
			if k != n {
				b.Fatalf("%d records, want %d", k, n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/segment")
	})
	b.Run("Read", func(b *testing.B) {
		for b.Loop() {
			for o := range uint64(n) {
				if _, err := l.Read(o); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/segment")
	})
}
