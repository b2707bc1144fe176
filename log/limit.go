package log

import (
	"errors"
	"fmt"
	"maps"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/segment"
)

// ErrFull is returned by appends that would take the log's segments past
// Options.MaxBytes under LimitRefuse. Nothing was appended; the append
// may succeed once an Ack has released enough whole segments.
var ErrFull = errors.New("seglog: log is at its size limit (Options.MaxBytes)")

// LimitPolicy says what an append does when its record would take the
// log's segments past Options.MaxBytes.
type LimitPolicy int

const (
	// LimitRefuse refuses the append with an error matching ErrFull.
	LimitRefuse LimitPolicy = iota
	// LimitDrop drops the oldest whole segments, acknowledged records
	// kept for a resend first and then unsent records, until the record
	// fits. Unsent records it drops are handed out by Pending as a Gap of
	// reason GapDropped, with their labels, before any later record.
	LimitDrop
)

func (p LimitPolicy) String() string {
	switch p {
	case LimitRefuse:
		return "refuse"
	case LimitDrop:
		return "drop"
	}
	return fmt.Sprintf("LimitPolicy(%d)", int(p))
}

// limitCounts are the size limit's counters (State): the drops since the
// log was made, saved with each drop, and the refusals since Open.
type limitCounts struct {
	droppedUnsent uint64 // unsent records dropped (each reported as a gap)
	droppedAcked  uint64 // acknowledged records kept for a resend, dropped
	dropSegments  uint64 // segment files dropped
	refused       uint64 // appends refused with ErrFull
}

// usedLocked returns the bytes of the log's segment files, the active
// one's buffered frames and released segments not yet deleted included.
func (l *Log) usedLocked() int64 {
	segs := l.mu.segs
	c := &l.mu.sealed
	if c.first != segs[0] || c.n != len(segs) {
		// The segments changed (a roll, a release): sum the sealed
		// ones again. Between changes an append costs no walk.
		*c = sealedSum{first: segs[0], n: len(segs)}
		for _, s := range segs[:len(segs)-1] {
			b := l.sealedBytesLocked(s)
			if b == 0 {
				c.first = nil // a size unknown for now: sum again next time
			}
			c.bytes += b
		}
	}
	return l.mu.releasing + c.bytes + l.activeBytesLocked(0)
}

// activeBytesLocked returns the bytes the active segment's file takes,
// or may take, with extra more bytes of frames: its frames, buffered
// ones included, or its preallocated space if larger, which may grow to
// the segment size (prealloc.go), so it counts as the segment size.
func (l *Log) activeBytesLocked(extra int64) int64 {
	w := l.mu.w
	n := max(w.end+int64(w.openSize())+extra, w.alloc)
	if w.prealloc {
		n = max(n, l.opts.SegmentSize)
	}
	return n
}

// usedAfterLocked returns usedLocked after an append of need bytes,
// in a new segment if roll. The segment sealed by the roll keeps only its
// frames; the new one is preallocated to the segment size where the
// writer preallocates.
func (l *Log) usedAfterLocked(need int, roll bool) int64 {
	rec := int64(need) + segment.FrameHeaderSize
	if !roll {
		return l.usedLocked() - l.activeBytesLocked(0) + l.activeBytesLocked(rec)
	}
	w := l.mu.w
	newSeg := segment.HeaderSize + rec
	if l.preallocates() {
		newSeg = max(newSeg, l.opts.SegmentSize)
	}
	return l.usedLocked() - l.activeBytesLocked(0) + w.end + int64(w.openSize()) + newSeg
}

// sealedSum caches the bytes of the sealed segments for usedLocked, for
// the segment list starting at first with n entries.
type sealedSum struct {
	first *segFile
	n     int
	bytes int64
}

// sealedBytesLocked returns the size of a sealed segment's file, which
// never changes: it is read once.
func (l *Log) sealedBytesLocked(s *segFile) int64 {
	if s.diskBytes == 0 {
		fi, err := l.fs.Stat(s.path)
		if err != nil {
			return 0 // counted as empty; Stat is tried again next time
		}
		s.diskBytes = fi.Size()
	}
	return s.diskBytes
}

// releasingLocked counts, under a size limit, the bytes of segments
// released and about to be deleted in the background, until
// releasedBytes: the cap holds on the disk, not only in the log's count.
func (l *Log) releasingLocked(drop []*segFile) int64 {
	if l.opts.MaxBytes == 0 {
		return 0
	}
	var n int64
	for _, s := range drop {
		n += l.sealedBytesLocked(s)
	}
	l.mu.releasing += n
	return n
}

func (l *Log) releasedBytes(n int64) {
	if n != 0 {
		l.mu.Lock()
		l.mu.releasing -= n
		l.mu.Unlock()
	}
}

// limitLocked makes room under Options.MaxBytes for need more bytes in the
// active segment (plus a new segment's header if roll), by the policy. It
// may release l.mu, and then returns retry: the caller looks at the log
// again. It returns neither when the bytes fit.
func (l *Log) limitLocked(need int, roll bool) (retry bool, err error) {
	if aged := l.agedLocked(); aged > 0 { // age.go
		if l.opts.Limit != LimitDrop {
			l.mu.limit.refused++
			return false, fmt.Errorf("%w: the oldest segment was last written more than Options.MaxAge (%s) ago", ErrFull, l.opts.MaxAge)
		}
		return true, l.dropLocked(need, roll)
	}
	max := l.opts.MaxBytes
	if max == 0 {
		return false, nil // an age limit alone
	}
	if int64(need)+segment.FrameHeaderSize+segment.HeaderSize > max-l.opts.SegmentSize {
		// It would not fit beside one other segment.
		return false, fmt.Errorf("seglog: append: %w: a record of %d bytes cannot fit under Options.MaxBytes (%d) beside a segment of %d", ErrTooLarge, need, max, l.opts.SegmentSize)
	}
	after := l.usedAfterLocked(need, roll)
	if after <= max {
		return false, nil
	}
	if l.opts.Limit != LimitDrop {
		if l.mu.releasing > 0 {
			// Segments an Ack released are being deleted: wait for
			// their space rather than refuse.
			l.mu.Unlock()
			l.releases.Wait()
			l.mu.Lock()
			return true, nil
		}
		l.mu.limit.refused++
		return false, fmt.Errorf("%w: %d bytes used, %d after the append, limit %d", ErrFull, l.usedLocked(), after, max)
	}
	return true, l.dropLocked(need, roll)
}

// dropLocked drops the oldest whole segments until an append of need
// bytes (in a new segment if roll) fits under MaxBytes. The checkpoint first records the new first offset, and
// with it the dropped range of unsent records [Cursor, First) that Pending
// reports; only then are the segments deleted, so that no durable state
// ever names bytes that are gone, and a crash at any point leaves either
// the old state with all its segments or the new one with its gap. l.mu
// is released and taken again.
func (l *Log) dropLocked(need int, roll bool) error {
	l.mu.Unlock()
	l.stateMu.Lock()
	l.releases.Wait() // segments an Ack released are gone first
	l.mu.Lock()
	defer func() {
		// Keep the lock order (stateMu before mu).
		l.mu.Unlock()
		l.stateMu.Unlock()
		l.mu.Lock()
	}()
	l.waitIdleLocked()
	if err := l.writableLocked(); err != nil {
		return err
	}
	excess := l.usedAfterLocked(need, roll) - l.opts.MaxBytes
	aged := l.agedLocked() // segments past Options.MaxAge (age.go)
	if l.opts.MaxBytes == 0 {
		excess = 0
	}
	if excess <= 0 && aged == 0 {
		return nil // an Ack or another drop made room meanwhile
	}
	segs := l.mu.segs
	k := 0
	for k < len(segs)-1 && (excess > 0 || k < aged) {
		excess -= l.sealedBytesLocked(segs[k])
		k++
	}
	if k == 0 {
		// Only the active segment: seal it, so that the next round can
		// drop it whole. The caller retries.
		if l.mu.w.seg.base == l.mu.next {
			return fmt.Errorf("%w: the active segment is empty and the record still does not fit", ErrFull)
		}
		return l.rollLocked(l.lazySeal())
	}
	to := segs[k].base
	// The new first offset must never pass what a crash keeps.
	if err := l.syncLocked(to); err != nil {
		return err
	}
	for l.mu.seal != nil {
		if err := l.flushLocked(true); err != nil {
			return err
		}
	}
	old := l.mu.state
	st := old
	st.First = to
	// The counts are saved with the drop, in the same checkpoint.
	c := l.mu.limit
	c.dropSegments += uint64(k)
	if old.Cursor > old.First {
		c.droppedAcked += l.labelsLocked(old.First, min(to, old.Cursor)) // held records are not dropped (held.go)
	}
	from := max(old.Cursor, old.First)
	if to > from {
		c.droppedUnsent += l.labelsLocked(from, to)
	}
	st.Meta = maps.Clone(st.Meta)
	if st.Meta == nil {
		st.Meta = map[string][]byte{}
	}
	st.Meta[checkpoint.KeyDropped] = checkpoint.Dropped{MaxBytes: l.opts.MaxBytes, Unsent: c.droppedUnsent, Acked: c.droppedAcked, Segments: c.dropSegments}.Marshal()
	l.mu.Unlock()
	_, err := l.saveState(st)
	l.releases.Wait() // the cap holds on the disk, not only in the count
	l.mu.Lock()
	if err != nil {
		return err
	}
	l.mu.limit = c
	if to > from {
		l.logger.Warn("seglog: size limit dropped unsent records; Pending reports them as a gap",
			"dir", l.dir, "from", from, "to", to, "first_label", old.Sequence+(from-old.Cursor),
			"labels", to-from, "segments", k, "max_bytes", l.opts.MaxBytes, "max_age", l.opts.MaxAge)
	} else {
		l.logger.Info("seglog: size limit dropped acknowledged records kept for a resend",
			"dir", l.dir, "to", to, "segments", k, "max_bytes", l.opts.MaxBytes)
	}
	return nil
}

// keepAcked returns the first offset after a normal Ack from old to st
// under Options.KeepAcked = keep: the last keep records before the new
// cursor stay, but first never moves back (records released or dropped
// are gone).
func keepAcked(old, st checkpoint.State, keep uint64) uint64 {
	var from uint64
	if st.Cursor > keep {
		from = st.Cursor - keep
	}
	return max(old.First, from)
}

// keepWindowLocked returns the first offset after a normal Ack from old
// to st under Options.KeepAcked and KeepAckedBytes: the larger window.
func (l *Log) keepWindowLocked(old, st checkpoint.State) uint64 {
	first := st.First // the last batch
	if k := l.opts.KeepAcked; k > 0 {
		first = keepAcked(old, st, uint64(k))
	}
	if k := l.opts.KeepAckedBytes; k > 0 {
		segs := l.mu.segs
		i := len(segs) - 1
		for i > 0 && segs[i].base > st.Cursor {
			i--
		}
		from := min(st.First, segs[i].base) // the cursor's segment is kept anyway
		var sum int64
		for j := i - 1; j >= 0; j-- {
			if sum += l.sealedBytesLocked(segs[j]); sum > k {
				break
			}
			from = segs[j].base
		}
		first = min(first, max(old.First, from))
	}
	return first
}

// loadDropRecord takes the drop counts from the checkpoint Open loaded.
func (l *Log) loadDropRecord() error {
	v, ok := l.mu.state.Meta[checkpoint.KeyDropped]
	if !ok {
		return nil
	}
	r, err := checkpoint.ParseDropped(v)
	if err != nil {
		return &CorruptError{File: l.path("checkpoint"), Offset: 0, Reason: err.Error()}
	}
	l.mu.limit.droppedUnsent, l.mu.limit.droppedAcked, l.mu.limit.dropSegments = r.Unsent, r.Acked, r.Segments
	return nil
}
