package log

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// recoverActive opens the last segment, checks its tail and prepares it
// for appending (for reading, if read-only). It goes in four steps:
// the header (openActive, readHeader), the tail scan (scanActiveTail), the
// classification of what stops the scan (classifyTail) and the adoption
// of the segment as the active one (adoptActive). Two findings make it
// drop the last segment and start again with the one before: a header
// that never reached the disk (an interrupted roll), and a previous
// segment that lost unsynced data.
func (l *Log) recoverActive() error {
	s := l.mu.segs[len(l.mu.segs)-1]
	found, size, err := l.recoverSegment(s)
	switch {
	case err != nil:
		return err
	case found.tornHeader != nil:
		// The header of a new segment was never synced: a roll
		// interrupted by a crash. No record can be in it (only the zeros
		// of its preallocated space, if anything), unless something
		// durable says otherwise.
		if err := l.checkNoRecords(s, found.tornHeader); err != nil {
			return err
		}
		return l.dropTornSegment(s)
	case found.prevIncomplete:
		return l.dropUnsyncedSegment(s, size)
	}
	return nil
}

// lastSegment is what recoverSegment found that stops it from adopting
// the last segment.
type lastSegment struct {
	tornHeader     error // its header never reached the disk
	prevIncomplete bool  // the segment before it lost unsynced data
}

// recoverSegment runs the four steps of recoverActive on segment s. The
// file stays open only if s is adopted.
func (l *Log) recoverSegment(s *segFile) (found lastSegment, size int64, err error) {
	f, size, err := l.openActive(s)
	if err != nil {
		return found, 0, err
	}
	adopted := false
	defer func() {
		if !adopted {
			f.Close()
		}
	}()
	flags, herr := readHeader(f, s)
	if herr != nil {
		if !errors.Is(herr, ErrCorrupt) || !zeroAfterHeader(f, size) {
			return found, size, herr
		}
		found.tornHeader = herr
		return found, size, nil
	}
	t, err := l.scanActiveTail(f, s, size)
	if err != nil {
		return found, size, err
	}
	if flags&segment.FlagPrevUnsynced != 0 && !t.prevSynced && len(l.mu.segs) > 1 {
		// The previous segment's fsync was left to the background and
		// nothing proves it finished: check that segment whole.
		complete, err := l.checkPrevious(s)
		if err != nil || !complete {
			found.prevIncomplete = err == nil
			return found, size, err
		}
	}
	if err := l.classifyTail(f, s, size, t.Tail); err != nil {
		return found, size, err
	}
	l.adoptActive(f, s, size, flags, t)
	adopted = true
	return found, size, nil
}

// openActive opens the last segment's file, read-write unless the log is
// read-only, and returns its size.
func (l *Log) openActive(s *segFile) (vfs.File, int64, error) {
	flag := os.O_RDWR
	if l.follow != nil {
		flag = os.O_RDONLY
	}
	f, err := l.fs.OpenFile(s.path, flag, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("seglog: open: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("seglog: open %s: %w", s.path, err)
	}
	return f, size, nil
}

// activeTail is what the scan of the active segment's tail found.
type activeTail struct {
	segment.Tail
	entries    []index.Entry // every frame of the segment, in order
	known      int           // of them, those the index file proved durable
	idxOK      bool          // the index file held exactly entries[:known]
	prevSynced bool          // a frame says the previous segment is durable
}

// scanActiveTail scans the active segment from the end of what its index
// proves durable (activeIndex) to the end of the file.
func (l *Log) scanActiveTail(f vfs.File, s *segFile, size int64) (activeTail, error) {
	entries, next, prevSynced, idxOK := l.activeIndex(f, s, size)
	start := int64(segment.HeaderSize)
	if n := len(entries); n > 0 {
		start = entries[n-1].End()
	}
	t := activeTail{known: len(entries), idxOK: idxOK}
	for lastEnd := int64(-1); ; lastEnd = t.End {
		t.entries, t.prevSynced = entries[:t.known], prevSynced
		t.Tail = segment.ScanTailDicts(f, s.path, s.fileSalt(), l.dicts, start, size, next, func(pos int64, h *segment.FrameHeader) {
			t.entries = append(t.entries, index.Entry{Offset: h.Base, Pos: uint32(pos), Len: uint32(h.Size())})
			t.prevSynced = t.prevSynced || h.Flags&segment.FrameFlagPrevSynced != 0
		})
		if l.follow == nil || t.Corrupt == nil || t.End == lastEnd {
			break
		}
		// A live writer's frame read while it was written, and a later
		// one written since (see scanTailLocked): read again.
	}
	if t.Err != nil {
		return t, fmt.Errorf("seglog: open: %w", t.Err)
	}
	return t, nil
}

// classifyTail decides what stops the scan of the active segment: a torn
// write is cut, damage is refused unless Options.TruncateCorrupt, and
// neither is cut where something durable names records past it. A writer
// makes what it adopts durable, and refuses a checkpoint that points
// past the end of the log.
func (l *Log) classifyTail(f vfs.File, s *segFile, size int64, tail segment.Tail) error {
	end := tail.End
	if tail.Torn > 0 || tail.Corrupt != nil {
		if err := l.checkCut(s, end, tail.Next, tail.Corrupt); err != nil {
			return err
		}
	}
	switch {
	case tail.Corrupt != nil && !l.opts.TruncateCorrupt:
		return tail.Corrupt
	case tail.Corrupt != nil:
		l.recovery.Corrupt = tail.Corrupt
		l.logger.Error("seglog: cutting the log at damage", "file", s.path, "offset", end, "lostFrom", tail.Next, "err", tail.Corrupt)
		fallthrough
	case tail.Torn > 0:
		l.recovery.TornBytes, l.recovery.TornFrom, l.recovery.File = size-end, tail.Next, s.path
	}
	if l.follow != nil {
		// A read-only log changes no file: it reads up to the end found,
		// and follows its writer from there.
		return nil
	}
	if tail.Torn > 0 || tail.Corrupt != nil {
		l.logger.Warn("seglog: cut torn tail", "file", s.path, "position", end, "bytes", size-end, "fromOffset", tail.Next)
		err := f.Truncate(end)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			return fmt.Errorf("seglog: cut torn tail of %s: %w", s.path, err)
		}
	} else {
		// A process that died may have left its last writes in the page
		// cache only: make what this log adopts durable before it is
		// read, acknowledged or built upon (a cut tail was synced above).
		if err := f.Sync(); err != nil {
			return fmt.Errorf("seglog: open: sync %s: %w", s.path, err)
		}
	}
	if st := l.mu.state; max(st.Cursor, st.First) > tail.Next {
		// Refused before the index is rewritten: it may be the only
		// record left of what the checkpoint names.
		return &CorruptError{File: l.path("checkpoint"), Offset: 0,
			Reason: fmt.Sprintf("checkpoint (first %d, cursor %d) points past the end of the log (%d): the last segment %s ends there", st.First, st.Cursor, tail.Next, s.path)}
	}
	return nil
}

// adoptActive makes the checked segment the active one: a writer gets a
// writer on it, with its index rewritten unless it holds exactly the
// frames found; a read-only log follows it from the end found.
func (l *Log) adoptActive(f vfs.File, s *segFile, size int64, flags uint16, t activeTail) {
	end := t.End
	s.f, s.entries = f, t.entries
	l.mu.next = t.Next
	if l.follow != nil {
		l.mu.roEnd = end
		return
	}
	exact := t.idxOK && t.known == len(t.entries)
	if !exact {
		// Frames past the durable watermark are scanned even when the
		// index holds them: it needs no rebuild if it holds exactly
		// what the scan found.
		fileEntries, whole := l.readIndex(s, end)
		exact = whole && slices.Equal(fileEntries, t.entries)
	}
	l.recovery.IndexRebuilt = !exact
	idx, err := l.openActiveIndex(s, t.entries, exact)
	if err != nil {
		l.logger.Warn("seglog: index unavailable", "file", s.idxPath, "err", err)
	}
	l.mu.w = newWriter(s, f, idx, l.opts.Codec, end, len(t.entries))
	l.adoptDictLocked(l.mu.w)
	if t.Zero > 0 {
		// Preallocated space a crash left: kept, and used.
		l.mu.w.alloc = size
	}
	l.mu.w.prealloc = l.preallocates()
	l.mu.w.recorded = flags&segment.FlagPrevUnsynced == 0 || t.prevSynced || len(l.mu.segs) == 1
}

// activeIndex loads the active segment's index and returns the entries
// of frames proven durable: those before the durable watermark of the
// frame the last entry points at, which must check. Frames after the
// watermark may have reached the disk in any order, or not at all, so
// recovery scans and checks each of them. next is the offset after the
// returned entries; prevSynced reports the last frame's
// FrameFlagPrevSynced; ok reports whether the index file held exactly the
// returned entries.
func (l *Log) activeIndex(f vfs.File, s *segFile, size int64) (entries []index.Entry, next uint64, prevSynced, ok bool) {
	entries, whole := l.readIndex(s, size)
	if len(entries) == 0 {
		return nil, s.base, false, false
	}
	h, ok := checkFrame(f, s, entries[len(entries)-1])
	if !ok {
		return nil, s.base, false, false
	}
	prevSynced = h.Flags&segment.FrameFlagPrevSynced != 0
	durable := int64(h.Durable)
	k := len(entries)
	for k > 0 && entries[k-1].End() > durable {
		k--
	}
	if k == len(entries) {
		return entries, h.Next(), prevSynced, whole
	}
	// Entries are written only after their frames, so entry k names the
	// offset the frame after entries[:k] was written with.
	return entries[:k], entries[k].Offset, prevSynced, false
}

// checkFrame reads the frame an index entry points at and reports whether
// it checks.
func checkFrame(f vfs.File, s *segFile, e index.Entry) (segment.FrameHeader, bool) {
	b := make([]byte, e.Len)
	if _, err := f.ReadAt(b, int64(e.Pos)); err != nil {
		return segment.FrameHeader{}, false
	}
	h, err := segment.ParseFrameHeader(s.path, int64(e.Pos), b, s.fileSalt())
	if err != nil || h.Base != e.Offset || h.Size() != int64(e.Len) {
		return h, false
	}
	if segment.VerifyFrame(s.path, int64(e.Pos), &h, b, b[segment.FrameHeaderSize:], s.fileSalt()) != nil {
		return h, false
	}
	return h, true
}

// openActiveIndex opens the active index for appending, rewriting it
// unless it already holds exactly entries.
func (l *Log) openActiveIndex(s *segFile, entries []index.Entry, exact bool) (vfs.File, error) {
	if !exact {
		if err := l.writeIndex(s, entries); err != nil {
			return nil, err
		}
	}
	return l.fs.OpenFile(s.idxPath, os.O_RDWR, l.opts.FileMode)
}

// checkPrevious scans the whole segment before last and reports whether it
// is complete: every frame valid, up to the last segment's base offset.
// Damage that a frame proves durable is an error.
func (l *Log) checkPrevious(last *segFile) (bool, error) {
	prev := l.mu.segs[len(l.mu.segs)-2]
	f, err := l.fs.OpenFile(prev.path, os.O_RDONLY, 0)
	if err != nil {
		return false, fmt.Errorf("seglog: open: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return false, fmt.Errorf("seglog: open %s: %w", prev.path, err)
	}
	if err := checkHeader(f, prev); err != nil {
		return false, err
	}
	tail := segment.ScanTailDicts(f, prev.path, prev.fileSalt(), l.dicts, segment.HeaderSize, size, prev.base, nil)
	switch {
	case tail.Err != nil:
		return false, fmt.Errorf("seglog: open: %w", tail.Err)
	case tail.Corrupt != nil && !l.opts.TruncateCorrupt:
		return false, tail.Corrupt
	}
	// A zero tail is preallocated space that a crash kept from the cut
	// at the seal.
	complete := tail.Corrupt == nil && tail.End+tail.Zero == size && tail.Next == last.base
	if !complete {
		// Recovery would drop the last segment and cut this one at
		// tail.End: not if the checkpoint says records past it were
		// durable.
		if err := l.checkCut(prev, tail.End, tail.Next, tail.Corrupt); err != nil {
			return false, err
		}
	}
	if complete && l.follow == nil {
		// Complete, perhaps only in the page cache of a process that
		// died before its background fsync: make it durable.
		if err := f.Sync(); err != nil {
			return false, fmt.Errorf("seglog: open: sync %s: %w", prev.path, err)
		}
	}
	return complete, nil
}

// dropUnsyncedSegment handles a crash that lost part of a sealed segment
// whose fsync was still pending: the records after the loss, including the
// whole last segment, were never made durable (a Sync would have synced the
// sealed segment first), so the last segment goes and recovery goes on
// with the previous one, whose torn tail it then cuts.
func (l *Log) dropUnsyncedSegment(s *segFile, size int64) error {
	l.logger.Warn("seglog: the segment before the last lost unsynced data; dropping the last", "file", s.path, "bytes", size)
	l.mu.segs = l.mu.segs[:len(l.mu.segs)-1]
	if l.follow == nil {
		// The index goes first, durably: an index naming offsets of a
		// missing segment is taken for damage (checkMissingTail).
		if err := l.fs.Remove(s.idxPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("seglog: open: remove %s: %w", s.idxPath, err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("seglog: open: %w", err)
		}
		if err := l.removeSegment(s); err != nil {
			return err
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("seglog: open: %w", err)
		}
	}
	if err := l.recoverActive(); err != nil {
		return err
	}
	if l.recovery.TornBytes == 0 {
		l.recovery.TornFrom, l.recovery.File = s.base, s.path
	}
	l.recovery.TornBytes += size
	return nil
}

// dropTornSegment handles a last segment whose header never reached the
// disk: it is removed and the previous segment becomes the active one,
// or, if it is the only segment, it is created again.
func (l *Log) dropTornSegment(s *segFile) error {
	l.logger.Warn("seglog: segment with torn header from an interrupted roll", "file", s.path)
	if l.follow != nil {
		l.mu.next = s.base
		s.f = nil
		l.mu.segs = l.mu.segs[:len(l.mu.segs)-1]
		if len(l.mu.segs) == 0 {
			return nil
		}
		return l.recoverActive()
	}
	if err := l.removeSegment(s); err != nil {
		return err
	}
	l.mu.segs = l.mu.segs[:len(l.mu.segs)-1]
	if len(l.mu.segs) > 0 {
		return l.recoverActive()
	}
	return l.startEmpty(s.base)
}

// startEmpty starts a log with no segment at offset base.
func (l *Log) startEmpty(base uint64) error {
	w, err := l.createSegment(base, 0)
	if err != nil {
		return err
	}
	l.mu.segs = []*segFile{w.seg}
	l.mu.w = w
	l.mu.next = base
	return nil
}

// zeroAfterHeader reports whether a segment file holds nothing after its
// header but zeros: no frame was ever written into it.
func zeroAfterHeader(f vfs.File, size int64) bool {
	if size <= segment.HeaderSize {
		return true
	}
	t := segment.ScanTail(f, "", 0, segment.HeaderSize, size, 0, nil)
	return t.Zero == size-segment.HeaderSize
}
