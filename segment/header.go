package segment

import (
	"crypto/rand"
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

// Salt binds the frames of a segment file to one life of that file: it is
// drawn when the file is created or reused, written in the header, and
// covered by the checksums of every frame written in that life. A frame
// from an earlier life, left in a reused file, fails its checksums. The
// zero Salt stands for a version 1 file, whose checksums cover no salt.
type Salt uint32

// NewSalt draws a random non-zero salt for a new segment file.
func NewSalt() Salt {
	for {
		var b [4]byte
		rand.Read(b[:])
		if s := Salt(binary.LittleEndian.Uint32(b[:])); s != 0 {
			return s
		}
	}
}

// Next is the salt of the next life of a file whose current salt is s:
// distinct from every one of its earlier lives until the counter wraps,
// after 2^32-1 reuses.
func (s Salt) Next() Salt {
	if s++; s == 0 {
		s = 1
	}
	return s
}

// FileHeader is the decoded header of a segment file.
type FileHeader struct {
	Version uint16 // 1, 2 or 3; frames name dictionaries only in version 3
	Flags   uint16
	Salt    Salt // 0 in a version 1 file
	Base    uint64
}

// AppendFileHeader appends the header of a segment file for base offset
// base with flags. A non-zero salt writes the current Version; a zero
// salt writes the version 1 header (no salt), which this package still
// reads, for tools and tests that build old segments.
func AppendFileHeader(dst []byte, base uint64, flags uint16, salt Salt) []byte {
	v := uint16(VersionSalted)
	if salt == 0 {
		v = 1
	}
	return appendFileHeader(dst, v, base, flags, salt)
}

// AppendFileHeaderDict appends the header of a version 3 segment file,
// whose frames may name a compression dictionary. salt must not be 0.
func AppendFileHeaderDict(dst []byte, base uint64, flags uint16, salt Salt) []byte {
	return appendFileHeader(dst, Version, base, flags, salt)
}

func appendFileHeader(dst []byte, v uint16, base uint64, flags uint16, salt Salt) []byte {
	var h [HeaderSize]byte
	copy(h[0:8], Magic)
	binary.LittleEndian.PutUint16(h[8:], v)
	binary.LittleEndian.PutUint16(h[10:], flags)
	binary.LittleEndian.PutUint32(h[12:], uint32(salt))
	binary.LittleEndian.PutUint64(h[16:], base)
	binary.LittleEndian.PutUint64(h[24:], xxhash.Sum64(h[:24]))
	return append(dst, h[:]...)
}

// ParseFileHeader checks a segment file header, of version 1, 2 or 3.
// file names the file in errors.
func ParseFileHeader(file string, h []byte) (FileHeader, error) {
	if len(h) < HeaderSize {
		return FileHeader{}, Corruptf(file, 0, "short header: %d of %d bytes", len(h), HeaderSize)
	}
	if string(h[0:8]) != Magic {
		return FileHeader{}, Corruptf(file, 0, "bad magic %q", h[0:8])
	}
	if sum := binary.LittleEndian.Uint64(h[24:]); sum != xxhash.Sum64(h[:24]) {
		return FileHeader{}, Corruptf(file, 24, "header checksum mismatch")
	}
	fh := FileHeader{
		Version: binary.LittleEndian.Uint16(h[8:]),
		Flags:   binary.LittleEndian.Uint16(h[10:]),
		Salt:    Salt(binary.LittleEndian.Uint32(h[12:])),
		Base:    binary.LittleEndian.Uint64(h[16:]),
	}
	switch fh.Version {
	case 1:
		if fh.Salt != 0 {
			return FileHeader{}, Corruptf(file, 12, "version 1 header with reserved bytes %#x", uint32(fh.Salt))
		}
	case VersionSalted, Version:
		if fh.Salt == 0 {
			return FileHeader{}, Corruptf(file, 12, "version %d header with a zero salt", fh.Version)
		}
	default:
		return FileHeader{}, fmt.Errorf("%s: segment format version %d not supported (this build reads versions 1 to %d)", file, fh.Version, Version)
	}
	if fh.Flags&^knownFileFlags != 0 {
		return FileHeader{}, Corruptf(file, 10, "unknown header flags %#x", fh.Flags)
	}
	return fh, nil
}
