package log

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
	"github.com/seglog/seglog/segment/dict"
)

// Open opens the log in dir, creating it if it does not exist (unless
// ReadOnly). A nil opts gives the defaults documented on Options.
//
// Open recovers from a crash: a torn tail of the active segment is cut
// back to the last valid frame and reported through Recovery and the
// logger; damage in that tail before the durable end fails with an error
// matching ErrCorrupt, unless Options.TruncateCorrupt. Nothing the
// checkpoint or an index says was durable is ever cut or removed: a damaged
// frame the checkpoint's cursor has passed, or a last segment lost while
// the checkpoint or its index names offsets in it, fails with ErrCorrupt,
// so that no offset is given twice. Only the tail of the
// active segment is read, so Open takes the same time whatever the log's
// size; damage elsewhere is reported by the read that meets it (and by
// "seglog verify").
func Open(dir string, opts *Options) (*Log, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var l *Log
	for attempt := 0; ; attempt++ {
		l = &Log{dir: dir, opts: o, fs: o.FS, logger: o.Logger}
		l.mu.sent = -1
		l.mu.discarded, l.mu.waiting = map[uint64]discardedGroup{}, map[uint64]int{}
		l.cond.L = &l.mu.Mutex
		if o.ReadOnly {
			l.follow = &follower{l: l}
		}
		err := l.open()
		if err == nil && l.follow == nil {
			err = l.ensureID()
		}
		if err == nil {
			l.mu.sentFloor = int(l.mu.next - l.mu.state.Cursor)
			err = l.openHeld() // held.go; counts sentFloor in labels
		}
		if err == nil {
			break
		}
		l.closeFiles()
		// A live writer may roll and release segments between the
		// listing and the opening of a file: look again.
		if l.follow == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 4 {
			return nil, err
		}
	}
	if l.follow == nil && o.Sync != SyncAlways {
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		l.kick = make(chan struct{}, 1)
		go l.flushLoop()
	}
	return l, nil
}

// open opens the log's directory: a writer takes the lock, opens the
// checkpoint, lists the segments and recovers the active one; a read-only
// log's follower does its own (follow.go).
func (l *Log) open() error {
	if l.follow != nil {
		return l.follow.open()
	}
	if err := l.fs.MkdirAll(l.dir, l.opts.DirMode); err != nil {
		return fmt.Errorf("seglog: open: %w", err)
	}
	lock, err := l.fs.Lock(l.path(LockFile), l.opts.FileMode)
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return fmt.Errorf("%w: %s", ErrLocked, l.dir)
		}
		return fmt.Errorf("seglog: open: %w", err)
	}
	l.lock = lock

	// A writer holds the lock: nothing changes the directory meanwhile.
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("seglog: open: %w", err)
	}
	dict.RemoveTemps(l.fs, l.dir, names)
	if l.dicts, err = dict.Open(l.fs, l.dir, names); err != nil {
		return fmt.Errorf("seglog: open: %w", err)
	}
	var st checkpoint.State
	l.ckpt, st, err = checkpoint.Open(l.fs, l.dir, l.opts.FileMode, false)
	if err != nil {
		return fmt.Errorf("seglog: open: %w", err)
	}
	l.setStateLocked(st)
	// A writer would give the missing offsets again.
	if err := l.checkMissingTail(names); err != nil {
		return err
	}
	bases := segmentBases(names)
	l.removeStrayIndexes(names, bases)
	for _, b := range bases {
		l.mu.segs = append(l.mu.segs, newSegFile(l.dir, b))
	}
	if err := l.removeReleased(l.dropReleased()); err != nil {
		return err
	}
	if err := l.checkStart(); err != nil {
		return err
	}
	if len(l.mu.segs) == 0 {
		if err := l.startEmpty(st.First); err != nil {
			return err
		}
	} else if err := l.recoverActive(); err != nil {
		return err
	}
	l.mu.synced, l.mu.written = l.mu.next, l.mu.next
	return l.checkState()
}

// segmentBases returns the base offsets of the segment files among names,
// in order.
func segmentBases(names []string) []uint64 {
	var bases []uint64
	for _, n := range names {
		if b, ok := segment.ParseFileName(n); ok {
			bases = append(bases, b)
		}
	}
	slices.Sort(bases)
	return bases
}

// removeStrayIndexes removes the index files among names whose segment is
// not among bases, unless they name offsets the checkpoint keeps. Only a
// writer, which holds the lock, removes them.
func (l *Log) removeStrayIndexes(names []string, bases []uint64) {
	for _, n := range names {
		if b, ok := segment.ParseBaseName(n, index.Suffix); ok {
			if _, found := slices.BinarySearch(bases, b); found {
				continue
			}
			// Left by a release a crash interrupted, or by a roll
			// that failed. An index naming kept offsets is evidence
			// of a missing segment: it stays.
			if e, ok := l.firstIndexEntry(l.path(n), b); ok && e.Offset >= l.mu.state.First {
				continue
			}
			l.fs.Remove(l.path(n))
		}
	}
}

// dropReleased takes off the list the segments that lie wholly before the
// checkpoint's first offset, and returns them: a release that a crash
// interrupted after its checkpoint (or, for a read-only log, one its
// writer has not finished yet).
func (l *Log) dropReleased() []*segFile {
	first := l.mu.state.First
	segs := l.mu.segs
	n := 0
	for n+1 < len(segs) && segs[n+1].base <= first {
		n++
	}
	l.mu.segs = segs[n:]
	return segs[:n]
}

// checkStart refuses a list of segments that starts after the
// checkpoint's first offset.
func (l *Log) checkStart() error {
	if first := l.mu.state.First; len(l.mu.segs) > 0 && l.mu.segs[0].base > first {
		return &CorruptError{File: l.mu.segs[0].path, Offset: 0,
			Reason: fmt.Sprintf("the log starts at offset %d but the checkpoint keeps records from %d: a segment is missing", l.mu.segs[0].base, first)}
	}
	return nil
}

// removeReleased finishes the release of segments a crash interrupted
// (dropReleased).
func (l *Log) removeReleased(segs []*segFile) error {
	if len(segs) == 0 {
		return nil
	}
	for _, s := range segs {
		if err := l.removeSegment(s); err != nil {
			return err
		}
	}
	l.recovery.SegmentsRemoved = len(segs)
	l.logger.Info("seglog: removed released segments", "dir", l.dir, "count", len(segs))
	return nil
}

func (l *Log) removeSegment(s *segFile) error {
	s.mu.Lock()
	s.removed = true
	s.mu.Unlock()
	s.retire()
	if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("seglog: remove released segment: %w", err)
	}
	if err := l.fs.Remove(s.idxPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.logger.Warn("seglog: remove index", "file", s.idxPath, "err", err)
	}
	return nil
}

// checkState checks the checkpoint against the recovered log.
func (l *Log) checkState() error {
	if err := l.loadReservedLocked(); err != nil {
		return err
	}
	st := l.mu.state
	if st.Cursor > l.mu.next || st.First > l.mu.next {
		return &CorruptError{File: l.path("checkpoint"), Offset: 0,
			Reason: fmt.Sprintf("checkpoint (first %d, cursor %d) points past the end of the log (%d)", st.First, st.Cursor, l.mu.next)}
	}
	// A cursor below first is a range dropped by the size limit, which
	// the checkpoint encodes on purpose (checkpoint.FlagDropped).
	return l.loadDropRecord()
}

// closeFiles releases what a failed Open holds.
func (l *Log) closeFiles() {
	if l.mu.w != nil {
		l.mu.w.close()
	}
	for _, s := range l.mu.segs {
		if s.f != nil && (l.mu.w == nil || s.f != l.mu.w.f) {
			s.f.Close()
		}
	}
	if l.ckpt != nil {
		l.ckpt.Close()
	}
	if l.held.f != nil {
		l.held.f.Close()
	}
	if l.lock != nil {
		l.lock.Close()
	}
}
