package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
)

// readFillLog appends n records of mixed sizes and type tags, alone and in
// batches, and returns them.
func readFillLog(t *testing.T, l *seglog.Log, n int, seed func() int) []seglog.Record {
	t.Helper()
	var want []seglog.Record
	for len(want) < n {
		r := seed()
		size := []int{0, 1, 100, 900, 3000, 20000}[r%6]
		typ := []string{"", "", "event", "metric"}[(r/6)%4]
		if (r/24)%5 == 0 {
			batch := make([]seglog.Record, 1+r%7)
			for i := range batch {
				batch[i] = seglog.Record{Type: typ, Data: []byte(fmt.Sprintf("batch %d/%d %0*d", len(want), i, size, r))}
			}
			want = append(want, appendBatch(t, l, batch...)...)
			continue
		}
		want = append(want, appendRecs(t, l, seglog.Record{Type: typ, Data: []byte(fmt.Sprintf("rec %d %0*d", len(want), size, r))})...)
	}
	return want
}

// TestReadAppend: ReadAppend appends exactly the record's data to dst,
// whatever dst holds, and agrees with Read, in order and at random, over
// many segments, under every codec.
func TestReadAppend(t *testing.T) {
	for _, codec := range []seglog.Codec{seglog.CodecNone, seglog.CodecS2, seglog.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			rng := newRand(t)
			l := openLog(t, t.TempDir(), &seglog.Options{Sync: seglog.SyncNever, Codec: codec, SegmentSize: 64 << 10})
			want := readFillLog(t, l, 600, func() int { return rng.IntN(1 << 20) })
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			check := func(o uint64, dst []byte) []byte {
				t.Helper()
				w := want[o]
				prefix := bytes.Clone(dst)
				got, err := l.ReadAppend(dst, o)
				if err != nil {
					t.Fatalf("ReadAppend(%d): %v", o, err)
				}
				if got.Offset != o || got.Type != w.Type || !bytes.Equal(got.Data, append(prefix, w.Data...)) {
					t.Fatalf("ReadAppend(%d) after %d bytes = %s, want %s", o, len(prefix), describeRecord(got), describeRecord(w))
				}
				r, err := l.Read(o)
				if err != nil || !sameRecord(r, w) {
					t.Fatalf("Read(%d) = %s, %v; want %s", o, describeRecord(r), err, describeRecord(w))
				}
				return got.Data
			}
			var buf []byte
			for o := range uint64(len(want)) {
				buf = check(o, buf[:0])
			}
			for range 2000 {
				o := rng.Uint64N(uint64(len(want)))
				if rng.IntN(3) == 0 {
					buf = check(o, []byte("prefix"))
				} else {
					buf = check(o, buf[:0])
				}
			}
			if _, err := l.ReadAppend(nil, uint64(len(want))); err == nil {
				t.Fatal("ReadAppend past the end succeeded")
			}
		})
	}
}

// TestReadAppendAllocs: reads at random through ReadAppend into a buffer
// with room allocate nothing, on a warm log of several segments.
func TestReadAppendAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	rng := newRand(t)
	l := openLog(t, t.TempDir(), &seglog.Options{Sync: seglog.SyncNever, SegmentSize: 64 << 10})
	data := make([]byte, 1000)
	const n = 2000
	for range n {
		if _, err := l.Append(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	read := func() {
		rec, err := l.ReadAppend(buf[:0], rng.Uint64N(n))
		if err != nil || len(rec.Data) != len(data) {
			t.Fatalf("ReadAppend: %d bytes, %v", len(rec.Data), err)
		}
	}
	for range 200 { // load every segment
		read()
	}
	if a := testing.AllocsPerRun(2000, read); a != 0 {
		t.Errorf("ReadAppend at random: %v allocations per read, want 0", a)
	}
}

// readCountFS counts the files opened through it and the ReadAt calls on
// them.
type readCountFS struct {
	*crashfs.FS
	reads *atomic.Int64
	opens *atomic.Int64 // may be nil
}

type readCountFile struct {
	vfs.File
	reads *atomic.Int64
}

func (c readCountFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if c.opens != nil {
		c.opens.Add(1)
	}
	return readCountFile{File: f, reads: c.reads}, nil
}

func (f readCountFile) ReadAt(p []byte, off int64) (int, error) {
	f.reads.Add(1)
	return f.File.ReadAt(p, off)
}

// TestReadInOrderReadsEachFrameOnce: a reader walking the log by offset
// reads each frame from the file about once, not once per record, while
// reads at random keep nothing decoded.
func TestReadInOrderReadsEachFrameOnce(t *testing.T) {
	var reads atomic.Int64
	fsys := readCountFS{FS: crashfs.New(), reads: &reads}
	l := openLog(t, "/log", &seglog.Options{FS: fsys, Sync: seglog.SyncNever, SegmentSize: 1 << 20})
	const n = 20000
	for i := range n {
		if _, err := l.Append(fmt.Appendf(nil, "record %06d %0100d", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	// Each record takes about 120 bytes, so a frame of 16 KiB or more
	// holds over a hundred.
	frames := n * 120 / (16 << 10)
	before := reads.Load()
	for o := range uint64(n) {
		rec, err := l.Read(o)
		if err != nil || !bytes.HasPrefix(rec.Data, fmt.Appendf(nil, "record %06d ", o)) {
			t.Fatalf("Read(%d) = %q, %v", o, rec.Data, err)
		}
	}
	got := reads.Load() - before
	if got > int64(2*frames+8) {
		t.Errorf("walking %d records read the files %d times, for about %d frames", n, got, frames)
	}
	if b := seglog.CachedFrameBytes(l); b > seglog.FrameCacheBytes {
		t.Errorf("frame cache holds %d bytes, bound %d", b, seglog.FrameCacheBytes)
	}
}

// TestLoadedIndexBytesBounded: the sealed segments kept loaded for reads
// are bounded by the memory of their indexes too, not only by their
// number: reads at random over many segments whose indexes pass the bound
// keep only as many open as the bound holds, and read every record right.
func TestLoadedIndexBytesBounded(t *testing.T) {
	// One frame per append (SyncAlways, one appender): about 100 frames
	// per 16 KiB segment, of 8 bytes of packed index each.
	defer seglog.SetLoadBounds(1000, 4<<10)()
	rng := newRand(t)
	var open atomic.Int64
	fsys := countFS{FS: crashfs.New(), open: &open}
	l := openLog(t, "/log", &seglog.Options{FS: fsys, SegmentSize: seglog.MinSegmentSize})
	var want []seglog.Record
	for len(segmentPathsFS(t, fsys.FS, "/log")) < 30 {
		for range 50 {
			want = append(want, appendRecs(t, l, seglog.Record{Data: fmt.Appendf(nil, "%d %0100d", len(want), rng.IntN(1000))})...)
		}
	}
	maxOpen := int64(0)
	for range 3000 {
		o := rng.IntN(len(want))
		r, err := l.Read(uint64(o))
		if err != nil || !sameRecord(r, want[o]) {
			t.Fatalf("Read(%d) = %s, %v; want %s", o, describeRecord(r), err, describeRecord(want[o]))
		}
		maxOpen = max(maxOpen, open.Load())
	}
	// 4 KiB holds the index of about 5 of these segments; then the active
	// segment and its index, two checkpoint slots, and some slack.
	if maxOpen > 6+2+2+2 {
		t.Errorf("%d files open at once reading 30 segments with indexes bounded to 4 KiB", maxOpen)
	}
}

func segmentPathsFS(t *testing.T, fsys *crashfs.FS, dir string) []string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, n := range names {
		if bytes.HasSuffix([]byte(n), []byte(".seg")) {
			segs = append(segs, n)
		}
	}
	return segs
}

// TestWarmRandomReadsOpenNothing: once every segment of a log has been
// read, reads at random open no file, and each reads one frame.
func TestWarmRandomReadsOpenNothing(t *testing.T) {
	rng := newRand(t)
	var reads, opens atomic.Int64
	fsys := readCountFS{FS: crashfs.New(), reads: &reads, opens: &opens}
	l := openLog(t, "/log", &seglog.Options{FS: fsys, Sync: seglog.SyncNever, SegmentSize: 64 << 10})
	var want []seglog.Record
	for len(want) < 5000 {
		want = append(want, appendRecs(t, l, seglog.Record{Data: recordData(rng, 50+rng.IntN(1000), true)})...)
	}
	closeLog(t, l)
	l = openLog(t, "/log", &seglog.Options{FS: fsys, Sync: seglog.SyncNever, SegmentSize: 64 << 10})
	segs := len(segmentPathsFS(t, fsys.FS, "/log"))
	if segs < 20 {
		t.Fatalf("only %d segments", segs)
	}
	// Warm: a record of every segment (each holds over 50 records, but
	// the last may hold only a few).
	for o := 0; o < len(want)+50; o += 50 {
		if _, err := l.Read(uint64(min(o, len(want)-1))); err != nil {
			t.Fatal(err)
		}
	}
	opens.Store(0)
	reads.Store(0)
	const n = 3000
	for range n {
		o := rng.IntN(len(want))
		r, err := l.Read(uint64(o))
		if err != nil || !sameRecord(r, want[o]) {
			t.Fatalf("Read(%d) = %s, %v; want %s", o, describeRecord(r), err, describeRecord(want[o]))
		}
	}
	if got := opens.Load(); got != 0 {
		t.Errorf("%d files opened by %d reads at random over %d warm segments", got, n, segs)
	}
	// One read of one frame each, bar the few that find their frame
	// still decoded.
	if got := reads.Load(); got > n {
		t.Errorf("%d reads of files for %d reads at random", got, n)
	}
}

// readPayload is the record a test appends at offset o: its content and
// length follow from o, so a reader can check any record it gets.
func readPayload(o uint64) []byte {
	return fmt.Appendf(nil, "record %d %0*d", o, int(o%700), o)
}

// TestConcurrentReadsUnderEviction: readers at random and readers walking
// the log, through Read and ReadAppend, beside an appender, with the
// loaded segments bounded so tightly that segments are evicted, reloaded
// and packed all the time. Every record read must be the one appended.
func TestConcurrentReadsUnderEviction(t *testing.T) {
	defer seglog.SetLoadBounds(3, 2<<10)()
	rng := newRand(t)
	seed := rng.Uint64()
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			// fsync turned off: what is under test is reading, and 3000
			// durable appends would take long under the race detector.
			l := openLog(t, t.TempDir(), &seglog.Options{FS: noSyncFS{vfs.Default}, Sync: policy, SegmentSize: seglog.MinSegmentSize})
			const n = 3000
			var done atomic.Bool
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			check := func(o uint64, rec seglog.Record, err error, prefix []byte) bool {
				if errors.Is(err, seglog.ErrOutOfRange) {
					return true // not appended, or not yet durable
				}
				want := append(bytes.Clone(prefix), readPayload(o)...)
				if err != nil || rec.Offset != o || !bytes.Equal(rec.Data, want) {
					errs <- fmt.Errorf("offset %d: %q, %v", o, rec.Data, err)
					return false
				}
				return true
			}
			for r := range 4 {
				wg.Go(func() {
					rr := rand.New(rand.NewPCG(seed, uint64(r)))
					buf := []byte("dst:")
					for o := uint64(0); ; {
						next := l.NextOffset()
						if done.Load() && o >= next {
							return
						}
						var q uint64
						if r%2 == 0 { // at random
							if next == 0 {
								continue
							}
							q = rr.Uint64N(next)
						} else { // walking
							q = o
							if o < next {
								o++
							}
						}
						if r < 2 {
							rec, err := l.Read(q)
							if !check(q, rec, err, nil) {
								return
							}
						} else {
							rec, err := l.ReadAppend(buf[:4], q)
							if !check(q, rec, err, buf[:4]) {
								return
							}
							if err == nil {
								buf = rec.Data
							}
						}
						if r%2 == 0 && done.Load() {
							o++ // bounded: as many reads again as records
						}
					}
				})
			}
			for o := range uint64(n) {
				if off, err := l.Append(readPayload(o)); err != nil || off != o {
					t.Fatalf("Append %d: offset %d, %v", o, off, err)
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			done.Store(true)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
