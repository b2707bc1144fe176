package segment_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/seglog/seglog/segment"
)

func TestFileHeaderRoundTrip(t *testing.T) {
	for _, base := range []uint64{0, 1, 1 << 40, ^uint64(0)} {
		for _, salt := range []segment.Salt{0, testSalt} {
			h := segment.AppendFileHeader(nil, base, segment.FlagPrevUnsynced, salt)
			got, err := segment.ParseFileHeader("f.seg", h)
			want := segment.FileHeader{Version: segment.VersionSalted, Flags: segment.FlagPrevUnsynced, Salt: salt, Base: base}
			if salt == 0 {
				want.Version = 1
			}
			if err != nil || got != want {
				t.Fatalf("ParseFileHeader(AppendFileHeader(%d, salt %#x)) = %+v, %v; want %+v", base, salt, got, err, want)
			}
			if salt == 0 {
				continue
			}
			h = segment.AppendFileHeaderDict(nil, base, segment.FlagPrevUnsynced, salt)
			got, err = segment.ParseFileHeader("f.seg", h)
			want.Version = segment.Version
			if err != nil || got != want {
				t.Fatalf("ParseFileHeader(AppendFileHeaderDict(%d, salt %#x)) = %+v, %v; want %+v", base, salt, got, err, want)
			}
		}
	}
}

// TestFileHeaderRejectsEveryByteChange flips each byte of a segment header
// with every non-zero mask.
func TestFileHeaderRejectsEveryByteChange(t *testing.T) {
	h := segment.AppendFileHeader(nil, 7, 0, testSalt)
	for i := range h {
		for x := 1; x < 256; x++ {
			b := append([]byte(nil), h...)
			b[i] ^= byte(x)
			if fh, err := segment.ParseFileHeader("f.seg", b); err == nil {
				t.Fatalf("byte %d ^= %#x: accepted as %+v", i, x, fh)
			}
		}
	}
	if _, err := segment.ParseFileHeader("f.seg", h[:segment.HeaderSize-1]); !errors.Is(err, segment.ErrCorrupt) {
		t.Errorf("short header: %v, want ErrCorrupt", err)
	}
}

// TestFileHeaderVersion checks that a well-formed header of another
// version is refused as unsupported, not as damage.
func TestFileHeaderVersion(t *testing.T) {
	h := segment.AppendFileHeader(nil, 7, 0, testSalt)
	binary.LittleEndian.PutUint16(h[8:], segment.Version+1)
	binary.LittleEndian.PutUint64(h[24:], xxhash.Sum64(h[:24]))
	_, err := segment.ParseFileHeader("f.seg", h)
	if err == nil || errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("version %d header: %v, want an unsupported-version error", segment.Version+1, err)
	}
	// A version 2 header must carry a salt, a version 1 header none.
	for _, tt := range []struct {
		version uint16
		salt    uint32
	}{{segment.Version, 0}, {1, 42}} {
		h := segment.AppendFileHeader(nil, 7, 0, testSalt)
		binary.LittleEndian.PutUint16(h[8:], tt.version)
		binary.LittleEndian.PutUint32(h[12:], tt.salt)
		binary.LittleEndian.PutUint64(h[24:], xxhash.Sum64(h[:24]))
		if _, err := segment.ParseFileHeader("f.seg", h); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("version %d header with salt %#x: %v, want ErrCorrupt", tt.version, tt.salt, err)
		}
	}
}

func TestFrameHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		base    uint64
		durable uint32
		codec   segment.Codec
		recs    []rec
	}{
		{"one empty record", 0, segment.HeaderSize, segment.CodecNone, []rec{{}}},
		{"typed records", 1 << 40, 1 << 20, segment.CodecNone, records(0, 10)},
		{"s2", 99, 1234, segment.CodecS2, records(0, 50)},
		{"zstd", ^uint64(0) - 50, 77, segment.CodecZstd, records(0, 50)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb, want := buildFrame(tt.base, frameSpec{recs: tt.recs, durable: tt.durable, codec: tt.codec})
			h, err := segment.ParseFrameHeader("f.seg", 100, fb, testSalt)
			if err != nil {
				t.Fatal(err)
			}
			if h != want {
				t.Fatalf("parsed %+v, sealed %+v", h, want)
			}
			if h.Base != tt.base || h.Count != uint32(len(tt.recs)) || h.Durable != tt.durable || h.Codec != tt.codec {
				t.Fatalf("parsed %+v: fields lost", h)
			}
			if h.Size() != int64(len(fb)) || h.Next() != tt.base+uint64(len(tt.recs)) {
				t.Fatalf("Size %d Next %d for a %d-byte frame", h.Size(), h.Next(), len(fb))
			}
			if err := segment.VerifyFrame("f.seg", 100, &h, fb, fb[segment.FrameHeaderSize:], testSalt); err != nil {
				t.Fatal(err)
			}
			raw, err := segment.Decompress(h.Codec, nil, fb[segment.FrameHeaderSize:], h.RawLen)
			if err != nil {
				t.Fatal(err)
			}
			if err := segment.CheckBody(raw, h.Count); err != nil {
				t.Fatal(err)
			}
			var body segment.Body
			body.Reset(raw)
			for i, r := range tt.recs {
				typ, data, err := body.Next()
				if err != nil || typ != r.typ || string(data) != string(r.data) {
					t.Fatalf("record %d = %q %q %v, want %q %q", i, typ, data, err, r.typ, r.data)
				}
			}
		})
	}
}

// TestFrameRejectsEveryByteChange flips every byte of a frame, header and
// body, with every non-zero mask: the header checksum rejects a change to
// its first 32 bytes before anything else is trusted, and the frame
// checksum rejects the rest.
func TestFrameRejectsEveryByteChange(t *testing.T) {
	const pos = 4096
	fb, _ := buildFrame(10, frameSpec{recs: records(0, 3), durable: 32})
	for i := range fb {
		for x := 1; x < 256; x++ {
			b := append([]byte(nil), fb...)
			b[i] ^= byte(x)
			h, err := segment.ParseFrameHeader("f.seg", pos, b, testSalt)
			if i < 32 {
				if err == nil {
					t.Fatalf("header byte %d ^= %#x: ParseFrameHeader accepted %+v", i, x, h)
				}
				mustCorrupt(t, err, "f.seg", pos)
				continue
			}
			if err != nil {
				t.Fatalf("byte %d ^= %#x: ParseFrameHeader: %v (only the frame checksum covers it)", i, x, err)
			}
			err = segment.VerifyFrame("f.seg", pos, &h, b, b[segment.FrameHeaderSize:], testSalt)
			mustCorrupt(t, err, "f.seg", pos)
		}
	}
}

// rawHeader encodes a frame header with a valid header checksum and any
// field values, as a damaged or hostile file may hold.
func rawHeader(bodyLen, rawLen uint32, base uint64, count, durable uint32, codec, flags byte) []byte {
	b := make([]byte, segment.FrameHeaderSize)
	binary.LittleEndian.PutUint32(b[0:], bodyLen)
	binary.LittleEndian.PutUint32(b[4:], rawLen)
	binary.LittleEndian.PutUint64(b[8:], base)
	binary.LittleEndian.PutUint32(b[16:], count)
	binary.LittleEndian.PutUint32(b[20:], durable)
	b[24], b[25] = codec, flags
	binary.LittleEndian.PutUint32(b[28:], uint32(xxhash.Sum64(b[:28])))
	return b
}

// TestFrameHeaderLimits feeds headers whose checksum is right but whose
// fields are not: each is refused by ParseFrameHeader, before a caller
// would allocate for the body.
func TestFrameHeaderLimits(t *testing.T) {
	const big = segment.MaxFrameBody + 1
	tests := []struct {
		name string
		hdr  []byte
		ok   bool
	}{
		{"valid", rawHeader(10, 10, 0, 1, 0, 0, 0), true},
		{"maximal", rawHeader(segment.MaxFrameBody, segment.MaxFrameBody, 0, 1, 0, 0, 0), true},
		{"bodyLen over limit", rawHeader(big, big, 0, 1, 0, 0, 0), false},
		{"bodyLen max uint32", rawHeader(^uint32(0), ^uint32(0), 0, 1, 0, 0, 0), false},
		{"compressed bodyLen over limit", rawHeader(big, 10, 0, 1, 0, byte(segment.CodecS2), 0), false},
		{"rawLen over limit (bomb)", rawHeader(10, big, 0, 1, 0, byte(segment.CodecZstd), 0), false},
		{"rawLen max uint32 (bomb)", rawHeader(10, ^uint32(0), 0, 1, 0, byte(segment.CodecS2), 0), false},
		{"uncompressed lengths differ", rawHeader(10, 11, 0, 1, 0, 0, 0), false},
		{"unknown codec", rawHeader(10, 10, 0, 1, 0, 3, 0), false},
		{"prev-synced flag", rawHeader(10, 10, 0, 1, 0, 0, segment.FrameFlagPrevSynced), true},
		{"unknown flag", rawHeader(10, 10, 0, 1, 0, 0, 2), false},
		{"no records", rawHeader(10, 10, 0, 0, 0, 0, 0), false},
		{"too many records", rawHeader(10, 10, 0, 7, 0, 0, 0), false},
		{"most records", rawHeader(10, 10, 0, 6, 0, 0, 0), true},
		{"offset overflow", rawHeader(10, 10, ^uint64(0), 2, 0, 0, 0), false},
		{"short", rawHeader(10, 10, 0, 1, 0, 0, 0)[:segment.FrameHeaderSize-1], false},
	}
	for _, tt := range tests {
		_, err := segment.ParseFrameHeader("f.seg", 64, tt.hdr, 0)
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if !tt.ok {
			if err == nil {
				t.Errorf("%s: accepted", tt.name)
				continue
			}
			mustCorrupt(t, err, "f.seg", 64)
		}
	}
	// The reserved bytes 26 and 27 must be zero as well.
	for _, i := range []int{26, 27} {
		b := rawHeader(10, 10, 0, 1, 0, 0, 0)
		b[i] = 1
		binary.LittleEndian.PutUint32(b[28:], uint32(xxhash.Sum64(b[:28])))
		if _, err := segment.ParseFrameHeader("f.seg", 0, b, 0); err == nil {
			t.Errorf("reserved byte %d set: accepted", i)
		}
	}
}

// TestScannerDoesNotTrustLengths shows that a header claiming a body over
// MaxFrameBody stops a scan without a read (and so a buffer) of that size.
func TestScannerDoesNotTrustLengths(t *testing.T) {
	for _, bodyLen := range []uint32{segment.MaxFrameBody + 1, ^uint32(0)} {
		file := append(segment.AppendFileHeader(nil, 0, 0, 0), rawHeader(bodyLen, bodyLen, 0, 1, 0, 0, 0)...)
		file = append(file, make([]byte, 100)...)
		r := &countingReader{b: file}
		s := segment.NewScanner(r, "f.seg", testSalt, segment.HeaderSize, 1<<40, 0)
		if s.Next() {
			t.Fatalf("bodyLen %d: scanner returned a frame", bodyLen)
		}
		mustCorrupt(t, s.Err(), "f.seg", segment.HeaderSize)
		if r.maxRead > 1<<20 {
			t.Fatalf("bodyLen %d: scanner asked for a %d-byte read", bodyLen, r.maxRead)
		}
	}
}
