package log

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
	"github.com/seglog/seglog/segment/dict"
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
//
// Log composes the parts that do the work, each in its own files (see
// docs/layout.md, which follows Append to the disk and Ack to the deleted
// segment):
//
//   - the appender (appendState; append.go, roll.go, flush.go, writer.go):
//     frames records, group-commits them, rolls to a new segment and runs
//     the background flusher;
//   - the segment set (mu.segs and loaded; segments.go, segsearch.go): the
//     list of segments, pinning a segment for a read, loading a sealed
//     segment's file and index, and evicting open files;
//   - the follower (follow, followState; follow.go, refresh.go): what a
//     read-only log does to keep up with a writer in another process.
//     Log holds one only when read-only: elsewhere, follow != nil is how
//     the code tells a read-only log from a writer;
//   - the delivery state (deliveryState; deliver.go, limit.go, reserved.go,
//     outage.go, sessions.go, wait.go): the checkpoint, Pending and Ack.
//
// Locks, always taken in this order (a lock is never taken while one
// after it in the list is held):
//
//  0. held.io serialises Pending, SetAcceptedTypes and the writes of the
//     held records' store (held.go), and guards the store's file (the
//     other fields of heldStore). The held records themselves are in
//     mu.held (heldState), guarded by mu; those changed with held.io held
//     too may be read under held.io alone.
//  1. stateMu serialises the changes of the delivery state (Ack, Reset,
//     SetMeta, the reserved entries), which save the checkpoint with mu
//     released.
//  2. mu guards every field inside it: the appender's, the segment
//     list's, the follower's, the delivery state's and the held
//     records' (mu.held). It is released
//     during file I/O, which one goroutine at a time does under the
//     handovers below.
//  3. loaded.mu guards the list of sealed segments holding an open file.
//  4. segFile.mu guards one segment's read handle, index and reader count.
//
// mu has two handovers, each set and cleared with mu held, by named
// helpers only (flush.go): the I/O handover (beginIOLocked, endIOLocked)
// is held by the one goroutine that writes or syncs the active segment
// with mu released; the roll handover (beginRollLocked, endRollLocked)
// by the goroutine that seals the active segment and creates the next,
// during which appends wait (mu.w is still the sealed segment's writer).
// Waiters sleep on cond, whose lock is mu. A background zero fill of the
// active segment (prealloc.go) writes its file with mu released too, only
// at or past writer.fillFrom while writer.filling is set; a write of
// frames that would reach fillFrom waits for it (waitFillLocked).
//
// Reads that take no lock:
//   - The active segment's index entries (segFile.entries): acquire copies
//     the slice header under mu, and a reader then searches it without a
//     lock. The writer only appends to the slice (flushLocked, under mu):
//     an append past the copy's length never changes the elements the
//     copy covers, even when it moves the slice to a new array, so the
//     reader sees a fixed, complete prefix.
//   - The frame cache (framecache.go) holds immutable decoded frames in
//     atomic slots; readFirst and readClosed, atomic copies of
//     mu.state.First and mu.closed stored under mu, tell a cached frame's
//     record still readable. A frame is only put in the cache once it was
//     read from the file, so it was readable then.
//   - walk (read.go) only steers whether a frame is cached; a race on it
//     costs a cache miss, never a wrong record.
//   - The fields above mu, and recovery, stop, done and kick, are set by
//     Open before the Log is shared, and never changed.
//   - A segFile's salt and lastUsed are atomics.
//
// Suffixes: a method named ...Locked is called with mu held (it may
// release it and take it again while it waits or does I/O, and says so).
// Open's helpers run before the Log is shared, and take no lock.
type Log struct {
	// Set by Open, then never changed.
	dir    string
	opts   Options
	fs     vfs.FS
	logger *slog.Logger
	lock   io.Closer
	ckpt   *checkpoint.Store
	follow *follower // a read-only log's follower (follow.go); nil for a writer

	mu struct {
		sync.Mutex
		appendState             // the appender's state (append.go)
		deliveryState           // the delivery state (deliver.go)
		followState             // a read-only log's (follow.go, refresh.go)
		held          heldState // the accepted types and the held records (held.go)

		segs   []*segFile // in offset order; the last is the active one
		probes uint64     // segments examined by findSegmentLocked, for tests
		closed bool
		// closing is set when Close starts: appends and state changes fail
		// with ErrClosed from then on, so that the sync Close does covers
		// every append that returned.
		closing bool
	}
	cond sync.Cond // L is &mu.Mutex

	// stateMu serialises the writers of the delivery state (Ack, Reset,
	// SetMeta), which save it with l.mu released.
	stateMu sync.Mutex
	// releases tracks background deletions of released segments.
	releases sync.WaitGroup
	// fills tracks background zero fills of the active segment.
	fills sync.WaitGroup
	// dicts holds the log's compression dictionaries; training tracks a
	// dictionary being trained in the background (dict.go).
	dicts        *dict.Store
	training     sync.WaitGroup
	trainStarted atomic.Bool

	loaded loadedSegments // sealed segments holding an open file (segments.go)

	frames frameCache
	walk   readWalk
	// readFirst and readClosed copy mu.state.First and mu.closed for the
	// frame-cache path of Read, which takes no lock.
	readFirst  atomic.Uint64
	readClosed atomic.Bool
	recovery   Recovery
	held       heldStore     // the held records' store and its lock (held.go)
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
	case l.follow != nil:
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
	defer l.closeHeld() // after stateMu is released: held.io comes first
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
	l.waitRollLocked() // an append racing Close finishes its roll first
	var err error
	if l.follow == nil && l.mu.err == nil {
		err = l.syncLocked(l.mu.next)
		if err != nil {
			err = l.closeUnwrittenLocked(err)
		}
		if w := l.mu.w; err == nil && !w.recorded && w.end > segment.HeaderSize {
			// Every frame of the active segment was cut before the
			// background fsync of the previous one finished, so the
			// next Open would read that segment whole to check it. A
			// synced roll records that it is durable.
			if rerr := l.rollLocked(false); rerr != nil {
				l.logger.Warn("seglog: close: cannot start a segment", "dir", l.dir, "err", rerr)
				err = l.mu.err // a failed fsync, if that was it
			}
		}
	}
	for l.busyLocked() || (l.mu.w != nil && l.mu.w.filling) {
		l.cond.Wait()
	}
	if w := l.mu.w; w != nil { // a writer's: a read-only log has none
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
	l.training.Wait()
	l.dicts.Close()
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

// setStateLocked adopts a delivery state.
func (l *Log) setStateLocked(st checkpoint.State) {
	l.mu.state = st
	l.readFirst.Store(st.First)
	l.wakeLocked()
}
