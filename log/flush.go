package log

import "time"

// flushLoop writes buffered frames in the background when an appender
// kicks it, so that under SyncInterval and SyncNever appending and writing
// proceed on separate cores, and fsyncs every SyncEvery under SyncInterval.
func (l *Log) flushLoop() {
	defer close(l.done)
	var tick <-chan time.Time
	if l.opts.Sync == SyncInterval {
		t := timeNewTicker(l.opts.SyncEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		doSync := false
		select {
		case <-l.stop:
			return
		case <-l.kick:
		case <-tick:
			doSync = true
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
			if err != nil {
				l.logger.Error("seglog: background flush", "dir", l.dir, "err", err)
			}
		}
		l.mu.Unlock()
	}
}
