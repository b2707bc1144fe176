// Package dict stores the compression dictionaries of a log: trains them
// from records, writes each durably in its own checksummed file, and loads
// them for the frames that name them.
//
// A dictionary file is named by its id, zero-padded to 5 digits
// (00001.dict). All integers are little-endian.
//
//	file    := header content
//	header  := magic "SEGDICT\0" (8) | version uint16 (1) | reserved uint16 (0) |
//	           id uint32 (1 to 65535) | contentLen uint32 | reserved uint32 (0) |
//	           xxhash64(header[0:24] || content) (8)
//	content := contentLen bytes (MinDictSize to MaxDictSize): encoded
//	           records, as in a frame body
//
// The checksum covers every byte of the file but itself, and the file must
// be exactly 32+contentLen bytes long: a torn, cut or flipped file is
// refused as damage naming the file, and frames naming it then fail to
// decode with an error matching segment.ErrCorrupt, never decoding to
// other bytes.
//
// A dictionary is written to a temporary file, fsynced, renamed to its
// name and its directory fsynced before any frame names it, so a crash
// leaves either no dictionary (and no frame naming it) or a whole one. Ids
// only grow, and a dictionary file is never removed while its log exists,
// so an id names one content for the life of the log.
package dict
