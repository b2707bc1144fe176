package log

import (
	"fmt"

	"github.com/seglog/seglog/segment"
)

// Preallocation. An fsync after a write that extends a file must commit
// the file's new size too, a journal transaction that costs about as much
// as the data; fdatasync after a write into blocks the file already holds
// (written, not merely reserved) commits only the data. Under SyncAlways
// the writer therefore keeps zero-filled, synced space ahead of the end of
// the log, and group commits write into it: the file's size is no longer
// the end of the log, its frames are (segment.Tail.Zero). The zeros are
// written and synced in the background, a chunk at a time (fillChunk),
// while group commits go on below them; they cost disk bandwidth, and
// the group commit whose fdatasync comes while a fill's zeros are still
// dirty in the page cache writes them out too (docs/benchmarks.md). A small segment (wholeFillMax) is zero-filled whole when it
// is created, with its header, and no fill runs in the background.
//
// Sealing a segment and closing the log cut the zeros off again, so that
// a sealed segment, or a log closed cleanly, ends at its last frame. Only
// a crash leaves zeros after the last frame, which recovery keeps as the
// preallocated space they are.

// maxFillChunk bounds what one fill adds: an eighth of the segment size,
// at most 2 MiB. A fill starts when less than a chunk is left ahead of
// what is written and buffered, so that appends rarely catch up with it.
const maxFillChunk = 2 << 20

// wholeFillMax: a segment no larger is zero-filled whole when it is
// created, and never in the background (a recovered active segment of
// that size goes without preallocated space until the next segment).
const wholeFillMax = 1 << 20

// fillChunk is how much one fill adds to the active segment.
func (l *Log) fillChunk() int64 {
	if l.opts.SegmentSize <= wholeFillMax {
		return l.opts.SegmentSize
	}
	return min(maxFillChunk, l.opts.SegmentSize/8)
}

// zeroChunk is the source of every zero write.
var zeroChunk [256 << 10]byte

// preallocates reports whether the active segment keeps zero-filled space
// ahead of its end: only where group commits fsync, under SyncAlways.
// Only a writer asks: a read-only log creates and extends no segment.
func (l *Log) preallocates() bool { return l.opts.Sync == SyncAlways }

// writeZeros writes zeros over [from, to) of w's file.
func writeZeros(w *writer, from, to int64) error {
	for pos := from; pos < to; {
		n := min(int64(len(zeroChunk)), to-pos)
		if _, err := w.f.WriteAt(zeroChunk[:n], pos); err != nil {
			return err
		}
		pos += n
	}
	return nil
}

// fillTarget is where the preallocated space of w should end, or 0 if it
// need not grow: it never passes the segment size.
func (l *Log) fillTarget(w *writer) (from, to int64) {
	if !w.prealloc || w.filling || l.opts.SegmentSize <= wholeFillMax {
		return 0, 0
	}
	from = max(w.alloc, w.size+int64(len(w.buf)))
	if from-(w.size+int64(len(w.buf))) >= l.fillChunk() {
		return 0, 0
	}
	to = min(from+l.fillChunk(), l.opts.SegmentSize)
	if to <= from {
		return 0, 0
	}
	return from, to
}

// fillLocked starts a background fill of the active segment's
// preallocated space if it runs low. Writers must not write at or past
// w.fillFrom while w.filling (see waitFillLocked).
func (l *Log) fillLocked() {
	w := l.mu.w
	if w == nil || l.mu.closing || l.mu.closed || l.mu.err != nil {
		return
	}
	from, to := l.fillTarget(w)
	if to == 0 {
		return
	}
	w.filling, w.fillFrom = true, from
	l.fills.Add(1)
	go l.fill(w, from, to)
}

// fill zero-fills [from, to) of w's file and syncs it, with l.mu released.
func (l *Log) fill(w *writer, from, to int64) {
	defer l.fills.Done()
	err := writeZeros(w, from, to)
	if err != nil {
		// A full disk, most likely: give the space back and stop
		// preallocating this segment; appends extend the file as before.
		w.f.Truncate(from)
	}
	var syncErr error
	if err == nil {
		syncErr = w.f.Sync()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w.filling = false
	l.cond.Broadcast()
	switch {
	case err != nil:
		w.prealloc = false
		l.logger.Warn("seglog: cannot preallocate; appends extend the segment", "file", w.seg.path, "err", err)
	case syncErr != nil:
		// The fsync may have consumed a writeback error of the frames in
		// the same file: as for any failed fsync, nothing more is written.
		l.syncFailedLocked(w.seg.path, syncErr)
	default:
		w.alloc = max(w.alloc, to)
	}
}

// waitFillLocked waits until no fill of w's file is under way at or before
// end, the end of the region a writer is about to write.
func (l *Log) waitFillLocked(w *writer, end int64) {
	for w.filling && end > w.fillFrom {
		l.cond.Wait()
	}
}

// trimLocked cuts the preallocated space off w's file, once no fill is
// under way: at a seal, and at Close. The cut is durable with the file's
// next sync; if it does not happen, the zeros stay, which recovery
// accepts.
func (l *Log) trimLocked(w *writer) (bool, error) {
	for w.filling {
		l.cond.Wait()
	}
	w.prealloc = false
	if w.alloc <= w.size {
		return false, nil
	}
	if err := w.f.Truncate(w.size); err != nil {
		return false, fmt.Errorf("seglog: trim %s: %w", w.seg.path, err)
	}
	w.alloc = w.size
	return true, nil
}

// preallocNew zero-fills the first two chunks of a new segment file, whose
// header is written, before its first sync: no fill runs in the background
// until a chunk of records has been written. Failure (a full disk) only
// leaves the segment without preallocated space.
func (l *Log) preallocNew(w *writer) {
	if !l.preallocates() {
		return
	}
	to := min(int64(segment.HeaderSize)+2*l.fillChunk(), l.opts.SegmentSize)
	if err := writeZeros(w, segment.HeaderSize, to); err != nil {
		w.f.Truncate(segment.HeaderSize)
		return
	}
	w.alloc, w.prealloc = to, true
}

// undoWrite removes what a failed write of n bytes at pos may have left:
// inside preallocated space it writes the zeros back (a full disk does
// not refuse writes into blocks the file holds), past it the file is cut
// at pos.
func (l *Log) undoWrite(w *writer, pos, n int64) error {
	if pos < w.alloc {
		if err := writeZeros(w, pos, min(pos+n, w.alloc)); err == nil {
			if pos+n <= w.alloc {
				return nil
			}
			return w.f.Truncate(w.alloc)
		}
	}
	w.alloc = min(w.alloc, pos)
	return w.f.Truncate(pos)
}
