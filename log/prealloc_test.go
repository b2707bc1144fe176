package log_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/seglog/seglog/index"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// The tests here cover what a segment file may hold past the end of the
// log since format version 2: zeros preallocated by the writer, and frames
// left by an earlier life of the file. A file reused for a new life gets a
// new header, with a new salt, over the old frames; the old frames' offsets
// may well follow on from the new ones. None of it may pass for data, or
// for proof that damage before it was synced.

// preallocLog builds a SyncAlways log of 16 KiB segments whose last
// segment holds at least tornFrames+2 frames of one record each,
// closes it, and returns the directory, the records, the last segment's
// path and its frames.
func preallocLog(t *testing.T) (dir string, want []seglog.Record, last string, frames []fileFrame) {
	t.Helper()
	rng := newRand(t)
	dir = t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize}
	l := openLog(t, dir, opts)
	for {
		segs := segmentPaths(t, dir)
		if len(segs) >= 2 && len(fileFrames(t, segs[len(segs)-1])) >= tornFrames+2 {
			break
		}
		want = append(want, appendRecs(t, l, seglog.Record{Data: recordData(rng, 130+rng.IntN(400), false)})...)
	}
	segs := segmentPaths(t, dir)
	last = segs[len(segs)-1]
	// While the log is open, the active segment holds zeros after its
	// last frame; Close cuts them.
	frames = fileFrames(t, last)
	if st, err := os.Stat(last); err != nil || st.Size() <= frames[len(frames)-1].end() {
		t.Fatalf("active segment of %v bytes (%v) holds no preallocated space after its frames (end %d)", st.Size(), err, frames[len(frames)-1].end())
	}
	closeLog(t, l)
	if st, err := os.Stat(last); err != nil || st.Size() != frames[len(frames)-1].end() {
		t.Fatalf("closed segment of %v bytes (%v), want it cut at its last frame (%d)", st.Size(), err, frames[len(frames)-1].end())
	}
	return dir, want, last, frames
}

// resealed returns a copy of a segment file whose frames carry salt: the
// same frames, written in another life of the file. With other, the
// records' data differ too (same lengths), as another life's would.
func resealed(t *testing.T, file []byte, frames []fileFrame, salt segment.Salt, other bool) []byte {
	t.Helper()
	fh, err := segment.ParseFileHeader("", file)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), file...)
	for _, f := range frames {
		b := out[f.pos:f.end()]
		h, err := segment.ParseFrameHeader("", f.pos, b, fh.Salt)
		if err != nil {
			t.Fatal(err)
		}
		if other {
			if h.Codec != segment.CodecNone || h.Count != 1 {
				t.Fatalf("frame %+v: want one uncompressed record", h)
			}
			// One record: type length (1 byte, 0), data length (2
			// bytes for 128 to 16383 bytes), data.
			for i := segment.FrameHeaderSize + 3; i < len(b); i++ {
				b[i] ^= 0xff
			}
		}
		segment.SealFrame(b, &h, salt)
	}
	return out
}

// TestTornTailOverPreallocatedAndStale cuts the last segment at every
// byte of its last frames, as a crash may, and fills the rest of the file
// with what a preallocated or reused file holds there: zeros, or the same
// frames from an earlier life of the file (sealed with the previous salt,
// at the same positions, so that the first of them continues the offsets
// of the live frames exactly). Open must end the log at the last live
// frame wholly before the cut, and read nothing after it.
func TestTornTailOverPreallocatedAndStale(t *testing.T) {
	src, want, last, frames := preallocLog(t)
	orig, fh := readSegmentHeader(t, last)
	stale := resealed(t, orig, frames, fh.Salt-1, true)
	lastName := filepath.Base(last)
	lastBase := fh.Base
	work := filepath.Join(t.TempDir(), "log")
	start := frames[len(frames)-2].pos
	// Every byte near the frame boundaries (headers, last bytes), every
	// seventh in between: the default run stays short.
	step := func(cut int64) int64 {
		for _, f := range frames {
			if cut-f.pos < 2*segment.FrameHeaderSize || (f.end()-cut < 8 && f.end() >= cut) {
				return 1
			}
		}
		return 13
	}
	for _, kind := range []string{"zeros", "stale frames"} {
		for cut := start; cut <= int64(len(orig)); cut += step(cut) {
			end, next := int64(segment.HeaderSize), lastBase
			for _, f := range frames {
				if f.end() <= cut {
					end, next = f.end(), f.next()
				}
			}
			file := append([]byte(nil), orig[:cut]...)
			if kind == "zeros" {
				file = append(file, make([]byte, 4096)...)
			} else {
				file = append(file, stale[cut:]...)
				file = append(file, stale[start:]...) // more stale frames past the old end
			}
			// A cut at a frame boundary followed by zeros only is a
			// preallocated tail: nothing torn, nothing cut.
			wantTorn, wantSize := int64(len(file))-end, end
			if kind == "zeros" && bytes.Count(file[end:], []byte{0}) == len(file[end:]) {
				wantTorn, wantSize = 0, int64(len(file))
			}
			copyDir(t, src, work)
			path := filepath.Join(work, lastName)
			if err := os.WriteFile(path, file, 0o640); err != nil {
				t.Fatal(err)
			}
			o := quietOpts(&seglog.Options{SegmentSize: seglog.MinSegmentSize, FS: fastFS})
			l, err := seglog.Open(work, o)
			if err != nil {
				t.Fatalf("%s, cut at %d: Open: %v", kind, cut, err)
			}
			if rec := l.Recovery(); rec.TornBytes != wantTorn || rec.Corrupt != nil || l.NextOffset() != next {
				t.Fatalf("%s, cut at %d: Recovery %+v, next %d; want %d torn bytes, next %d", kind, cut, rec, l.NextOffset(), wantTorn, next)
			}
			if st, err := os.Stat(path); err != nil || st.Size() != wantSize {
				t.Fatalf("%s, cut at %d: segment of %v bytes (%v) after Open, want %d", kind, cut, st.Size(), err, wantSize)
			}
			checkLogFrom(t, l, want[:next], int(lastBase))
			got := append([]seglog.Record(nil), want[:next]...)
			got = append(got, appendRecs(t, l, seglog.Record{Data: []byte("after the cut")})...)
			closeLog(t, l)
			// Reopened: clean, and the append after the cut is there.
			l = openLog(t, work, o)
			if rec := l.Recovery(); rec.TornBytes != 0 || rec.Corrupt != nil {
				t.Fatalf("%s, cut at %d: second Open recovered %+v", kind, cut, rec)
			}
			checkLogFrom(t, l, got, int(lastBase))
			closeLog(t, l)
		}
	}
}

// TestReusedSegmentMidReuse opens logs whose last segment is a reused
// file caught by a crash at each step of its reuse: the old frames under
// the new header (base and salt) with no new frame yet; a new frame
// written and the next one torn over the old frames. Only the new frames
// are read; the old ones are cut like a torn tail.
func TestReusedSegmentMidReuse(t *testing.T) {
	src, want, last, frames := preallocLog(t)
	orig, fh := readSegmentHeader(t, last)
	// The earlier life: the same file, same base, with the previous salt.
	// The new life's header replaces the old one first.
	old := resealed(t, orig, frames, fh.Salt-1, true)
	copy(old, segment.AppendFileHeader(nil, fh.Base, 0, fh.Salt))
	work := filepath.Join(t.TempDir(), "log")
	for _, tt := range []struct {
		name  string
		live  int // new frames written before the crash
		torn  int // bytes of the next new frame written
		ofOld bool
	}{
		{"new header over old frames", 0, 0, true},
		{"first new frame torn", 0, 30, true},
		{"two new frames, then old ones", 2, 0, true},
		{"two new frames, the third torn over old ones", 2, 50, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := append([]byte(nil), old...)
			copy(file[segment.HeaderSize:], orig[segment.HeaderSize:frames[tt.live].pos+int64(tt.torn)])
			copyDir(t, src, work)
			path := filepath.Join(work, filepath.Base(last))
			if err := os.WriteFile(path, file, 0o640); err != nil {
				t.Fatal(err)
			}
			next := fh.Base
			end := int64(segment.HeaderSize)
			if tt.live > 0 {
				next, end = frames[tt.live-1].next(), frames[tt.live-1].end()
			}
			l := openLog(t, work, &seglog.Options{SegmentSize: seglog.MinSegmentSize, FS: fastFS})
			if rec := l.Recovery(); rec.TornBytes != int64(len(file))-end || rec.Corrupt != nil || l.NextOffset() != next {
				t.Fatalf("Recovery %+v, next %d; want %d torn bytes, next %d", rec, l.NextOffset(), int64(len(file))-end, next)
			}
			checkLogFrom(t, l, want[:next], int(fh.Base))
			closeLog(t, l)
		})
	}
}

// TestDamageBeforeStaleProof flips a byte in a live frame that later live
// frames prove synced: Open refuses the log. When the later frames are
// stale (an earlier life's, in a reused file), they prove nothing and the
// damaged frame is a torn tail; zeros after the proving frames change
// nothing.
func TestDamageBeforeStaleProof(t *testing.T) {
	src, _, last, frames := preallocLog(t)
	orig, fh := readSegmentHeader(t, last)
	victim := frames[len(frames)-3]
	work := filepath.Join(t.TempDir(), "log")
	path := filepath.Join(work, filepath.Base(last))
	for _, tt := range []struct {
		name    string
		stale   bool
		corrupt bool
	}{
		{"live proof, zeros after", false, true},
		{"stale proof, zeros after", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := append([]byte(nil), orig...)
			if tt.stale {
				after := frames[len(frames)-2:]
				file = resealed(t, file, after, fh.Salt+7, false)
			}
			file[victim.pos+segment.FrameHeaderSize+3] ^= 0x10
			file = append(file, make([]byte, 8192)...)
			copyDir(t, src, work)
			if err := os.WriteFile(path, file, 0o640); err != nil {
				t.Fatal(err)
			}
			// Without an index, Open scans the whole segment (with one,
			// it trusts the frames the last one proves synced, and the
			// damage is found by the first read there).
			if err := os.Truncate(filepath.Join(work, indexOfOffset(filepath.Base(last))), index.HeaderSize); err != nil {
				t.Fatal(err)
			}
			o := quietOpts(&seglog.Options{SegmentSize: seglog.MinSegmentSize, FS: fastFS})
			l, err := seglog.Open(work, o)
			if tt.corrupt {
				if err == nil {
					l.Close()
				}
				mustCorrupt(t, err, path, victim.pos)
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			if rec := l.Recovery(); rec.Corrupt != nil || rec.TornBytes != int64(len(file))-victim.pos || l.NextOffset() != victim.base {
				t.Fatalf("Recovery %+v, next %d; want a torn tail from %d (offset %d)", rec, l.NextOffset(), victim.pos, victim.base)
			}
		})
	}
}

// TestVersion1SegmentStillOpens writes a log's last segment in format
// version 1 (no salt) and opens it: its records read back, and appends
// go on in the same file, in version 1 frames, readable after a reopen.
func TestVersion1SegmentStillOpens(t *testing.T) {
	dir, want, last, frames := preallocLog(t)
	orig, fh := readSegmentHeader(t, last)
	v1 := resealed(t, orig, frames, 0, false)
	copy(v1, segment.AppendFileHeader(nil, fh.Base, fh.Flags, 0))
	if err := os.WriteFile(last, v1, 0o640); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, &seglog.Options{SegmentSize: seglog.MinSegmentSize})
	if rec := l.Recovery(); rec.TornBytes != 0 || rec.Corrupt != nil {
		t.Fatalf("Recovery %+v", rec)
	}
	want = append(want, appendRecs(t, l, seglog.Record{Data: []byte("appended to a version 1 segment")})...)
	checkLog(t, l, want)
	closeLog(t, l)
	b, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	if fh, err := segment.ParseFileHeader(last, b); err != nil || fh.Version != 1 {
		t.Fatalf("header after appends: %+v, %v; want version 1 kept", fh, err)
	}
	l = openLog(t, dir, &seglog.Options{SegmentSize: seglog.MinSegmentSize})
	checkLog(t, l, want)
}

// TestUnknownSegmentVersion refuses a segment of a later format version
// with an error that names the version, not as damage.
func TestUnknownSegmentVersion(t *testing.T) {
	dir, _, last, _ := preallocLog(t)
	b, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	// Version 9, with a header checksum that holds: only the version is
	// unknown.
	binary.LittleEndian.PutUint16(b[8:], 9)
	binary.LittleEndian.PutUint64(b[24:], xxhash.Sum64(b[:24]))
	if err := os.WriteFile(last, b, 0o640); err != nil {
		t.Fatal(err)
	}
	verifyExpectDamage(t, dir)
	_, err = seglog.Open(dir, quietOpts(nil))
	if err == nil || errors.Is(err, seglog.ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("version 9")) {
		t.Fatalf("Open of a version 9 segment: %v; want an error naming the version", err)
	}
}
