package segment_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/seglog/seglog/segment"
)

// syncedFrames returns n frames written the way SyncAlways writes them:
// each frame's durable watermark is its own position, since everything
// before it was synced.
func syncedFrames(n int) ([]byte, []builtFrame) {
	specs := make([]frameSpec, n)
	for i := range specs {
		specs[i].recs = records(i*3, 1+i%3)
	}
	// Positions depend only on sizes; lay out once to learn them.
	_, frames := buildSegment(0, specs...)
	for i := range specs {
		specs[i].durable = uint32(frames[i].pos)
	}
	return buildSegment(0, specs...)
}

// TestScanTail covers ScanTail's classification of what follows the last
// valid frame: a torn write (safe to cut) or damage that a later frame's
// durable watermark proves had been synced.
func TestScanTail(t *testing.T) {
	const file = "00000000000000000000.seg"
	synced, sf := syncedFrames(6)
	last := sf[len(sf)-1]
	// Frames whose writer never synced: every watermark is the header.
	unsynced, uf := buildSegment(0, frameSpec{recs: records(0, 2), durable: segment.HeaderSize},
		frameSpec{recs: records(2, 2), durable: segment.HeaderSize},
		frameSpec{recs: records(4, 2), durable: segment.HeaderSize})

	flip := func(b []byte, pos int64) []byte {
		b = append([]byte(nil), b...)
		b[pos] ^= 0x40
		return b
	}
	// watermark builds three frames where the third's durable watermark
	// is the second's position plus delta, and damages the second.
	watermark := func(delta int64) ([]byte, []builtFrame) {
		specs := []frameSpec{{recs: records(0, 1)}, {recs: records(1, 1)}, {recs: records(2, 1)}}
		_, fr := buildSegment(0, specs...)
		specs[2].durable = uint32(fr[1].pos + delta)
		b, fr := buildSegment(0, specs...)
		return flip(b, fr[1].pos+segment.FrameHeaderSize), fr
	}
	wm0, wmf := watermark(0)
	wm1, _ := watermark(1)
	// A frame whose checksums hold but whose base offset breaks the
	// sequence, followed by a frame that proves it durable.
	gap, gf := buildSegment(0, frameSpec{recs: records(0, 2)}, frameSpec{recs: records(2, 2)})
	bad, _ := buildFrame(100, frameSpec{recs: records(4, 1)})
	gapPos := int64(len(gap))
	gap = append(gap, bad...)
	proof, _ := buildFrame(101, frameSpec{recs: records(5, 1), durable: uint32(gapPos + 1)})
	gap = append(gap, proof...)
	// A frame whose checksums hold but whose body does not hold its
	// records (count says 2, the body has 1), then a proving frame.
	badBody := segment.AppendFileHeader(nil, 0, 0, testSalt)
	bbRaw := segment.AppendRecord(nil, "", []byte("0123456789"))
	bb := append(make([]byte, segment.FrameHeaderSize), bbRaw...)
	segment.SealFrame(bb, &segment.FrameHeader{Base: 0, Count: 2, RawLen: uint32(len(bbRaw))}, testSalt)
	badBody = append(badBody, bb...)
	badBodyLast := append([]byte(nil), badBody...)
	proof2, _ := buildFrame(2, frameSpec{recs: records(0, 1), durable: segment.HeaderSize + 1})
	badBody = append(badBody, proof2...)

	tests := []struct {
		name      string
		file      []byte
		size      int64 // 0: len(file)
		wantEnd   int64
		wantNext  uint64
		wantTorn  int64
		corruptAt int64 // -1: no corruption
	}{
		{"clean", synced, 0, int64(len(synced)), last.hdr.Next(), 0, -1},
		{"header only", synced[:segment.HeaderSize], 0, segment.HeaderSize, 0, 0, -1},
		{"cut inside last frame's header", synced, last.pos + 10, last.pos, last.hdr.Base, 10, -1},
		{"cut inside last frame's body", synced, last.pos + last.size - 1, last.pos, last.hdr.Base, last.size - 1, -1},
		{"last frame damaged", flip(synced, last.pos+last.size-1), 0, last.pos, last.hdr.Base, last.size, -1},
		{"last frame header damaged", flip(synced, last.pos+3), 0, last.pos, last.hdr.Base, last.size, -1},
		{"zeros after the last frame", append(append([]byte(nil), synced...), make([]byte, 100)...), 0, int64(len(synced)), last.hdr.Next(), 0, -1},
		{"middle frame damaged, later frame synced", flip(synced, sf[2].pos+segment.FrameHeaderSize+1), 0, sf[2].pos, sf[2].hdr.Base, 0, sf[2].pos},
		{"middle frame header damaged", flip(synced, sf[2].pos), 0, sf[2].pos, sf[2].hdr.Base, 0, sf[2].pos},
		{"first frame damaged", flip(synced, sf[0].pos+20), 0, sf[0].pos, 0, 0, sf[0].pos},
		{"damage before a later frame cut short", flip(synced, sf[4].pos+1), last.pos + 5, sf[4].pos, sf[4].hdr.Base, last.pos + 5 - sf[4].pos, -1},
		{"middle frame damaged, nothing synced", flip(unsynced, uf[1].pos+segment.FrameHeaderSize), 0, uf[1].pos, uf[1].hdr.Base, int64(len(unsynced)) - uf[1].pos, -1},
		{"watermark at the damage is no proof", wm0, 0, wmf[1].pos, 1, int64(len(wm0)) - wmf[1].pos, -1},
		{"watermark past the damage is proof", wm1, 0, wmf[1].pos, 1, 0, wmf[1].pos},
		{"offset gap before a synced frame", gap, 0, gapPos, gf[1].hdr.Next(), 0, gapPos},
		{"bad body before a synced frame", badBody, 0, segment.HeaderSize, 0, 0, segment.HeaderSize},
		{"bad body in the last frame", badBodyLast, 0, segment.HeaderSize, 0, int64(len(badBodyLast)) - segment.HeaderSize, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if size == 0 {
				size = int64(len(tt.file))
			}
			var seen []int64
			tail := segment.ScanTail(bytes.NewReader(tt.file[:size]), file, testSalt, segment.HeaderSize, size, 0, func(pos int64, h *segment.FrameHeader) {
				if len(seen) > 0 && pos <= seen[len(seen)-1] {
					t.Errorf("onFrame at %d after %d", pos, seen[len(seen)-1])
				}
				seen = append(seen, pos)
			})
			if tail.Err != nil {
				t.Fatalf("Err = %v", tail.Err)
			}
			if tail.End != tt.wantEnd || tail.Next != tt.wantNext || tail.Torn != tt.wantTorn {
				t.Errorf("End %d Next %d Torn %d; want %d %d %d", tail.End, tail.Next, tail.Torn, tt.wantEnd, tt.wantNext, tt.wantTorn)
			}
			if tt.corruptAt < 0 {
				if tail.Corrupt != nil {
					t.Errorf("Corrupt = %v, want a torn tail", tail.Corrupt)
				}
			} else {
				mustCorrupt(t, tail.Corrupt, file, tt.corruptAt)
			}
			if tail.Corrupt == nil && tail.End+tail.Torn+tail.Zero != size {
				t.Errorf("End %d + Torn %d + Zero %d != size %d", tail.End, tail.Torn, tail.Zero, size)
			}
			if tail.Torn > 0 && tail.Corrupt != nil {
				t.Errorf("both torn and corrupt")
			}
			// onFrame saw exactly the frames before End.
			if n := len(seen); n > 0 {
				if _, err := segment.ParseFrameHeader(file, seen[n-1], tt.file[seen[n-1]:], testSalt); err != nil {
					t.Errorf("last reported frame at %d: %v", seen[n-1], err)
				}
			}
			if (len(seen) == 0) != (tail.End == segment.HeaderSize) {
				t.Errorf("%d frames reported, End %d", len(seen), tail.End)
			}
		})
	}
}

// TestScanTailEveryCut cuts a synced segment at every byte: the cut is
// always torn, never corrupt, and End is the last frame boundary before it.
func TestScanTailEveryCut(t *testing.T) {
	file, frames := syncedFrames(5)
	for size := int64(segment.HeaderSize); size <= int64(len(file)); size++ {
		tail := segment.ScanTail(bytes.NewReader(file[:size]), "f.seg", testSalt, segment.HeaderSize, size, 0, nil)
		wantEnd, wantNext := int64(segment.HeaderSize), uint64(0)
		for _, f := range frames {
			if f.pos+f.size <= size {
				wantEnd, wantNext = f.pos+f.size, f.hdr.Next()
			}
		}
		if tail.Err != nil || tail.Corrupt != nil || tail.End != wantEnd || tail.Next != wantNext || tail.Torn != size-wantEnd {
			t.Fatalf("cut at %d: %+v; want End %d Next %d Torn %d", size, tail, wantEnd, wantNext, size-wantEnd)
		}
	}
}

// TestScanTailEveryFlip damages every byte of a synced segment's frames:
// damage in any frame but the last is proven durable by the frames after
// it; damage in the last frame cannot be told from a torn write.
func TestScanTailEveryFlip(t *testing.T) {
	file, frames := syncedFrames(5)
	for i, f := range frames {
		for p := f.pos; p < f.pos+f.size; p++ {
			b := append([]byte(nil), file...)
			b[p] ^= 0x01
			tail := segment.ScanTail(bytes.NewReader(b), "f.seg", testSalt, segment.HeaderSize, int64(len(b)), 0, nil)
			if tail.Err != nil || tail.End != f.pos || tail.Next != f.hdr.Base {
				t.Fatalf("flip at %d (frame %d): %+v; want End %d Next %d", p, i, tail, f.pos, f.hdr.Base)
			}
			if i < len(frames)-1 {
				mustCorrupt(t, tail.Corrupt, "f.seg", f.pos)
			} else if tail.Corrupt != nil || tail.Torn != f.size {
				t.Fatalf("flip at %d in the last frame: %+v; want torn %d", p, tail, f.size)
			}
		}
	}
}

type failingReader struct {
	r   io.ReaderAt
	at  int64
	err error
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.at {
		return 0, f.err
	}
	return f.r.ReadAt(p, off)
}

// TestScanTailIOError reports a read error as Err, neither torn nor corrupt.
func TestScanTailIOError(t *testing.T) {
	file, _ := syncedFrames(3)
	errDisk := errors.New("disk on fire")
	tail := segment.ScanTail(failingReader{bytes.NewReader(file), segment.HeaderSize + 1, errDisk}, "f.seg", testSalt, segment.HeaderSize, int64(len(file)), 0, nil)
	if !errors.Is(tail.Err, errDisk) || tail.Torn != 0 || tail.Corrupt != nil {
		t.Fatalf("%+v; want Err %v", tail, errDisk)
	}
}
