package segment_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/seglog/seglog/segment"
)

// TestDerivedConstants pins the layout sizes to the fields they are made
// of, and the limits to the relations the format relies on.
func TestDerivedConstants(t *testing.T) {
	if got, want := segment.HeaderSize, len(segment.Magic)+2+2+4+8+8; got != want {
		t.Errorf("HeaderSize = %d, want magic+version+flags+reserved+base+checksum = %d", got, want)
	}
	if got := len(segment.AppendFileHeader(nil, 42, 0, testSalt)); got != segment.HeaderSize {
		t.Errorf("AppendFileHeader writes %d bytes, HeaderSize is %d", got, segment.HeaderSize)
	}
	if got, want := segment.FrameHeaderSize, 4+4+8+4+4+1+1+2+4+8; got != want {
		t.Errorf("FrameHeaderSize = %d, want bodyLen+rawLen+base+count+durable+codec+flags+reserved+hsum+fsum = %d", got, want)
	}
	fb, _ := buildFrame(0, frameSpec{recs: []rec{{}}})
	if got := len(fb) - segment.RecordSize("", nil); got != segment.FrameHeaderSize {
		t.Errorf("a frame's header takes %d bytes, FrameHeaderSize is %d", got, segment.FrameHeaderSize)
	}
	// The largest record, with the longest type, fits one frame.
	maxRec := segment.RecordSize(strings.Repeat("t", segment.MaxTypeLen), make([]byte, segment.MaxRecordSize))
	if maxRec > segment.MaxFrameBody {
		t.Errorf("largest record encodes to %d bytes, over MaxFrameBody %d", maxRec, segment.MaxFrameBody)
	}
	// Frame positions, lengths and durable watermarks are 32-bit fields.
	if segment.MaxSegmentSize > math.MaxUint32 {
		t.Errorf("MaxSegmentSize %d does not fit the 32-bit position fields", segment.MaxSegmentSize)
	}
	// A segment holding one maximal frame (a record larger than the
	// segment size gets a segment of its own) stays addressable.
	if n := int64(segment.HeaderSize) + segment.FrameHeaderSize + segment.MaxFrameBody; n > segment.MaxSegmentSize {
		t.Errorf("a segment with one maximal frame takes %d bytes, over MaxSegmentSize", n)
	}
	// Every record takes at least two length bytes: ParseFrameHeader's
	// count check relies on it.
	if n := segment.RecordSize("", nil); n != 2 {
		t.Errorf("empty record encodes to %d bytes, want 2", n)
	}
	if len(segment.Magic) != 8 {
		t.Errorf("Magic is %d bytes, the header reserves 8", len(segment.Magic))
	}
}

func TestFileName(t *testing.T) {
	for _, base := range []uint64{0, 1, 42, 1 << 32, math.MaxUint64} {
		name := segment.FileName(base)
		if len(name) != 20+len(segment.Suffix) {
			t.Errorf("FileName(%d) = %q: want 20 digits and %s", base, name, segment.Suffix)
		}
		got, ok := segment.ParseFileName(name)
		if !ok || got != base {
			t.Errorf("ParseFileName(FileName(%d)) = %d, %v", base, got, ok)
		}
	}
	if a, b := segment.FileName(9), segment.FileName(10); a >= b {
		t.Errorf("names do not sort in offset order: %q >= %q", a, b)
	}
}

func TestParseFileName(t *testing.T) {
	tests := []struct {
		name string
		base uint64
		ok   bool
	}{
		{"00000000000000000000.seg", 0, true},
		{"00000000000000000042.seg", 42, true},
		{"18446744073709551615.seg", math.MaxUint64, true},
		{"18446744073709551616.seg", 0, false}, // MaxUint64 + 1
		{"99999999999999999999.seg", 0, false},
		{"20000000000000000000.seg", 0, false},
		{"0000000000000000042.seg", 0, false},   // 19 digits
		{"000000000000000000042.seg", 0, false}, // 21 digits
		{"00000000000000000042.idx", 0, false},
		{"00000000000000000042.seg.tmp", 0, false},
		{"00000000000000000042.SEG", 0, false},
		{"00000000000000000042seg", 0, false},
		{"0000000000000000004a.seg", 0, false},
		{"+0000000000000000042.seg", 0, false},
		{"-0000000000000000042.seg", 0, false},
		{" 0000000000000000042.seg", 0, false},
		{"0000000000000000004٢.seg", 0, false}, // non-ASCII digit
		{".seg", 0, false},
		{"", 0, false},
		{"LOCK", 0, false},
	}
	for _, tt := range tests {
		base, ok := segment.ParseFileName(tt.name)
		if base != tt.base || ok != tt.ok {
			t.Errorf("ParseFileName(%q) = %d, %v; want %d, %v", tt.name, base, ok, tt.base, tt.ok)
		}
	}
}

func TestCodecNames(t *testing.T) {
	for _, c := range []segment.Codec{segment.CodecNone, segment.CodecS2, segment.CodecZstd} {
		got, err := segment.ParseCodec(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCodec(%q) = %v, %v; want %v", c.String(), got, err, c)
		}
	}
	if c, err := segment.ParseCodec(""); err != nil || c != segment.CodecNone {
		t.Errorf(`ParseCodec("") = %v, %v; want none`, c, err)
	}
	if _, err := segment.ParseCodec("gzip"); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf(`ParseCodec("gzip") = %v; want an error naming it`, err)
	}
	if got, want := segment.Codec(9).String(), fmt.Sprintf("codec(%d)", 9); got != want {
		t.Errorf("Codec(9).String() = %q, want %q", got, want)
	}
}
