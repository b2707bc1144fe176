package log

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/segment"
)

// Append appends one record with no type tag and returns its offset.
// Under SyncAlways it returns once the record is on stable storage. At
// Options.MaxBytes it fails with ErrFull (LimitRefuse) or first drops the
// oldest whole segments (LimitDrop).
func (l *Log) Append(data []byte) (uint64, error) {
	return l.appendOne(data, AppendOptions{})
}

// appendOne appends one record into the open frame, which concurrent
// appends share (group commit).
func (l *Log) appendOne(data []byte, o AppendOptions) (uint64, error) {
	if err := segment.CheckRecord(o.Type, data); err != nil {
		return 0, fmt.Errorf("seglog: append: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for retried := false; ; retried = true {
		off, err := l.appendLocked(data, o)
		// A full disk whose space is all the log's own, acknowledged:
		// give it back and try once more.
		if err == nil || retried || l.opts.Sync != SyncAlways || !l.freeSpaceLocked(err) {
			return off, err
		}
	}
}

func (l *Log) appendLocked(data []byte, o AppendOptions) (uint64, error) {
	typ := o.Type
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	if err := l.sessionLocked(o.Session); err != nil {
		return 0, err
	}
	if err := l.outageLocked(1, o.AlwaysKept); err != nil {
		return 0, err
	}
	if err := l.prepareLocked(segment.RecordSize(typ, data)); err != nil {
		return 0, err
	}
	off, epoch := l.mu.next, l.mu.epoch
	l.mu.w.add(typ, data, off)
	l.mu.next++
	if l.mu.w.openSize() >= frameTargetFor(l.opts.Codec) {
		l.mu.w.cut()
	}
	return off, l.commitLocked(off, epoch)
}

// AppendRecords appends records as one frame, all or nothing, and returns
// the offset of the first. Offsets of recs are ignored. Each call is a
// frame of its own; AppendTyped tags single records at the cost of Append.
// While the failure window is exceeded it refuses the records with
// ErrOutage (AppendWith can exempt a record).
func (l *Log) AppendRecords(recs ...Record) (uint64, error) {
	if len(recs) == 0 {
		return 0, errors.New("seglog: AppendRecords: no records")
	}
	total := 0
	for i := range recs {
		if err := segment.CheckRecord(recs[i].Type, recs[i].Data); err != nil {
			return 0, fmt.Errorf("seglog: append record %d: %w", i, err)
		}
		total += segment.RecordSize(recs[i].Type, recs[i].Data)
	}
	if total > segment.MaxFrameBody {
		return 0, fmt.Errorf("seglog: append: %w: batch of %d bytes (max %d)", ErrTooLarge, total, segment.MaxFrameBody)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for retried := false; ; retried = true {
		off, err := l.appendRecordsLocked(recs, total)
		if err == nil || retried || l.opts.Sync != SyncAlways || !l.freeSpaceLocked(err) {
			return off, err
		}
	}
}

func (l *Log) appendRecordsLocked(recs []Record, total int) (uint64, error) {
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	if err := l.outageLocked(len(recs), false); err != nil {
		return 0, err
	}
	if err := l.prepareLocked(total + segment.FrameHeaderSize); err != nil {
		return 0, err
	}
	w := l.mu.w
	w.cut()
	first, epoch := l.mu.next, l.mu.epoch
	for i := range recs {
		w.add(recs[i].Type, recs[i].Data, l.mu.next)
		l.mu.next++
	}
	w.cut()
	return first, l.commitLocked(l.mu.next-1, epoch)
}

// prepareLocked rolls the active segment if need bytes do not fit in it,
// and refuses appends while failed writes have filled the buffer.
func (l *Log) prepareLocked(need int) error {
	for {
		if err := l.writableLocked(); err != nil {
			return err
		}
		if l.mu.rolling {
			l.cond.Wait()
			continue
		}
		w := l.mu.w
		if len(w.buf) > maxBuffered && l.mu.failErr != nil {
			return fmt.Errorf("seglog: append: buffer full after failed writes: %w", l.mu.failErr)
		}
		roll := w.needsRoll(need, l.opts.SegmentSize)
		if l.opts.MaxBytes > 0 {
			if retry, err := l.limitLocked(need, roll); err != nil {
				return err
			} else if retry {
				continue // l.mu was released: look again
			}
		}
		if !roll {
			return nil
		}
		if err := l.rollLocked(); err != nil {
			return err
		}
	}
}

// maxGroupYields bounds how many times a group commit's leader yields to
// appenders still adding records before it writes: each yield costs about
// a microsecond, an fsync a hundred or more.
const maxGroupYields = 16

// commitLocked finishes an append according to the sync policy.
func (l *Log) commitLocked(off, epoch uint64) error {
	l.wakeLocked() // a record was appended: wake WaitPending
	if l.opts.Sync != SyncAlways {
		switch n := len(l.mu.w.buf); {
		case n >= 2*flushThreshold:
			// The flusher is behind: write here, which also makes
			// appenders wait for the disk instead of growing the buffer.
			// The records stay buffered if this fails; the error is
			// reported by Sync and Close.
			_ = l.flushLocked(false)
		case n >= flushThreshold && !l.mu.ioBusy:
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
		return nil
	}
	l.mu.waiting[epoch]++
	defer func() { l.doneWaitingLocked(epoch) }()
	yields, seen := 0, uint64(0)
	for {
		if l.mu.epoch != epoch {
			// A failed write discarded the frames not yet written then,
			// from discarded[epoch].from on: those records are gone, and
			// their offsets given again (perhaps already synced for
			// other appenders). A record below it was written, by this
			// group or by a Flush, but perhaps not synced: wait on.
			if d := l.mu.discarded[epoch]; off >= d.from {
				return d.err
			}
			l.doneWaitingLocked(epoch)
			epoch = l.mu.epoch
			l.mu.waiting[epoch]++
			continue
		}
		if l.mu.synced > off {
			return nil
		}
		if l.mu.err != nil {
			return l.mu.err
		}
		if l.mu.ioBusy {
			l.cond.Wait()
			continue
		}
		if yields == 0 || (l.mu.next != seen && yields < maxGroupYields) {
			// Let appenders just woken by the last group commit add
			// their records before this one starts, as long as they
			// keep coming: groups grow, and fsyncs per record fall.
			yields++
			seen = l.mu.next
			l.mu.Unlock()
			runtime.Gosched()
			l.mu.Lock()
			continue
		}
		_ = l.flushLocked(true) // its outcome is read from the state above
	}
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
			l.cond.Wait()
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
// doSync, fsyncs. It releases l.mu during the I/O; only one goroutine does
// writer I/O at a time (ioBusy).
func (l *Log) flushLocked(doSync bool) error {
	for {
		for l.mu.ioBusy {
			l.cond.Wait()
		}
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
		if doSync {
			// Every record is written, in files that are all synced.
			l.mu.synced = l.mu.next
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
	l.mu.ioBusy = true
	l.mu.Unlock()
	writeErr, syncErr := w.writeOut(b, entries, pos, doSync)
	if writeErr == nil && syncErr == nil && seal != nil {
		syncErr = l.syncSeal(seal)
	}
	l.mu.Lock()
	l.mu.ioBusy = false
	l.cond.Broadcast()

	if writeErr != nil {
		return l.failWriteLocked(b, entries, pos, writeErr)
	}
	w.size = pos + int64(len(b))
	w.seg.entries = append(w.seg.entries, entries...)
	w.recycle(b, entries)
	l.mu.failErr = nil
	l.mu.written = target
	if syncErr != nil {
		if l.mu.err == nil { // syncSeal sets it for its own file
			l.mu.err = fmt.Errorf("%w: %s: %v", ErrSyncFailed, w.seg.path, syncErr)
			l.logger.Error("seglog: fsync failed", "file", w.seg.path, "err", syncErr)
		}
		return l.mu.err
	}
	if doSync {
		w.durable = w.size
		l.mu.synced = target
		l.fillLocked()
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
		l.mu.err = fmt.Errorf("seglog: cannot undo failed write (%v): %w", err, terr)
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

// doneWaitingLocked records that an appender waiting in epoch e is done,
// and forgets e's discarded group once no appender can ask for it.
func (l *Log) doneWaitingLocked(e uint64) {
	if l.mu.waiting[e]--; l.mu.waiting[e] <= 0 {
		delete(l.mu.waiting, e)
		delete(l.mu.discarded, e)
	}
}
