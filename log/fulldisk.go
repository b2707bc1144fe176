package log

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/seglog/seglog/segment"
)

// A full disk whose space the log itself holds: everything in it is
// acknowledged, but the kept window (the last batch, kept for a rewind)
// and the active segment are still on disk, and neither an append nor a
// roll to a new segment finds room. The log then gives its space back: it
// drops the kept window and replaces the active segment by an empty one
// at the next offset. Offsets are never reused.

// isNoSpace reports whether err is a lack of space (or of quota).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// freeSpaceLocked handles an append that failed with err. If it failed for
// lack of space while every record of the log is acknowledged and written,
// it releases the kept window and the active segment, and reports true:
// the append may be tried again. l.mu is held; it is released meanwhile.
func (l *Log) freeSpaceLocked(err error) bool {
	if !isNoSpace(err) {
		return false
	}
	l.mu.Unlock()
	l.stateMu.Lock()
	l.mu.Lock()
	defer l.stateMu.Unlock()
	if !l.allAckedLocked() {
		return false
	}
	freed := false
	if st := l.mu.state; st.First < l.mu.next {
		st.First = l.mu.next
		l.mu.Unlock()
		_, serr := l.saveState(st)
		l.releases.Wait() // the released sealed segments are deleted in the background
		l.mu.Lock()
		if serr != nil {
			l.logger.Warn("seglog: full disk: cannot release the acknowledged records", "dir", l.dir, "err", serr)
			return false
		}
		freed = true
	}
	if l.allAckedLocked() && l.mu.w.size > segment.HeaderSize && l.mu.state.First == l.mu.next {
		if rerr := l.replaceActiveLocked(); rerr != nil {
			l.logger.Warn("seglog: full disk: cannot replace the active segment", "dir", l.dir, "err", rerr)
			return false
		}
		freed = true
	}
	if freed {
		l.logger.Warn("seglog: disk full with every record acknowledged: released the log's space", "dir", l.dir, "next", l.mu.next)
	}
	return freed
}

// allAckedLocked reports whether every record is acknowledged and written,
// with no segment awaiting its fsync and no I/O under way: the only state
// in which the active segment may be replaced.
func (l *Log) allAckedLocked() bool {
	l.waitIdleLocked()
	return l.writableLocked() == nil && l.mu.state.Cursor == l.mu.next &&
		l.mu.written == l.mu.next && l.mu.seal == nil && len(l.mu.w.buf) == 0 && l.mu.w.open < 0
}

// replaceActiveLocked deletes the active segment, which holds only
// released records, then creates an empty one at the next offset, so that
// the second finds the space the first held. The checkpoint has already
// released every record (First == Next): a crash in between leaves a log
// with no segment, which Open starts at the checkpoint's first offset.
// l.mu is held; it is released during the I/O. A failure to create the new
// segment is sticky: the log has no segment to append to until reopened.
func (l *Log) replaceActiveLocked() error {
	old := l.mu.w
	base := l.mu.next
	l.beginRollLocked()
	l.beginIOLocked()
	l.mu.Unlock()
	if old.idx != nil {
		old.idx.Close()
		old.idx = nil
	}
	err := l.removeSegment(old.seg) // a reader holding the file closes it when done
	var nw *writer
	if err == nil {
		nw, err = l.createSegment(base, 0)
	}
	l.mu.Lock()
	l.endIOLocked()
	l.endRollLocked()
	if err != nil {
		l.mu.err = fmt.Errorf("seglog: replace the active segment at offset %d: %w", base, err)
		return l.mu.err
	}
	l.mu.segs = []*segFile{nw.seg}
	nw.inherit(old)
	l.mu.w = nw
	l.mu.synced, l.mu.written = base, base
	return nil
}
