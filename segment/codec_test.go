package segment_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/seglog/seglog/segment"
)

var codecs = []segment.Codec{segment.CodecNone, segment.CodecS2, segment.CodecZstd}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestCompressRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := []struct {
		name         string
		raw          []byte
		compressible bool
	}{
		{"two bytes", []byte{0, 0}, false},
		{"short text", []byte("hello, hello, hello, hello, hello"), true},
		{"64KiB repetitive", bytes.Repeat([]byte("seglog record "), 64<<10/14), true},
		{"64KiB random", randomBytes(rng, 64<<10), false},
		{"4MiB repetitive", bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 4<<20/7), true},
	}
	for _, c := range codecs {
		var scratch, dst []byte
		for _, in := range inputs {
			out, ok := segment.Compress(c, scratch, in.raw)
			if c == segment.CodecNone && ok {
				t.Fatalf("%v %s: CodecNone claims to compress", c, in.name)
			}
			if c != segment.CodecNone && ok != in.compressible {
				t.Errorf("%v %s: Compress ok = %v, want %v (%d -> %d bytes)", c, in.name, ok, in.compressible, len(in.raw), len(out))
			}
			if !ok {
				continue
			}
			if len(out) >= len(in.raw) {
				t.Fatalf("%v %s: ok with %d -> %d bytes", c, in.name, len(in.raw), len(out))
			}
			got, err := segment.Decompress(c, dst, out, uint32(len(in.raw)))
			if err != nil || !bytes.Equal(got, in.raw) {
				t.Fatalf("%v %s: Decompress = %d bytes, %v", c, in.name, len(got), err)
			}
			// Wrong lengths are refused.
			for _, rawLen := range []uint32{uint32(len(in.raw)) - 1, uint32(len(in.raw)) + 1, 0} {
				if _, err := segment.Decompress(c, nil, out, rawLen); err == nil {
					t.Fatalf("%v %s: Decompress with rawLen %d of %d accepted", c, in.name, rawLen, len(in.raw))
				}
			}
			scratch, dst = out[:0], got[:0]
		}
	}
}

// TestDecompressGarbage feeds random and truncated bodies: errors, never a
// panic.
func TestDecompressGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	raw := bytes.Repeat([]byte("abcdefgh"), 4096)
	for _, c := range []segment.Codec{segment.CodecS2, segment.CodecZstd} {
		good, _ := segment.Compress(c, nil, raw)
		good = append([]byte(nil), good...)
		for i := 0; i < 200; i++ {
			body := randomBytes(rng, rng.IntN(512))
			if _, err := segment.Decompress(c, nil, body, uint32(rng.IntN(1<<16))); err == nil && len(body) > 0 {
				// A random body that decodes to exactly the claimed
				// length is possible but should be vanishingly rare.
				t.Logf("%v: random body of %d bytes decoded", c, len(body))
			}
			cut := good[:rng.IntN(len(good))]
			if _, err := segment.Decompress(c, nil, cut, uint32(len(raw))); err == nil {
				t.Fatalf("%v: body cut to %d of %d bytes decoded", c, len(cut), len(good))
			}
		}
	}
	if _, err := segment.Decompress(segment.Codec(3), nil, []byte{1}, 1); err == nil {
		t.Fatal("unknown codec accepted")
	}
}

// zstdBomb returns a small zstd stream that decodes to n zero bytes. With
// fcs it declares its size in the frame header, as EncodeAll does;
// without, it does not, as a streaming encoder does.
func zstdBomb(t *testing.T, n int64, fcs bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	if fcs {
		enc.ResetContentSize(&buf, n)
	} else {
		enc.Reset(&buf)
	}
	zero := make([]byte, 1<<20)
	for w := int64(0); w < n; w += int64(len(zero)) {
		if _, err := enc.Write(zero[:min(int64(len(zero)), n-w)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// s2Claim returns an s2 block whose header claims n decoded bytes, followed
// by a little data.
func s2Claim(n uint64) []byte {
	b := binary.AppendUvarint(nil, n)
	return append(b, s2.Encode(nil, make([]byte, 1000))[2:]...)
}

// TestDecompressBomb decodes bodies that expand far past what their header
// claims, and headers that claim far more than any frame may hold: each is
// refused, and no call allocates much more than min(rawLen, MaxFrameBody).
func TestDecompressBomb(t *testing.T) {
	const slack = 1 << 20 // decoder state, error values
	streamBomb := zstdBomb(t, 200<<20, false)
	sizedBomb := zstdBomb(t, 200<<20, true)
	tests := []struct {
		name   string
		codec  segment.Codec
		body   []byte
		rawLen uint32
	}{
		{"zstd stream bomb, small claim", segment.CodecZstd, streamBomb, 1000},
		{"zstd stream bomb, 1MiB claim", segment.CodecZstd, streamBomb, 1 << 20},
		{"zstd stream bomb, maximal claim", segment.CodecZstd, streamBomb, segment.MaxFrameBody},
		{"zstd sized bomb, small claim", segment.CodecZstd, sizedBomb, 1000},
		{"zstd sized bomb, maximal claim", segment.CodecZstd, sizedBomb, segment.MaxFrameBody},
		{"zstd small body, huge claim", segment.CodecZstd, zstdBomb(t, 1000, false), ^uint32(0)},
		{"zstd small body, claim over limit", segment.CodecZstd, zstdBomb(t, 1000, true), segment.MaxFrameBody + 1},
		{"s2 header claims 4GiB", segment.CodecS2, s2Claim(1<<32 - 1), 1<<32 - 1},
		{"s2 header claims 4GiB, small rawLen", segment.CodecS2, s2Claim(1<<32 - 1), 1000},
		{"s2 header claims over limit", segment.CodecS2, s2Claim(segment.MaxFrameBody + 1), segment.MaxFrameBody + 1},
		{"s2 header claims maximal frame", segment.CodecS2, s2Claim(segment.MaxFrameBody), segment.MaxFrameBody},
	}
	// Build the codecs' shared state before measuring.
	small, _ := segment.Compress(segment.CodecZstd, nil, bytes.Repeat([]byte{1}, 4096))
	if _, err := segment.Decompress(segment.CodecZstd, nil, small, 4096); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		var err error
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		_, err = segment.Decompress(tt.codec, nil, tt.body, tt.rawLen)
		runtime.ReadMemStats(&m1)
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
		bound := uint64(min(tt.rawLen, segment.MaxFrameBody)) + slack
		if got := m1.TotalAlloc - m0.TotalAlloc; got > bound {
			t.Errorf("%s: allocated %d bytes, bound %d", tt.name, got, bound)
		}
	}
}
