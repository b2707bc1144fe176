package log

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/seglog/seglog/segment"
)

// appendState is the appender's part of Log.mu: the active segment's
// writer, the offsets appended, written and synced, and what the group
// commit and the failure paths need.
type appendState struct {
	w      *writer // the active segment's writer; nil if read-only
	next   uint64  // offset the next append gets
	synced uint64  // offsets below it are on stable storage
	// written: offsets below it are in the file (SyncInterval, SyncNever).
	written uint64
	// err is sticky: once set (a failed fsync), every write fails.
	err error
	// ioBusy is the I/O handover (beginIOLocked, endIOLocked): set while
	// one goroutine does writer I/O with mu released; others wait on cond.
	ioBusy bool
	// rolling is the roll handover (beginRollLocked, endRollLocked): set
	// while rollLocked seals the active segment and creates the next one.
	// Appends wait for it to clear: until the roll is done, w is still
	// the sealed segment's writer.
	rolling bool
	// seal is a sealed segment whose fsync was left to the background
	// flusher (SyncInterval, SyncNever); nil once it is durable.
	seal *segFile
	// epoch counts discarded groups: an appender whose group was
	// discarded by a failed write sees the epoch change.
	epoch uint64
	// discarded[e] is the group discarded by the failed write that
	// ended epoch e: its first offset, and the error its appenders
	// get (kept here, since failErr is cleared by the next success).
	// Kept only while waiting[e], the appenders waiting in epoch e,
	// is not zero, so that a long run of failures holds no memory.
	discarded map[uint64]discardedGroup
	waiting   map[uint64]int
	failErr   error
	// rollWaits counts the waits for a roll to finish, for tests.
	rollWaits uint64
}

// discardedGroup is a group of SyncAlways appends that a failed write
// discarded.
type discardedGroup struct {
	from uint64
	err  error
}

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
	l.appendGateLocked() // held.go: while held records are appended again
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
	l.appendGateLocked() // held.go: while held records are appended again
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
			l.waitRollLocked()
			continue
		}
		w := l.mu.w
		if len(w.buf) > maxBuffered && l.mu.failErr != nil {
			return fmt.Errorf("seglog: append: buffer full after failed writes: %w", l.mu.failErr)
		}
		roll := w.needsRoll(need, l.opts.SegmentSize)
		if l.opts.MaxBytes > 0 || l.opts.MaxAge > 0 {
			if retry, err := l.limitLocked(need, roll); err != nil {
				return err
			} else if retry {
				continue // l.mu was released: look again
			}
		}
		if !roll {
			return nil
		}
		if err := l.rollLocked(l.lazySeal()); err != nil {
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
			l.waitIOLocked()
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

// doneWaitingLocked records that an appender waiting in epoch e is done,
// and forgets e's discarded group once no appender can ask for it.
func (l *Log) doneWaitingLocked(e uint64) {
	if l.mu.waiting[e]--; l.mu.waiting[e] <= 0 {
		delete(l.mu.waiting, e)
		delete(l.mu.discarded, e)
	}
}
