package log_test

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

var exhaustive = flag.Bool("exhaustive", false, "flip every byte of every frame in the bit-flip tests (slow)")

// buildSegments appends records of mixed sizes, single and batched,
// until the log in dir has at least n segments, and returns them.
func buildSegments(t *testing.T, rng *rand.Rand, dir string, opts *seglog.Options, n int) []seglog.Record {
	t.Helper()
	l := openLog(t, dir, opts)
	var want []seglog.Record
	for len(segmentPaths(t, dir)) < n {
		compressible := rng.IntN(2) == 0
		if rng.IntN(3) == 0 {
			var recs []seglog.Record
			for range 2 + rng.IntN(3) {
				recs = append(recs, seglog.Record{Type: fmt.Sprintf("type-%d", rng.IntN(4)), Data: recordData(rng, rng.IntN(300), compressible)})
			}
			want = append(want, appendBatch(t, l, recs...)...)
		} else {
			want = append(want, appendRecs(t, l, seglog.Record{Data: recordData(rng, rng.IntN(600), compressible)})...)
		}
	}
	checkLog(t, l, want)
	closeLog(t, l)
	return want
}

// flipPositions returns the byte positions of f to damage: every
// header byte and a sample of body bytes (every byte under
// -exhaustive).
func flipPositions(rng *rand.Rand, f fileFrame) []int64 {
	var ps []int64
	for p := f.pos; p < f.pos+segment.FrameHeaderSize; p++ {
		ps = append(ps, p)
	}
	body := f.size - segment.FrameHeaderSize
	if *exhaustive {
		for p := f.pos + segment.FrameHeaderSize; p < f.end(); p++ {
			ps = append(ps, p)
		}
		return ps
	}
	if body > 0 {
		ps = append(ps, f.pos+segment.FrameHeaderSize, f.end()-1, f.pos+segment.FrameHeaderSize+body/2)
		for range 3 {
			ps = append(ps, f.pos+segment.FrameHeaderSize+rng.Int64N(body))
		}
	}
	return ps
}

// recordsAround iterates the log from offset from, going on after
// errors, and checks that it yields want except the records of the damaged
// frame bad, in whose place it yields one ErrCorrupt naming file and the
// frame's position.
func recordsAround(t *testing.T, l *seglog.Log, want []seglog.Record, from uint64, bad fileFrame, file string) {
	t.Helper()
	i, errs := from, 0
	for r, err := range l.Records(from) {
		if err != nil {
			errs++
			mustCorrupt(t, err, file, bad.pos)
			if i != bad.base {
				t.Fatalf("Records: damage reported after offset %d, want at %d", i, bad.base)
			}
			i = bad.next()
			continue
		}
		if i >= uint64(len(want)) || !sameRecord(r, want[i]) {
			t.Fatalf("Records yields %s, want offset %d", describeRecord(r), i)
		}
		i++
	}
	if errs != 1 || i != uint64(len(want)) {
		t.Fatalf("Records from %d: %d errors, stopped at %d; want 1 error and %d records", from, errs, i, len(want))
	}
}

// TestBitFlipSealedSegment damages each frame of a sealed segment in turn,
// at every header byte and a sample of body bytes: reads of the frame's
// records fail with ErrCorrupt naming the file and the frame's position,
// every other record still reads, and Records reports the damage once and
// goes on past it.
func TestBitFlipSealedSegment(t *testing.T) {
	for _, codec := range []seglog.Codec{seglog.CodecNone, seglog.CodecS2} {
		t.Run(codec.String(), func(t *testing.T) {
			rng := newRand(t)
			dir := t.TempDir()
			opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Codec: codec, Sync: seglog.SyncNever}
			want := buildSegments(t, rng, dir, opts, 3)
			sealed := segmentPaths(t, dir)[1]
			frames := fileFrames(t, sealed)
			flips := 0
			for k, f := range frames {
				// A fresh handle per frame: Read keeps recently decoded
				// frames, and this frame must come from the disk.
				l := openLog(t, dir, opts)
				var neighbours []uint64
				for _, o := range []uint64{0, uint64(len(want)) - 1, frames[0].base, frames[len(frames)-1].next(), f.base - 1, f.next()} {
					if !f.holds(o) && o < uint64(len(want)) {
						neighbours = append(neighbours, o)
					}
				}
				from := frames[max(k-1, 0)].base
				for _, p := range flipPositions(rng, f) {
					x := byte(1 + rng.IntN(255))
					xorByte(t, sealed, p, x)
					for o := f.base; o < f.next(); o++ {
						r, err := l.Read(o)
						if err == nil {
							t.Fatalf("byte %d of %s ^= %#x: Read(%d) = %s, want ErrCorrupt", p, sealed, x, o, describeRecord(r))
						}
						mustCorrupt(t, err, sealed, f.pos)
					}
					for _, o := range neighbours {
						if r, err := l.Read(o); err != nil || !sameRecord(r, want[o]) {
							t.Fatalf("byte %d ^= %#x in frame at %d: Read(%d) = %s, %v", p, x, f.pos, o, describeRecord(r), err)
						}
					}
					recordsAround(t, l, want, from, f, sealed)
					xorByte(t, sealed, p, x)
					flips++
				}
				closeLog(t, l)
			}
			t.Logf("%d flips in %d frames of %s", flips, len(frames), filepath.Base(sealed))
			checkLog(t, openLog(t, dir, opts), want)
		})
	}
}

// TestBitFlipSegmentHeader damages each byte of a sealed segment's file
// header: every record of that segment fails with ErrCorrupt naming the
// file, and the other segments still read. (The segment is not the one
// before the active segment, which Open may check whole.)
func TestBitFlipSegmentHeader(t *testing.T) {
	rng := newRand(t)
	dir := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever}
	want := buildSegments(t, rng, dir, opts, 4)
	segs := segmentPaths(t, dir)
	first, last := fileFrames(t, segs[1]), fileFrames(t, segs[2])
	lo, hi := first[0].base, last[0].base // the damaged segment holds [lo, hi)
	for p := int64(0); p < segment.HeaderSize; p++ {
		x := byte(1 + rng.IntN(255))
		xorByte(t, segs[1], p, x)
		l := openLog(t, dir, opts)
		for _, o := range []uint64{lo, (lo + hi) / 2, hi - 1} {
			_, err := l.Read(o)
			mustCorrupt(t, err, segs[1], -1)
		}
		for _, o := range []uint64{0, lo - 1, hi, uint64(len(want)) - 1} {
			if r, err := l.Read(o); err != nil || !sameRecord(r, want[o]) {
				t.Fatalf("header byte %d ^= %#x: Read(%d) = %s, %v", p, x, o, describeRecord(r), err)
			}
		}
		var errs []error
		for _, err := range l.Records(lo - 1) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) == 0 {
			t.Fatalf("header byte %d ^= %#x: Records over the segment reported nothing", p, x)
		}
		mustCorrupt(t, errs[0], segs[1], -1)
		closeLog(t, l)
		xorByte(t, segs[1], p, x)
	}
	checkLog(t, openLog(t, dir, opts), want)
}

// TestBitFlipActiveSegment damages a frame of the active segment that a
// later synced frame follows. When the index does not vouch for the frame
// (it is written without fsync, so a crash may leave it short), Open scans
// to the damage and, since the later frame proves it durable, fails with
// ErrCorrupt naming the file and position; with TruncateCorrupt it cuts the
// log there and reports it. With a whole index Open does not scan the
// frame, but the damage is still never silently dropped: Read reports it.
// Damage in the last frame is indistinguishable from a torn write.
func TestBitFlipActiveSegment(t *testing.T) {
	rng := newRand(t)
	src := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize}
	l := openLog(t, src, opts)
	var want []seglog.Record
	for range 8 {
		if rng.IntN(2) == 0 {
			want = append(want, appendRecs(t, l, seglog.Record{Data: recordData(rng, 1+rng.IntN(400), false)})...)
		} else {
			want = append(want, appendBatch(t, l, seglog.Record{Type: "a", Data: recordData(rng, 50, true)}, seglog.Record{Data: []byte("b")})...)
		}
	}
	closeLog(t, l)
	segs := segmentPaths(t, src)
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	seg := filepath.Base(segs[0])
	idx := seg[:len(seg)-len(segment.Suffix)] + ".idx"
	frames := fileFrames(t, segs[0])
	size := frames[len(frames)-1].end()

	indexStates := []struct {
		name  string
		apply func(t *testing.T, path string)
		whole bool
	}{
		{"index lost", func(t *testing.T, path string) { os.Remove(path) }, false},
		{"index header only", func(t *testing.T, path string) { os.Truncate(path, 16) }, false},
		{"index whole", func(t *testing.T, path string) {}, true},
	}
	work := filepath.Join(t.TempDir(), "log")
	cases := 0
	for _, st := range indexStates {
		for k, f := range frames {
			for _, p := range []int64{f.pos, f.pos + 30, f.pos + segment.FrameHeaderSize + rng.Int64N(f.size-segment.FrameHeaderSize)} {
				name := fmt.Sprintf("%s, frame %d, byte %d", st.name, k, p)
				last := k == len(frames)-1
				copyDir(t, src, work)
				path := filepath.Join(work, seg)
				st.apply(t, filepath.Join(work, idx))
				xorByte(t, path, p, 0x20)

				fast := *opts
				fast.FS = fastFS
				l, err := seglog.Open(work, quietOpts(&fast))
				cases++
				switch {
				case last:
					// Nothing after the frame proves it durable: torn.
					if err != nil {
						t.Fatalf("%s: Open: %v", name, err)
					}
					if r := l.Recovery(); r.TornBytes != f.size || r.TornFrom != f.base || r.Corrupt != nil {
						t.Fatalf("%s: Recovery %+v, want %d torn bytes from %d", name, r, f.size, f.base)
					}
					checkLog(t, l, want[:f.base])
					closeLog(t, l)
					continue
				case st.whole:
					if err != nil {
						// Finding the damage at Open is as good.
						mustCorrupt(t, err, path, f.pos)
						break
					}
					if l.NextOffset() != uint64(len(want)) {
						t.Fatalf("%s: Open dropped records: NextOffset %d, want %d", name, l.NextOffset(), len(want))
					}
					for o := f.base; o < f.next(); o++ {
						_, err := l.Read(o)
						mustCorrupt(t, err, path, f.pos)
					}
					recordsAround(t, l, want, 0, f, path)
					closeLog(t, l)
				default:
					if err == nil {
						l.Close()
						t.Fatalf("%s: Open succeeded, want ErrCorrupt", name)
					}
					mustCorrupt(t, err, path, f.pos)
				}

				// Salvage: cut at the damage, report it, append on.
				o := fast
				o.TruncateCorrupt = true
				l, err = seglog.Open(work, quietOpts(&o))
				if err != nil {
					t.Fatalf("%s: Open with TruncateCorrupt: %v", name, err)
				}
				r := l.Recovery()
				if !st.whole || r.Corrupt != nil {
					if r.Corrupt == nil || r.TornFrom != f.base || r.TornBytes != size-f.pos || r.File != path {
						t.Fatalf("%s: TruncateCorrupt recovered %+v; want the damage at %d cut, %d bytes from offset %d", name, r, f.pos, size-f.pos, f.base)
					}
					mustCorrupt(t, r.Corrupt, path, f.pos)
					got := slices.Clone(want[:f.base])
					got = append(got, appendRecs(t, l, seglog.Record{Data: []byte("salvaged")})...)
					checkLog(t, l, got)
				}
				closeLog(t, l)
			}
		}
	}
	t.Logf("%d damaged copies of %d frames opened", cases, len(frames))
	checkLog(t, openLog(t, src, opts), want)
}

// TestReadPastShortSealedSegment truncates a sealed segment (damage the
// index cannot know of): reads past the cut fail with an error, never with
// wrong data or a panic.
func TestReadPastShortSealedSegment(t *testing.T) {
	rng := newRand(t)
	dir := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever}
	want := buildSegments(t, rng, dir, opts, 3)
	sealed := segmentPaths(t, dir)[0]
	frames := fileFrames(t, sealed)
	cutFrame := frames[len(frames)/2]
	whole, err := os.ReadFile(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sealed, cutFrame.pos+3); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, opts)
	for o := range uint64(len(want)) {
		r, err := l.Read(o)
		switch {
		case o < frames[len(frames)-1].next() && o >= cutFrame.base:
			if !errors.Is(err, seglog.ErrCorrupt) {
				t.Fatalf("Read(%d) past the cut: %s, %v; want ErrCorrupt", o, describeRecord(r), err)
			}
		case err != nil && o < cutFrame.base:
			// The index still vouches for these frames, but a reader
			// may also refuse the whole damaged segment.
			mustCorrupt(t, err, sealed, -1)
		case err == nil && !sameRecord(r, want[o]):
			t.Fatalf("Read(%d) = %s, want %s", o, describeRecord(r), describeRecord(want[o]))
		case err != nil && o >= frames[len(frames)-1].next():
			t.Fatalf("Read(%d) in an undamaged segment: %v", o, err)
		}
	}
	closeLog(t, l)
	if err := os.WriteFile(sealed, whole, 0o640); err != nil {
		t.Fatal(err)
	}
	checkLog(t, openLog(t, dir, opts), want)
}
