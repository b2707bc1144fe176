package segment_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/seglog/seglog/segment"
)

// rec is one record to encode into a test frame.
type rec struct {
	typ  string
	data []byte
}

// frameSpec describes a frame for buildSegment.
type frameSpec struct {
	recs    []rec
	durable uint32
	codec   segment.Codec // compression to try; stored uncompressed if it does not help
}

// builtFrame is where buildSegment put a frame.
type builtFrame struct {
	pos  int64
	size int64
	hdr  segment.FrameHeader
}

// buildFrame encodes one frame the way the log's writer does.
func buildFrame(base uint64, spec frameSpec) ([]byte, segment.FrameHeader) {
	var raw []byte
	for _, r := range spec.recs {
		raw = segment.AppendRecord(raw, r.typ, r.data)
	}
	h := segment.FrameHeader{Base: base, Count: uint32(len(spec.recs)), Durable: spec.durable, RawLen: uint32(len(raw))}
	body := raw
	if out, ok := segment.Compress(spec.codec, nil, raw); ok {
		body = out
		h.Codec = spec.codec
	}
	buf := append(make([]byte, segment.FrameHeaderSize), body...)
	segment.SealFrame(buf, &h, testSalt)
	return buf, h
}

// buildSegment lays out a segment file with base offset base holding
// frames, and returns the file and where each frame went.
func buildSegment(base uint64, frames ...frameSpec) ([]byte, []builtFrame) {
	file := segment.AppendFileHeader(nil, base, 0, testSalt)
	var out []builtFrame
	next := base
	for _, spec := range frames {
		fb, h := buildFrame(next, spec)
		out = append(out, builtFrame{pos: int64(len(file)), size: int64(len(fb)), hdr: h})
		file = append(file, fb...)
		next = h.Next()
	}
	return file, out
}

// records makes n records with distinct contents, every third one typed.
func records(first, n int) []rec {
	var rs []rec
	for i := first; i < first+n; i++ {
		r := rec{data: bytes.Repeat([]byte{byte(i), byte(i >> 8), 'x'}, 5+i%17)}
		if i%3 == 0 {
			r.typ = "type-" + string(rune('a'+i%26))
		}
		rs = append(rs, r)
	}
	return rs
}

// countingReader is an io.ReaderAt over b that records the largest read it
// was asked for, so a test can show a decoder never read (and so never
// needed a buffer) past a bound.
type countingReader struct {
	b       []byte
	maxRead int
}

func (r *countingReader) ReadAt(p []byte, off int64) (int, error) {
	r.maxRead = max(r.maxRead, len(p))
	return bytes.NewReader(r.b).ReadAt(p, off)
}

// mustCorrupt checks that err matches ErrCorrupt and names file and pos.
func mustCorrupt(t *testing.T, err error, file string, pos int64) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want corruption of %s at %d", file, pos)
	}
	var ce *segment.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *CorruptError", err, err)
	}
	if ce.File != file || ce.Offset != pos {
		t.Fatalf("corruption reported at %s:%d, want %s:%d (%v)", ce.File, ce.Offset, file, pos, err)
	}
	if !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("error %v does not match ErrCorrupt", err)
	}
}

// testSalt is the salt of the segments the tests build.
const testSalt segment.Salt = 0x5a17_0001
