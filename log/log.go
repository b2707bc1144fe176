package log

import (
	"errors"
	"fmt"
	"io"
	stdlog "log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// LockFile is the name of the lock file in a log directory.
const LockFile = "LOCK"

// Record is one record of the log.
type Record struct {
	Offset uint64
	Type   string // optional tag; "" when none
	Data   []byte
}

// Log is an append-only segmented log in one directory. Its methods are
// safe for concurrent use.
type Log struct {
	dir    string
	opts   Options
	fs     vfs.FS
	logger *stdlog.Logger
	lock   io.Closer
	ckpt   *checkpoint.Store

	mu struct {
		sync.Mutex
		segs   []*segFile // in offset order; the last is the active one
		w      *writer    // the active segment's writer; nil if read-only
		next   uint64     // offset the next append gets
		synced uint64     // offsets below it are on stable storage
		state  checkpoint.State
		res    reservedState // the log's own entries of state.Meta, decoded
		closed bool
		// closing is set when Close starts: appends and state changes fail
		// with ErrClosed from then on, so that the sync Close does covers
		// every append that returned.
		closing bool
		// err is sticky: once set (a failed fsync), every write fails.
		err error
		// ioBusy is held by the one goroutine doing writer I/O, which it
		// does with mu released; others wait on cond.
		ioBusy bool
		// rolling is set while rollLocked seals the active segment and
		// creates the next one. Appends wait for it to clear: until the
		// roll is done, w is still the sealed segment's writer.
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
		// sent is the largest batch (in labels) handed out since the last
		// Ack, -1 if none; sentFloor what a process before Open may have
		// handed out (the pending count at Open), until the first Ack.
		sent      int
		sentFloor int
		// gapReported is the end of the last gap logged and counted;
		// gaps and gapOffsets count them (State.Gaps, GapOffsets).
		gapReported, gaps, gapOffsets uint64
		written                       uint64 // offsets below it are in the file (SyncInterval, SyncNever)
		probes                        uint64 // segments examined by findSegmentLocked, for tests
		// limit counts what Options.MaxBytes dropped and refused;
		// releasing is the bytes of released segments not yet deleted.
		limit     limitCounts
		releasing int64
		sealed    sealedSum

		// wake is closed to wake WaitPending (wait.go); nil while none waits.
		wake chan struct{}
	}
	cond sync.Cond

	// stateMu serialises the writers of the delivery state (Ack, Reset,
	// SetMeta), which save it with l.mu released.
	stateMu sync.Mutex
	// releases tracks background deletions of released segments.
	releases sync.WaitGroup
	// fills tracks background zero fills of the active segment.
	fills sync.WaitGroup

	loadedMu    sync.Mutex
	loaded      []*segFile
	loadedIndex int64 // memory of the loaded segments' indexes
	clock       atomic.Uint64

	roEnd  int64 // read-only: end of the last segment scanned
	frames frameCache
	walk   readWalk
	// readFirst and readClosed copy mu.state.First and mu.closed for the
	// frame-cache path of Read, which takes no lock.
	readFirst  atomic.Uint64
	readClosed atomic.Bool
	recovery   Recovery
	stop       chan struct{} // stops flushLoop
	done       chan struct{} // closed when flushLoop has returned
	kick       chan struct{} // asks flushLoop to write the buffer
}

// Recovery reports what Open found and repaired.
type Recovery struct {
	// TornBytes were cut from the end of the log: the tail of a write
	// interrupted by a crash, never acknowledged under SyncAlways (and,
	// under the buffered policies, a last segment dropped because the one
	// before it lost unsynced data). Zeros after the last frame,
	// preallocated space a crash left, are not torn: they are kept.
	TornBytes int64
	// TornFrom is the first offset that the cut bytes would have held.
	TornFrom uint64
	// File is the segment that was cut.
	File string
	// Corrupt is the damage cut under Options.TruncateCorrupt, if any.
	Corrupt error
	// IndexRebuilt is set when the active segment's index was rebuilt.
	IndexRebuilt bool
	// SegmentsRemoved counts segments removed because a checkpoint had
	// already released them (a release interrupted by a crash).
	SegmentsRemoved int
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Recovery reports what Open found and repaired.
func (l *Log) Recovery() Recovery { return l.recovery }

// FirstOffset returns the oldest offset still retained.
func (l *Log) FirstOffset() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.state.First
}

// NextOffset returns the offset the next append will get.
func (l *Log) NextOffset() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.next
}

// Sync makes every record appended so far durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	return l.syncLocked(l.mu.next)
}

func (l *Log) writableLocked() error {
	switch {
	case l.mu.closed || l.mu.closing:
		return ErrClosed
	case l.opts.ReadOnly:
		return ErrReadOnly
	}
	return l.mu.err
}

// Close syncs and closes the log. It is safe to call more than once; only
// the first call does anything. Appends, Pending and state changes that
// reach the log once Close has begun fail with ErrClosed, and every append
// that returned before is synced. A read under way finishes with the
// segment it holds; later reads fail with ErrClosed.
func (l *Log) Close() error {
	// Taken first, as Ack, Reset and SetMeta do: a state save under way
	// finishes, and schedules its deletions, before Close waits for them.
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	saveErr := l.saveRefusals()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.closing = true
	for l.mu.rolling { // an append racing Close finishes its roll first
		l.cond.Wait()
	}
	var err error
	if !l.opts.ReadOnly && l.mu.err == nil {
		err = l.syncLocked(l.mu.next)
		if err != nil {
			err = l.closeUnwrittenLocked(err)
		}
		if w := l.mu.w; err == nil && !w.recorded && w.end > segment.HeaderSize {
			// Every frame of the active segment was cut before the
			// background fsync of the previous one finished, so the
			// next Open would read that segment whole to check it. A
			// synced roll records that it is durable.
			if rerr := l.roll(false); rerr != nil {
				l.logger.Warn("seglog: close: cannot start a segment", "dir", l.dir, "err", rerr)
				err = l.mu.err // a failed fsync, if that was it
			}
		}
	}
	for l.mu.ioBusy || l.mu.rolling || (l.mu.w != nil && l.mu.w.filling) {
		l.cond.Wait()
	}
	if w := l.mu.w; w != nil && !l.opts.ReadOnly {
		// A log closed cleanly ends at its last frame: the preallocated
		// space goes (the next Open preallocates again).
		trimmed, terr := l.trimLocked(w)
		if terr == nil && trimmed && l.mu.err == nil {
			terr = w.f.Sync()
		}
		if terr != nil {
			l.logger.Warn("seglog: close: cannot trim the preallocated space", "file", w.seg.path, "err", terr)
		}
	}
	l.mu.closed = true
	l.readClosed.Store(true)
	l.cond.Broadcast()
	l.wakeLocked()
	w, segs := l.mu.w, l.mu.segs
	l.mu.Unlock()

	if l.stop != nil {
		close(l.stop)
		<-l.done
	}
	l.releases.Wait()
	l.fills.Wait()
	if w != nil && w.idx != nil {
		err = errors.Join(err, w.idx.Close())
	}
	// A read under way keeps its segment's file until it is done; the
	// active segment's file is the writer's.
	for _, s := range segs {
		s.mu.Lock()
		s.removed = true
		s.mu.Unlock()
		err = errors.Join(err, s.retire())
	}
	if l.ckpt != nil {
		err = errors.Join(err, saveErr, l.ckpt.Close())
	}
	if l.lock != nil {
		err = errors.Join(err, l.lock.Close())
	}
	if err != nil {
		return fmt.Errorf("seglog: close %s: %w", l.dir, err)
	}
	return nil
}

func (l *Log) path(name string) string { return filepath.Join(l.dir, name) }

// discardedGroup is a group of SyncAlways appends that a failed write
// discarded.
type discardedGroup struct {
	from uint64
	err  error
}

// setStateLocked adopts a delivery state.
func (l *Log) setStateLocked(st checkpoint.State) {
	l.mu.state = st
	l.readFirst.Store(st.First)
	l.wakeLocked()
}
