package log

// WaitReleases waits for the background deletion of released segments, so
// that tests can look at the directory right after an Ack.
func WaitReleases(l *Log) { l.releases.Wait() }

// LimitUsed returns the segment bytes Options.MaxBytes counts.
func LimitUsed(l *Log) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usedLocked()
}
