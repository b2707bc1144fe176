package segment

import "fmt"

// The on-disk format, laid out in docs/format.md ("Segment file"). These
// values are frozen: changing any of them makes existing logs unreadable,
// so a change means a new Version and a reader that still understands the
// old one.
const (
	// Magic opens every segment file.
	Magic = "SEGLOG\x00\x00"
	// Version is the newest segment format version this package reads
	// and writes. Version 2 adds the salt (see Salt); version 3 lets
	// frames name a compression dictionary (FrameHeader.Dict), and is
	// written only for segments of a log that has dictionaries, so that a
	// log without them stays readable by builds that know version 2.
	// Versions 1 and 2 are still read.
	Version = 3

	// VersionSalted is the version written for segments that hold no
	// frame with a dictionary.
	VersionSalted = 2

	// HeaderSize is the size of the segment file header, in every version.
	HeaderSize = 32

	// FrameHeaderSize is the size of a frame header.
	FrameHeaderSize = 40

	// MaxFrameBody bounds a frame body, stored and decoded. A decoder
	// never allocates more than this for one frame, whatever the header says.
	MaxFrameBody = 64 << 20

	// MaxRecordSize is the largest record payload accepted by Append.
	MaxRecordSize = 32 << 20

	// MaxTypeLen is the longest record type tag.
	MaxTypeLen = 255

	// MaxSegmentSize bounds a segment file so that positions fit the
	// 32-bit fields of frame headers and index entries.
	MaxSegmentSize = 1 << 30

	// Suffix is the file name suffix of segment files.
	Suffix = ".seg"
)

// maxRecordOverhead is the largest per-record encoding overhead: two
// uvarint lengths (type ≤ 255 takes 2 bytes, data < 2^35 takes 5).
const maxRecordOverhead = 2 + 5

// Codec identifies how a frame body is compressed.
type Codec uint8

// Codecs. The numeric values are part of the frozen format.
const (
	CodecNone Codec = 0
	CodecS2   Codec = 1
	CodecZstd Codec = 2
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecS2:
		return "s2"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// ParseCodec maps a codec name to its Codec.
func ParseCodec(name string) (Codec, error) {
	switch name {
	case "none", "":
		return CodecNone, nil
	case "s2":
		return CodecS2, nil
	case "zstd":
		return CodecZstd, nil
	}
	return 0, fmt.Errorf("segment: unknown codec %q (want none, s2 or zstd)", name)
}

// FileName returns the name of the segment file holding base offset base:
// the offset zero-padded to 20 digits, so that a listing sorts in log order.
func FileName(base uint64) string {
	return fmt.Sprintf("%020d%s", base, Suffix)
}

// ParseFileName returns the base offset encoded in a segment file name.
func ParseFileName(name string) (base uint64, ok bool) {
	return ParseBaseName(name, Suffix)
}

// ParseBaseName returns the base offset encoded in the name of a file that
// belongs to a segment: the offset as 20 digits, then suffix (Suffix for
// the segment itself, index.Suffix for its index).
func ParseBaseName(name, suffix string) (base uint64, ok bool) {
	if len(name) != 20+len(suffix) || name[20:] != suffix {
		return 0, false
	}
	for _, c := range name[:20] {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if base > (^uint64(0)-d)/10 {
			return 0, false
		}
		base = base*10 + d
	}
	return base, true
}
