package log

import (
	"errors"
	"time"
)

// flushLoop writes buffered frames in the background when an appender
// kicks it, so that under SyncInterval and SyncNever appending and writing
// proceed on separate cores. Every SyncEvery it fsyncs under SyncInterval,
// and under SyncNever writes out what is buffered, so that a quiet log's
// records still reach the operating system: readers in other processes see
// them, and a crash of the process loses at most that period.
func (l *Log) flushLoop() {
	defer close(l.done)
	var tick <-chan time.Time
	if l.opts.Sync != SyncAlways {
		t := time.NewTicker(l.opts.SyncEvery)
		defer t.Stop()
		tick = t.C
	}
	var lastErr string // logged once, not at every tick while it lasts
	for {
		doSync := false
		select {
		case <-l.stop:
			return
		case <-l.kick:
		case <-tick:
			doSync = l.opts.Sync == SyncInterval
		}
		l.mu.Lock()
		if !l.mu.closed && l.mu.err == nil {
			var err error
			if doSync {
				err = l.syncLocked(l.mu.next)
			} else {
				err = l.flushLocked(false)
			}
			if seal := l.mu.seal; err == nil && seal != nil {
				l.mu.Unlock()
				err = l.syncSeal(seal)
				l.mu.Lock()
			}
			if errors.Is(err, ErrClosed) {
				err = nil // Close ran while this waited for the writer
			}
			if err != nil && err.Error() != lastErr {
				l.logger.Error("seglog: background flush", "dir", l.dir, "err", err)
			}
			lastErr = ""
			if err != nil {
				lastErr = err.Error()
			}
		}
		l.mu.Unlock()
	}
}
