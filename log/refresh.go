package log

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/segment"
)

// followState is the follower's part of Log.mu: what a read-only log
// knows of the segment its writer appends to.
type followState struct {
	roEnd int64 // end of the last segment scanned
}

// Refresh makes a read-only log see what its writer has appended, released
// and checkpointed since Open or the last Refresh. Reads past the known end
// refresh by themselves; Refresh is for callers that poll FirstOffset,
// NextOffset or State. On a writable log it does nothing.
func (l *Log) Refresh() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if l.follow == nil {
		return nil
	}
	return l.follow.refreshLocked()
}

func (fl *follower) refreshLocked() error {
	l := fl.l
	st, _, err := checkpoint.Read(l.fs, l.dir)
	if err != nil {
		return fmt.Errorf("seglog: refresh: %w", err)
	}
	return fl.catchUpLocked(st)
}

// catchUpLocked catches a read-only log up with its writer, up to and past
// the delivery state st, read from the checkpoint since the segments were
// last scanned: the writer makes records durable before it saves a state
// that points at them, so they are there to be found.
func (fl *follower) catchUpLocked(st checkpoint.State) error {
	l := fl.l
	if st.First > l.mu.next {
		// The writer released records this reader never reached: start
		// again from the segment holding the first kept record.
		var err error
		if st, err = fl.restartLocked(st); err != nil {
			return err
		}
	}
	for {
		if len(l.mu.segs) > 0 {
			if err := fl.scanTailLocked(); err != nil {
				return err
			}
		}
		added, err := fl.addSegmentLocked()
		if err != nil || !added {
			if err == nil {
				fl.dropBeforeLocked(st)
			}
			return err
		}
	}
}

// scanTailLocked reads the frames added to the last segment. An
// incomplete frame at the end is a write in progress, not damage.
func (fl *follower) scanTailLocked() error {
	l := fl.l
	s := l.mu.segs[len(l.mu.segs)-1]
	if s.f == nil {
		return nil
	}
	size, err := s.f.Size()
	if err != nil {
		return fmt.Errorf("seglog: refresh %s: %w", s.path, err)
	}
	if size <= l.mu.roEnd {
		return nil
	}
	var tail segment.Tail
	for lastEnd := int64(-1); ; {
		tail = segment.ScanTailDicts(s.f, s.path, s.fileSalt(), l.dicts, l.mu.roEnd, size, l.mu.next, func(pos int64, h *segment.FrameHeader) {
			s.entries = append(s.entries, index.Entry{Offset: h.Base, Pos: uint32(pos), Len: uint32(h.Size())})
		})
		if tail.Err != nil {
			return fmt.Errorf("seglog: refresh: %w", tail.Err)
		}
		l.mu.roEnd, l.mu.next = tail.End, tail.Next
		if tail.Corrupt == nil {
			return nil
		}
		// The file's size does not bound what the writer has written
		// (it preallocates): the scan may have read a frame while it
		// was being written, then a later frame written after it. That
		// later frame proves the first one complete by now: read again
		// before calling it damage, as long as the reads get further.
		if tail.End == lastEnd {
			return tail.Corrupt
		}
		lastEnd = tail.End
	}
}

// addSegmentLocked starts reading the segment after the last one known, if
// the writer has created it.
func (fl *follower) addSegmentLocked() (bool, error) {
	l := fl.l
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return false, fmt.Errorf("seglog: refresh: %w", err)
	}
	var last *segFile
	if len(l.mu.segs) > 0 {
		last = l.mu.segs[len(l.mu.segs)-1]
	}
	for _, n := range names {
		base, ok := segment.ParseFileName(n)
		if !ok || (last != nil && base <= last.base) || base != l.mu.next {
			continue
		}
		s := newSegFile(l.dir, base)
		f, err := l.fs.OpenFile(s.path, os.O_RDONLY, 0)
		if err != nil {
			return false, nil // removed or not there yet
		}
		if checkHeader(f, s) != nil {
			f.Close()
			return false, nil // being created
		}
		if last != nil {
			last.mu.Lock()
			last.size = l.mu.roEnd
			last.mu.Unlock()
			l.loaded.add(last) // sealed: its handle may now go
		}
		s.f = f
		l.mu.segs = append(l.mu.segs, s)
		l.mu.roEnd = segment.HeaderSize
		return true, nil
	}
	return false, nil
}

// dropBeforeLocked adopts a newer checkpoint and forgets segments it released.
func (fl *follower) dropBeforeLocked(st checkpoint.State) {
	l := fl.l
	if st.First < l.mu.state.First {
		return
	}
	l.setStateLocked(st)
	if r, err := checkpoint.ParseReserved(st); err == nil {
		l.mu.res.saved = r // the writer's failure window and sessions
	}
	for len(l.mu.segs) > 1 && l.mu.segs[1].base <= st.First {
		s := l.mu.segs[0]
		s.mu.Lock()
		s.removed = true
		s.mu.Unlock()
		s.retire()
		l.mu.segs = l.mu.segs[1:]
	}
}

// restartLocked forgets every segment and starts reading at the segment
// that holds the first record st keeps, or a later state does. It returns
// the state it started from.
//
// The writer saves a checkpoint and only then deletes the segments it
// released, so the segment holding st.First may be gone by the time the
// directory is listed: a checkpoint read after the listing keeps no
// segment the listing lacks, and it is that state the reader starts from.
// Starting from st instead would take the first listed segment for the
// one holding st.First and report the offsets between them as damage.
func (fl *follower) restartLocked(st checkpoint.State) (checkpoint.State, error) {
	l := fl.l
	for _, s := range l.mu.segs {
		s.mu.Lock()
		s.removed = true
		s.mu.Unlock()
		s.retire()
	}
	l.mu.segs = nil
	for attempt := 0; ; attempt++ {
		names, err := l.fs.ReadDir(l.dir)
		if err != nil {
			return st, fmt.Errorf("seglog: refresh: %w", err)
		}
		now, _, err := checkpoint.Read(l.fs, l.dir)
		if err != nil {
			return st, fmt.Errorf("seglog: refresh: %w", err)
		}
		if now.First > st.First {
			st = now
		}
		bases := segmentBases(names)
		i := len(bases) - 1
		for i > 0 && bases[i] > st.First {
			i--
		}
		if i < 0 {
			return st, nil
		}
		s := newSegFile(l.dir, bases[i])
		f, err := l.fs.OpenFile(s.path, os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) && attempt < 4 {
			continue // released since the listing: list again
		}
		if err != nil {
			return st, fmt.Errorf("seglog: refresh: %w", err)
		}
		if err := checkHeader(f, s); err != nil {
			f.Close()
			return st, err
		}
		s.f = f
		l.mu.segs = []*segFile{s}
		l.mu.next, l.mu.roEnd = s.base, segment.HeaderSize
		return st, nil
	}
}
