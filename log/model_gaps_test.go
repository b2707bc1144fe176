package log_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// The randomised model test of gaps: random appends (single records and
// frames of several), random exchanges with an honest peer whose answers
// are sometimes lost, and random damage injected into the segment bytes of
// retained records while the log runs. After every step the log is
// compared with a reference model that knows which offsets are damaged:
// every good record is handed out exactly when the protocol says, every
// damaged run as one gap in its place, exactly once per batch; the log
// never stalls (records pending means a batch that is not empty); and no
// label is ever given to two offsets. At the end everything is delivered,
// and the peer holds every offset exactly once, as the record or as a gap.
//
// The size-limit cases cap the log at a few segments (Options.MaxBytes,
// LimitDrop) and stop the peer for long outages. The model learns where
// each drop ends from the log (segment boundaries are the log's business),
// and checks the rest: the segments never pass the cap, a drop ends at
// the first segment left, acknowledged records go before unsent ones,
// the dropped unsent records come out as one GapDropped gap in their
// place with their labels, the counters match, and nothing else is lost.
//
//	go test ./log -run TestModelGaps -seed 12345 -model.steps 5000 -v

// gapModel is the reference: offsets, their data, which are damaged, and
// the delivery state, in plain integers.
type gapModel struct {
	seq, cursor, first, next    uint64
	sent                        int64 // largest batch since the last Ack; -1: none
	data                        map[uint64][]byte
	damaged                     map[uint64]bool
	reported                    uint64 // end of the last gap counted
	gaps, gapOffsets            uint64
	droppedUnsent, droppedAcked uint64
	keep                        uint64 // Options.KeepAcked; 0: the last batch
}

// drop applies a drop by the size limit of every offset below to: the
// kept acknowledged records go, then unsent ones, whose range [cursor,
// first) Pending reports. The cursor does not move.
func (m *gapModel) drop(to uint64) {
	if m.cursor > m.first {
		m.droppedAcked += min(to, m.cursor) - m.first
	}
	if from := maxU(m.cursor, m.first); to > from {
		m.droppedUnsent += to - from
	}
	m.first = to
}

// pending is the batch the protocol says Pending(max) hands out: from the
// cursor, records and maximal runs of damaged offsets, max entries.
func (m *gapModel) pending(max int) seglog.Batch {
	b := seglog.Batch{Sequence: m.seq}
	entries := 0
	o := m.cursor
	if m.first > m.cursor {
		b.Gaps = append(b.Gaps, seglog.Gap{Offset: o, Count: m.first - o, Label: m.seq, Reason: seglog.GapDropped})
		entries++
		o = m.first
	}
	for o < m.next {
		if entries == max {
			break
		}
		entries++
		if !m.damaged[o] {
			b.Records = append(b.Records, seglog.Record{Offset: o, Data: m.data[o]})
			o++
			continue
		}
		end := o
		for end < m.next && m.damaged[end] {
			end++
		}
		b.Gaps = append(b.Gaps, seglog.Gap{Offset: o, Count: end - o, Label: m.seq + (o - m.cursor), Reason: seglog.GapDamaged})
		o = end
	}
	m.sent = max64(m.sent, int64(b.Len()))
	for _, g := range b.Gaps {
		if g.End() > m.reported {
			if g.Offset >= m.reported {
				m.gaps++
			}
			m.gapOffsets += g.End() - maxU(g.Offset, m.reported)
			m.reported = g.End()
		}
	}
	return b
}

// ack applies an answer n by the label intervals: the kept window holds
// labels [seq-P, seq), the batches since the last Ack [seq, seq+sent).
func (m *gapModel) ack(n uint64) seglog.AckBranch {
	sent := uint64(m.next - m.cursor)
	if m.sent >= 0 {
		sent = uint64(m.sent)
	}
	// After a drop of unsent records (first above the cursor) nothing
	// before the cursor is kept, first never moves down, and an ancient
	// answer leaves the cursor at the dropped range.
	var p uint64
	if m.cursor > m.first {
		p = m.cursor - m.first
	}
	var br seglog.AckBranch
	first0 := m.first
	switch {
	case n > m.seq && n <= m.seq+sent:
		br = seglog.AckNormal
		m.first, m.cursor = maxU(m.first, m.cursor), m.cursor+(n-m.seq)
		if m.keep > 0 {
			// The window: the last keep acknowledged records.
			m.first = maxU(first0, m.cursor-min(m.keep, m.cursor))
		}
	case n > m.seq:
		br = seglog.AckTooHigh
		m.first = maxU(m.first, m.cursor)
	case n+p >= m.seq:
		br = seglog.AckRewind
		m.cursor -= m.seq - n
	default:
		br = seglog.AckAncient
		m.cursor = min(m.first, m.cursor)
	}
	m.seq, m.sent = n, -1
	return br
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// gapPeer is an honest peer: it stores the entries whose label is the one
// it expects, ignores those below (duplicates), and answers the label it
// expects next. A label past it would be a record skipped: a failure.
type gapPeer struct {
	expect   uint64
	got      map[uint64]string // offset -> "record" or "gap", once each
	labelOff map[uint64]uint64 // label -> the offset it was first given to
}

type gapRun struct {
	opTrace
	opts   *seglog.Options
	rng    *rand.Rand
	fsys   *crashfs.FS
	l      *seglog.Log
	m      *gapModel
	peer   *gapPeer
	outage int // steps left in which the peer is unreachable
	stats  map[string]int
}

func TestModelGaps(t *testing.T) {
	for _, c := range []struct {
		name string
		opts *seglog.Options
	}{
		{"always/none", &seglog.Options{Sync: seglog.SyncAlways}},
		{"always/zstd", &seglog.Options{Sync: seglog.SyncAlways, Codec: seglog.CodecZstd}},
		{"never/s2", &seglog.Options{Sync: seglog.SyncNever, Codec: seglog.CodecS2}},
		{"always/limit", &seglog.Options{Sync: seglog.SyncAlways, MaxBytes: 3 * seglog.MinSegmentSize, Limit: seglog.LimitDrop}},
		{"always/keep", &seglog.Options{Sync: seglog.SyncAlways, KeepAcked: 50}},
		{"always/limit/keep", &seglog.Options{Sync: seglog.SyncAlways, MaxBytes: 4 * seglog.MinSegmentSize, Limit: seglog.LimitDrop, KeepAcked: 150}},
		{"never/s2/limit", &seglog.Options{Sync: seglog.SyncNever, Codec: seglog.CodecS2, MaxBytes: 4 * seglog.MinSegmentSize, Limit: seglog.LimitDrop}},
	} {
		t.Run(c.name, func(t *testing.T) { runModelGaps(t, c.opts) })
	}
}

func runModelGaps(t *testing.T, opts *seglog.Options) {
	seed := testSeed(t)
	fsys := crashfs.New()
	r := &gapRun{opTrace: opTrace{t: t, keep: 20}, rng: rand.New(rand.NewPCG(seed, 0x6a95)), fsys: fsys, opts: opts,
		m:     &gapModel{data: map[uint64][]byte{}, damaged: map[uint64]bool{}, keep: uint64(opts.KeepAcked)},
		peer:  &gapPeer{got: map[uint64]string{}, labelOff: map[uint64]uint64{}},
		stats: map[string]int{}}
	opts.FS, opts.SegmentSize, opts.Logger = fsys, seglog.MinSegmentSize, quiet
	r.l = openCrash(t, opts)
	verifyMayFindDamage(t, crashDir) // the model damages records at random
	defer func() { r.l.Close() }()
	for r.step = 0; r.step < *modelSteps; r.step++ {
		if r.opts.MaxBytes > 0 && r.outage == 0 && r.rng.IntN(300) == 0 {
			r.outage = 150 + r.rng.IntN(450)
			r.logf("outage of %d steps", r.outage)
		}
		switch x := r.rng.IntN(100); {
		case x < 45:
			r.appendSome()
		case x < 85 && r.outage > 0:
			r.outage--
		case x < 85:
			r.exchange(r.rng.IntN(10) == 0)
		default:
			r.damage()
		}
		r.checkState()
	}
	// Drain: the log never stalls, so this ends.
	for i := 0; r.m.cursor < r.m.next; i++ {
		if i > 10000 {
			r.fatalf("delivery stalls at cursor %d of %d", r.m.cursor, r.m.next)
		}
		r.exchange(false)
	}
	r.exchange(false) // the answer to the last batch, acknowledged
	for o := uint64(0); o < r.m.next; o++ {
		if r.peer.got[o] == "" {
			r.fatalf("offset %d never reached the peer", o)
		}
	}
	t.Logf("operations: %v; %d offsets, %d damaged, %d gaps counted over %d offsets; dropped %d unsent, %d acknowledged",
		r.stats, r.m.next, len(r.m.damaged), r.m.gaps, r.m.gapOffsets, r.m.droppedUnsent, r.m.droppedAcked)
}

// appendSome appends one record, or a frame of several.
func (r *gapRun) appendSome() {
	n := 1
	if r.rng.IntN(5) == 0 {
		n = 2 + r.rng.IntN(3)
	}
	first := r.m.next
	recs := make([]seglog.Record, n)
	for i := range recs {
		recs[i].Data = tracedPayload(first+uint64(i), 60+r.rng.IntN(400))
	}
	var off uint64
	var err error
	if n == 1 {
		off, err = r.l.Append(recs[0].Data)
	} else {
		off, err = r.l.AppendRecords(recs...)
	}
	if err != nil || off != first {
		r.fatalf("append of %d: offset %d, %v (want %d)", n, off, err, first)
	}
	for i := range recs {
		o := first + uint64(i)
		r.m.data[o] = recs[i].Data
	}
	r.m.next += uint64(n)
	r.stats["append"]++
	r.logf("append %d -> %d", n, first)
	if r.opts.MaxBytes > 0 {
		r.checkLimit()
	}
}

// checkLimit follows a drop the append made and checks the cap.
func (r *gapRun) checkLimit() {
	if used := limitSegBytes(r.t, r.fsys, crashDir); used > r.opts.MaxBytes {
		segs, _ := logFiles(r.t, r.fsys, crashDir)
		var sizes []int64
		for _, b := range segs {
			fi, _ := r.fsys.Stat(crashDir + "/" + segment.FileName(b))
			sizes = append(sizes, fi.Size())
		}
		r.fatalf("segments hold %d bytes, cap %d; the log counts %d; segments %v sizes %v", used, r.opts.MaxBytes, seglog.LimitUsed(r.l), segs, sizes)
	}
	to, moved := r.firstMoved(r.l, r.fsys, r.m.first)
	if !moved {
		return
	}
	r.m.drop(to)
	r.stats["drop"]++
	r.logf("drop to %d (cursor %d)", to, r.m.cursor)
}

// damage flips a byte in the payload of a random retained record: its
// whole frame becomes damaged.
func (r *gapRun) damage() {
	if r.m.next == r.m.first {
		return
	}
	o := r.m.first + r.rng.Uint64N(r.m.next-r.m.first)
	if r.m.damaged[o] {
		return // its payload no longer matches: damaged already
	}
	segs, _ := logFiles(r.t, r.fsys, crashDir)
	base := segs[0]
	for _, b := range segs {
		if b <= o {
			base = b
		}
	}
	name := crashDir + "/" + segment.FileName(base)
	b, err := r.fsys.ReadFile(name)
	if err != nil {
		r.fatalf("read %s: %v", name, err)
	}
	if err := r.l.Flush(); err != nil { // buffered frames reach the file
		r.fatalf("Flush: %v", err)
	}
	b, err = r.fsys.ReadFile(name)
	if err != nil {
		r.fatalf("read %s: %v", name, err)
	}
	// The frame holding o, as its index entry locates it: appends share
	// frames under SyncNever, and a frame's records are damaged together.
	ib, err := r.fsys.ReadFile(crashDir + "/" + index.FileName(base))
	if err != nil {
		r.fatalf("read index: %v", err)
	}
	entries, _ := index.Decode(ib, base, segment.HeaderSize, int64(len(b)))
	i := index.Search(entries, o)
	if i < 0 {
		r.fatalf("no index entry for the frame of %d in %v", o, entries)
	}
	frame := [2]uint64{entries[i].Offset, r.m.next}
	if i+1 < len(entries) {
		frame[1] = entries[i+1].Offset
	} else if k := slices.Index(segs, base); k+1 < len(segs) {
		frame[1] = segs[k+1]
	}
	for d := frame[0]; d < frame[1]; d++ {
		if r.m.damaged[d] {
			return // its payload no longer matches: damaged already
		}
	}
	var pos int64
	if r.opts.Codec != seglog.CodecNone || r.rng.IntN(3) == 0 {
		pos = int64(entries[i].Pos) + r.rng.Int64N(int64(entries[i].Len)) // header included
	} else {
		payload := r.m.data[o][16:]
		i := bytes.Index(b, payload)
		if i < 0 {
			r.fatalf("record %d not found in %s", o, name)
		}
		pos = int64(i + r.rng.IntN(len(payload)))
	}
	if err := r.fsys.Corrupt(name, pos, byte(1+r.rng.IntN(255))); err != nil {
		r.fatalf("corrupt: %v", err)
	}
	for d := frame[0]; d < frame[1]; d++ {
		r.m.damaged[d] = true
	}
	r.stats["damage"]++
	r.logf("damage record %d: frame [%d, %d)", o, frame[0], frame[1])
}

// exchange hands out a batch, checks it against the model, gives it to the
// peer and, unless the answer is lost, acknowledges the peer's answer.
func (r *gapRun) exchange(lost bool) {
	max := 1 + r.rng.IntN(20)
	got, err := r.l.Pending(max)
	if err != nil {
		r.fatalf("Pending(%d): %v", max, err)
	}
	want := r.m.pending(max)
	r.sameBatch(got, want)
	if got.Empty() && r.m.cursor < r.m.next {
		r.fatalf("Pending(%d) is empty with %d pending: delivery stalls", max, r.m.next-r.m.cursor)
	}
	p := r.peer
	for e := range got.Entries() {
		count, off, kind := uint64(1), uint64(0), "record"
		if e.Gap != nil {
			count, off, kind = e.Gap.Count, e.Gap.Offset, "gap"
		} else {
			off = e.Record.Offset
		}
		for i := range count {
			label := e.Label + i
			if prev, ok := p.labelOff[label]; ok && prev != off+i {
				r.fatalf("label %d given to offset %d, and before to %d", label, off+i, prev)
			}
			p.labelOff[label] = off + i
		}
		switch {
		case e.Label+count <= p.expect: // a duplicate: ignored
		case e.Label > p.expect:
			r.fatalf("batch %+v skips labels [%d, %d)", got, p.expect, e.Label)
		default:
			for i := p.expect - e.Label; i < count; i++ {
				if p.got[off+i] != "" {
					r.fatalf("offset %d reached the peer twice", off+i)
				}
				p.got[off+i] = kind
			}
			p.expect = e.Label + count
		}
	}
	r.answer(r.l, r.stats, max, got, lost, p.expect, r.m.ack)
}

func gapsString(gs []seglog.Gap) string {
	var s []string
	for _, g := range gs {
		s = append(s, fmt.Sprintf("[%d,%d)@%d", g.Offset, g.End(), g.Label))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func (r *gapRun) sameBatch(got, want seglog.Batch) {
	r.t.Helper()
	if got.Sequence != want.Sequence || len(got.Records) != len(want.Records) || len(got.Gaps) != len(want.Gaps) {
		r.fatalf("batch seq %d, %d records, gaps %s; model seq %d, %d records, gaps %s",
			got.Sequence, len(got.Records), gapsString(got.Gaps), want.Sequence, len(want.Records), gapsString(want.Gaps))
	}
	for i, rec := range got.Records {
		if rec.Offset != want.Records[i].Offset || !bytes.Equal(rec.Data, want.Records[i].Data) {
			r.fatalf("record %d of the batch: offset %d, model %d (or its data differs)", i, rec.Offset, want.Records[i].Offset)
		}
	}
	for i, g := range got.Gaps {
		w := want.Gaps[i]
		if g.Offset != w.Offset || g.Count != w.Count || g.Label != w.Label || g.Reason != w.Reason || g.Detail == "" {
			r.fatalf("gap %d: %+v, model %+v", i, g, w)
		}
	}
	if !slices.EqualFunc(slices.Collect(got.Entries()), slices.Collect(want.Entries()), func(a, b seglog.Entry) bool { return a.Label == b.Label }) {
		r.fatalf("entry labels differ from the model's")
	}
}

func (r *gapRun) checkState() {
	st := r.l.State()
	m := r.m
	if st.Sequence != m.seq || st.Cursor != m.cursor || st.First != m.first || st.Next != m.next ||
		st.Gaps != m.gaps || st.GapOffsets != m.gapOffsets || st.DroppedUnsent != m.droppedUnsent || st.DroppedAcked != m.droppedAcked {
		r.fatalf("state %+v; model seq %d cursor %d first %d next %d, %d gaps over %d offsets",
			st, m.seq, m.cursor, m.first, m.next, m.gaps, m.gapOffsets)
	}
}
