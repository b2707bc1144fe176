// Package inspect looks inside a seglog log directory without the log's
// writer: it lists, verifies, measures and repairs what is on disk. It is
// the engine of the seglog command; cmd/seglog only parses flags and prints.
//
// Everything but Repair with Apply set, Bench and ImportTidwall (which make
// logs of their own) is read-only. It opens the files read-only, holds no
// lock and works beside a live writer: what the writer
// is doing at the moment (a frame half written at the end of the active
// segment, an index lagging its segment, a segment released meanwhile) is
// reported as information, not as damage. Whether a writer is live is
// learnt by trying its lock for an instant (see WriterActive): a writer
// whose Open falls in that instant gets ErrLocked.
//
// It reads the format only through the packages that define it (segment,
// index, checkpoint), and every file through a vfs.FS (Options.FS; the
// operating system's by default), so that it sees a log exactly as the log
// does, on any filesystem the log runs over.
//
// Verify reads each segment sequentially in large chunks through
// segment.Scanner, checks every frame checksum and every record's framing,
// reads each index with index.ReadFile and compares it with the frames,
// reads the checkpoint with checkpoint.Read, and checks that they agree:
// offsets contiguous across segments, no segment missing, the checkpoint's
// first offset and cursor inside the log. It reports every finding with
// file, byte position, severity and the offsets affected, resynchronising
// after damage to find what follows it.
//
// Repair turns a Report into a plan of explicit actions (truncate a torn
// tail, rebuild an index, remove stale files, rewrite an invalid checkpoint
// slot, and only when asked cut the log at mid-log damage), says exactly
// which offsets each action loses, and with Apply carries it out under the
// writer's lock after copying every file it changes aside.
package inspect
