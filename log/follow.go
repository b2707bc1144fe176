package log

import (
	"fmt"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/segment/dict"
)

// follower is what a read-only log does to keep up with a writer in
// another process: it scans the frames the writer adds to its last
// segment, picks up the segments it creates, adopts the checkpoints it
// saves and forgets the segments they release, and starts again from the
// checkpoint when the writer released records it never reached. Log holds
// one (Log.follow) only when opened with Options.ReadOnly; a nil follower
// is a writer. Its state, followState, is part of Log.mu: its methods
// whose names end in Locked are called with Log.mu held, and open runs
// before the Log is shared.
type follower struct {
	l *Log
}

// open opens a read-only log: it takes no lock and changes no file. A
// read-only log may have a live writer, which saves a checkpoint and only
// then deletes the segments it released: listing the segments before
// reading the checkpoint sees every segment the checkpoint keeps (those
// deleted in between lie wholly before its first offset and are dropped).
func (fl *follower) open() error {
	l := fl.l
	if st, err := l.fs.Stat(l.dir); err != nil {
		return fmt.Errorf("seglog: open: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("seglog: open %s: not a directory", l.dir)
	}
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("seglog: open: %w", err)
	}
	if l.dicts, err = dict.Open(l.fs, l.dir, names); err != nil {
		return fmt.Errorf("seglog: open: %w", err)
	}
	st, _, err := checkpoint.Read(l.fs, l.dir)
	if err != nil {
		return fmt.Errorf("seglog: open: %w", err)
	}
	l.setStateLocked(st)
	// No check of a missing tail: a reader racing a writer's roll may
	// list an index before its segment.
	for _, b := range segmentBases(names) {
		l.mu.segs = append(l.mu.segs, newSegFile(l.dir, b))
	}
	l.dropReleased() // the writer deletes them
	if err := l.checkStart(); err != nil {
		return err
	}
	if len(l.mu.segs) == 0 {
		// Listed before the writer created the segments (or while a
		// Reset replaced them): look again, from the first kept
		// record, which may lie inside a segment.
		l.mu.next = st.First
		if st, err = fl.restartLocked(st); err != nil {
			return err
		}
		if err := fl.catchUpLocked(st); err != nil {
			return err
		}
		return l.checkState()
	}
	if err := l.recoverActive(); err != nil {
		return err
	}
	l.mu.synced, l.mu.written = l.mu.next, l.mu.next
	if st.Cursor > l.mu.next || st.First > l.mu.next {
		// The writer rolled to segments this Open listed too early to
		// see, then saved the state it read.
		if err := fl.catchUpLocked(st); err != nil {
			return err
		}
	}
	return l.checkState()
}
