package log_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// The randomised model test: a plain in-memory model of the delivery
// protocol runs beside a real log on a crash-simulating filesystem, under
// random appends, Pendings, Acks, Resets, SetMetas, reopens and crashes,
// and the two are compared after every step.
//
//	go test ./log -run TestModel -seed 12345 -model.steps 5000 -v

var (
	modelSteps = flag.Int("model.steps", 1500, "steps of each randomised delivery run")
)

// model is the protocol as the issue states it, written without looking
// at the implementation: plain integers and a map of records.
type model struct {
	seq, cursor, first, next int64
	sent                     int64 // largest batch handed out since the last Ack (0 after Reset); -1: none
	// sentFloor is the pending count when the log was opened, until the
	// first Ack: what the process before may have handed out.
	sentFloor int64
	recs      map[int64]seglog.Record
	meta      map[string][]byte
	// durable is the offset below which every record is known to be on
	// stable storage under SyncNever (Sync, Close, Pending, Ack, Reset).
	durable int64
	// saved is set by the calls that save the state or open the log,
	// which delete every segment wholly before the first offset, and
	// cleared by appends, which may seal an active segment that lies
	// wholly before it.
	saved bool
}

func newModel() *model {
	return &model{sent: -1, recs: map[int64]seglog.Record{}, meta: map[string][]byte{}, saved: true}
}

func (m *model) state() seglog.State {
	return seglog.State{Sequence: uint64(m.seq), Cursor: uint64(m.cursor), First: uint64(m.first),
		Next: uint64(m.next), PendingCount: uint64(m.next - m.cursor)}
}

func (m *model) append(r seglog.Record) {
	r.Offset = uint64(m.next)
	m.recs[m.next] = r
	m.next++
}

func (m *model) pending(limit int) seglog.Batch {
	b := seglog.Batch{Sequence: uint64(m.seq)}
	for o := m.cursor; o < m.next && len(b.Records) < limit; o++ {
		b.Records = append(b.Records, m.recs[o])
	}
	m.sent = max(m.sent, m.sentFloor, int64(len(b.Records)))
	m.durable = max(m.durable, m.cursor+int64(len(b.Records)))
	return b
}

func (m *model) release(to int64) {
	for o := m.first; o < to; o++ {
		delete(m.recs, o)
	}
	m.first = to
}

// ack applies the peer's next-expected n by the four rules, in order.
func (m *model) ack(n int64) (seglog.AckBranch, int64) {
	s, p := m.seq, m.cursor-m.first
	sent := m.sent
	if sent < 0 {
		sent = m.next - m.cursor
	}
	first := m.first
	var branch seglog.AckBranch
	switch {
	case n-s > sent: // too high: the cursor stays on the oldest unacknowledged
		branch = seglog.AckTooHigh
		m.release(m.cursor)
	case n > s: // normal: release the batch acknowledged the time before
		branch = seglog.AckNormal
		m.release(m.cursor)
		m.cursor += n - s
	case n < s-p: // ancient: back to the first kept record
		branch = seglog.AckAncient
		m.cursor = m.first
	default: // rewind inside the kept window
		branch = seglog.AckRewind
		m.cursor -= s - n
	}
	m.seq = n
	m.sent, m.sentFloor = -1, 0
	m.durable = max(m.durable, m.cursor)
	m.saved = true
	return branch, m.first - first
}

func (m *model) reset() {
	m.release(m.next)
	m.cursor = m.next
	m.sent, m.sentFloor = 0, 0 // nothing handed out from the new cursor
	m.durable = m.next
	m.saved = true
}

// lose forgets the records from next on, which a crash under SyncNever
// may lose.
func (m *model) lose(next int64) {
	for o := next; o < m.next; o++ {
		delete(m.recs, o)
	}
	m.next = next
}

// modelRun is one randomised run.
type modelRun struct {
	opTrace
	rng   *rand.Rand
	opts  seglog.Options
	fsys  *crashfs.FS
	l     *seglog.Log
	m     *model
	stats map[string]int
}

func (r *modelRun) open() {
	r.t.Helper()
	opts := r.opts
	opts.FS = r.fsys
	l, err := seglog.Open(crashDir, &opts)
	if err != nil {
		r.fatalf("Open: %v", err)
	}
	verifyAtEnd(r.t, opts.FS, crashDir)
	r.l = l
}

func TestModel(t *testing.T) {
	for _, c := range []struct {
		name string
		opts seglog.Options
	}{
		{"always/none/16K", seglog.Options{Sync: seglog.SyncAlways, SegmentSize: seglog.MinSegmentSize}},
		{"always/s2/24K", seglog.Options{Sync: seglog.SyncAlways, Codec: seglog.CodecS2, SegmentSize: 24 << 10}},
		{"never/zstd/16K", seglog.Options{Sync: seglog.SyncNever, Codec: seglog.CodecZstd, SegmentSize: seglog.MinSegmentSize}},
	} {
		t.Run(c.name, func(t *testing.T) {
			seed := testSeed(t)
			c.opts.Logger = quiet
			r := &modelRun{opTrace: opTrace{t: t, keep: 25}, rng: rand.New(rand.NewPCG(seed, 0x5e6109)), opts: c.opts,
				fsys: crashfs.New(), m: newModel(), stats: map[string]int{}}
			r.state = func() string { return fmt.Sprintf("model %+v", r.m.state()) }
			r.open()
			defer func() { r.l.Close() }()
			for r.step = 0; r.step < *modelSteps; r.step++ {
				r.do()
				r.check()
			}
			t.Logf("operations: %v", r.stats)
		})
	}
}

// do performs one random operation on both the log and the model.
func (r *modelRun) do() {
	rng, m, l := r.rng, r.m, r.l
	kept := m.next - m.first
	x := rng.IntN(100)
	switch {
	case x < 30 && kept < 400:
		r.stats["append"]++
		n := 1 + rng.IntN(4)
		if rng.IntN(3) > 0 {
			n = 1
		}
		recs := make([]seglog.Record, n)
		for i := range recs {
			recs[i] = r.randRecord()
		}
		var off uint64
		var err error
		if n == 1 && recs[0].Type == "" {
			off, err = l.Append(recs[0].Data)
		} else {
			off, err = l.AppendRecords(recs...)
		}
		if err != nil {
			r.fatalf("append: %v", err)
		}
		if off != uint64(m.next) {
			r.fatalf("append got offset %d, model %d", off, m.next)
		}
		for _, rec := range recs {
			m.append(rec)
		}
		m.saved = false
		r.logf("append %d -> %d", n, off)
	case x < 50:
		r.stats["pending"]++
		max := 1 + rng.IntN(20)
		if rng.IntN(5) == 0 {
			max = 1000
		}
		b, err := l.Pending(max)
		if err != nil {
			r.fatalf("Pending(%d): %v", max, err)
		}
		want := m.pending(max)
		r.logf("Pending(%d) = seq %d, %d records", max, b.Sequence, len(b.Records))
		r.sameBatch(b, want)
	case x < 80:
		n := r.randAck()
		r.stats["ack"]++
		res, err := l.Ack(uint64(n))
		if err != nil {
			r.fatalf("Ack(%d): %v", n, err)
		}
		before := m.state()
		branch, released := m.ack(n)
		r.stats["ack-"+branch.String()]++
		if res.SegmentsRemoved > 0 {
			r.stats["segments-removed"] += res.SegmentsRemoved
		}
		r.logf("Ack(%d) from %+v = %v released %d", n, before, res.Branch, res.Released)
		if res.Branch != branch || res.Released != uint64(released) || res.State != m.state() ||
			res.Resync != (branch == seglog.AckTooHigh || branch == seglog.AckAncient) {
			r.fatalf("Ack(%d) = %+v; model: branch %v, released %d, state %+v", n, res, branch, released, m.state())
		}
	case x < 83:
		r.stats["reset"]++
		if err := l.Reset(); err != nil {
			r.fatalf("Reset: %v", err)
		}
		m.reset()
		r.logf("Reset")
	case x < 89:
		r.stats["setmeta"]++
		key := []string{"uuid", "token", "server-seq", "k"}[rng.IntN(4)]
		var val []byte
		switch rng.IntN(4) {
		case 0: // delete
		case 1:
			val = []byte{}
		default:
			val = fmt.Appendf(nil, "%s-%d", key, rng.Uint32())
		}
		if rng.IntN(20) == 0 {
			key = ""
			if err := l.SetMeta(key, val); err == nil {
				r.fatalf("SetMeta with an empty key succeeded")
			}
			break
		}
		if err := l.SetMeta(key, val); err != nil {
			r.fatalf("SetMeta(%q): %v", key, err)
		}
		if val == nil {
			delete(m.meta, key)
		} else {
			m.meta[key] = val
		}
		m.saved = true
		r.logf("SetMeta(%q, %q)", key, val)
	case x < 92:
		r.stats["sync"]++
		if err := l.Sync(); err != nil {
			r.fatalf("Sync: %v", err)
		}
		m.durable = m.next
		r.logf("Sync")
	case x < 95:
		r.stats["reopen"]++
		if err := l.Close(); err != nil {
			r.fatalf("Close: %v", err)
		}
		r.open()
		m.sent, m.sentFloor = -1, m.next-m.cursor
		m.durable = m.next
		m.saved = true
		r.logf("reopen")
	default:
		r.crash()
	}
}

// crash simulates a power loss and opens what survived.
func (r *modelRun) crash() {
	mode := crashfs.CrashMode(r.rng.IntN(4))
	r.stats["crash-"+mode.String()]++
	survivor := r.fsys.Crash(r.rng, mode)
	r.l.Close() // the old machine is gone; its writes go nowhere we look
	r.fsys = survivor
	r.open()
	m := r.m
	m.sent = -1
	m.saved = true
	got := r.l.State()
	defer func() { m.sentFloor = m.next - m.cursor }() // what Open assumes was handed out
	if r.opts.Sync == seglog.SyncAlways {
		// Every Append and Ack that returned survives.
		r.logf("crash %v: %+v", mode, got)
		return
	}
	// Under SyncNever, appends since the last sync may be lost, but not
	// the records below the durable cursor.
	next := int64(got.Next)
	if next < m.durable || next > m.next {
		r.fatalf("after crash (%v), next offset %d, want within [%d, %d]", mode, next, m.durable, m.next)
	}
	if next < m.next {
		r.stats["crash-lost-records"] += int(m.next - next)
	}
	m.lose(next)
	m.durable = next
	r.logf("crash %v: %+v", mode, got)
}

// randRecord returns a record of random size, sometimes typed.
func (r *modelRun) randRecord() seglog.Record {
	rng := r.rng
	size := rng.IntN(1500)
	switch rng.IntN(20) {
	case 0:
		size = 0
	case 1:
		size = 5000 + rng.IntN(15000) // may need a segment of its own
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte('a' + rng.IntN(4)) // compressible, for the codecs
	}
	var typ string
	if rng.IntN(3) == 0 {
		typ = []string{"ping", "status", "log"}[rng.IntN(3)]
	}
	return seglog.Record{Type: typ, Data: data}
}

// randAck returns a next-expected value around the interesting
// boundaries of the model's state.
func (r *modelRun) randAck() int64 {
	m, rng := r.m, r.rng
	s, p := m.seq, m.cursor-m.first
	sent := m.sent
	if sent < 0 {
		sent = m.next - m.cursor
	}
	cands := []int64{s - p - 2, s - p - 1, s - p, s - p + 1, s - 1, s, s, s + 1,
		s + sent - 1, s + sent, s + sent, s + sent + 1, s + (m.next - m.cursor), s + (m.next - m.cursor) + 1}
	var n int64
	switch rng.IntN(10) {
	case 0:
		n = s - p - 3 + rng.Int64N(p+sent+7)
	case 1:
		n = s + 1 + rng.Int64N(1000)
	default:
		n = cands[rng.IntN(len(cands))]
	}
	if n < 0 {
		n = 0
	}
	return n
}

func (r *modelRun) sameBatch(got, want seglog.Batch) {
	r.t.Helper()
	if got.Sequence != want.Sequence || len(got.Records) != len(want.Records) {
		r.fatalf("batch seq %d with %d records, model seq %d with %d", got.Sequence, len(got.Records), want.Sequence, len(want.Records))
	}
	for i := range got.Records {
		r.sameRecord("Pending", got.Records[i], want.Records[i])
	}
}

func (r *modelRun) sameRecord(what string, got, want seglog.Record) {
	r.t.Helper()
	if got.Offset != want.Offset || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
		r.fatalf("%s: record %d (type %q, %d bytes), model %d (type %q, %d bytes)",
			what, got.Offset, got.Type, len(got.Data), want.Offset, want.Type, len(want.Data))
	}
}

// check compares the log with the model.
func (r *modelRun) check() {
	r.t.Helper()
	l, m := r.l, r.m
	want := m.state()
	if got := l.State(); got != want {
		r.fatalf("State() = %+v, model %+v", got, want)
	}
	if l.FirstOffset() != uint64(m.first) || l.NextOffset() != uint64(m.next) {
		r.fatalf("FirstOffset %d, NextOffset %d", l.FirstOffset(), l.NextOffset())
	}
	checkPendingSet(r.t, l, want)

	// The kept records, and so the pending ones, as Records yields them.
	o := m.first
	for rec, err := range l.Records(0) {
		if err != nil {
			r.fatalf("Records: %v", err)
		}
		if int64(rec.Offset) >= m.next {
			r.fatalf("Records yielded offset %d past next %d", rec.Offset, m.next)
		}
		r.sameRecord("Records", rec, m.recs[o])
		o++
	}
	if o != m.next {
		r.fatalf("Records stopped at %d, model next %d", o, m.next)
	}
	// Read of a few kept records and of the edges.
	if m.next > m.first {
		for _, o := range []int64{m.first, m.cursor, m.next - 1, m.first + r.rng.Int64N(m.next-m.first)} {
			if o >= m.next {
				continue
			}
			rec, err := l.Read(uint64(o))
			if err != nil {
				r.fatalf("Read(%d): %v", o, err)
			}
			r.sameRecord("Read", rec, m.recs[o])
		}
	}
	if _, err := l.Read(uint64(m.next)); !errors.Is(err, seglog.ErrOutOfRange) {
		r.fatalf("Read(next %d): %v, want ErrOutOfRange", m.next, err)
	}
	checkReleased(r.t, l)

	if keys := l.MetaKeys(); !slices.Equal(keys, slices.Sorted(maps.Keys(m.meta))) {
		r.fatalf("MetaKeys() = %q, model %q", keys, slices.Sorted(maps.Keys(m.meta)))
	}
	for k, v := range m.meta {
		if got, ok := l.Meta(k); !ok || !bytes.Equal(got, v) {
			r.fatalf("Meta(%q) = %q, %v; model %q", k, got, ok, v)
		}
	}
	// Released segments are deleted in the background after the call that
	// releases them.
	seglog.WaitReleases(l)
	if _, err := checkFilesErr(r.t, r.fsys, crashDir, uint64(m.first), !m.saved); err != nil {
		r.fatalf("%v", err)
	}
}
