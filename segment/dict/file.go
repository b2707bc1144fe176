package dict

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/seglog/seglog/segment"
)

// The dictionary file format. Frozen.
const (
	// Magic opens every dictionary file.
	Magic = "SEGDICT\x00"
	// Version is the dictionary file format version.
	Version = 1
	// HeaderSize is the size of the file header.
	HeaderSize = 32
	// Suffix is the file name suffix of dictionary files.
	Suffix = ".dict"
	// TempSuffix marks a dictionary being written; Open removes leftovers.
	TempSuffix = ".dict.tmp"
	// MaxID is the largest dictionary id (frames hold it in 16 bits).
	MaxID = 1<<16 - 1
)

// FileName returns the name of the file of dictionary id.
func FileName(id uint16) string { return fmt.Sprintf("%05d%s", id, Suffix) }

// ParseFileName returns the id a dictionary file name encodes.
func ParseFileName(name string) (uint16, bool) {
	digits, ok := strings.CutSuffix(name, Suffix)
	if !ok || len(digits) != 5 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || n == 0 || n > MaxID {
		return 0, false
	}
	return uint16(n), true
}

// Encode returns the file holding dictionary id with content.
func Encode(id uint16, content []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(content))
	copy(b, Magic)
	binary.LittleEndian.PutUint16(b[8:], Version)
	binary.LittleEndian.PutUint32(b[12:], uint32(id))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(content)))
	b = append(b, content...)
	binary.LittleEndian.PutUint64(b[24:], fileSum(b))
	return b
}

func fileSum(b []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.Write(b[:24])
	d.Write(b[HeaderSize:])
	return d.Sum64()
}

func corrupt(file string, off int64, format string, args ...any) error {
	return &segment.CorruptError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// Decode checks a dictionary file's bytes and returns its id and content
// (aliasing b). Damage is a *segment.CorruptError naming file. A later
// format version is refused with an error naming it, not as damage.
func Decode(file string, b []byte) (id uint16, content []byte, err error) {
	if len(b) < HeaderSize {
		return 0, nil, corrupt(file, 0, "short dictionary header: %d of %d bytes", len(b), HeaderSize)
	}
	if string(b[:8]) != Magic {
		return 0, nil, corrupt(file, 0, "bad magic %q", b[:8])
	}
	n := binary.LittleEndian.Uint32(b[16:])
	if int64(n) != int64(len(b))-HeaderSize {
		return 0, nil, corrupt(file, 16, "dictionary of %d bytes in a file of %d", n, len(b))
	}
	if binary.LittleEndian.Uint64(b[24:]) != fileSum(b) {
		return 0, nil, corrupt(file, 24, "dictionary checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != Version {
		return 0, nil, fmt.Errorf("%s: dictionary format version %d not supported (this build reads version %d)", file, v, Version)
	}
	id32 := binary.LittleEndian.Uint32(b[12:])
	switch {
	case binary.LittleEndian.Uint16(b[10:]) != 0 || binary.LittleEndian.Uint32(b[20:]) != 0:
		return 0, nil, corrupt(file, 10, "reserved header bytes not zero")
	case id32 == 0 || id32 > MaxID:
		return 0, nil, corrupt(file, 12, "dictionary id %d out of range", id32)
	case n < segment.MinDictSize || n > segment.MaxDictSize:
		return 0, nil, corrupt(file, 16, "dictionary of %d bytes (want %d to %d)", n, segment.MinDictSize, segment.MaxDictSize)
	}
	return uint16(id32), b[HeaderSize:], nil
}
