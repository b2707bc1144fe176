package log

import (
	"fmt"
	"os"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/segment"
)

// lazySeal reports whether a roll leaves the sealed segment's fsync to
// the background flusher: under SyncInterval and SyncNever.
func (l *Log) lazySeal() bool { return l.opts.Sync != SyncAlways }

// rollLocked seals the active segment and starts a new one at the next
// offset, under the roll handover: appends wait until it is done. The
// sealed segment is fsynced before the new one starts unless lazy (see
// lazySeal), and the new file and its directory entry are durable before
// any record goes into it. It releases l.mu during the I/O.
func (l *Log) rollLocked(lazy bool) error {
	l.waitRollLocked()
	if l.mu.w.seg.base == l.mu.next {
		return nil // a concurrent roll has just started a segment here
	}
	l.beginRollLocked()
	defer l.endRollLocked()
	// Under SyncAlways the sealed segment is synced before the next one
	// starts. Under the weaker policies that fsync, of a whole segment,
	// would stall appenders: the background flusher does it, the new
	// segment's header says so (FlagPrevUnsynced), and recovery then checks
	// the previous segment too. At most one sealed segment awaits its
	// fsync: a roll first syncs the one before.
	if err := l.flushLocked(!lazy); err != nil {
		return err
	}
	old := l.mu.w
	base := l.mu.next
	pending := l.mu.seal
	// A sealed segment ends at its last frame: its preallocated space
	// goes, durably before the next segment exists under SyncAlways (the
	// background sync of a lazy seal covers it otherwise).
	trimmed, err := l.trimLocked(old)
	if err != nil {
		return err
	}
	if trimmed && !lazy {
		if err := old.f.Sync(); err != nil {
			return l.syncFailedLocked(old.seg.path, err)
		}
	}
	l.beginIOLocked()
	l.mu.Unlock()
	var nw *writer
	err = l.syncSeal(pending)
	if err == nil {
		var flags uint16
		if lazy {
			flags = segment.FlagPrevUnsynced
		}
		nw, err = l.createSegment(base, flags)
	}
	if err == nil && old.idx != nil {
		// A synced index spares the next reader a rebuild.
		if err := old.idx.Sync(); err != nil {
			l.logger.Warn("seglog: index sync failed", "file", old.seg.idxPath, "err", err)
		}
		old.idx.Close()
		old.idx = nil
	}
	l.mu.Lock()
	l.endIOLocked()
	if err != nil {
		return err
	}
	if l.mu.seal == pending {
		l.mu.seal = nil
	}
	old.seg.mu.Lock()
	old.seg.size = old.size
	old.seg.mu.Unlock()
	l.mu.segs = append(l.mu.segs, nw.seg)
	nw.inherit(old)
	l.mu.w = nw
	if lazy {
		l.mu.seal = old.seg
		select {
		case l.kick <- struct{}{}:
		default:
		}
	} else {
		// Synced whole: its handle may now go, like those of the
		// segments that reads load (maxLoaded).
		l.loaded.add(old.seg)
	}
	return nil
}

// createSegment creates and syncs a new segment file, its index file and
// their directory entries.
func (l *Log) createSegment(base uint64, flags uint16) (*writer, error) {
	s := newSegFile(l.dir, base)
	f, err := l.fs.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, l.opts.FileMode)
	if err != nil {
		return nil, fmt.Errorf("seglog: create segment: %w", err)
	}
	fail := func(err error) (*writer, error) {
		f.Close()
		l.fs.Remove(s.path)
		return nil, fmt.Errorf("seglog: create segment %s: %w", s.path, err)
	}
	salt := segment.NewSalt()
	s.salt.Store(uint32(salt))
	if _, err := f.WriteAt(l.appendSegmentHeader(s, base, flags, salt), 0); err != nil {
		return fail(err)
	}
	w := newWriter(s, f, nil, l.opts.Codec, segment.HeaderSize, 0)
	l.adoptDictLocked(w)
	l.preallocNew(w)
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	idx, err := l.fs.OpenFile(s.idxPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, l.opts.FileMode)
	if err == nil {
		if _, err = idx.WriteAt(index.AppendHeader(nil, base), 0); err != nil {
			idx.Close()
			idx = nil
		}
	} else {
		idx = nil
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		if idx != nil {
			idx.Close()
		}
		return fail(err)
	}
	s.f = f
	w.idx = idx
	w.prevSynced = flags&segment.FlagPrevUnsynced == 0
	w.recorded = w.prevSynced
	return w, nil
}
