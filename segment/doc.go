// Package segment reads and writes segment files: the checksummed frames
// that hold a log's records.
//
// A segment file is named by the offset of its first record, zero-padded
// to 20 digits (00000000000000000000.seg). All integers are little-endian.
//
//	file   := header frame* unused
//	header := magic "SEGLOG\0\0" (8) | version uint16 (2 or 3) | flags uint16 |
//	          salt uint32 | base uint64 | xxhash64(header[0:24]) (8)
//	frame  := frame-header body
//	frame-header (40 bytes):
//	     0  bodyLen  uint32   stored body bytes
//	     4  rawLen   uint32   body bytes after decompression
//	     8  base     uint64   offset of the frame's first record
//	    16  count    uint32   records in the frame (at least 1)
//	    20  durable  uint32   end of the frames known synced when it was written
//	    24  codec    uint8    0 none, 1 s2, 2 zstd
//	    25  flags    uint8    FrameFlagPrevSynced or 0
//	    26  dict     uint16   dictionary the body was compressed with; 0 for none (version 3; 0 before)
//	    28  hsum     uint32   low 32 bits of xxhash64(salt || frame-header[0:28])
//	    32  fsum     uint64   xxhash64(salt || frame-header[0:32] || stored body)
//	body   := record*  (after decompression; exactly count records)
//	record := uvarint typeLen | type | uvarint dataLen | data
//
// The salt (see Salt), 4 bytes little-endian, is the file header's: drawn
// for each life of the file, it binds every frame to that life, so that
// frames left in a reused file by an earlier life fail both checksums, even
// where their offsets would continue the log. Version 1 files have 4 zero
// bytes in its place and checksums that cover no salt (Salt 0 here); they
// are still read.
//
// The end of a segment is its last frame that verifies with the file's salt
// and continues the offsets, not the file size: after it come zeros that a
// writer preallocated (Tail.Zero), or, after a crash, a torn write or stale
// bytes of an earlier life, which recovery cuts (Tail.Torn).
//
// A frame holds one batch: one AppendRecords call, or the records one
// group commit or buffer flush writes together. Frames follow each other
// without gaps, and each frame's base is the previous frame's base plus
// count. Nothing is returned from a frame whose checksum fails.
//
// hsum lets a scan recognise a frame header at any position cheaply;
// fsum covers every byte of the frame. Lengths are bounded by MaxFrameBody
// before anything is allocated, and decompression must yield exactly rawLen
// bytes.
//
// A frame naming a dictionary (see Dict and package segment/dict) is
// decoded only with that dictionary; without it, the frame is reported as
// a *DictError, damage that is not a torn write.
//
// The durable field is what tells a torn tail from damage. A writer syncs
// frames in order, and writes into each frame the end of the frames it
// knew to be on stable storage. When a scan meets an invalid frame at
// position p, it searches the rest of the file for a valid frame whose
// durable field exceeds p (and does not exceed the frame's own position,
// and whose offsets follow those expected at p): one exists only if p had
// been synced, so the damage is corruption of acknowledged data. With no such frame, the bytes
// from p were never proven durable: a torn write, safe to cut.
//
// The header flag FlagPrevUnsynced and the frame flag FrameFlagPrevSynced
// tell recovery whether the previous segment, whose fsync a writer may
// leave to the background, must be checked as well.
package segment
