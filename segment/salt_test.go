package segment_test

import (
	"bytes"
	"testing"

	"github.com/seglog/seglog/segment"
)

// staleSalt is the salt of an earlier life of the file under test.
const staleSalt = testSalt - 1

// sealWith re-seals a frame built by buildFrame with another salt, as the
// same frame written in another life of the file would be.
func sealWith(fb []byte, salt segment.Salt) []byte {
	fb = append([]byte(nil), fb...)
	h, err := segment.ParseFrameHeader("", 0, fb, testSalt)
	if err != nil {
		panic(err)
	}
	segment.SealFrame(fb, &h, salt)
	return fb
}

// TestScanTailStaleFrames covers a file that holds bytes from an earlier
// life past the frames of the current one: none of them passes for data
// or for proof, and zeros alone are preallocated space, not a torn tail.
func TestScanTailStaleFrames(t *testing.T) {
	live, lf := buildSegment(0, frameSpec{recs: records(0, 3)}, frameSpec{recs: records(3, 2)})
	next := lf[len(lf)-1].hdr.Next()
	cont, _ := buildFrame(next, frameSpec{recs: records(int(next), 4), durable: 1 << 20})
	torn := cont[:len(cont)-3]

	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name     string
		file     []byte
		wantNext uint64
		torn     int64 // bytes after the live frames that are torn
		zero     bool  // bytes after the live frames are preallocated zeros
	}{
		{"zeros", cat(live, make([]byte, 4096)), next, 0, true},
		{"a torn frame over zeros", cat(live, torn, make([]byte, 4096)), next, int64(len(torn) + 4096), false},
		// The frame that continues the offsets of the live ones, with a
		// watermark past everything, from an earlier life.
		{"a stale frame that would continue the log", cat(live, sealWith(cont, staleSalt)), next, int64(len(cont)), false},
		{"a torn tail over stale frames", cat(live, torn, sealWith(cont, staleSalt)), next, int64(len(torn) + len(cont)), false},
		{"the same frame in this life", cat(live, cont), next + 4, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := int64(len(tt.file))
			tail := segment.ScanTail(bytes.NewReader(tt.file), "f.seg", testSalt, segment.HeaderSize, size, 0, nil)
			if tail.Err != nil || tail.Corrupt != nil {
				t.Fatalf("Err %v, Corrupt %v", tail.Err, tail.Corrupt)
			}
			if tail.Next != tt.wantNext {
				t.Errorf("Next = %d, want %d", tail.Next, tt.wantNext)
			}
			if tail.Torn != tt.torn {
				t.Errorf("Torn = %d, want %d", tail.Torn, tt.torn)
			}
			if zero := tail.Zero > 0; zero != tt.zero || tail.End+tail.Torn+tail.Zero != size {
				t.Errorf("End %d Torn %d Zero %d, size %d", tail.End, tail.Torn, tail.Zero, size)
			}
		})
	}
}

// TestScanTailStaleProof damages a live frame followed by a stale frame
// whose watermark would prove the damaged region synced: stale bytes are
// no proof, so the tail is torn, not corrupt. The same frame sealed with
// the file's salt is proof.
func TestScanTailStaleProof(t *testing.T) {
	live, lf := buildSegment(0, frameSpec{recs: records(0, 3)}, frameSpec{recs: records(3, 2)})
	last := lf[len(lf)-1]
	proof, _ := buildFrame(last.hdr.Next(), frameSpec{recs: records(5, 1), durable: uint32(len(live))})
	for _, salt := range []segment.Salt{staleSalt, testSalt} {
		damaged := append([]byte(nil), live...)
		damaged[last.pos+segment.FrameHeaderSize+1] ^= 0x40
		file := append(damaged, sealWith(proof, salt)...)
		tail := segment.ScanTail(bytes.NewReader(file), "f.seg", testSalt, segment.HeaderSize, int64(len(file)), 0, nil)
		if salt == testSalt {
			mustCorrupt(t, tail.Corrupt, "f.seg", last.pos)
			continue
		}
		if tail.Corrupt != nil || tail.End != last.pos || tail.Torn != int64(len(file))-last.pos {
			t.Errorf("stale proof: End %d Torn %d Corrupt %v; want a torn tail from %d", tail.End, tail.Torn, tail.Corrupt, last.pos)
		}
	}
}

// TestVersion1Read scans a version 1 file, whose checksums cover no salt.
func TestVersion1Read(t *testing.T) {
	file := segment.AppendFileHeader(nil, 9, 0, 0)
	for i, n := range []int{2, 3} {
		fb, _ := buildFrame(uint64(9+2*i), frameSpec{recs: records(9+2*i, n)})
		h, err := segment.ParseFrameHeader("", 0, fb, testSalt)
		if err != nil {
			t.Fatal(err)
		}
		segment.SealFrame(fb, &h, 0)
		file = append(file, fb...)
	}
	fh, err := segment.ParseFileHeader("old.seg", file)
	if err != nil || fh.Version != 1 || fh.Salt != 0 {
		t.Fatalf("ParseFileHeader = %+v, %v", fh, err)
	}
	tail := segment.ScanTail(bytes.NewReader(file), "old.seg", fh.Salt, segment.HeaderSize, int64(len(file)), 9, nil)
	if tail.Err != nil || tail.Corrupt != nil || tail.Torn != 0 || tail.End != int64(len(file)) || tail.Next != 14 {
		t.Fatalf("version 1 scan: %+v", tail)
	}
	// Read with a salt, the same frames fail.
	if tail := segment.ScanTail(bytes.NewReader(file), "old.seg", testSalt, segment.HeaderSize, int64(len(file)), 9, nil); tail.End != segment.HeaderSize {
		t.Fatalf("version 1 frames verified with a salt: %+v", tail)
	}
}

// TestFindFrameAfterZeros finds a frame after a long run of zeros, across
// FindFrame's read chunks.
func TestFindFrameAfterZeros(t *testing.T) {
	file := segment.AppendFileHeader(nil, 0, 0, testSalt)
	file = append(file, make([]byte, 3<<20+17)...)
	pos := int64(len(file))
	fb, _ := buildFrame(40, frameSpec{recs: records(40, 2)})
	file = append(file, fb...)
	q, h, ok := segment.FindFrame(bytes.NewReader(file), "f.seg", testSalt, segment.HeaderSize, int64(len(file)), func(int64, *segment.FrameHeader) bool { return true })
	if !ok || q != pos || h.Base != 40 {
		t.Fatalf("FindFrame = %d, %+v, %v; want the frame at %d", q, h, ok, pos)
	}
}
