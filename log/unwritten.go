package log

import (
	"errors"
	"fmt"
)

// UnwrittenError is returned (wrapped) by Close under SyncInterval and
// SyncNever when writes fail (a full disk) and appended records are still
// in the log's buffer: records from From to Next-1 were never written and
// are lost with the process. Every record before From was written and
// made durable by that Close. It unwraps to the write error, so it
// matches syscall.ENOSPC on a full disk.
type UnwrittenError struct {
	From, Next uint64
	Err        error
}

func (e *UnwrittenError) Error() string {
	return fmt.Sprintf("records %d to %d (%d) could not be written; those before were synced: %v", e.From, e.Next-1, e.Next-e.From, e.Err)
}

func (e *UnwrittenError) Unwrap() error { return e.Err }

// writeFailedError is a failed write whose frames stay buffered for the
// next try (SyncInterval, SyncNever): what is already in the file is still
// readable, deliverable and can be made durable.
type writeFailedError struct{ error }

func (e *writeFailedError) Unwrap() error { return e.error }

// unwritten reports whether err is a failed write of buffered records.
func unwritten(err error) bool {
	var wf *writeFailedError
	return errors.As(err, &wf)
}

// syncWrittenLocked fsyncs what is already in the files, without first
// writing the buffer, which is what a failed write left there: the records
// below l.mu.written become durable. It releases l.mu during the I/O.
func (l *Log) syncWrittenLocked() error {
	w := l.mu.w
	target, size, seal := l.mu.written, w.size, l.mu.seal
	l.beginIOLocked()
	l.mu.Unlock()
	err := w.f.Sync()
	if err == nil && seal != nil {
		err = l.syncSeal(seal)
	}
	l.mu.Lock()
	l.endIOLocked()
	if err != nil {
		// syncSeal has recorded its own file's failure already.
		return l.syncFailedLocked(w.seg.path, err)
	}
	w.durable = max(w.durable, size)
	l.mu.synced = max(l.mu.synced, target)
	return nil
}

// closeUnwrittenLocked, for Close after a failed write of buffered
// records, makes the records already written durable and reports those
// that were not.
func (l *Log) closeUnwrittenLocked(err error) error {
	if !unwritten(err) || l.mu.written >= l.mu.next {
		return err
	}
	from, next := l.mu.written, l.mu.next
	uerr := &UnwrittenError{From: from, Next: next, Err: err}
	if serr := l.syncLocked(from); serr != nil {
		return errors.Join(uerr, serr)
	}
	l.logger.Error("seglog: close: records not written", "dir", l.dir, "from", from, "next", next, "err", err)
	return uerr
}
