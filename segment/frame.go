package segment

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// FrameHeader is the decoded header of one frame.
type FrameHeader struct {
	BodyLen uint32 // stored body bytes following the header
	RawLen  uint32 // body bytes after decompression
	Base    uint64 // offset of the frame's first record
	Count   uint32 // records in the frame
	// Durable is the end of the frames the writer knew to be on stable
	// storage when it wrote this frame (the segment size, but for
	// preallocated zeros). A valid frame with Durable > p proves that
	// the bytes before p were synced, so damage there is corruption and
	// not a torn write.
	Durable uint32
	Codec   Codec
	Flags   uint8 // FrameFlagPrevSynced or 0
	// Dict is the dictionary the body was compressed with (see Dict),
	// 0 for none. Only version 3 files hold frames with one.
	Dict uint16
	Sum  uint64 // xxhash64 of the salt, header bytes [0,32) and the stored body
}

// FrameFlagPrevSynced marks a frame written after the previous segment was
// known to be on stable storage: it lifts the segment header's
// FlagPrevUnsynced.
const FrameFlagPrevSynced uint8 = 1 << 0

// Size is the frame's total size in the file.
func (h *FrameHeader) Size() int64 { return FrameHeaderSize + int64(h.BodyLen) }

// Next is the offset following the frame's last record.
func (h *FrameHeader) Next() uint64 { return h.Base + uint64(h.Count) }

func putFrameHeader(b []byte, h *FrameHeader, salt Salt) {
	_ = b[FrameHeaderSize-1]
	binary.LittleEndian.PutUint32(b[0:], h.BodyLen)
	binary.LittleEndian.PutUint32(b[4:], h.RawLen)
	binary.LittleEndian.PutUint64(b[8:], h.Base)
	binary.LittleEndian.PutUint32(b[16:], h.Count)
	binary.LittleEndian.PutUint32(b[20:], h.Durable)
	b[24] = byte(h.Codec)
	b[25] = h.Flags
	binary.LittleEndian.PutUint16(b[26:], h.Dict)
	binary.LittleEndian.PutUint32(b[28:], headerSum(b, salt))
}

// headerSum is the frame header checksum: the low 32 bits of xxhash64 of
// the salt (in a version 2 file) and the header bytes [0,28).
func headerSum(b []byte, salt Salt) uint32 {
	if salt == 0 {
		return uint32(xxhash.Sum64(b[:28]))
	}
	var t [4 + 28]byte
	binary.LittleEndian.PutUint32(t[:], uint32(salt))
	copy(t[4:], b[:28])
	return uint32(xxhash.Sum64(t[:]))
}

// frameSum is the frame checksum: xxhash64 of the salt (in a version 2
// file), the header bytes [0,32) and the stored body.
func frameSum(hb, body []byte, salt Salt) uint64 {
	var d xxhash.Digest
	d.Reset()
	if salt != 0 {
		var t [4]byte
		binary.LittleEndian.PutUint32(t[:], uint32(salt))
		d.Write(t[:])
	}
	d.Write(hb[:32])
	d.Write(body)
	return d.Sum64()
}

// ParseFrameHeader decodes and checks a frame header. It validates the
// header checksum and every length against the format's limits, so a caller
// may trust BodyLen before reading the body. The frame checksum is checked
// by VerifyFrame once the body is read. salt is the file's (see Salt): a
// header written in another life of the file fails its checksum.
func ParseFrameHeader(file string, pos int64, b []byte, salt Salt) (FrameHeader, error) {
	if len(b) < FrameHeaderSize {
		return FrameHeader{}, Corruptf(file, pos, "short frame header")
	}
	if binary.LittleEndian.Uint32(b[28:]) != headerSum(b, salt) {
		return FrameHeader{}, Corruptf(file, pos, "frame header checksum mismatch")
	}
	h := FrameHeader{
		BodyLen: binary.LittleEndian.Uint32(b[0:]),
		RawLen:  binary.LittleEndian.Uint32(b[4:]),
		Base:    binary.LittleEndian.Uint64(b[8:]),
		Count:   binary.LittleEndian.Uint32(b[16:]),
		Durable: binary.LittleEndian.Uint32(b[20:]),
		Codec:   Codec(b[24]),
		Flags:   b[25],
		Dict:    binary.LittleEndian.Uint16(b[26:]),
		Sum:     binary.LittleEndian.Uint64(b[32:]),
	}
	switch {
	case b[25]&^FrameFlagPrevSynced != 0:
		return h, Corruptf(file, pos, "unknown frame flags")
	case h.Dict != 0 && h.Codec == CodecNone:
		return h, Corruptf(file, pos, "uncompressed frame naming dictionary %d", h.Dict)
	case h.Codec > CodecZstd:
		return h, Corruptf(file, pos, "unknown codec %d", h.Codec)
	case h.BodyLen > MaxFrameBody || h.RawLen > MaxFrameBody:
		return h, Corruptf(file, pos, "frame length %d/%d over the %d limit", h.BodyLen, h.RawLen, MaxFrameBody)
	case h.Codec == CodecNone && h.BodyLen != h.RawLen:
		return h, Corruptf(file, pos, "uncompressed frame with stored length %d != raw length %d", h.BodyLen, h.RawLen)
	case h.Count == 0:
		return h, Corruptf(file, pos, "empty frame")
	case uint64(h.Count) > uint64(h.RawLen)/2+1:
		// Every record takes at least two length bytes.
		return h, Corruptf(file, pos, "record count %d impossible in %d bytes", h.Count, h.RawLen)
	case h.Base+uint64(h.Count) < h.Base:
		return h, Corruptf(file, pos, "offset overflow")
	}
	return h, nil
}

// VerifyFrame checks the frame checksum over the file's salt, the header
// bytes hb and the stored body.
func VerifyFrame(file string, pos int64, h *FrameHeader, hb, body []byte, salt Salt) error {
	if frameSum(hb, body, salt) != h.Sum {
		return Corruptf(file, pos, "frame checksum mismatch (frame at offset %d, %d records)", h.Base, h.Count)
	}
	return nil
}

// SealFrame fills in the header of a frame laid out in buf: FrameHeaderSize
// reserved bytes followed by the stored body. h's BodyLen and Sum are set
// from buf; the other fields must be set by the caller. salt is the
// file's: 0 for a version 1 file.
func SealFrame(buf []byte, h *FrameHeader, salt Salt) {
	h.BodyLen = uint32(len(buf) - FrameHeaderSize)
	putFrameHeader(buf, h, salt)
	h.Sum = frameSum(buf, buf[FrameHeaderSize:], salt)
	binary.LittleEndian.PutUint64(buf[32:], h.Sum)
}
