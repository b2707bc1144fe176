package segment

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Dictionary limits. Frozen with the format.
const (
	// MaxDictSize bounds a dictionary's content, stored and loaded.
	MaxDictSize = 1 << 20
	// MinDictSize is the smallest dictionary content accepted (s2's own
	// minimum).
	MinDictSize = s2.MinDictSize
)

// Dict is a trained compression dictionary: content that frames compressed
// with it may refer back to, as if it preceded every frame. A frame names
// its dictionary by ID (FrameHeader.Dict); the same content serves both
// compressed codecs: zstd as a raw-content dictionary, s2 with its last
// s2.MaxDictSize bytes. The encoders and decoders are built on first use.
type Dict struct {
	ID      uint16
	Content []byte

	zOnce sync.Once
	zEnc  *zstd.Encoder
	zDec  *zstd.Decoder
	zErr  error

	sOnce sync.Once
	sDict *s2.Dict
}

// NewDict returns the dictionary id with content; the id must not be 0
// (frames without a dictionary) and the content must be between
// MinDictSize and MaxDictSize bytes.
func NewDict(id uint16, content []byte) (*Dict, error) {
	switch {
	case id == 0:
		return nil, fmt.Errorf("dictionary id 0 is reserved for frames without one")
	case len(content) < MinDictSize || len(content) > MaxDictSize:
		return nil, fmt.Errorf("dictionary of %d bytes (want %d to %d)", len(content), MinDictSize, MaxDictSize)
	}
	return &Dict{ID: id, Content: content}, nil
}

func (d *Dict) zstd() (*zstd.Encoder, *zstd.Decoder, error) {
	d.zOnce.Do(func() {
		d.zEnc, d.zErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true),
			zstd.WithEncoderDictRaw(uint32(d.ID), d.Content))
		if d.zErr != nil {
			return
		}
		d.zDec, d.zErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxFrameBody),
			zstd.WithDecoderMaxWindow(MaxFrameBody),
			zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderDictRaw(uint32(d.ID), d.Content))
	})
	return d.zEnc, d.zDec, d.zErr
}

func (d *Dict) s2() *s2.Dict {
	d.sOnce.Do(func() {
		c := d.Content
		if len(c) > s2.MaxDictSize {
			c = c[len(c)-s2.MaxDictSize:]
		}
		d.sDict = s2.MakeDictManual(c, 0)
	})
	return d.sDict
}

// Close releases the dictionary's decoders.
func (d *Dict) Close() {
	d.zOnce.Do(func() {}) // no encoder may be built after Close
	if d.zDec != nil {
		d.zDec.Close()
	}
}

// DictSource gives the dictionary a frame names. It returns an error
// matching ErrCorrupt that names the dictionary's file when the dictionary
// is missing or damaged.
type DictSource interface {
	Dict(id uint16) (*Dict, error)
}

// CompressDict is Compress with dictionary d (nil for none). dictID is
// the dictionary the output was compressed with, for FrameHeader.Dict: 0
// when d is nil or its codec could not be built (the frame is then
// compressed without it).
func CompressDict(c Codec, d *Dict, scratch, raw []byte) (out []byte, dictID uint16, ok bool) {
	if d == nil {
		out, ok = Compress(c, scratch, raw)
		return out, 0, ok
	}
	switch c {
	case CodecS2:
		sd := d.s2()
		if sd == nil {
			out, ok = Compress(c, scratch, raw)
			return out, 0, ok
		}
		if n := s2.MaxEncodedLen(len(raw)); n > cap(scratch) {
			scratch = make([]byte, n)
		}
		out = sd.Encode(scratch[:cap(scratch)], raw)
	case CodecZstd:
		enc, _, err := d.zstd()
		if err != nil {
			out, ok = Compress(c, scratch, raw)
			return out, 0, ok
		}
		out = enc.EncodeAll(raw, scratch[:0])
	default:
		return scratch[:0], 0, false
	}
	return out, d.ID, len(out) < len(raw)
}

// DecompressDict is Decompress for a frame compressed with dictionary d,
// with the same bounds: it never allocates more than MaxFrameBody plus one
// compression block, and the body must yield exactly rawLen bytes.
func DecompressDict(c Codec, d *Dict, dst, body []byte, rawLen uint32) ([]byte, error) {
	if d == nil {
		return Decompress(c, dst, body, rawLen)
	}
	if rawLen > MaxFrameBody {
		return nil, fmt.Errorf("raw length %d over the %d limit", rawLen, MaxFrameBody)
	}
	switch c {
	case CodecS2:
		sd := d.s2()
		if sd == nil {
			return nil, fmt.Errorf("s2: dictionary %d unusable", d.ID)
		}
		dst, err := s2Dst(dst, body, rawLen)
		if err != nil {
			return nil, err
		}
		out, err := sd.Decode(dst, body)
		if err != nil {
			return nil, fmt.Errorf("s2 with dictionary %d: %w", d.ID, err)
		}
		return out, nil
	case CodecZstd:
		_, dec, err := d.zstd()
		if err != nil {
			return nil, fmt.Errorf("zstd: dictionary %d: %w", d.ID, err)
		}
		limit := int(rawLen) + min(zstdSlack, int(rawLen)/16)
		if cap(dst) < limit {
			dst = make([]byte, 0, limit)
		}
		out, err := dec.DecodeAll(body, dst[:0:limit])
		if err != nil {
			return nil, fmt.Errorf("zstd with dictionary %d: %w", d.ID, err)
		}
		if len(out) != int(rawLen) {
			return nil, fmt.Errorf("zstd: body decodes to %d bytes, header says %d", len(out), rawLen)
		}
		return out, nil
	}
	return nil, fmt.Errorf("codec %s takes no dictionary", c)
}

// DictError reports a frame whose checksums hold but whose dictionary is
// missing or damaged: the frame cannot be decoded, yet nothing says it
// was torn, so recovery must not cut it. It matches ErrCorrupt.
type DictError struct {
	File   string // the segment file
	Offset int64  // the frame's position in it
	ID     uint16 // the dictionary the frame names
	Err    error  // why the dictionary cannot be had; names its file
}

func (e *DictError) Error() string {
	return fmt.Sprintf("%s: offset %d: corrupt: frame compressed with dictionary %d: %v", e.File, e.Offset, e.ID, e.Err)
}

// Unwrap makes DictError match ErrCorrupt.
func (e *DictError) Unwrap() error { return ErrCorrupt }

// LookupDict returns the dictionary frame header h names (nil if none)
// from src, or a *DictError.
func LookupDict(src DictSource, file string, pos int64, h *FrameHeader) (*Dict, error) {
	if h.Dict == 0 {
		return nil, nil
	}
	if src == nil {
		return nil, &DictError{File: file, Offset: pos, ID: h.Dict, Err: fmt.Errorf("no dictionary available")}
	}
	d, err := src.Dict(h.Dict)
	if err != nil {
		return nil, &DictError{File: file, Offset: pos, ID: h.Dict, Err: err}
	}
	return d, nil
}
