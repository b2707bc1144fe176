package index

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"

	"github.com/seglog/seglog/segment"
)

// Frozen format constants.
const (
	Magic      = "SGIDX\x00"
	Version    = 1
	HeaderSize = 16
	EntrySize  = 16
	Suffix     = ".idx"
)

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
// decoding stopped early (nil when every byte was used): a
// *segment.CorruptError, matching segment.ErrCorrupt, whose Offset is the
// byte of b where the problem lies and whose File is "" (ReadFile names the
// file).
func Decode(b []byte, base uint64, first, size int64) ([]Entry, error) {
	if len(b) < HeaderSize {
		return nil, segment.Corruptf("", int64(len(b)), "short index header: %d of %d bytes", len(b), HeaderSize)
	}
	if string(b[:6]) != Magic || binary.LittleEndian.Uint16(b[6:]) != Version {
		return nil, segment.Corruptf("", 0, "bad index magic or version")
	}
	if got := binary.LittleEndian.Uint64(b[8:]); got != base {
		return nil, segment.Corruptf("", 8, "index is for base %d, not %d", got, base)
	}
	b = b[HeaderSize:]
	entries := make([]Entry, 0, len(b)/EntrySize)
	pos := first
	for i := 0; len(b) >= EntrySize; i++ {
		at := int64(HeaderSize + i*EntrySize)
		invalid := func(format string, args ...any) error {
			return segment.Corruptf("", at, "index entry %d %s", i, fmt.Sprintf(format, args...))
		}
		eb := b[:EntrySize]
		b = b[EntrySize:]
		if binary.LittleEndian.Uint32(eb[12:]) != check(base, eb[:12]) {
			return entries, invalid("does not check")
		}
		e := Entry{
			Offset: base + uint64(binary.LittleEndian.Uint32(eb[0:])),
			Pos:    binary.LittleEndian.Uint32(eb[4:]),
			Len:    binary.LittleEndian.Uint32(eb[8:]),
		}
		switch {
		case int64(e.Pos) != pos:
			return entries, invalid("at position %d, want %d", e.Pos, pos)
		case e.End() > size:
			return entries, invalid("ends at %d, past the segment's %d bytes", e.End(), size)
		case len(entries) > 0 && e.Offset <= entries[len(entries)-1].Offset:
			return entries, invalid("offsets not increasing")
		case len(entries) == 0 && e.Offset != base:
			return entries, invalid("at offset %d, want %d for the first entry", e.Offset, base)
		}
		entries = append(entries, e)
		pos = e.End()
	}
	if len(b) != 0 {
		return entries, segment.Corruptf("", int64(HeaderSize+len(entries)*EntrySize), "%d trailing index bytes", len(b))
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
