package log_test

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// The randomised model test of held types, with and without the size
// limit: random typed appends, random accepted sets, exchanges with an
// honest peer whose answers are sometimes lost, outages, and reopens. After
// every step the log is compared with a reference model in plain maps that
// follows docs/protocol.md, "Held types": a record is judged (held or not)
// when Pending first reaches it or when the accepted set changes, by the
// set in force (by both sets on a change); held offsets take no label;
// held records of a type accepted again are appended at the end in their
// original order. Under the limit (LimitDrop) the model learns where each
// drop ends from the log, as in TestModelGaps, and dropped records that
// were not held come out as GapDropped gaps around the held offsets. At the
// end every type is accepted and everything delivered: every record
// appended reached the peer exactly once, or was dropped and reported in a
// gap, and the records of each type arrived in the order they were
// appended.
//
//	go test ./log -run TestModelHeld -seed 12345 -model.steps 5000 -v

var hmTypes = []string{"a", "b", "c"}

// heldModel is the reference.
type heldModel struct {
	seq, cursor, first, next uint64
	sent, sentFloor          int64
	typ                      map[uint64]string
	id                       map[uint64]uint64 // offset -> id of the record (its data)
	hole                     map[uint64]bool   // judged held: takes no label
	frontier, handed         uint64
	accepted                 map[string]bool // nil: every type
	heldQ                    []uint64        // held offsets, in order
	droppedUnsent            uint64
}

func (m *heldModel) isHole(o uint64) bool { return m.hole[o] }

func (m *heldModel) labels(a, b uint64) uint64 {
	var n uint64
	for o := a; o < b; o++ {
		if !m.isHole(o) {
			n++
		}
	}
	return n
}

func (m *heldModel) judge(o uint64, acc map[string]bool) {
	if acc != nil && !acc[m.typ[o]] {
		m.hole[o] = true
		m.heldQ = append(m.heldQ, o)
	}
}

func (m *heldModel) pending(limit int) seglog.Batch {
	b := seglog.Batch{Sequence: m.seq}
	o, entries := m.cursor, 0
	label := m.seq
	if m.first > m.cursor {
		for o < m.first {
			if m.isHole(o) {
				o++
				continue
			}
			end := o
			for end < m.first && !m.isHole(end) {
				end++
			}
			if entries == limit {
				break
			}
			b.Gaps = append(b.Gaps, seglog.Gap{Offset: o, Count: end - o, Label: label, Reason: seglog.GapDropped})
			label += end - o
			entries++
			o = end
		}
	}
	if o >= m.first {
		for o < m.next {
			if o >= m.frontier && !m.hole[o] {
				m.judge(o, m.accepted) // held if the set in force does not accept it
			}
			if m.isHole(o) {
				o++
				continue
			}
			if entries == limit {
				break
			}
			b.Records = append(b.Records, seglog.Record{Offset: o, Type: m.typ[o], Data: hmData(m.id[o])})
			entries++
			label++
			o++
		}
	}
	if m.accepted != nil {
		m.frontier = max(m.frontier, o)
	}
	m.handed = max(m.handed, o)
	m.sent = max(m.sent, m.sentFloor, int64(b.Len()))
	return b
}

func (m *heldModel) ack(n uint64) seglog.AckBranch {
	sent := m.labels(m.cursor, m.next)
	if m.sent >= 0 {
		sent = uint64(m.sent)
	}
	var p uint64
	if m.cursor > m.first {
		p = m.labels(m.first, m.cursor)
	}
	var br seglog.AckBranch
	switch {
	case n > m.seq && n-m.seq <= sent:
		br = seglog.AckNormal
		m.first = maxU(m.first, m.cursor)
		for k := n - m.seq; k > 0; m.cursor++ {
			if !m.isHole(m.cursor) {
				k--
			}
		}
		for m.isHole(m.cursor) {
			m.cursor++
		}
	case n > m.seq:
		br = seglog.AckTooHigh
		m.first = maxU(m.first, m.cursor)
	case n+p >= m.seq:
		br = seglog.AckRewind
		for k := m.seq - n; k > 0; {
			m.cursor--
			if !m.isHole(m.cursor) {
				k--
			}
		}
		for m.isHole(m.cursor) { // the cursor is past held offsets that follow it
			m.cursor++
		}
	default:
		br = seglog.AckAncient
		m.cursor = min(m.first, m.cursor)
	}
	m.seq, m.sent, m.sentFloor = n, -1, 0
	return br
}

// setAccepted judges the records not yet judged by both sets, takes the
// new one, and returns the held offsets to append again, in order.
func (m *heldModel) setAccepted(types []string) []uint64 {
	acc := map[string]bool{}
	for _, t := range types {
		acc[t] = true
	}
	if m.accepted == nil || !maps.Equal(acc, m.accepted) {
		start := m.frontier
		if m.accepted == nil {
			start = max(start, m.handed)
		}
		both := map[string]bool{}
		for t := range acc {
			if m.accepted == nil || m.accepted[t] {
				both[t] = true
			}
		}
		for o := max(start, m.first); o < m.next; o++ {
			m.judge(o, both)
		}
		m.frontier = max(m.frontier, m.next, start)
		m.accepted = acc
	}
	var out []uint64
	m.heldQ = slices.DeleteFunc(m.heldQ, func(o uint64) bool {
		if acc[m.typ[o]] {
			out = append(out, o)
			return true
		}
		return false
	})
	return out
}

func (m *heldModel) drop(to uint64) {
	if from := maxU(m.cursor, m.first); to > from {
		m.droppedUnsent += m.labels(from, to)
	}
	m.first = to
}

func hmData(id uint64) []byte { return tracedPayload(id, 60+int(id%300)) }

func hmID(data []byte) uint64 { return binary.LittleEndian.Uint64(data) }

type heldRun struct {
	opTrace
	opts   *seglog.Options
	rng    *rand.Rand
	fsys   *crashfs.FS
	l      *seglog.Log
	m      *heldModel
	ids    uint64
	outage int
	// The peer: the label it expects, what it holds by record id, which
	// offsets gaps gave it, and the label -> offset it was given.
	expect   uint64
	got      map[uint64]int
	gapOffs  map[uint64]bool
	labelOff map[uint64]uint64
	order    map[string][]uint64 // ids received, per type
	at       map[uint64]uint64   // id -> its latest offset
	stats    map[string]int
}

func TestModelHeld(t *testing.T) {
	for _, c := range []struct {
		name string
		opts *seglog.Options
	}{
		{"always", &seglog.Options{Sync: seglog.SyncAlways}},
		{"never/s2", &seglog.Options{Sync: seglog.SyncNever, Codec: seglog.CodecS2}},
		{"always/limit", &seglog.Options{Sync: seglog.SyncAlways, MaxBytes: 4 * seglog.MinSegmentSize, Limit: seglog.LimitDrop}},
		{"interval/limit", &seglog.Options{Sync: seglog.SyncInterval, MaxBytes: 3 * seglog.MinSegmentSize, Limit: seglog.LimitDrop}},
	} {
		t.Run(c.name, func(t *testing.T) { runModelHeld(t, c.opts) })
	}
}

func runModelHeld(t *testing.T, opts *seglog.Options) {
	seed := testSeed(t)
	fsys := crashfs.New()
	r := &heldRun{opTrace: opTrace{t: t, keep: 25}, rng: rand.New(rand.NewPCG(seed, 0x4e1d)), fsys: fsys, opts: opts,
		m:   &heldModel{sent: -1, typ: map[uint64]string{}, id: map[uint64]uint64{}, hole: map[uint64]bool{}},
		got: map[uint64]int{}, gapOffs: map[uint64]bool{}, labelOff: map[uint64]uint64{},
		order: map[string][]uint64{}, at: map[uint64]uint64{}, stats: map[string]int{}}
	opts.FS, opts.SegmentSize, opts.Logger = fsys, seglog.MinSegmentSize, quiet
	r.l = openCrash(t, opts)
	defer func() { r.l.Close() }()
	for r.step = 0; r.step < *modelSteps; r.step++ {
		if r.opts.MaxBytes > 0 && r.outage == 0 && r.rng.IntN(300) == 0 {
			r.outage = 150 + r.rng.IntN(450)
			r.logf("outage of %d steps", r.outage)
		}
		switch x := r.rng.IntN(100); {
		case x < 45:
			r.append()
		case x < 50:
			var types []string
			for _, typ := range hmTypes {
				if r.rng.IntN(3) > 0 {
					types = append(types, typ)
				}
			}
			r.setAccepted(types)
		case x < 51:
			r.reopen()
		case r.outage > 0:
			r.outage--
		default:
			r.exchange(r.rng.IntN(10) == 0)
		}
		r.checkState()
	}
	r.setAccepted(hmTypes)
	for i := 0; r.l.State().PendingCount > 0; i++ {
		if i > 10000 {
			r.fatalf("delivery stalls: %+v", r.l.State())
		}
		r.exchange(false)
	}
	r.exchange(false)
	for id := range r.ids {
		n, gap := r.got[id], r.gapOffs[r.at[id]]
		if n > 1 || (n == 1) == gap {
			r.fatalf("record %d (last at offset %d) reached the peer %d times, in a gap: %v", id, r.at[id], n, gap)
		}
	}
	for typ, ids := range r.order {
		if !slices.IsSorted(ids) {
			r.fatalf("records of type %q arrived out of order: %v", typ, ids)
		}
	}
	t.Logf("operations: %v; %d records, %d offsets, %d dropped unsent", r.stats, r.ids, r.m.next, r.m.droppedUnsent)
}

func (r *heldRun) append() {
	id := r.ids
	r.ids++
	typ := hmTypes[r.rng.IntN(len(hmTypes))]
	off, err := r.l.AppendTyped(typ, hmData(id))
	if err != nil || off != r.m.next {
		r.fatalf("AppendTyped: offset %d, %v (want %d)", off, err, r.m.next)
	}
	r.m.typ[off], r.m.id[off], r.at[id] = typ, id, off
	r.m.next++
	r.stats["append"]++
	r.logf("append %s%d -> %d", typ, id, off)
	r.followDrop()
}

// followDrop follows a drop the last append made.
func (r *heldRun) followDrop() {
	if r.opts.MaxBytes == 0 {
		return
	}
	if used := limitSegBytes(r.t, r.fsys, crashDir); used > r.opts.MaxBytes {
		r.fatalf("segments hold %d bytes, cap %d", used, r.opts.MaxBytes)
	}
	to, moved := r.firstMoved(r.l, r.fsys, r.m.first)
	if !moved {
		return
	}
	r.m.drop(to)
	r.stats["drop"]++
	r.logf("drop to %d (cursor %d)", to, r.m.cursor)
}

func (r *heldRun) setAccepted(types []string) {
	if err := r.l.SetAcceptedTypes(types); err != nil {
		r.fatalf("SetAcceptedTypes(%q): %v", types, err)
	}
	again := r.m.setAccepted(types)
	for _, o := range again {
		id := r.m.id[o]
		n := r.m.next
		r.m.typ[n], r.m.id[n], r.at[id] = r.m.typ[o], id, n
		r.m.next++
	}
	r.stats["accept"]++
	r.logf("SetAcceptedTypes(%q): %d appended again", types, len(again))
	if r.opts.MaxBytes > 0 && r.l.State().First != r.m.first {
		r.followDrop()
	}
}

func (r *heldRun) reopen() {
	if err := r.l.Close(); err != nil {
		r.fatalf("Close: %v", err)
	}
	r.l = openCrash(r.t, r.opts)
	m := r.m
	m.handed = m.next
	m.sent, m.sentFloor = -1, int64(m.labels(m.cursor, m.next))
	r.stats["reopen"]++
	r.logf("reopen")
}

func (r *heldRun) exchange(lost bool) {
	max := 1 + r.rng.IntN(20)
	got, err := r.l.Pending(max)
	if err != nil {
		r.fatalf("Pending(%d): %v", max, err)
	}
	want := r.m.pending(max)
	r.sameBatch(got, want)
	for e := range got.Entries() {
		count, off := uint64(1), uint64(0)
		if e.Gap != nil {
			count, off = e.Gap.Count, e.Gap.Offset
		} else {
			off = e.Record.Offset
		}
		for i := range count {
			if prev, ok := r.labelOff[e.Label+i]; ok && prev != off+i {
				r.fatalf("label %d given to offset %d, and before to %d", e.Label+i, off+i, prev)
			}
			r.labelOff[e.Label+i] = off + i
		}
		switch {
		case e.Label+count <= r.expect:
		case e.Label > r.expect:
			r.fatalf("batch skips labels [%d, %d)", r.expect, e.Label)
		case e.Gap != nil:
			for i := r.expect - e.Label; i < count; i++ {
				r.gapOffs[off+i] = true
			}
			r.expect = e.Label + count
		default:
			id := hmID(e.Record.Data)
			r.got[id]++
			r.order[e.Record.Type] = append(r.order[e.Record.Type], id)
			r.expect++
		}
	}
	r.answer(r.l, r.stats, max, got, lost, r.expect, r.m.ack)
}

func (r *heldRun) sameBatch(got, want seglog.Batch) {
	r.t.Helper()
	if got.Sequence != want.Sequence || len(got.Records) != len(want.Records) || len(got.Gaps) != len(want.Gaps) {
		r.fatalf("batch seq %d, %d records, gaps %s; model seq %d, %d records, gaps %s",
			got.Sequence, len(got.Records), gapsString(got.Gaps), want.Sequence, len(want.Records), gapsString(want.Gaps))
	}
	for i, rec := range got.Records {
		w := want.Records[i]
		if rec.Offset != w.Offset || rec.Type != w.Type || !bytes.Equal(rec.Data, w.Data) {
			r.fatalf("record %d of the batch: offset %d type %q, model %d %q (or the data differs)", i, rec.Offset, rec.Type, w.Offset, w.Type)
		}
	}
	for i, g := range got.Gaps {
		w := want.Gaps[i]
		if g.Offset != w.Offset || g.Count != w.Count || g.Label != w.Label || g.Reason != w.Reason {
			r.fatalf("gap %d: %+v, model %+v", i, g, w)
		}
	}
}

func (r *heldRun) checkState() {
	st := r.l.State()
	m := r.m
	if st.Sequence != m.seq || st.Cursor != m.cursor || st.First != m.first || st.Next != m.next ||
		st.Held != uint64(len(m.heldQ)) || st.PendingCount != m.labels(m.cursor, m.next) || st.DroppedUnsent != m.droppedUnsent {
		r.fatalf("state %+v; model seq %d cursor %d first %d next %d held %d pending %d dropped %d",
			st, m.seq, m.cursor, m.first, m.next, len(m.heldQ), m.labels(m.cursor, m.next), m.droppedUnsent)
	}
	counts := map[string]uint64{}
	for _, o := range m.heldQ {
		counts[m.typ[o]]++
	}
	if got := r.l.HeldCounts(); !maps.Equal(got, counts) {
		r.fatalf("HeldCounts %v, model %v", got, counts)
	}
}
