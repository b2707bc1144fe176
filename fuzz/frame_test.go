package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/seglog/seglog/segment"
)

// FuzzFrame feeds arbitrary bytes to the frame decoder: ParseFrameHeader,
// VerifyFrame, Decompress and the record walk. Each input is tried as it
// is and with its two checksums recomputed ("resealed"), since random
// bytes almost never pass xxhash and the decoders behind it would go
// untested. The decoder must never panic, must allocate no more than the
// header's bounded lengths allow, and a frame that decodes must re-encode
// to a frame that decodes to the same records.
func FuzzFrame(f *testing.F) {
	warmCodecs()
	f.Add([]byte{})
	f.Add(make([]byte, segment.FrameHeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFrame(t, b)
		if len(b) >= segment.FrameHeaderSize {
			checkFrame(t, reseal(b))
		}
	})
}

// reseal returns a copy of b whose frame header and frame checksums are
// correct for its bytes, taking the body to be the rest of b.
func reseal(b []byte) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[28:], uint32(xxhash.Sum64(b[:28])))
	var d xxhash.Digest
	d.Reset()
	d.Write(b[:32])
	n := int(binary.LittleEndian.Uint32(b[0:]))
	if n > len(b)-segment.FrameHeaderSize {
		n = len(b) - segment.FrameHeaderSize
	}
	d.Write(b[segment.FrameHeaderSize : segment.FrameHeaderSize+n])
	binary.LittleEndian.PutUint64(b[32:], d.Sum64())
	return b
}

type fuzzRecord struct {
	typ  string
	data []byte
}

func checkFrame(t *testing.T, b []byte) {
	h, err := segment.ParseFrameHeader("frame", 0, b, 0)
	if err != nil {
		if !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("ParseFrameHeader error %v does not match ErrCorrupt", err)
		}
		return
	}
	switch {
	case h.BodyLen > segment.MaxFrameBody || h.RawLen > segment.MaxFrameBody:
		t.Fatalf("accepted lengths %d/%d over MaxFrameBody", h.BodyLen, h.RawLen)
	case h.Count == 0:
		t.Fatalf("accepted an empty frame")
	case h.Codec > segment.CodecZstd:
		t.Fatalf("accepted codec %d", h.Codec)
	case h.Codec == segment.CodecNone && h.BodyLen != h.RawLen:
		t.Fatalf("accepted an uncompressed frame with stored %d != raw %d", h.BodyLen, h.RawLen)
	}
	if int64(len(b)) < h.Size() {
		return // incomplete
	}
	body := b[segment.FrameHeaderSize:h.Size()]
	if err := segment.VerifyFrame("frame", 0, &h, b, body, 0); err != nil {
		return
	}
	var raw []byte
	checkAlloc(t, "Decompress", 2*uint64(h.RawLen)+4*uint64(len(body)), func() {
		raw, err = segment.Decompress(h.Codec, nil, body, h.RawLen)
	})
	if err != nil {
		return
	}
	if len(raw) != int(h.RawLen) {
		t.Fatalf("Decompress returned %d bytes, header says %d", len(raw), h.RawLen)
	}
	recs, err := walkBody(raw, h.Count)
	if cerr := segment.CheckBody(raw, h.Count); (cerr == nil) != (err == nil) {
		t.Fatalf("CheckBody says %v, the walk says %v", cerr, err)
	}
	if err != nil {
		return
	}
	// Re-encode the records under every codec: the result must decode to
	// the same records.
	for _, c := range []segment.Codec{segment.CodecNone, segment.CodecS2, segment.CodecZstd} {
		fb := sealRecords(c, h.Base, h.Durable, recs, fuzzSalt)
		h2, err := segment.ParseFrameHeader("re", 0, fb, fuzzSalt)
		if err != nil {
			t.Fatalf("re-encoded frame (%v): %v", c, err)
		}
		if h2.Base != h.Base || h2.Count != h.Count || h2.Durable != h.Durable {
			t.Fatalf("re-encoded header %+v, want base %d count %d durable %d", h2, h.Base, h.Count, h.Durable)
		}
		if err := segment.VerifyFrame("re", 0, &h2, fb, fb[segment.FrameHeaderSize:], fuzzSalt); err != nil {
			t.Fatalf("re-encoded frame (%v): %v", c, err)
		}
		raw2, err := segment.Decompress(h2.Codec, nil, fb[segment.FrameHeaderSize:], h2.RawLen)
		if err != nil {
			t.Fatalf("re-encoded frame (%v): %v", c, err)
		}
		recs2, err := walkBody(raw2, h2.Count)
		if err != nil {
			t.Fatalf("re-encoded frame (%v): %v", c, err)
		}
		for i := range recs {
			if recs[i].typ != recs2[i].typ || !bytes.Equal(recs[i].data, recs2[i].data) {
				t.Fatalf("re-encoded frame (%v): record %d differs", c, i)
			}
		}
	}
}

// walkBody decodes exactly count records from raw, checking each against
// the format's limits.
func walkBody(raw []byte, count uint32) ([]fuzzRecord, error) {
	var body segment.Body
	body.Reset(raw)
	var recs []fuzzRecord
	for i := uint32(0); i < count; i++ {
		before := body.Len()
		typ, data, err := body.Next()
		if err != nil {
			return nil, err
		}
		if len(typ) > segment.MaxTypeLen {
			return nil, fmt.Errorf("type of %d bytes returned", len(typ))
		}
		if used := before - body.Len(); used < segment.RecordSize(typ, data) || used > before {
			return nil, fmt.Errorf("record %d used %d bytes for an encoding of %d", i, used, segment.RecordSize(typ, data))
		}
		recs = append(recs, fuzzRecord{typ, bytes.Clone(data)})
	}
	if body.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the last record", body.Len())
	}
	return recs, nil
}

// fuzzSalt is the salt of the version 2 segments the targets build. The
// frame target's inputs are version 1 frames (no salt), so that the
// committed corpus keeps its meaning; re-encoding uses this salt.
const fuzzSalt segment.Salt = 0x0f0e_0d0c

// sealRecords builds a frame holding recs for a file with salt salt,
// compressed with c if that helps.
func sealRecords(c segment.Codec, base uint64, durable uint32, recs []fuzzRecord, salt segment.Salt) []byte {
	var raw []byte
	for _, r := range recs {
		raw = segment.AppendRecord(raw, r.typ, r.data)
	}
	h := segment.FrameHeader{Base: base, Count: uint32(len(recs)), RawLen: uint32(len(raw)), Durable: durable}
	stored := raw
	if out, ok := segment.Compress(c, nil, raw); ok {
		stored, h.Codec = out, c
	}
	fb := append(make([]byte, segment.FrameHeaderSize), stored...)
	segment.SealFrame(fb, &h, salt)
	return fb
}

func frameSeeds(t testing.TB) [][]any {
	text := []byte("the quick brown fox jumps over the lazy dog; the quick brown fox jumps again")
	recs := []fuzzRecord{{"", text}, {"ping", []byte(`{"type":"ping"}`)}, {"", nil}, {"t", text[:10]}}
	var seeds [][]any
	for _, c := range []segment.Codec{segment.CodecNone, segment.CodecS2, segment.CodecZstd} {
		seeds = append(seeds, []any{sealRecords(c, 42, 32, recs, 0)})
	}
	// A valid frame whose body is truncated, and one with a flipped byte.
	fb := sealRecords(segment.CodecNone, 7, 0, recs, 0)
	seeds = append(seeds, []any{fb[:len(fb)-3]})
	flipped := bytes.Clone(fb)
	flipped[segment.FrameHeaderSize+5] ^= 0x20
	seeds = append(seeds, []any{flipped})
	// Headers claiming huge lengths, with correct header checksums.
	huge := make([]byte, segment.FrameHeaderSize+8)
	binary.LittleEndian.PutUint32(huge[0:], 0xFFFFFFF0)
	binary.LittleEndian.PutUint32(huge[4:], 0xFFFFFFF0)
	binary.LittleEndian.PutUint32(huge[16:], 1)
	huge[24] = byte(segment.CodecZstd)
	seeds = append(seeds, []any{reseal(huge)})
	// An s2 body whose length prefix claims 1 GiB.
	bomb := make([]byte, segment.FrameHeaderSize)
	s2body := binary.AppendUvarint(nil, 1<<30)
	s2body = append(s2body, 0, 0, 0, 0)
	bomb = append(bomb, s2body...)
	binary.LittleEndian.PutUint32(bomb[0:], uint32(len(s2body)))
	binary.LittleEndian.PutUint32(bomb[4:], 100)
	binary.LittleEndian.PutUint32(bomb[16:], 1)
	bomb[24] = byte(segment.CodecS2)
	seeds = append(seeds, []any{reseal(bomb)})
	return seeds
}
