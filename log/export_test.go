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

// SetLoadBounds sets the bounds on the sealed segments loaded at once (open
// files, and bytes of index) and returns a function that restores them.
func SetLoadBounds(files int, indexBytes int64) (restore func()) {
	f, b := maxLoaded, maxLoadedIndex
	maxLoaded, maxLoadedIndex = files, indexBytes
	return func() { maxLoaded, maxLoadedIndex = f, b }
}

// CachedFrameBytes returns the memory held by the frames Read keeps decoded.
func CachedFrameBytes(l *Log) int {
	n := 0
	for i := range l.frames.frames {
		if f := l.frames.frames[i].Load(); f != nil {
			n += f.bytes
		}
	}
	return n
}

// FrameCacheBytes is the bound on CachedFrameBytes, bar one larger frame.
const FrameCacheBytes = frameCacheBytes

// SegmentProbes returns how many segments the log has examined to find
// the segment holding an offset, since it was opened.
func SegmentProbes(l *Log) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.probes
}

// RollWaits returns how many times a caller has waited for a roll to
// finish, since the log was opened.
func RollWaits(l *Log) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.rollWaits
}
