package log

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// Accepted types and held records (docs/protocol.md, "Held types").
//
// Once the application has set the record types its peer accepts,
// Pending holds records of other types instead of handing them out: their
// offsets take no label, and a copy of each goes to the held store (the
// file "held", heldstore.go), so that the segments holding them are
// released like any other. When their type is accepted again, held records
// are appended again at the end of the log, in their original order, under
// an intent the store records first, so that a crash neither loses nor
// duplicates them.
//
// Which offsets take no label must be the same every time Pending hands
// them out, across restarts, or the peer's answers would count different
// records. The store's frontier says how far that is fixed: below it, an
// offset is held if and only if the store says so; at or above it, by the
// accepted types in force, which change only through SetAcceptedTypes.
// Pending makes the frontier durable past every record it hands out
// before it returns them, while an accepted set is in force; a log that
// never had one hands out every record and keeps the frontier in memory.

// heldStore is the held store's file and the lock that serialises its
// writes (Log.held).
type heldStore struct {
	// io serialises Pending, SetAcceptedTypes and the store's writes. It
	// is taken before Log.stateMu and Log.mu, and guards the fields below.
	io  sync.Mutex
	f   vfs.File // the store's file; nil while there is none
	end int64    // end of its last frame
	err error    // sticky: a write whose outcome is unknown until Open
}

// heldState is the held records' part of Log.mu (Log.mu.held): the
// accepted set and the held records.
type heldState struct {
	// gate holds appends off while SetAcceptedTypes judges the last
	// records and appends held ones again, so that no record appended
	// meanwhile escapes the judgement or lands before them
	// (appendGateLocked).
	gate bool

	// Changed with heldStore.io held too: a holder of io may read them
	// without Log.mu.
	on       bool            // an accepted set is in force
	accepted map[string]bool // the accepted set, when on
	frontier uint64          // see above
	handed   uint64          // 1 + the last offset Pending handed out (or Next at Open)
	holes    []uint64        // offsets without a label, sorted (some may lie before First)
	entries  []heldEntry     // the held records, in offset order
	counts   map[string]uint64
	dead     int64 // bytes of store frames of released records
}

// SetAcceptedTypes sets the record types the peer accepts, durably when it
// returns. From then on Pending holds records of other types (Record.Type,
// "" included) that it has not handed out yet: they take no label, are
// counted in State.Held and HeldCounts, and wait in the held store. Records
// already handed out keep their labels and are delivered (and resent on a
// rewind) as they are. Held records of a type the set accepts are appended
// again at the end of the log, in their original order, once each whatever
// the crash point; their new offsets are handed out like any others. A nil
// or empty set accepts no type; a log whose set was never set accepts
// every type.
//
// On a log that had no accepted set, the first call fixes as unheld every
// record that Pending may have handed out, which after a restart is every
// record in the log then.
//
// The call appends (and may fail as Append does, with ErrFull for
// instance); it is not refused by the failure window. If it fails after
// the set was saved, the held records not yet appended stay held, and the
// next call (or Open) appends them.
func (l *Log) SetAcceptedTypes(types []string) error {
	ts := slices.Clone(types)
	slices.Sort(ts)
	ts = slices.Compact(ts)
	if ts == nil {
		ts = []string{}
	}
	for _, t := range ts {
		if len(t) > MaxTypeLen {
			return fmt.Errorf("seglog: SetAcceptedTypes: %w: type of %d bytes (max %d)", ErrTooLarge, len(t), MaxTypeLen)
		}
	}
	h := &l.mu.held
	l.held.io.Lock()
	defer l.held.io.Unlock()
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	same := h.on && slices.Equal(l.mu.res.saved.Accepted, ts)
	if same && !slices.ContainsFunc(h.entries, func(e heldEntry) bool { return h.accepted[e.typ] }) {
		l.mu.Unlock()
		return nil // what a sender applying every answer's set does most often
	}
	frontier := h.frontier
	if !h.on {
		// Everything Pending may have handed out keeps its label.
		frontier = max(frontier, h.handed)
	}
	// The records not yet judged are judged now: held if the old set
	// held them (they go to the end if the new one accepts them) or the
	// new one does not accept them.
	both := map[string]bool{}
	for _, t := range ts {
		if !h.on || h.accepted[t] {
			both[t] = true
		}
	}
	hv := &holdView{accepted: both, frontier: frontier, holes: h.holes}
	end := l.mu.next
	l.mu.Unlock()
	if !same {
		// Most of the records not yet judged are judged with appends
		// going on; the rest with appends held off (the gate), and the
		// gate stays until the held records are appended again.
		if err := l.heldJudge(hv, end); err != nil {
			return err
		}
	}
	l.mu.Lock()
	h.gate, end = true, l.mu.next
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		h.gate = false
		l.cond.Broadcast()
		l.mu.Unlock()
	}()
	if !same {
		l.mu.Lock()
		hv = &holdView{accepted: both, frontier: max(hv.frontier, h.frontier), holes: h.holes}
		l.mu.Unlock()
		if err := l.heldJudge(hv, end); err != nil {
			return err
		}
		err := l.updateReserved(func(r *checkpoint.Reserved) (bool, error) {
			r.Accepted, r.AcceptedSet = ts, true
			return true, nil
		})
		if err != nil {
			return err
		}
		l.mu.Lock()
		h.on, h.accepted = true, map[string]bool{}
		for _, t := range ts {
			h.accepted[t] = true
		}
		l.mu.Unlock()
	}
	return l.releaseHeld()
}

// appendGateLocked waits while SetAcceptedTypes holds appends off.
func (l *Log) appendGateLocked() {
	for l.mu.held.gate && !l.mu.closing && !l.mu.closed {
		l.cond.Wait()
	}
}

// AcceptedTypes returns the accepted record types, sorted: nil when none
// was ever set (every type is accepted), empty when none is accepted.
func (l *Log) AcceptedTypes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.mu.held.on {
		return nil
	}
	return append([]string{}, l.mu.res.saved.Accepted...)
}

// HeldCounts returns the number of held records per type.
func (l *Log) HeldCounts() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.mu.held.counts)
}

// HeldRecords yields the held records in their original order, each with
// the offset it had in the log (which no longer reads it once its segment
// is released).
func (l *Log) HeldRecords() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		l.held.io.Lock()
		defer l.held.io.Unlock()
		l.mu.Lock()
		entries := slices.Clone(l.mu.held.entries)
		l.mu.Unlock()
		for _, e := range entries {
			if l.held.f == nil {
				yield(Record{}, ErrClosed)
				return
			}
			data, err := l.heldReadData(e)
			if err != nil {
				yield(Record{}, err)
				return
			}
			if !yield(Record{Offset: e.off, Type: e.typ, Data: data}, nil) {
				return
			}
		}
	}
}

// holesInLocked counts the offsets in [a, b) that take no label.
func (l *Log) holesInLocked(a, b uint64) uint64 {
	h := l.mu.held.holes
	if len(h) == 0 || a >= b {
		return 0
	}
	i, _ := slices.BinarySearch(h, a)
	j, _ := slices.BinarySearch(h, b)
	return uint64(j - i)
}

// labelsLocked counts the labels the offsets in [a, b) take.
func (l *Log) labelsLocked(a, b uint64) uint64 {
	if b <= a {
		return 0
	}
	return b - a - l.holesInLocked(a, b)
}

// applyAckLocked is applyAck over labels: held offsets take none. Without
// held offsets in the state's range it is applyAck.
func (l *Log) applyAckLocked(st checkpoint.State, n, sent uint64) (checkpoint.State, AckBranch) {
	if l.holesInLocked(min(st.First, st.Cursor), l.mu.next) == 0 {
		return applyAck(st, n, sent)
	}
	return applyAckOver(heldLabels{l}, st, n, sent)
}

// heldLabels is the label map of a log with held offsets, which take no
// label. Its methods are called with l.mu held.
type heldLabels struct{ l *Log }

func (h heldLabels) labels(a, b uint64) uint64  { return h.l.labelsLocked(a, b) }
func (h heldLabels) advance(c, k uint64) uint64 { return h.l.advanceLocked(c, k) }
func (h heldLabels) retreat(c, k uint64) uint64 { return h.l.retreatLocked(c, k) }

// advanceLocked returns the offset just past the k-th labelled offset
// from c, and past the held offsets that follow it.
func (l *Log) advanceLocked(c, k uint64) uint64 {
	h := l.mu.held.holes
	i, _ := slices.BinarySearch(h, c)
	x := c + k
	for ; i < len(h) && h[i] < x; i++ {
		x++
	}
	for ; i < len(h) && h[i] == x; i++ {
		x++
	}
	return x
}

// retreatLocked returns the offset of the k-th labelled offset before c.
func (l *Log) retreatLocked(c, k uint64) uint64 {
	x := c - k
	for {
		got := c - x - l.holesInLocked(x, c)
		if got >= k {
			break
		}
		x -= k - got
	}
	for {
		if _, held := slices.BinarySearch(l.mu.held.holes, x); !held {
			return x
		}
		x++
	}
}

// holdView is what a Pending call needs to skip held offsets and hold new
// ones: a copy taken under Log.mu, with the holds it finds.
type holdView struct {
	accepted map[string]bool
	frontier uint64
	holes    []uint64 // read-only
	frames   []byte   // hold frames of the records this call holds
	news     []heldEntry
}

// holdViewLocked returns the view for a Pending call, nil when no accepted
// set is in force: then no offset is held.
func (l *Log) holdViewLocked() *holdView {
	h := &l.mu.held
	if !h.on {
		return nil
	}
	return &holdView{accepted: h.accepted, frontier: h.frontier, holes: h.holes}
}

// held reports whether rec takes no label, holding it if its type is not
// accepted and it lies past the frontier.
func (hv *holdView) held(rec Record) bool {
	if hv == nil {
		return false
	}
	if rec.Offset < hv.frontier {
		_, found := slices.BinarySearch(hv.holes, rec.Offset)
		return found
	}
	if hv.accepted[rec.Type] {
		return false
	}
	rel := int64(len(hv.frames)) + heldFrameHdr + 9 + int64(len(rec.Type))
	hv.frames = holdFrame(hv.frames, rec.Offset, rec.Type, rec.Data)
	hv.news = append(hv.news, heldEntry{off: rec.Offset, typ: rec.Type, pos: rel, n: len(rec.Data)})
	return true
}

// heldRun is a run of offsets, held or not.
type heldRun struct {
	n    uint64
	held bool
}

// runs splits [from, to) into runs of held and labelled offsets, by what
// the store says (offsets past the frontier are labelled: a gap stands
// for records whose type cannot be read).
func (hv *holdView) runs(from, to uint64) []heldRun {
	if hv == nil || len(hv.holes) == 0 {
		return []heldRun{{n: to - from}}
	}
	var out []heldRun
	i, _ := slices.BinarySearch(hv.holes, from)
	for x := from; x < to; {
		if i < len(hv.holes) && hv.holes[i] == x {
			var k uint64
			for ; i < len(hv.holes) && hv.holes[i] == x && x < to; i++ {
				x++
				k++
			}
			out = append(out, heldRun{n: k, held: true})
			continue
		}
		end := to
		if i < len(hv.holes) && hv.holes[i] < to {
			end = hv.holes[i]
		}
		out = append(out, heldRun{n: end - x})
		x = end
	}
	return out
}

// heldAfterPending makes what a Pending call found durable before it hands
// out labels up to next: the records up to next in the log, then the holds
// and the new frontier in the store. l.held.io is held.
func (l *Log) heldAfterPending(hv *holdView, next uint64) error {
	if hv == nil || (next <= l.mu.held.frontier && len(hv.news) == 0) { // the frontier is changed with io held
		return nil
	}
	l.mu.Lock()
	err := l.writableLocked()
	if err == nil {
		// The store must never name offsets a crash could give again.
		err = l.syncLocked(next)
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	h := &l.mu.held
	if l.held.f == nil {
		if err := l.heldCreate(); err != nil {
			return err
		}
	}
	base := l.held.end
	if err := l.heldWrite(appendHeldFrame(hv.frames, heldFrontier, u64(next))); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if h.counts == nil {
		h.counts = map[string]uint64{}
	}
	if lo := min(l.mu.state.First, l.mu.state.Cursor); len(h.holes) > 0 && h.holes[0] < lo {
		// Offsets before both no longer take part in any count.
		i, _ := slices.BinarySearch(h.holes, lo)
		h.holes = h.holes[i:]
	}
	for _, e := range hv.news {
		e.pos += base
		h.entries = append(h.entries, e)
		h.holes = append(h.holes, e.off)
		h.counts[e.typ]++
	}
	h.frontier = max(h.frontier, next)
	return nil
}

// heldJudge judges the records in [hv.frontier, end) by hv and makes the
// holds and the new frontier durable. l.held.io is held.
func (l *Log) heldJudge(hv *holdView, end uint64) error {
	var failed error
	if hv.frontier < end {
		l.scanFrom(hv.frontier, func(rec Record, d *damage, err error) bool {
			switch {
			case err != nil:
				failed = err
				return false
			case d != nil:
				return d.to < end // damage is no record: Pending makes it a gap
			case rec.Offset >= end:
				return false
			}
			if rec.Offset >= hv.frontier {
				hv.held(rec)
			}
			return rec.Offset+1 < end
		})
	}
	if failed != nil {
		return failed
	}
	return l.heldAfterPending(hv, max(end, hv.frontier))
}

// releaseHeld appends again the held records whose type is accepted, in
// chunks of one frame each. l.held.io is held.
func (l *Log) releaseHeld() error {
	h := &l.mu.held
	l.mu.Lock()
	var todo []heldEntry
	if h.on {
		for _, e := range h.entries {
			if h.accepted[e.typ] {
				todo = append(todo, e)
			}
		}
	}
	l.mu.Unlock()
	for len(todo) > 0 {
		var recs []Record
		var chunk []heldEntry
		total := 0
		for _, e := range todo {
			data, err := l.heldReadData(e)
			if err != nil {
				return err
			}
			n := segment.RecordSize(e.typ, data)
			if len(recs) > 0 && (total+n > segment.MaxFrameBody/2 || len(recs) == 4096) {
				break
			}
			recs = append(recs, Record{Type: e.typ, Data: data})
			chunk = append(chunk, e)
			total += n
		}
		if err := l.releaseChunk(recs, chunk, total); err != nil {
			return err
		}
		todo = todo[len(chunk):]
	}
	l.mu.Lock()
	rewrite := h.dead > 64<<10 && h.dead > l.held.end/2
	lo := min(l.mu.state.First, l.mu.state.Cursor)
	l.mu.Unlock()
	if rewrite {
		return l.heldRewrite(lo)
	}
	return nil
}

// releaseChunk appends recs, the held records of chunk, as one frame at
// the end of the log. The store first records the intent to append them at
// the offset the frame will take, with Log.mu held from then until the
// frame has its offsets, so that no other append takes them; once the
// frame is durable, the store records that it is done. If anything fails
// between, the store keeps the intent and refuses further writes: Open
// reads the log at the intent's offset and records done or abort by what
// it finds there. l.held.io is held.
func (l *Log) releaseChunk(recs []Record, chunk []heldEntry, total int) error {
	h := &l.held
	offs := make([]uint64, len(chunk))
	for i, e := range chunk {
		offs[i] = e.off
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if err := l.prepareLocked(total + segment.FrameHeaderSize); err != nil {
		return fmt.Errorf("seglog: append held records again: %w", err)
	}
	at := l.mu.next
	if err := l.heldWrite(intentFrame(nil, at, offs)); err != nil {
		return err
	}
	w := l.mu.w
	w.cut()
	epoch := l.mu.epoch
	for _, r := range recs {
		w.add(r.Type, r.Data, l.mu.next)
		l.mu.next++
	}
	w.cut()
	err := l.commitLocked(l.mu.next-1, epoch)
	if err == nil {
		err = l.syncLocked(at + uint64(len(recs)))
	}
	if err == nil {
		err = l.heldWrite(appendHeldFrame(nil, heldDone, u64(at)))
	}
	if err != nil {
		if h.err == nil {
			h.err = fmt.Errorf("seglog: held store: appending held records again at offset %d failed (%v); reopen the log to settle it", at, err)
		}
		return fmt.Errorf("seglog: append held records again: %w", err)
	}
	l.dropHeldLocked(offs)
	return nil
}

// dropHeldLocked forgets the held records at offs, appended again (their
// offsets stay without a label).
func (l *Log) dropHeldLocked(offs []uint64) {
	h := &l.mu.held
	h.entries = slices.DeleteFunc(h.entries, func(e heldEntry) bool {
		if !slices.Contains(offs, e.off) {
			return false
		}
		if h.counts[e.typ]--; h.counts[e.typ] == 0 {
			delete(h.counts, e.typ)
		}
		h.dead += int64(heldFrameHdr + 9 + len(e.typ) + e.n)
		return true
	})
}

// openHeld loads the accepted set and the held store when Open has
// recovered the log. A release a crash interrupted is settled by what the
// log holds at its offset; held records of accepted types are appended
// again (a failure is logged: the records stay held).
func (l *Log) openHeld() error {
	h := &l.mu.held
	r := l.mu.res.saved
	if r.AcceptedSet {
		h.on, h.accepted = true, map[string]bool{}
		for _, t := range r.Accepted {
			h.accepted[t] = true
		}
	}
	h.handed = l.mu.next // what a process before may have handed out
	c, err := l.readHeldStore()
	if err != nil {
		return err
	}
	if c.frontier > l.mu.next && l.follow == nil {
		// The store is fsynced only after the records it judged: the log
		// lost records it had made durable (a cut of damaged data).
		// Offsets given again must not be taken for held ones.
		return &CorruptError{File: l.path(heldFileName), Offset: 0,
			Reason: fmt.Sprintf("the held store has judged offsets up to %d, past the end of the log (%d)", c.frontier, l.mu.next)}
	}
	h.entries, h.holes, h.frontier = c.entries, c.holes, c.frontier
	h.counts = map[string]uint64{}
	for _, e := range h.entries {
		h.counts[e.typ]++
	}
	if l.follow != nil {
		if c.end > 0 {
			f, err := l.fs.OpenFile(l.path(heldFileName), os.O_RDONLY, 0)
			if err != nil {
				return fmt.Errorf("seglog: held store: %w", err)
			}
			l.held.f = f
		}
		return nil
	}
	l.fs.Remove(l.path(heldTmpName)) // a rewrite a crash interrupted
	if err := l.heldOpenFile(c); err != nil {
		return err
	}
	if c.intent != nil {
		if err := l.settleIntent(c.intent); err != nil {
			return err
		}
	}
	l.mu.sentFloor = int(l.labelsLocked(l.mu.state.Cursor, l.mu.next))
	l.held.io.Lock()
	defer l.held.io.Unlock()
	if err := l.releaseHeld(); err != nil {
		l.logger.Warn("seglog: cannot append held records of accepted types again; they stay held", "dir", l.dir, "err", err)
	}
	return nil
}

// settleIntent records whether the frame of an interrupted release is in
// the log: the records at its offset are the intent's, in order, type and
// data, or they are not.
func (l *Log) settleIntent(in *heldRelease) error {
	found := l.mu.next >= in.at+uint64(len(in.offs))
	for i := 0; found && i < len(in.offs); i++ {
		j := slices.IndexFunc(l.mu.held.entries, func(e heldEntry) bool { return e.off == in.offs[i] })
		if j < 0 {
			found = false
			break
		}
		e := l.mu.held.entries[j]
		data, err := l.heldReadData(e)
		if err != nil {
			return err
		}
		rec, err := l.Read(in.at + uint64(i))
		if err != nil && !errors.Is(err, ErrOutOfRange) && !errors.Is(err, ErrCorrupt) {
			return err
		}
		found = err == nil && rec.Type == e.typ && bytes.Equal(rec.Data, data)
	}
	kind := heldAbort
	if found {
		kind = heldDone
	}
	if err := l.heldWrite(appendHeldFrame(nil, kind, u64(in.at))); err != nil {
		return err
	}
	if found {
		l.dropHeldLocked(in.offs)
	}
	l.logger.Info("seglog: held store: settled an interrupted release", "dir", l.dir, "offset", in.at, "records", len(in.offs), "appended", found)
	return nil
}

// closeHeld closes the store's file, for Close.
func (l *Log) closeHeld() {
	l.held.io.Lock()
	defer l.held.io.Unlock()
	if l.held.f != nil {
		l.held.f.Close()
		l.held.f = nil
	}
}
