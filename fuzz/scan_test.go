package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	"github.com/seglog/seglog/segment"
)

// FuzzScan runs the segment scanner and ScanTail over arbitrary file
// bytes. Neither may panic or allocate beyond its buffers' bounds; the
// frames ScanTail accepts must be the frames the scanner reads, contiguous
// and in offset order; and what follows them must be classified exactly
// once: torn (safe to cut), corrupt, or an I/O error.
func FuzzScan(f *testing.F) {
	warmCodecs()
	f.Add(segment.AppendFileHeader(nil, 0, 0, 0))
	f.Add(segment.AppendFileHeader(nil, 0, 0, fuzzSalt))
	f.Add([]byte("SEGLOG\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fh, herr := segment.ParseFileHeader("seg", b)
		base, salt := fh.Base, fh.Salt
		if herr == nil && len(b) < segment.HeaderSize {
			t.Fatalf("ParseFileHeader accepted %d bytes", len(b))
		}
		size := int64(len(b))
		r := bytes.NewReader(b)
		type frame struct {
			pos int64
			h   segment.FrameHeader
		}
		var scanned []frame
		bound := 16*uint64(len(b)) + 2<<20
		checkAlloc(t, "Scanner", bound, func() {
			s := segment.NewScanner(r, "seg", salt, segment.HeaderSize, size, base)
			next, pos := base, int64(segment.HeaderSize)
			for s.Next() {
				h := *s.Header()
				if s.Pos() != pos || h.Base != next || s.Pos()+h.Size() > size || len(s.Body()) != int(h.RawLen) {
					t.Fatalf("scanner frame at %d (want %d): %+v, %d body bytes; next offset %d", s.Pos(), pos, h, len(s.Body()), next)
				}
				scanned = append(scanned, frame{s.Pos(), h})
				pos, next = s.End(), h.Next()
			}
			if s.End() != pos || s.NextOffset() != next {
				t.Fatalf("scanner ends at %d/%d, want %d/%d", s.End(), s.NextOffset(), pos, next)
			}
			if err := s.Err(); err != nil && !errors.Is(err, segment.ErrCorrupt) && !errors.Is(err, segment.ErrIncomplete) {
				t.Fatalf("scanner error %v is neither corrupt nor incomplete", err)
			}
		})
		var accepted []frame
		var tail segment.Tail
		checkAlloc(t, "ScanTail", bound+2<<20, func() {
			tail = segment.ScanTail(r, "seg", salt, segment.HeaderSize, size, base, func(pos int64, h *segment.FrameHeader) {
				accepted = append(accepted, frame{pos, *h})
			})
		})
		if len(accepted) > len(scanned) {
			t.Fatalf("ScanTail accepted %d frames, the scanner read %d", len(accepted), len(scanned))
		}
		end, next := int64(segment.HeaderSize), base
		for i, a := range accepted {
			if a != scanned[i] {
				t.Fatalf("frame %d: ScanTail accepted %+v, the scanner read %+v", i, a, scanned[i])
			}
			end, next = a.pos+a.h.Size(), a.h.Next()
		}
		if size < segment.HeaderSize {
			return
		}
		if tail.End != end || tail.Next != next {
			t.Fatalf("ScanTail ends at %d/%d, its frames end at %d/%d", tail.End, tail.Next, end, next)
		}
		if tail.Err != nil {
			t.Fatalf("ScanTail reports an I/O error reading memory: %v", tail.Err)
		}
		switch {
		case tail.Corrupt != nil:
			if !errors.Is(tail.Corrupt, segment.ErrCorrupt) || tail.Torn != 0 {
				t.Fatalf("corrupt tail: %v, torn %d", tail.Corrupt, tail.Torn)
			}
		case tail.End+tail.Torn+tail.Zero != size || (tail.Torn > 0 && tail.Zero > 0):
			t.Fatalf("ScanTail: end %d + torn %d + zero %d != size %d", tail.End, tail.Torn, tail.Zero, size)
		}
	})
}

// FuzzScanTail builds a segment from the input: frames of records, some
// followed by a sync, written through a crashfs file; crashes it under a
// mode and seed taken from the input; and optionally flips a byte of the
// synced part (damage at rest). ScanTail must return every frame that was
// synced, never a frame that was not written, and classify what follows:
// a torn tail when nothing proves it was synced, corruption when an intact
// later frame does.
func FuzzScanTail(f *testing.F) {
	warmCodecs()
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		fz := fuzzBytes(in)
		codec := segment.Codec(fz.byte() % 3)
		mode := crashfs.CrashMode(fz.byte() % 4)
		seed := fz.uint64()
		rot := fz.byte()
		rotPos := fz.uint64()

		// Build the segment.
		fsys := crashfs.New()
		const name = "/s.seg"
		fh, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		type frame struct {
			pos   int64
			bytes []byte
		}
		var frames []frame
		pos, durable, synced := int64(segment.HeaderSize), int64(segment.HeaderSize), int64(segment.HeaderSize)
		base := uint64(1000)
		if _, err := fh.WriteAt(segment.AppendFileHeader(nil, base, 0, fuzzSalt), 0); err != nil {
			t.Fatal(err)
		}
		fh.Sync()
		fsys.SyncDir("/")
		next := base
		for fz.len() > 0 && len(frames) < 64 {
			n := 1 + int(fz.byte()%4)
			var recs []fuzzRecord
			for range n {
				typ := ""
				if fz.byte()%4 == 0 {
					typ = "t"
				}
				recs = append(recs, fuzzRecord{typ, fz.bytes(int(fz.byte()))})
			}
			fb := sealRecords(codec, next, uint32(durable), recs, fuzzSalt)
			if _, err := fh.WriteAt(fb, pos); err != nil {
				t.Fatal(err)
			}
			frames = append(frames, frame{pos, fb})
			pos += int64(len(fb))
			next += uint64(n)
			switch fz.byte() % 4 {
			case 0: // sync, and later frames know it
				fh.Sync()
				synced, durable = pos, pos
			case 1: // sync, but the next frame was cut before it ended
				fh.Sync()
				synced = pos
			}
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		after := fsys.Crash(rng, mode)
		file, err := after.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(file)) < synced {
			t.Fatalf("crash lost synced bytes: %d left of %d", len(file), synced)
		}
		// Damage at rest inside the synced frames.
		rotAt := int64(-1)
		if rot%4 == 0 && synced > segment.HeaderSize {
			rotAt = segment.HeaderSize + int64(rotPos%uint64(synced-segment.HeaderSize))
			file[rotAt] ^= 1 << (rot >> 5)
		}

		var got []frame
		tail := segment.ScanTail(bytes.NewReader(file), name, fuzzSalt, segment.HeaderSize, int64(len(file)), base, func(pos int64, h *segment.FrameHeader) {
			got = append(got, frame{pos, file[pos : pos+h.Size()]})
		})
		if tail.Err != nil {
			t.Fatal(tail.Err)
		}
		// Every frame returned is one that was written, at its place.
		for i, g := range got {
			if i >= len(frames) || g.pos != frames[i].pos || !bytes.Equal(g.bytes, frames[i].bytes) {
				t.Fatalf("frame %d at %d was never written there", i, g.pos)
			}
		}
		if rotAt < 0 {
			if tail.Corrupt != nil {
				t.Fatalf("crash (%v) without damage reported as corruption: %v", mode, tail.Corrupt)
			}
			if tail.End < synced {
				t.Fatalf("ScanTail cut at %d, before the synced end %d", tail.End, synced)
			}
			if tail.End+tail.Torn+tail.Zero != int64(len(file)) {
				t.Fatalf("end %d + torn %d + zero %d != size %d", tail.End, tail.Torn, tail.Zero, len(file))
			}
			return
		}
		// The flipped frame stops the scan, at its start.
		hit := 0
		for hit+1 < len(frames) && frames[hit+1].pos <= rotAt {
			hit++
		}
		if tail.End != frames[hit].pos {
			t.Fatalf("flipped byte %d in the frame at %d, but the scan ends at %d", rotAt, frames[hit].pos, tail.End)
		}
		// It is corruption if an intact later frame carries a durable
		// watermark past it.
		proof := false
		for _, fr := range frames[hit+1:] {
			end := fr.pos + int64(len(fr.bytes))
			if end > int64(len(file)) || !bytes.Equal(file[fr.pos:end], fr.bytes) {
				continue
			}
			h, err := segment.ParseFrameHeader("", 0, fr.bytes, fuzzSalt)
			if err != nil {
				t.Fatal(err)
			}
			if int64(h.Durable) > tail.End {
				proof = true
			}
		}
		if proof && tail.Corrupt == nil {
			t.Fatalf("damage at %d that a later frame proves synced was cut as a torn tail (%d bytes)", rotAt, tail.Torn)
		}
		if !proof && tail.Corrupt != nil {
			t.Fatalf("damage at %d with no proof of sync after it reported as corruption: %v", rotAt, tail.Corrupt)
		}
	})
}

// fuzzBytes hands out the bytes of a fuzz input as values; past the end it
// gives zeros.
type fuzzBytes []byte

func (f *fuzzBytes) len() int { return len(*f) }

func (f *fuzzBytes) byte() byte {
	if len(*f) == 0 {
		return 0
	}
	b := (*f)[0]
	*f = (*f)[1:]
	return b
}

func (f *fuzzBytes) uint64() uint64 {
	var b [8]byte
	n := copy(b[:], *f)
	*f = (*f)[n:]
	return binary.LittleEndian.Uint64(b[:])
}

func (f *fuzzBytes) bytes(n int) []byte {
	n = min(n, len(*f))
	b := (*f)[:n]
	*f = (*f)[n:]
	return b
}

func scanSeeds(t testing.TB) [][]any {
	var seeds [][]any
	for _, c := range []segment.Codec{segment.CodecNone, segment.CodecZstd} {
		fsys, _ := buildLog(t, c)
		segs := logFiles(fsys, segment.Suffix)
		for _, n := range []string{segs[0], segs[len(segs)-1]} {
			b, err := fsys.ReadFile(filepath.Join(logDir, n))
			if err != nil {
				t.Fatal(err)
			}
			// A few frames are enough, and keep minimizing cheap.
			b = b[:min(len(b), 1200)]
			seeds = append(seeds, []any{b})
			if c == segment.CodecNone {
				// A torn copy and one with damage in the middle.
				seeds = append(seeds, []any{b[:len(b)-7]})
				d := bytes.Clone(b)
				d[len(d)/2] ^= 0xFF
				seeds = append(seeds, []any{d})
			}
		}
	}
	return seeds
}

func scanTailSeeds(t testing.TB) [][]any {
	var seeds [][]any
	for i := range 6 {
		rng := rand.New(rand.NewPCG(uint64(i), 99))
		in := []byte{byte(i % 3), byte(i % 4)}
		in = binary.LittleEndian.AppendUint64(in, uint64(i)*7919)
		in = append(in, byte(i*64)) // damage at rest in half the seeds
		in = binary.LittleEndian.AppendUint64(in, rng.Uint64())
		for range 12 {
			in = append(in, byte(rng.IntN(4)))
			for range 3 {
				n := rng.IntN(60)
				in = append(in, byte(rng.IntN(8)), byte(n))
				in = append(in, fmt.Appendf(nil, "%0*d", n, rng.IntN(1e9))...)
			}
			in = append(in, byte(rng.IntN(4)))
		}
		seeds = append(seeds, []any{in})
	}
	return seeds
}
