package segment

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Segment header flags.
const (
	// FlagPrevUnsynced marks a segment started before the segment it
	// follows had been fsynced (under SyncInterval and SyncNever, the
	// sealed segment is fsynced in the background). Until a frame of this
	// segment carries FrameFlagPrevSynced, recovery must check the previous
	// segment whole.
	FlagPrevUnsynced uint16 = 1 << 0

	knownFileFlags = FlagPrevUnsynced
)

// AppendFileHeader appends the segment file header for base offset base.
func AppendFileHeader(dst []byte, base uint64) []byte {
	return AppendFileHeaderFlags(dst, base, 0)
}

// AppendFileHeaderFlags appends a segment file header with flags.
func AppendFileHeaderFlags(dst []byte, base uint64, flags uint16) []byte {
	var h [HeaderSize]byte
	copy(h[0:8], Magic)
	binary.LittleEndian.PutUint16(h[8:], Version)
	binary.LittleEndian.PutUint16(h[10:], flags)
	// h[12:16]: reserved, zero.
	binary.LittleEndian.PutUint64(h[16:], base)
	binary.LittleEndian.PutUint64(h[24:], xxhash.Sum64(h[:24]))
	return append(dst, h[:]...)
}

// ParseFileHeader checks a segment file header and returns its base offset.
// file names the file in errors.
func ParseFileHeader(file string, h []byte) (base uint64, err error) {
	base, _, err = ParseFileHeaderFlags(file, h)
	return base, err
}

// ParseFileHeaderFlags checks a segment file header and returns its base
// offset and flags.
func ParseFileHeaderFlags(file string, h []byte) (base uint64, flags uint16, err error) {
	if len(h) < HeaderSize {
		return 0, 0, corruptf(file, 0, "short header: %d of %d bytes", len(h), HeaderSize)
	}
	if string(h[0:8]) != Magic {
		return 0, 0, corruptf(file, 0, "bad magic %q", h[0:8])
	}
	if sum := binary.LittleEndian.Uint64(h[24:]); sum != xxhash.Sum64(h[:24]) {
		return 0, 0, corruptf(file, 24, "header checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(h[8:]); v != Version {
		return 0, 0, fmt.Errorf("%s: segment format version %d not supported (this build reads version %d)", file, v, Version)
	}
	flags = binary.LittleEndian.Uint16(h[10:])
	if flags&^knownFileFlags != 0 || binary.LittleEndian.Uint32(h[12:]) != 0 {
		return 0, 0, corruptf(file, 10, "unknown header flags %#x", flags)
	}
	return binary.LittleEndian.Uint64(h[16:]), flags, nil
}
