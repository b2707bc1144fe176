// Package checkpoint stores a log's delivery state: the small file saying
// which record to send next and which records are still kept.
//
// # Slots
//
// The state lives in two slot files, "checkpoint.0" and "checkpoint.1", in
// the log directory. Each encoding carries a generation. Save writes the
// next generation over the slot NOT holding the current state, at offset 0
// and without truncating, then fsyncs that one file: one fsync per save, no
// rename, no directory sync. Open reads both slots and takes the valid one
// with the highest generation. Slot files are created, when the store is
// first opened for writing, holding the zero state at generation 0 padded
// to 4 KiB, so that saves rewrite blocks the files own: a log whose disk
// has filled can still save the Ack that frees it. A crash during Save can
// only damage the slot
// being written, whose checksum then fails, and the other slot still holds
// the previous state; see Open for how each combination of slots is treated.
// Every file access goes through vfs.FS.
//
// # Encoding (format versions 1 and 2)
//
// All integers are little-endian. The fixed header is 48 bytes:
//
//	offset  size  field
//	     0     4  magic "SGCK"
//	     4     2  version, u16 = 1
//	     6     2  flags, u16: bit 0 FlagDropped, the others reserved, must be 0
//	     8     4  length, u32: bytes of the whole encoding, header and
//	              checksum included; 56 <= length <= MaxSize
//	    12     8  generation, u64
//	    20     8  sequence, u64 (State.Sequence)
//	    28     8  cursor, u64 (State.Cursor)
//	    36     8  first, u64 (State.First); cursor >= first unless FlagDropped
//	    44     4  meta count, u32: number of entries that follow
//	    48        entries, each:
//	                 1  key length, u8 (0..255)
//	                 k  key bytes
//	                 4  value length, u32
//	                 v  value bytes
//	              in strictly increasing bytewise key order (so no duplicate)
//	length-8   8  checksum, u64: xxhash64 (github.com/cespare/xxhash/v2,
//	              seed 0) of bytes [0, length-8), i.e. of every preceding
//	              byte of the encoding: magic, version, flags, length and
//	              all fields and entries. Not of itself, nor of anything
//	              after length.
//
//	length..      anything: a slot is rewritten in place without truncation,
//	              so bytes after the encoding may be the stale tail of an
//	              older, longer one. They are ignored.
//
// Version 2 inserts the log's identity, State.ID, after first:
//
//	offset  size  field
//	     0    44  as in version 1, with version = 2
//	    44    16  id, [16]byte, random, not all zero
//	    60     4  meta count, u32
//	    64        entries, as in version 1
//
// so that its fixed header is 64 bytes and its smallest encoding 72.
// Marshal writes version 2 for a state with an id and version 1 for one
// without (the zero id); Unmarshal reads both, and refuses a version 2
// encoding whose id is zero, so that every state has one encoding.
//
// The entries must end exactly where the checksum starts. An encoding with
// no metadata is 56 bytes. Decoding checks, in order: magic; version (an
// unknown one is a *VersionError naming it, not corruption); that length is
// within [56, MaxSize] and present; the checksum; flags; the meta count
// against the bytes available; each entry's lengths against the bytes left
// and its key against the previous one; that no bytes are left over; and
// that FlagDropped is set exactly when cursor < first (records [cursor,
// first) dropped by a size limit before they were sent). Any other failure
// is a *CorruptError (matching ErrCorrupt) giving the file and the byte
// offset of the problem, e.g.
//
//	dir/checkpoint.1: offset 48: corrupt: bad checksum ...
//
// The format constants are in format.go and are frozen; a change to the
// layout needs a new version.
//
// # Reserved metadata entries
//
// Keys beginning with ReservedPrefix ("seglog.") hold the log's own state;
// the log refuses them in SetMeta and hides them from Meta and MetaKeys.
// To this package they are entries like any other. Each is absent when its
// value would be empty. Integers are little-endian; the layouts are frozen
// (a change takes a new key), and reserved.go encodes them:
//
//	seglog.failure   24 bytes, while a run of failed exchanges lasts:
//	                    0  8  first failure, i64 Unix nanoseconds (UTC)
//	                    8  8  latest failure, i64 Unix nanoseconds; >= first
//	                   16  8  records refused during the run, u64
//	seglog.refused   8 bytes, while not zero: records refused during ended
//	                 runs, not yet reported to the peer, u64
//	seglog.sessions  while a session is open:
//	                    0  2  count, u16
//	                    2     count sessions, in strictly increasing
//	                          bytewise scope order, each:
//	                            1  scope length, u8
//	                            s  scope
//	                           16  id, random
//	seglog.dropped   32 bytes, once a size limit has dropped records:
//	                    0  8  max bytes at the last drop, i64
//	                    8  8  unsent records dropped, u64
//	                   16  8  acknowledged records dropped, u64
//	                   24  8  segment files dropped, u64
//
// ParseReserved decodes them; a value that does not decode is a
// *CorruptError whose Offset is the byte of the encoding where the problem
// lies.
package checkpoint
