package log

import (
	"errors"
	"fmt"
	"time"

	"github.com/seglog/seglog/index"
)

// The write path's I/O: writing the buffered frames of the active segment
// (flushLocked), making them durable (syncLocked, syncSeal) and the
// background flusher (flushLoop). Appends (append.go) and rolls (roll.go)
// come here; the bytes themselves are written by the writer (writer.go).

// beginIOLocked takes the I/O handover: it waits until no other goroutine
// does writer I/O, then claims it. The caller may then release l.mu for
// the I/O, and must take l.mu again and call endIOLocked.
func (l *Log) beginIOLocked() {
	for l.mu.ioBusy {
		l.cond.Wait()
	}
	l.mu.ioBusy = true
}

// endIOLocked gives the I/O handover back and wakes its waiters.
func (l *Log) endIOLocked() {
	l.mu.ioBusy = false
	l.cond.Broadcast()
}

// waitIOLocked waits until no goroutine does writer I/O.
func (l *Log) waitIOLocked() {
	for l.mu.ioBusy {
		l.cond.Wait()
	}
}

// beginRollLocked takes the roll handover: it waits for a roll under way
// to finish, then claims it. Appends wait until endRollLocked.
func (l *Log) beginRollLocked() {
	l.waitRollLocked()
	l.mu.rolling = true
}

// endRollLocked gives the roll handover back and wakes its waiters.
func (l *Log) endRollLocked() {
	l.mu.rolling = false
	l.cond.Broadcast()
}

// waitRollLocked waits until no roll is under way.
func (l *Log) waitRollLocked() {
	for l.mu.rolling {
		l.mu.rollWaits++
		l.cond.Wait()
	}
}

// busyLocked reports whether either handover is taken.
func (l *Log) busyLocked() bool { return l.mu.ioBusy || l.mu.rolling }

// waitIdleLocked waits until neither handover is taken.
func (l *Log) waitIdleLocked() {
	for l.busyLocked() {
		l.cond.Wait()
	}
}

// syncFailedLocked records a failed fsync of path: the log refuses every
// write from then on (ErrSyncFailed, wrapping the cause). The first
// failure is kept and returned.
func (l *Log) syncFailedLocked(path string, cause error) error {
	if l.mu.err == nil {
		l.mu.err = fmt.Errorf("%w: %s: %w", ErrSyncFailed, path, cause)
		l.logger.Error("seglog: fsync failed", "file", path, "err", cause)
	}
	return l.mu.err
}

// syncLocked makes offsets below target durable.
// Only a target of l.mu.next waits for every buffered frame: records up to
// a smaller target that are already in the file are synced without writing
// the buffer behind them, so that a full disk does not stop the delivery
// of what is on it.
func (l *Log) syncLocked(target uint64) error {
	for {
		t := min(target, l.mu.next)
		whole := t == l.mu.next && l.mu.w != nil && l.mu.w.durable < l.mu.w.end
		if l.mu.synced >= t && !whole {
			return l.mu.err
		}
		if l.mu.err != nil {
			return l.mu.err
		}
		if l.mu.closed {
			return ErrClosed
		}
		if l.mu.ioBusy {
			l.waitIOLocked()
			continue
		}
		lazy := l.opts.Sync != SyncAlways
		if lazy && l.mu.failErr != nil && t <= l.mu.written {
			if err := l.syncWrittenLocked(); err != nil {
				return err
			}
			continue
		}
		if err := l.flushLocked(true); err != nil {
			if lazy && unwritten(err) && l.mu.err == nil && t <= l.mu.written {
				continue // the records wanted are in the file: sync them alone
			}
			return err
		}
	}
}

// flushLocked writes the buffered frames (cutting the open one) and, if
// doSync, fsyncs. It releases l.mu during the I/O, under the I/O
// handover.
func (l *Log) flushLocked(doSync bool) error {
	for {
		l.waitIOLocked()
		if w := l.mu.w; w != nil && w.filling && w.size+int64(len(w.buf)) > w.fillFrom {
			// Rare: the writes caught up with the background fill.
			l.waitFillLocked(w, w.size+int64(len(w.buf)))
			continue
		}
		break
	}
	if l.mu.closed { // Close ran while this waited: the files are gone
		return ErrClosed
	}
	if l.mu.err != nil {
		return l.mu.err
	}
	w := l.mu.w
	w.cut()
	if len(w.buf) == 0 && (!doSync || (w.durable == w.size && l.mu.seal == nil)) {
		if doSync && l.mu.synced != l.mu.next {
			// Every record is written, in files that are all synced.
			l.mu.synced = l.mu.next
			l.cond.Broadcast() // readers wait for it (readableLocked)
		}
		return nil
	}
	target := l.mu.next
	pos := w.size
	b, entries := w.take()
	var seal *segFile
	if doSync {
		seal = l.mu.seal
	}
	l.beginIOLocked()
	l.mu.Unlock()
	writeErr, syncErr := w.writeOut(b, entries, pos, doSync)
	if writeErr == nil && syncErr == nil && seal != nil {
		syncErr = l.syncSeal(seal)
	}
	l.mu.Lock()
	l.endIOLocked()

	if writeErr != nil {
		return l.failWriteLocked(b, entries, pos, writeErr)
	}
	w.size = pos + int64(len(b))
	w.seg.entries = append(w.seg.entries, entries...)
	w.recycle(b, entries)
	l.mu.failErr = nil
	l.mu.written = target
	if syncErr != nil {
		// syncSeal has recorded its own file's failure already.
		return l.syncFailedLocked(w.seg.path, syncErr)
	}
	if doSync {
		w.durable = w.size
		l.mu.synced = target
		l.fillLocked()
	}
	return nil
}

// syncSeal fsyncs a sealed segment that was left for the background, and
// records that it is durable. It runs without l.mu. A failure is sticky,
// as for any fsync.
func (l *Log) syncSeal(s *segFile) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.removed || s.f == nil {
		s.mu.Unlock()
		// Released meanwhile: nothing left to make durable.
		l.mu.Lock()
		if l.mu.seal == s {
			l.mu.seal = nil
		}
		l.mu.Unlock()
		return nil
	}
	s.refs++
	f := s.f
	s.mu.Unlock()
	err := f.Sync()
	s.release()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		return l.syncFailedLocked(s.path, err)
	}
	if l.mu.seal == s {
		l.mu.seal = nil
		if w := l.mu.w; w != nil && !w.prevSynced && len(l.mu.segs) >= 2 && l.mu.segs[len(l.mu.segs)-2] == s {
			w.prevSynced = true
		}
		l.loaded.add(s) // durable: its handle may now go
	}
	return nil
}

// failWriteLocked undoes a failed write: the partial frame is cut off the
// file so that no reader or recovery ever sees it. Under SyncAlways the
// group's appenders are told and their offsets given again; otherwise the
// frames, whose appends have returned, stay buffered for the next try.
func (l *Log) failWriteLocked(b []byte, entries []index.Entry, pos int64, err error) error {
	w := l.mu.w
	err = fmt.Errorf("seglog: write %s at %d: %w", w.seg.path, pos, err)
	if l.mu.failErr == nil { // once per run of failures: a full disk is retried every SyncEvery
		l.logger.Error("seglog: write failed", "file", w.seg.path, "offset", pos, "err", err)
	}
	if terr := l.undoWrite(w, pos, int64(len(b))); terr != nil {
		l.mu.err = fmt.Errorf("seglog: cannot undo failed write (%w): %w", err, terr)
		return l.mu.err
	}
	l.mu.failErr = err
	if l.opts.Sync == SyncAlways {
		if len(entries) > 0 {
			l.mu.next = entries[0].Offset
		}
		w.discard()
		if l.mu.waiting[l.mu.epoch] > 0 {
			l.mu.discarded[l.mu.epoch] = discardedGroup{from: l.mu.next, err: err}
		}
		l.mu.epoch++
		return err
	}
	w.requeue(b, entries)
	return &writeFailedError{err}
}

// Flush writes buffered records to the operating system without waiting
// for stable storage, so that readers in other processes see them. Under
// SyncAlways there is never anything to flush.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	for l.mu.written < l.mu.next {
		if err := l.flushLocked(false); err != nil {
			return err
		}
	}
	return nil
}

// flushLoop writes buffered frames in the background when an appender
// kicks it, so that under SyncInterval and SyncNever appending and writing
// proceed on separate cores. Every SyncEvery it fsyncs under SyncInterval,
// and under SyncNever writes out what is buffered, so that a quiet log's
// records still reach the operating system: readers in other processes see
// them, and a crash of the process loses at most that period.
func (l *Log) flushLoop() {
	defer close(l.done)
	var tick <-chan time.Time
	if l.opts.Sync != SyncAlways {
		t := time.NewTicker(l.opts.SyncEvery)
		defer t.Stop()
		tick = t.C
	}
	var lastErr string // logged once, not at every tick while it lasts
	for {
		doSync := false
		select {
		case <-l.stop:
			return
		case <-l.kick:
		case <-tick:
			doSync = l.opts.Sync == SyncInterval
		}
		l.mu.Lock()
		if !l.mu.closed && l.mu.err == nil {
			var err error
			if doSync {
				err = l.syncLocked(l.mu.next)
			} else {
				err = l.flushLocked(false)
			}
			if seal := l.mu.seal; err == nil && seal != nil {
				l.mu.Unlock()
				err = l.syncSeal(seal)
				l.mu.Lock()
			}
			if errors.Is(err, ErrClosed) {
				err = nil // Close ran while this waited for the writer
			}
			if err != nil && err.Error() != lastErr {
				l.logger.Error("seglog: background flush", "dir", l.dir, "err", err)
			}
			lastErr = ""
			if err != nil {
				lastErr = err.Error()
			}
		}
		l.mu.Unlock()
	}
}
