// Package index reads and writes the offset index of one segment.
//
// The index of segment 00000000000000000042.seg is the file
// 00000000000000000042.idx beside it. It maps each frame's first offset to
// the frame's position, so that a read finds its frame with one binary
// search and one positioned read. All integers are little-endian.
//
//	file   := header entry*
//	header := magic "SGIDX\x00" (6) | version uint16 | base uint64       (16 bytes)
//	entry  := rel uint32 | pos uint32 | len uint32 | check uint32       (16 bytes)
//
// rel is the frame's first offset minus base, pos its position in the
// segment file and len its total size (header and body). check is the low
// 32 bits of xxhash64 over base (8 bytes) and the entry's first 12 bytes, so
// an entry copied from another segment's index does not check.
//
// The index is derived data. It is written without fsync (but once, when
// its segment is sealed) and trusted only as
// far as it can be checked: entries must check, start at the segment header
// and be contiguous, with strictly increasing offsets, inside the segment;
// the first entry that does not is the end of the usable index. A reader
// still checks the frame it lands on (its checksum and first offset), and a
// missing, short or inconsistent index is rebuilt from the segment.
package index
