package segment

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// AppendFileHeader appends the segment file header for base offset base.
func AppendFileHeader(dst []byte, base uint64) []byte {
	var h [HeaderSize]byte
	copy(h[0:8], Magic)
	binary.LittleEndian.PutUint16(h[8:], Version)
	// h[10:16]: flags and reserved, zero.
	binary.LittleEndian.PutUint64(h[16:], base)
	binary.LittleEndian.PutUint64(h[24:], xxhash.Sum64(h[:24]))
	return append(dst, h[:]...)
}

// ParseFileHeader checks a segment file header and returns its base offset.
// file names the file in errors.
func ParseFileHeader(file string, h []byte) (base uint64, err error) {
	if len(h) < HeaderSize {
		return 0, corruptf(file, 0, "short header: %d of %d bytes", len(h), HeaderSize)
	}
	if string(h[0:8]) != Magic {
		return 0, corruptf(file, 0, "bad magic %q", h[0:8])
	}
	if sum := binary.LittleEndian.Uint64(h[24:]); sum != xxhash.Sum64(h[:24]) {
		return 0, corruptf(file, 24, "header checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(h[8:]); v != Version {
		return 0, fmt.Errorf("%s: segment format version %d not supported (this build reads version %d)", file, v, Version)
	}
	return binary.LittleEndian.Uint64(h[16:]), nil
}
