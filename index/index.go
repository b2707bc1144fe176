package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Frozen format constants.
const (
	Magic      = "SGIDX\x00"
	Version    = 1
	HeaderSize = 16
	EntrySize  = 16
	Suffix     = ".idx"
)

// ErrInvalid reports an index that cannot be used as it is.
var ErrInvalid = errors.New("index: invalid")

// Entry locates one frame.
type Entry struct {
	Offset uint64 // first offset in the frame
	Pos    uint32 // position of the frame in the segment file
	Len    uint32 // frame size in bytes
}

// End is the position after the frame.
func (e Entry) End() int64 { return int64(e.Pos) + int64(e.Len) }

// FileName returns the index file name for a segment base offset.
func FileName(base uint64) string { return fmt.Sprintf("%020d%s", base, Suffix) }

// AppendHeader appends the index file header.
func AppendHeader(dst []byte, base uint64) []byte {
	dst = append(dst, Magic...)
	dst = binary.LittleEndian.AppendUint16(dst, Version)
	return binary.LittleEndian.AppendUint64(dst, base)
}

// AppendEntry appends one encoded entry.
func AppendEntry(dst []byte, base uint64, e Entry) []byte {
	var b [EntrySize]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(e.Offset-base))
	binary.LittleEndian.PutUint32(b[4:], e.Pos)
	binary.LittleEndian.PutUint32(b[8:], e.Len)
	binary.LittleEndian.PutUint32(b[12:], check(base, b[:12]))
	return append(dst, b[:]...)
}

func check(base uint64, b []byte) uint32 {
	var d xxhash.Digest
	d.Reset()
	var bb [8]byte
	binary.LittleEndian.PutUint64(bb[:], base)
	d.Write(bb[:])
	d.Write(b)
	return uint32(d.Sum64())
}

// Decode decodes an index file for the segment with the given base offset,
// whose frames start at position first and whose file is size bytes long.
// It returns the longest prefix of entries that check; err describes why
// decoding stopped early (nil when every byte was used), wrapping ErrInvalid.
func Decode(b []byte, base uint64, first, size int64) ([]Entry, error) {
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("%w: short header", ErrInvalid)
	}
	if string(b[:6]) != Magic || binary.LittleEndian.Uint16(b[6:]) != Version {
		return nil, fmt.Errorf("%w: bad magic or version", ErrInvalid)
	}
	if got := binary.LittleEndian.Uint64(b[8:]); got != base {
		return nil, fmt.Errorf("%w: index is for base %d, not %d", ErrInvalid, got, base)
	}
	b = b[HeaderSize:]
	entries := make([]Entry, 0, len(b)/EntrySize)
	pos := first
	for i := 0; len(b) >= EntrySize; i++ {
		eb := b[:EntrySize]
		b = b[EntrySize:]
		if binary.LittleEndian.Uint32(eb[12:]) != check(base, eb[:12]) {
			return entries, fmt.Errorf("%w: entry %d does not check", ErrInvalid, i)
		}
		e := Entry{
			Offset: base + uint64(binary.LittleEndian.Uint32(eb[0:])),
			Pos:    binary.LittleEndian.Uint32(eb[4:]),
			Len:    binary.LittleEndian.Uint32(eb[8:]),
		}
		switch {
		case int64(e.Pos) != pos:
			return entries, fmt.Errorf("%w: entry %d at position %d, want %d", ErrInvalid, i, e.Pos, pos)
		case e.End() > size:
			return entries, fmt.Errorf("%w: entry %d ends at %d, past the segment's %d bytes", ErrInvalid, i, e.End(), size)
		case len(entries) > 0 && e.Offset <= entries[len(entries)-1].Offset:
			return entries, fmt.Errorf("%w: entry %d offsets not increasing", ErrInvalid, i)
		case len(entries) == 0 && e.Offset != base:
			return entries, fmt.Errorf("%w: first entry at offset %d, want %d", ErrInvalid, e.Offset, base)
		}
		entries = append(entries, e)
		pos = e.End()
	}
	if len(b) != 0 {
		return entries, fmt.Errorf("%w: %d trailing bytes", ErrInvalid, len(b))
	}
	return entries, nil
}

// Search returns the index of the entry whose frame may hold offset: the
// last entry starting at or before it, or -1 if there is none.
func Search(entries []Entry, offset uint64) int {
	lo, hi := 0, len(entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if entries[m].Offset <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}
