package log

import "context"

// WaitPending returns nil once the log holds a record not yet
// acknowledged (State().PendingCount > 0), at once if it already does. It
// returns ctx's error when ctx ends first, ErrClosed when the log is or
// gets closed, and ErrReadOnly on a read-only log, whose appends it cannot
// see. It does not poll: appends, state changes and Close wake it.
//
// A sender loops on PendingBytes, its exchange and Ack, and calls
// WaitPending when PendingBytes hands out an empty batch.
func (l *Log) WaitPending(ctx context.Context) error {
	for {
		l.mu.Lock()
		switch {
		case l.mu.closed || l.mu.closing:
			l.mu.Unlock()
			return ErrClosed
		case l.follow != nil:
			l.mu.Unlock()
			return ErrReadOnly
		case l.labelsLocked(l.mu.state.Cursor, l.mu.next) > 0: // held records do not count
			l.mu.Unlock()
			return nil
		}
		if l.mu.wake == nil {
			l.mu.wake = make(chan struct{})
		}
		wake := l.mu.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// wakeLocked wakes the goroutines in WaitPending, if any, to look at the
// log again. It is called when a record is appended, the delivery state
// changes and the log closes; with nobody waiting it costs a nil check.
func (l *Log) wakeLocked() {
	if l.mu.wake != nil {
		close(l.mu.wake)
		l.mu.wake = nil
	}
}
