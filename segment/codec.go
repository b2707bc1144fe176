package segment

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// The zstd encoder and decoder are safe for concurrent EncodeAll and
// DecodeAll calls and expensive to build, so one of each serves the process.
var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
)

func zstdCodecs() (*zstd.Encoder, *zstd.Decoder) {
	zstdOnce.Do(func() {
		zstdEnc, _ = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true))
		zstdDec, _ = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxFrameBody),
			zstd.WithDecoderMaxWindow(MaxFrameBody),
			// DecodeAll stops once the output passes dst's capacity,
			// so a body cannot decode to more than its header claims.
			zstd.WithDecodeAllCapLimit(true))
	})
	return zstdEnc, zstdDec
}

// Compress compresses raw with c, reusing scratch's capacity. It returns
// ok == false when compression does not shrink the body, and the frame is
// then stored uncompressed.
func Compress(c Codec, scratch, raw []byte) (out []byte, ok bool) {
	switch c {
	case CodecS2:
		if n := s2.MaxEncodedLen(len(raw)); n > cap(scratch) {
			scratch = make([]byte, n)
		}
		out = s2.Encode(scratch[:cap(scratch)], raw)
	case CodecZstd:
		enc, _ := zstdCodecs()
		out = enc.EncodeAll(raw, scratch[:0])
	default:
		return scratch[:0], false
	}
	return out, len(out) < len(raw)
}

// zstdSlack is room for one zstd block past rawLen: the decoder notices it
// has passed dst's capacity only after decoding a whole block, which then
// fits instead of making it grow dst. Small frames get a proportional share,
// so that reading them does not cost a block's allocation.
const zstdSlack = 128<<10 + 64

// Decompress decodes a stored body into dst (reusing its capacity) and
// checks that it yields exactly rawLen bytes. A rawLen over MaxFrameBody is
// refused, and decoding stops soon after rawLen bytes, so neither the
// header nor the body can make this allocate more than MaxFrameBody plus
// one compression block.
func Decompress(c Codec, dst, body []byte, rawLen uint32) ([]byte, error) {
	if rawLen > MaxFrameBody {
		return nil, fmt.Errorf("raw length %d over the %d limit", rawLen, MaxFrameBody)
	}
	switch c {
	case CodecNone:
		return body, nil
	case CodecS2:
		dst, err := s2Dst(dst, body, rawLen)
		if err != nil {
			return nil, err
		}
		out, err := s2.Decode(dst, body)
		if err != nil {
			return nil, fmt.Errorf("s2: %w", err)
		}
		return out, nil
	case CodecZstd:
		_, dec := zstdCodecs()
		limit := int(rawLen) + min(zstdSlack, int(rawLen)/16)
		if cap(dst) < limit {
			dst = make([]byte, 0, limit)
		}
		out, err := dec.DecodeAll(body, dst[:0:limit])
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if len(out) != int(rawLen) {
			return nil, fmt.Errorf("zstd: body decodes to %d bytes, header says %d", len(out), rawLen)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown codec %d", c)
}

// s2Dst checks that an s2 body decodes to exactly rawLen bytes, before
// anything is allocated for it, and returns dst sized to hold them.
func s2Dst(dst, body []byte, rawLen uint32) ([]byte, error) {
	n, err := s2.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("s2: %w", err)
	}
	if n != int(rawLen) {
		return nil, fmt.Errorf("s2: body decodes to %d bytes, header says %d", n, rawLen)
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	return dst[:n], nil
}
