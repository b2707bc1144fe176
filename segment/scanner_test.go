package segment_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/seglog/seglog/segment"
)

// TestScannerReadsEveryCodec scans frames of every codec, compressible and
// not, and checks every record and header.
func TestScannerReadsEveryCodec(t *testing.T) {
	var specs []frameSpec
	var want []rec
	for i, c := range codecs {
		rs := records(i*40, 40)
		specs = append(specs, frameSpec{recs: rs, codec: c})
		want = append(want, rs...)
		big := rec{typ: "blob", data: bytes.Repeat([]byte{byte(i)}, 200<<10)}
		specs = append(specs, frameSpec{recs: []rec{big}, codec: c})
		want = append(want, big)
	}
	file, frames := buildSegment(1000, specs...)
	s := segment.NewScanner(bytes.NewReader(file), "f.seg", testSalt, segment.HeaderSize, int64(len(file)), 1000)
	var got []rec
	for n := 0; s.Next(); n++ {
		h := s.Header()
		if *h != frames[n].hdr || s.Pos() != frames[n].pos {
			t.Fatalf("frame %d: %+v at %d, want %+v at %d", n, *h, s.Pos(), frames[n].hdr, frames[n].pos)
		}
		if c := specs[n].codec; c != segment.CodecNone && h.Codec != c {
			t.Errorf("frame %d of compressible records stored with %v, want %v", n, h.Codec, c)
		}
		var b segment.Body
		b.Reset(s.Body())
		for b.Len() > 0 {
			typ, data, err := b.Next()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rec{typ, bytes.Clone(data)})
		}
	}
	if s.Err() != nil || s.End() != int64(len(file)) || s.NextOffset() != 1000+uint64(len(want)) {
		t.Fatalf("Err %v End %d NextOffset %d", s.Err(), s.End(), s.NextOffset())
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].typ != want[i].typ || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("record %d differs", i)
		}
	}
}

// TestScannerFollowsGrowth scans a file as it grows: a frame cut by the end
// is incomplete, and a Reset from where it stopped goes on once it is whole.
func TestScannerFollowsGrowth(t *testing.T) {
	file, frames := syncedFrames(4)
	cut := frames[2].pos + 7
	s := segment.NewScanner(bytes.NewReader(file), "f.seg", testSalt, segment.HeaderSize, cut, 0)
	n := 0
	for s.Next() {
		n++
	}
	if n != 2 || !errors.Is(s.Err(), segment.ErrIncomplete) || errors.Is(s.Err(), segment.ErrCorrupt) {
		t.Fatalf("%d frames, Err %v; want 2 and ErrIncomplete", n, s.Err())
	}
	if s.End() != frames[2].pos {
		t.Fatalf("End %d, want %d", s.End(), frames[2].pos)
	}
	s.Reset(bytes.NewReader(file), "f.seg", testSalt, s.End(), int64(len(file)), s.NextOffset())
	for s.Next() {
		n++
	}
	if n != 4 || s.Err() != nil || s.NextOffset() != frames[3].hdr.Next() {
		t.Fatalf("after Reset to the new end: %d frames, Err %v, NextOffset %d", n, s.Err(), s.NextOffset())
	}
}

// TestScannerOffsetGap refuses a frame whose base does not follow on.
func TestScannerOffsetGap(t *testing.T) {
	file, frames := buildSegment(0, frameSpec{recs: records(0, 2)})
	next, _ := buildFrame(frames[0].hdr.Next()+1, frameSpec{recs: records(2, 1)})
	file = append(file, next...)
	s := segment.NewScanner(bytes.NewReader(file), "f.seg", testSalt, segment.HeaderSize, int64(len(file)), 0)
	if !s.Next() || s.Next() {
		t.Fatal("want exactly one frame")
	}
	mustCorrupt(t, s.Err(), "f.seg", frames[0].pos+frames[0].size)
	// A scan that expects another first offset fails at once.
	s.Reset(bytes.NewReader(file), "f.seg", testSalt, segment.HeaderSize, int64(len(file)), 5)
	if s.Next() {
		t.Fatal("frame at offset 0 accepted where 5 was expected")
	}
	mustCorrupt(t, s.Err(), "f.seg", segment.HeaderSize)
}

func TestRecordLimits(t *testing.T) {
	tests := []struct {
		typ  string
		size int
		ok   bool
	}{
		{"", 0, true},
		{"", segment.MaxRecordSize, true},
		{"", segment.MaxRecordSize + 1, false},
		{strings.Repeat("t", segment.MaxTypeLen), 1, true},
		{strings.Repeat("t", segment.MaxTypeLen+1), 1, false},
	}
	for _, tt := range tests {
		err := segment.CheckRecord(tt.typ, make([]byte, tt.size))
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, segment.ErrTooLarge)) {
			t.Errorf("CheckRecord(type %d bytes, data %d bytes) = %v", len(tt.typ), tt.size, err)
		}
	}
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 1 << 21} {
		for _, typ := range []string{"", "x", strings.Repeat("t", segment.MaxTypeLen)} {
			data := make([]byte, n)
			if got, want := segment.RecordSize(typ, data), len(segment.AppendRecord(nil, typ, data)); got != want {
				t.Errorf("RecordSize(%d, %d) = %d, encoding takes %d", len(typ), n, got, want)
			}
		}
	}
}

// TestBodyRejectsBadRecords walks malformed bodies: errors, never a panic
// or a slice past the body.
func TestBodyRejectsBadRecords(t *testing.T) {
	good := segment.AppendRecord(nil, "t", []byte("data"))
	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"type length only", []byte{1}},
		{"type past end", []byte{5, 'a'}},
		{"type over MaxTypeLen", append([]byte{0x80, 0x02}, make([]byte, 300)...)},
		{"bad type uvarint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"no data length", []byte{0}},
		{"data past end", []byte{0, 10, 1, 2}},
		{"data length overflows", []byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"truncated good record", good[:len(good)-1]},
	}
	for _, tt := range tests {
		var b segment.Body
		b.Reset(tt.body)
		if _, _, err := b.Next(); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
		if err := segment.CheckBody(tt.body, 1); err == nil {
			t.Errorf("%s: CheckBody accepted", tt.name)
		}
	}
	if err := segment.CheckBody(append(good, 0), 1); err == nil {
		t.Error("CheckBody accepted a trailing byte")
	}
	if err := segment.CheckBody(append(good, good...), 1); err == nil {
		t.Error("CheckBody accepted two records for a count of one")
	}
	if err := segment.CheckBody(good, 2); err == nil {
		t.Error("CheckBody accepted one record for a count of two")
	}
	if err := segment.CheckBody(append(good, good...), 2); err != nil {
		t.Errorf("CheckBody: %v", err)
	}
}
