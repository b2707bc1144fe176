package log

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/seglog/seglog/checkpoint"
)

// deliveryState is the delivery protocol's part of Log.mu: the state the
// checkpoint holds, and what is counted in memory beside it. Its changes
// are saved with Log.stateMu held (saveState).
type deliveryState struct {
	state checkpoint.State
	res   reservedState // the log's own entries of state.Meta, decoded
	// sent is the largest batch (in labels) handed out since the last
	// Ack, -1 if none; sentFloor what a process before Open may have
	// handed out (the pending count at Open), until the first Ack.
	sent      int
	sentFloor int
	// gapReported is the end of the last gap logged and counted;
	// gaps and gapOffsets count them (State.Gaps, GapOffsets).
	gapReported, gaps, gapOffsets uint64
	// limit counts what Options.MaxBytes dropped and refused;
	// releasing is the bytes of released segments not yet deleted.
	limit     limitCounts
	releasing int64
	sealed    sealedSum
	// wake is closed to wake WaitPending (wait.go); nil while none waits.
	wake chan struct{}
}

// AckBranch names the branch an acknowledgement took. See docs/protocol.md.
type AckBranch int

const (
	// AckNormal: the peer has everything up to N; the batch acknowledged
	// the time before is released and the cursor moves forward.
	AckNormal AckBranch = iota
	// AckRewind: the peer lost some of what was sent; the cursor moves
	// back inside the kept window (unchanged when N equals the sequence).
	AckRewind
	// AckTooHigh: the peer claims more than was sent; everything before
	// the cursor is released, the cursor stays, and the application should
	// resynchronise.
	AckTooHigh
	// AckAncient: the peer wants records no longer kept; the cursor goes
	// back to the first kept record, and the application should
	// resynchronise.
	AckAncient
)

func (b AckBranch) String() string {
	if b < AckNormal || b > AckAncient {
		return fmt.Sprintf("AckBranch(%d)", int(b))
	}
	return [...]string{"normal", "rewind", "too-high", "ancient"}[b]
}

// AckResult reports what an Ack did.
type AckResult struct {
	// Resync is set when the peer and the log disagreed (AckTooHigh or
	// AckAncient): the application should resynchronise with its peer.
	Resync bool
	Branch AckBranch
	// Released counts the records released by this Ack; SegmentsRemoved
	// the segment files deleted as a result.
	Released        uint64
	SegmentsRemoved int
	// State is the delivery state after the Ack.
	State State
}

// State is the delivery state of the log.
type State struct {
	Sequence     uint64 // label of the record at Cursor
	Cursor       uint64 // offset of the next record to send
	First        uint64 // oldest record kept; above Cursor after a drop (DropPending)
	Next         uint64 // offset the next append gets
	PendingCount uint64 // records from Cursor to Next, held ones excepted
	// Gaps counts the gaps Pending has handed out since Open, each
	// occurrence once however often it is handed out again (a retry, a
	// rewind); GapOffsets the offsets they cover.
	Gaps       uint64
	GapOffsets uint64
	// The size limit's counts: records dropped before the peer
	// acknowledged them (those it had not received are handed out in a
	// GapDropped gap; some may have reached it in a batch whose answer had
	// not come), acknowledged records kept for a resend dropped, and
	// segment files dropped, since the log was made (saved with each
	// drop); appends refused with ErrFull since Open.
	// DropPending is the range of unsent records dropped that the peer
	// has not yet answered past: First - Cursor when First is above
	// Cursor, handed out by Pending as a GapDropped gap.
	DroppedUnsent   uint64
	DroppedAcked    uint64
	DroppedSegments uint64
	Refused         uint64
	DropPending     uint64
	// Held counts the records held because their type is not accepted
	// (SetAcceptedTypes); HeldCounts gives them per type. They are not
	// in PendingCount.
	Held uint64
}

// State returns the current delivery state.
func (l *Log) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stateLocked()
}

func (l *Log) stateLocked() State {
	st := l.mu.state
	c := l.mu.limit
	s := State{Sequence: st.Sequence, Cursor: st.Cursor, First: st.First, Next: l.mu.next, PendingCount: l.labelsLocked(st.Cursor, l.mu.next),
		Held: uint64(len(l.mu.held.entries)),
		Gaps: l.mu.gaps, GapOffsets: l.mu.gapOffsets,
		DroppedUnsent: c.droppedUnsent, DroppedAcked: c.droppedAcked, DroppedSegments: c.dropSegments, Refused: c.refused}
	if st.First > st.Cursor {
		s.DropPending = st.First - st.Cursor
	}
	return s
}

// IsPending reports whether the record at offset is not yet acknowledged:
// Cursor <= offset < Next. It may have been handed out by Pending already.
func (l *Log) IsPending(offset uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.state.Cursor <= offset && offset < l.mu.next
}

// Pending returns up to max entries from the cursor, labelled densely
// from the sequence: records, and gaps for runs of offsets that cannot be
// delivered (see Gap). A gap counts as one entry whatever its length. The
// records are the caller's to keep. Ack compares the peer's answer with the
// largest batch handed out since the last Ack. Under SyncInterval and
// SyncNever, Pending makes what it returns durable first.
//
// Damage inside the range never makes Pending fail: the damaged frames
// become a gap, with the good records before and after it. Pending fails on
// errors that are not damage (I/O errors, a closed log), on damage whose
// extent cannot be proven, on a read-only log (ErrReadOnly: it has no
// delivery state to move), and with ErrSequenceOverflow when the sequence
// has reached 2^64-1 with records pending: a batch never holds a label
// past 2^64-2.
func (l *Log) Pending(max int) (Batch, error) {
	if max <= 0 {
		return Batch{}, fmt.Errorf("seglog: Pending(%d): max must be positive", max)
	}
	return l.pending(max, 0)
}

// PendingBytes is Pending bounded by bytes as well as entries: the batch
// stops before the record that would take the sum of its records' Data
// lengths over maxBytes, but always holds at least one record, so that a
// record larger than maxBytes is still delivered (alone). maxBytes <= 0
// means no byte bound. Gaps weigh nothing.
func (l *Log) PendingBytes(maxRecords, maxBytes int) (Batch, error) {
	if maxRecords <= 0 {
		return Batch{}, fmt.Errorf("seglog: PendingBytes(%d, %d): maxRecords must be positive", maxRecords, maxBytes)
	}
	return l.pending(maxRecords, maxBytes)
}

func (l *Log) pending(max, maxBytes int) (Batch, error) {
	// Held records (held.go): one Pending at a time decides which offsets
	// take no label; uncontended, this costs a lock.
	l.held.io.Lock()
	defer l.held.io.Unlock()
	l.mu.Lock()
	switch {
	case l.mu.closed || l.mu.closing:
		l.mu.Unlock()
		return Batch{}, ErrClosed
	case l.follow != nil:
		l.mu.Unlock()
		return Batch{}, ErrReadOnly
	}
	seq, cursor, first := l.mu.state.Sequence, l.mu.state.Cursor, l.mu.state.First
	pending := l.mu.next > cursor
	hv := l.holdViewLocked() // nil without an accepted set
	l.mu.Unlock()

	b := Batch{Sequence: seq}
	// Labels run up to 2^64-1 exclusive, so that Next never wraps.
	room := math.MaxUint64 - seq
	if room == 0 && pending {
		return Batch{}, fmt.Errorf("%w: sequence %d with records pending from offset %d", ErrSequenceOverflow, seq, cursor)
	}
	next := cursor // offset of the next entry
	entries, bytes := 0, 0
	// skipped counts the held offsets passed, which take no label: the
	// label of offset x is seq + (x - cursor) - skipped.
	var skipped uint64
	if first > cursor {
		// The size limit dropped these records before they were sent.
		n := min(first-cursor, room)
		for _, r := range hv.runs(cursor, cursor+n) {
			if !r.held {
				if entries == max {
					break
				}
				b.Gaps = append(b.Gaps, Gap{Offset: next, Count: r.n, Label: seq + (next - cursor) - skipped, Reason: GapDropped,
					Detail: fmt.Sprintf("dropped by the %s before they were sent: offsets [%d, %d)", l.limitName(), cursor, first)})
				entries++
			} else {
				skipped += r.n
			}
			next += r.n
		}
	}
	var failed error
	scan := l.scanFrom
	if next-cursor-skipped == room || next < cursor+min(first-cursor, room) && first > cursor {
		scan = func(uint64, walkFunc) {} // the dropped range took every label left
	}
	scan(next, func(rec Record, d *damage, err error) bool {
		switch {
		case err != nil:
			if next > cursor && unwritten(err) {
				return false // a full disk: deliver what is in the file
			}
			failed = err
			return false
		case d != nil:
			if d.from != next {
				return false // released meanwhile by a concurrent Reset
			}
			n := min(d.to-d.from, room-(next-cursor-skipped))
			for _, r := range hv.runs(d.from, d.from+n) { // held offsets are not damage
				if r.held {
					skipped += r.n
				} else if k := len(b.Gaps); k > 0 && b.Gaps[k-1].End() == next && b.Gaps[k-1].Reason == GapDamaged {
					b.Gaps[k-1].Count += r.n // adjacent damage is one gap
				} else {
					if entries == max {
						return false
					}
					b.Gaps = append(b.Gaps, Gap{Offset: next, Count: r.n, Label: seq + (next - cursor) - skipped, Reason: GapDamaged, Detail: d.err.Error()})
					entries++
				}
				next += r.n
			}
		default:
			if rec.Offset != next {
				return false // released meanwhile by a concurrent Reset
			}
			if hv.held(rec) { // a held record takes no label (held.go)
				skipped++
				next++
				return true
			}
			if entries == max || (maxBytes > 0 && len(b.Records) > 0 && bytes+len(rec.Data) > maxBytes) {
				return false
			}
			bytes += len(rec.Data)
			rec.Data = slices.Clone(rec.Data)
			b.Records = append(b.Records, rec)
			entries++
			next++
		}
		return next-cursor-skipped < room
	})
	if failed != nil {
		return Batch{}, failed
	}
	if err := l.heldAfterPending(hv, next); err != nil {
		return Batch{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if next > cursor && l.opts.Sync != SyncAlways {
		// The peer may get these records: they must survive a crash,
		// or new records would take their offsets and labels, and the
		// peer would discard those as duplicates.
		if err := l.writableLocked(); err != nil {
			return Batch{}, err
		}
		if err := l.syncLocked(next); err != nil {
			return Batch{}, err
		}
	}
	if l.mu.state.Cursor == cursor && l.mu.state.Sequence == seq {
		// What the peer may hold is the largest batch handed out since
		// the last Ack, not the last one: a smaller retry after a lost
		// answer must not make the answer to the larger one look too
		// high.
		// After Open, the process before may have handed out as much
		// as was pending then.
		l.mu.sent = gmax(gmax(l.mu.sent, l.mu.sentFloor), int(next-cursor-skipped))
		if next > l.mu.held.handed {
			l.mu.held.handed = next // held.go: what may carry labels
		}
		for _, g := range b.Gaps {
			l.reportGapLocked(g)
		}
	}
	b.Refused = l.refusedNoticeLocked()
	return b, nil
}

// countGap counts the part of gap g not counted before (State.Gaps,
// GapOffsets), and reports whether there was one.
func (d *deliveryState) countGap(g Gap) bool {
	if g.End() <= d.gapReported {
		return false
	}
	from := max(g.Offset, d.gapReported)
	if g.Offset >= d.gapReported {
		d.gaps++ // else the rest of a gap reported in part
	}
	d.gapOffsets += g.End() - from
	d.gapReported = g.End()
	return true
}

func gmax(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// reportGapLocked logs and counts a gap the first time it is handed out.
func (l *Log) reportGapLocked(g Gap) {
	if !l.mu.countGap(g) {
		return
	}
	l.logger.Error("seglog: records cannot be delivered; handed out as a gap",
		"dir", l.dir, "from", g.Offset, "to", g.End(), "label", g.Label, "reason", g.Reason.String(), "detail", g.Detail)
}

// Ack applies the peer's next-expected sequence number nextExpected and
// returns once the new state is durable. Records it releases are never
// returned again; segments wholly before the new first offset are deleted
// after the checkpoint that released them is on stable storage.
func (l *Log) Ack(nextExpected uint64) (AckResult, error) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return AckResult{}, err
	}
	old := l.mu.state
	sent := l.labelsLocked(old.Cursor, l.mu.next) // held records take no label
	if l.mu.sent >= 0 {
		sent = uint64(l.mu.sent)
	}
	st, branch := l.applyAckLocked(old, nextExpected, sent)
	if branch == AckNormal && (l.opts.KeepAcked > 0 || l.opts.KeepAckedBytes > 0) {
		st.First = l.keepWindowLocked(old, st)
	}
	// The checkpoint must never point past durable records: under the
	// weaker sync policies, make what was sent durable first.
	synced, epoch := l.mu.synced, l.mu.epoch
	if err := l.syncLocked(st.Cursor); err != nil {
		l.mu.Unlock()
		return AckResult{}, err
	}
	if st.Cursor > synced && l.mu.epoch != epoch {
		// A failed write (SyncAlways) discarded records counted above and
		// gave their offsets back: the new cursor may pass the end of the
		// log, or records appended since that no peer has seen.
		l.mu.Unlock()
		return AckResult{}, fmt.Errorf("seglog: ack %d: a failed write discarded records below offset %d; the state is unchanged", nextExpected, st.Cursor)
	}
	l.mu.Unlock()

	removed, err := l.saveState(st)
	if err != nil {
		return AckResult{}, err
	}
	l.mu.Lock()
	l.mu.sent, l.mu.sentFloor = -1, 0
	res := AckResult{
		Resync:          branch == AckTooHigh || branch == AckAncient,
		Branch:          branch,
		Released:        st.First - old.First,
		SegmentsRemoved: removed,
		State:           l.stateLocked(),
	}
	l.mu.Unlock()
	return res, nil
}

// applyAck is the protocol's arithmetic, checked in the documented order.
// P is the kept window (cursor - first); sent is the largest batch handed
// out since the last Ack. No comparison adds two labels, so none wraps.
//
// When the size limit dropped records before they were sent (First above
// Cursor), nothing before the cursor is kept (P is 0), no branch moves
// First down, and an ancient answer leaves the cursor at the dropped
// range, which Pending hands out again as a gap: the range is only ever
// passed by an answer past it.
func applyAck(st checkpoint.State, n, sent uint64) (checkpoint.State, AckBranch) {
	return applyAckOver(plainLabels{}, st, n, sent)
}

// labelMap counts labels over offsets. Every offset takes a label
// (plainLabels) unless held records take none (heldLabels, held.go).
type labelMap interface {
	// labels is the number of labelled offsets in [a, b).
	labels(a, b uint64) uint64
	// advance is the offset just past the k-th labelled offset from c.
	advance(c, k uint64) uint64
	// retreat is the offset of the k-th labelled offset before c.
	retreat(c, k uint64) uint64
}

// plainLabels is the label map of a log whose every offset takes a label.
type plainLabels struct{}

func (plainLabels) labels(a, b uint64) uint64  { return b - a }
func (plainLabels) advance(c, k uint64) uint64 { return c + k }
func (plainLabels) retreat(c, k uint64) uint64 { return c - k }

// applyAckOver is applyAck with labels counted by m: the kept window P is
// the number of labels between first and cursor, and the cursor moves by
// labels.
func applyAckOver(m labelMap, st checkpoint.State, n, sent uint64) (checkpoint.State, AckBranch) {
	s := st.Sequence
	var p uint64
	if st.Cursor > st.First {
		p = m.labels(st.First, st.Cursor)
	}
	var branch AckBranch
	switch {
	case n > s && n-s > sent:
		branch = AckTooHigh
		st.First = max(st.First, st.Cursor)
	case n > s:
		branch = AckNormal
		st.First = max(st.First, st.Cursor)
		st.Cursor = m.advance(st.Cursor, n-s)
	case s-n > p: // n <= s here
		branch = AckAncient
		st.Cursor = min(st.First, st.Cursor)
	default:
		branch = AckRewind
		st.Cursor = m.retreat(st.Cursor, s-n)
	}
	st.Sequence = n
	return st, branch
}

// saveState makes st durable, then deletes the segments it released, in the
// background. l.stateMu is held.
func (l *Log) saveState(st checkpoint.State) (int, error) {
	if err := l.ckpt.Save(st); err != nil {
		return 0, fmt.Errorf("seglog: save delivery state: %w", err)
	}
	l.mu.Lock()
	l.setStateLocked(st)
	var drop []*segFile
	for len(l.mu.segs) > 1 && l.mu.segs[1].base <= st.First {
		drop = append(drop, l.mu.segs[0])
		l.mu.segs = l.mu.segs[1:]
	}
	releasing := l.releasingLocked(drop)
	l.mu.Unlock()
	if len(drop) > 0 {
		// Unlinking a large file can cost time in proportion to its
		// size (ext4 frees its extents, with discard trims them), so
		// released segments are deleted in the background: the release
		// itself is durable with the checkpoint, no reader sees the
		// segments any more, and Open finishes a deletion a crash cut
		// short. Close waits for it.
		l.releases.Go(func() {
			for _, s := range drop {
				if err := l.removeSegment(s); err != nil {
					l.logger.Warn("seglog: remove released segment", "file", s.path, "err", err)
				}
			}
			l.releasedBytes(releasing)
		})
	}
	return len(drop), nil
}

// Reset drops every record, for re-registration with a peer: the first
// offset and the cursor move to the next offset, and the sequence is kept.
// Offsets are never reused.
func (l *Log) Reset() error {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	// Start a fresh segment so that every old one can go whole. On a
	// full disk there is no room for one: once the state is saved, the
	// active segment is replaced instead (see freeSpaceLocked).
	replace := false
	if l.mu.next > l.mu.w.seg.base {
		if err := l.rollLocked(l.lazySeal()); err != nil {
			if !isNoSpace(err) || l.mu.written != l.mu.next || l.mu.seal != nil {
				l.mu.Unlock()
				return err
			}
			replace = true
		}
	}
	st := l.mu.state
	st.First, st.Cursor = l.mu.next, l.mu.next
	// Nothing has been handed out from the new cursor: a late answer to a
	// batch from before the Reset is too high, and passes over nothing.
	l.mu.sent, l.mu.sentFloor = 0, 0
	l.mu.Unlock()
	if _, err := l.saveState(st); err != nil || !replace {
		return err
	}
	l.releases.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.allAckedLocked() && l.mu.state.First == l.mu.next && l.mu.w.seg.base < l.mu.next {
		return l.replaceActiveLocked()
	}
	return nil
}

// SetMeta stores an application value with the delivery state, durably
// when it returns. A nil value deletes the key. A key over 255 bytes, or a
// value that would take the delivery state over checkpoint.MaxSize (1 MiB
// with every key and value), fails with an error matching ErrTooLarge and
// changes nothing.
func (l *Log) SetMeta(key string, value []byte) error {
	if len(key) > checkpoint.MaxMetaKey {
		return fmt.Errorf("seglog: %w: meta key of %d bytes (want 1 to %d)", ErrTooLarge, len(key), checkpoint.MaxMetaKey)
	}
	if len(key) == 0 {
		return fmt.Errorf("seglog: meta key of %d bytes (want 1 to %d)", len(key), checkpoint.MaxMetaKey)
	}
	if checkpoint.IsReserved(key) {
		return fmt.Errorf("seglog: meta key %q: the prefix %q is reserved for the log's own state", key, checkpoint.ReservedPrefix)
	}
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	st := l.mu.state
	st.Meta = maps.Clone(st.Meta)
	if st.Meta == nil {
		st.Meta = map[string][]byte{}
	}
	if value == nil {
		delete(st.Meta, key)
	} else {
		st.Meta[key] = slices.Clone(value)
	}
	l.mu.Unlock()
	_, err := l.saveState(st)
	if errors.Is(err, checkpoint.ErrTooLarge) {
		return fmt.Errorf("seglog: set meta %q: %w: %v", key, ErrTooLarge, err)
	}
	return err
}

// Meta returns a copy of an application value stored with SetMeta. Keys
// beginning with checkpoint.ReservedPrefix hold the log's own state (the
// failure window, the sessions): SetMeta refuses them, and Meta reports
// them absent.
func (l *Log) Meta(key string) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.mu.state.Meta[key]
	if checkpoint.IsReserved(key) {
		return nil, false
	}
	return slices.Clone(v), ok
}

// MetaKeys returns the metadata keys stored with SetMeta, sorted (not the
// log's own, under checkpoint.ReservedPrefix).
func (l *Log) MetaKeys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := slices.Sorted(maps.Keys(l.mu.state.Meta))
	return slices.DeleteFunc(keys, checkpoint.IsReserved)
}
