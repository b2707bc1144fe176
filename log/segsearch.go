package log

// findSegmentLocked returns the index in l.mu.segs of the segment that
// holds offset: the last one whose base is at or below it, or 0 if none
// is. It is a binary search: a log may hold hundreds of thousands of
// segments, and every read looks up the segment it enters, so a scan of
// the list would make reading the log quadratic in its segments.
func (l *Log) findSegmentLocked(offset uint64) int {
	segs := l.mu.segs
	lo, hi := 0, len(segs)
	for lo < hi {
		l.mu.probes++
		m := int(uint(lo+hi) >> 1)
		if segs[m].base <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}
