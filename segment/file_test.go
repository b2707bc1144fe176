package segment_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/seglog/seglog/segment"
)

// brokenReader fails every read with err.
type brokenReader struct{ err error }

func (r brokenReader) ReadAt([]byte, int64) (int, error) { return 0, r.err }

func TestReadFileHeader(t *testing.T) {
	file, _ := buildSegment(42, frameSpec{recs: records(0, 2)})
	fh, err := segment.ReadFileHeader(bytes.NewReader(file), "f.seg", 42)
	if err != nil || fh.Base != 42 || fh.Salt != testSalt || fh.Version != segment.VersionSalted {
		t.Fatalf("ReadFileHeader = %+v, %v", fh, err)
	}
	// A file shorter than a header: corrupt, at the end of what is there.
	for _, n := range []int{0, 1, segment.HeaderSize - 1} {
		_, err := segment.ReadFileHeader(bytes.NewReader(file[:n]), "f.seg", 42)
		mustCorrupt(t, err, "f.seg", int64(n))
		if !strings.Contains(err.Error(), "short header") {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	// Another base than the file name says.
	_, err = segment.ReadFileHeader(bytes.NewReader(file), "f.seg", 41)
	mustCorrupt(t, err, "f.seg", 16)
	// A damaged header.
	bad := bytes.Clone(file)
	bad[3] ^= 1
	_, err = segment.ReadFileHeader(bytes.NewReader(bad), "f.seg", 42)
	mustCorrupt(t, err, "f.seg", 0)
	// An I/O failure is not damage.
	eio := errors.New("input/output error")
	_, err = segment.ReadFileHeader(brokenReader{eio}, "f.seg", 42)
	if !errors.Is(err, eio) || errors.Is(err, segment.ErrCorrupt) || !strings.Contains(err.Error(), "f.seg") {
		t.Fatalf("I/O failure: %v", err)
	}
}

func TestReadFrameHeaderAndValidFrameAt(t *testing.T) {
	file, frames := buildSegment(0, frameSpec{recs: records(0, 3)}, frameSpec{recs: records(3, 2), codec: segment.CodecS2})
	r := bytes.NewReader(file)
	size := int64(len(file))
	for _, f := range frames {
		h, err := segment.ReadFrameHeader(r, "f.seg", testSalt, f.pos)
		if err != nil || h != f.hdr {
			t.Fatalf("ReadFrameHeader at %d = %+v, %v; want %+v", f.pos, h, err, f.hdr)
		}
		if h, ok := segment.ValidFrameAt(r, "f.seg", testSalt, f.pos, size); !ok || h != f.hdr {
			t.Fatalf("ValidFrameAt(%d) = %+v, %v", f.pos, h, ok)
		}
	}
	// Cut inside a header: incomplete, not corrupt.
	_, err := segment.ReadFrameHeader(bytes.NewReader(file[:frames[1].pos+5]), "f.seg", testSalt, frames[1].pos)
	if !errors.Is(err, segment.ErrIncomplete) || errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("header cut short: %v", err)
	}
	eio := errors.New("input/output error")
	if _, err := segment.ReadFrameHeader(brokenReader{eio}, "f.seg", testSalt, 32); !errors.Is(err, eio) {
		t.Fatalf("I/O failure: %v", err)
	}
	// Not at a frame boundary, with another salt, cut short by size, or
	// with a damaged body: no valid frame.
	if _, ok := segment.ValidFrameAt(r, "f.seg", testSalt, frames[0].pos+1, size); ok {
		t.Error("valid frame one byte into a frame")
	}
	if _, ok := segment.ValidFrameAt(r, "f.seg", testSalt+1, frames[0].pos, size); ok {
		t.Error("valid frame under another salt")
	}
	if _, ok := segment.ValidFrameAt(r, "f.seg", testSalt, frames[1].pos, size-1); ok {
		t.Error("valid frame past the size")
	}
	bad := bytes.Clone(file)
	bad[frames[0].pos+segment.FrameHeaderSize+2] ^= 1
	if _, ok := segment.ValidFrameAt(bytes.NewReader(bad), "f.seg", testSalt, frames[0].pos, size); ok {
		t.Error("valid frame with a damaged body")
	}
	if _, ok := segment.ValidFrameAt(brokenReader{io.ErrUnexpectedEOF}, "f.seg", testSalt, frames[0].pos, size); ok {
		t.Error("valid frame from a failing file")
	}
}

// TestFindValidFrame resynchronises after damage: a frame whose checksums
// hold but whose records do not parse is passed over, as FindFrame alone
// would not.
func TestFindValidFrame(t *testing.T) {
	file, frames := buildSegment(0, frameSpec{recs: records(0, 2)}, frameSpec{recs: records(2, 2)}, frameSpec{recs: records(4, 2)})
	// Frame 1's body: checksums sealed over records that do not parse.
	h := frames[1].hdr
	body := bytes.Repeat([]byte{0xff}, int(h.RawLen))
	buf := append(make([]byte, segment.FrameHeaderSize), body...)
	segment.SealFrame(buf, &h, testSalt)
	if len(buf) != int(frames[1].size) {
		t.Fatalf("rebuilt frame of %d bytes, want %d", len(buf), frames[1].size)
	}
	copy(file[frames[1].pos:], buf)
	r := bytes.NewReader(file)
	size := int64(len(file))
	any := func(int64, *segment.FrameHeader) bool { return true }

	if q, _, ok := segment.FindFrame(r, "f.seg", testSalt, frames[0].pos+1, size, any); !ok || q != frames[1].pos {
		t.Fatalf("FindFrame = %d, %v; want the checksummed frame at %d", q, ok, frames[1].pos)
	}
	q, got, ok := segment.FindValidFrame(r, "f.seg", testSalt, frames[0].pos+1, size, any)
	if !ok || q != frames[2].pos || got != frames[2].hdr {
		t.Fatalf("FindValidFrame = %d %+v %v; want the frame at %d", q, got, ok, frames[2].pos)
	}
	if _, _, ok := segment.FindValidFrame(r, "f.seg", testSalt, frames[2].pos+1, size, any); ok {
		t.Fatal("a valid frame after the last one")
	}
	none := func(int64, *segment.FrameHeader) bool { return false }
	if _, _, ok := segment.FindValidFrame(r, "f.seg", testSalt, segment.HeaderSize, size, none); ok {
		t.Fatal("a frame accept refused")
	}
}

func TestCorruptErrorText(t *testing.T) {
	e := segment.Corruptf("dir/f.seg", 7, "bad %s", "thing")
	if got, want := e.Error(), "dir/f.seg: offset 7: corrupt: bad thing"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e.File = ""
	if got, want := e.Error(), "offset 7: corrupt: bad thing"; got != want {
		t.Errorf("Error() without a file = %q, want %q", got, want)
	}
	if got := segment.Reason(e); got != "bad thing" {
		t.Errorf("Reason = %q", got)
	}
	if got := segment.Reason(io.EOF); got != "EOF" {
		t.Errorf("Reason of another error = %q", got)
	}
}
