package log

// WaitReleases waits for the background deletion of released segments, so
// that tests can look at the directory right after an Ack.
func WaitReleases(l *Log) { l.releases.Wait() }

// SegmentProbes returns how many segments the log has examined to find
// the segment holding an offset, since it was opened.
func SegmentProbes(l *Log) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.probes
}
