// Package segment reads and writes segment files: the checksummed frames
// that hold a log's records.
//
// The format is stated once, in docs/format.md of the seglog repository
// (https://github.com/seglog/seglog/blob/main/docs/format.md): the file
// header, the frame header and which bytes each checksum covers (section
// "Segment file"), how the end of a segment is told and why stale bytes
// never pass for data ("The end of a segment"), and how recovery tells a
// torn tail from damage by the frames' durable field ("Crash safety").
// This package is the one implementation of those rules; the log, its
// recovery and the inspection tools (verify, repair, stats) all read
// segments through it:
//
//   - format.go holds the frozen constants, header.go and frame.go encode
//     and check the file header and frame headers, record.go the records
//     of a frame body, codec.go its compression;
//   - file.go reads headers and whole frames from a file (ReadFileHeader,
//     ReadFrameHeader, ValidFrameAt);
//   - scanner.go reads frames in order (Scanner);
//   - recover.go classifies what follows the last valid frame (ScanTail:
//     zeros, a torn tail or damage) and resynchronises after damage
//     (FindFrame, FindValidFrame).
//
// A frame may name a trained compression dictionary (section "Compression
// dictionaries" of docs/format.md; package segment/dict keeps them): it is
// decoded only with that dictionary, and without it is reported as a
// *DictError, damage that is not a torn write.
//
// Damaged data is reported as a *CorruptError (file, byte position,
// reason) matching ErrCorrupt, the one sentinel that packages index and
// checkpoint, and the log, use too.
package segment
