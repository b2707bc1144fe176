package log_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// The crash workload of the reliability tests (crash_test.go,
// inject_test.go, kill_test.go, prealloc_crash_test.go): records traced to
// the append that wrote them (tracedPayload), the history of what was
// acknowledged and synced, and a run that drives a log through random
// appends, acks, resets and metadata while a crash may strike at any I/O.

// tracedPayload returns the data of record id: the id, a checksum of the
// rest, and filler derived from the id, size bytes in all (at least 16).
// A record read back can be traced to the append that wrote it by parseTraced.
func tracedPayload(id uint64, size int) []byte {
	size = max(size, 16)
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, id)
	x := id*0x9E3779B97F4A7C15 + 1
	for i := 16; i < size; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = 'a' + byte(x%26)
	}
	binary.LittleEndian.PutUint64(b[8:], xxhash.Sum64(b[16:])^id)
	return b
}

// parseTraced returns the id of a payload made by tracedPayload, and whether the
// payload is intact.
func parseTraced(b []byte) (uint64, bool) {
	if len(b) < 16 {
		return 0, false
	}
	id := binary.LittleEndian.Uint64(b)
	if binary.LittleEndian.Uint64(b[8:]) != xxhash.Sum64(b[16:])^id {
		return 0, false
	}
	return id, true
}

// stateSnap is the durable part of the delivery state.
type stateSnap struct {
	Sequence, Cursor, First uint64
	Meta                    map[string]string
}

func (s stateSnap) String() string {
	return fmt.Sprintf("{seq %d cursor %d first %d meta %d keys}", s.Sequence, s.Cursor, s.First, len(s.Meta))
}

func (s stateSnap) equal(o stateSnap) bool {
	return s.Sequence == o.Sequence && s.Cursor == o.Cursor && s.First == o.First && maps.Equal(s.Meta, o.Meta)
}

func snapState(l *seglog.Log) stateSnap {
	st := l.State()
	s := stateSnap{Sequence: st.Sequence, Cursor: st.Cursor, First: st.First}
	for _, k := range l.MetaKeys() {
		if s.Meta == nil {
			s.Meta = map[string]string{}
		}
		v, _ := l.Meta(k)
		s.Meta[k] = string(v)
	}
	return s
}

// histRecord is a record as appended.
type histRecord struct {
	typ  string
	data []byte
}

// history is what a workload did, as far as the log told it: the
// reference against which a recovered log is checked.
type history struct {
	mu        sync.Mutex
	attempted map[uint64]histRecord // by id: every record handed to an append
	acked     map[uint64]uint64     // offset -> id, for appends that returned nil
	state     stateSnap             // made durable by the last state call that returned nil
	inflight  []stateSnap           // states of state calls that failed: any may be durable
	// syncedNext: offsets below it were appended and then made durable by
	// a Sync, Ack or Close that returned nil (SyncAlways: by Append itself).
	syncedNext uint64
}

func newHistory() *history {
	return &history{attempted: map[uint64]histRecord{}, acked: map[uint64]uint64{}}
}

func (h *history) attempt(id uint64, r histRecord) {
	h.mu.Lock()
	h.attempted[id] = r
	h.mu.Unlock()
}

func (h *history) ack(off, id uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.acked[off]; ok {
		return fmt.Errorf("offset %d returned twice (ids %d and %d)", off, prev, id)
	}
	h.acked[off] = id
	return nil
}

func (h *history) synced(next uint64) {
	h.mu.Lock()
	h.syncedNext = max(h.syncedNext, next)
	h.mu.Unlock()
}

// crashRun drives one log through a workload and keeps its history.
type crashRun struct {
	t      testing.TB
	fs     *crashfs.FS
	opts   seglog.Options
	l      *seglog.Log
	h      *history
	nextID atomic.Uint64
	rng    *rand.Rand // for workload choices; not for concurrent use

	removed atomic.Int64 // segments deleted by Acks and Resets
	resets  int
	metas   int
}

func newCrashRun(t testing.TB, fsys *crashfs.FS, opts seglog.Options, seed uint64) *crashRun {
	opts.FS = fsys
	opts.Logger = quiet
	if opts.SegmentSize == 0 {
		opts.SegmentSize = seglog.MinSegmentSize
	}
	return &crashRun{t: t, fs: fsys, opts: opts, h: newHistory(), rng: rand.New(rand.NewPCG(seed, 0x5e6))}
}

func (r *crashRun) open() error {
	l, err := seglog.Open(crashDir, &r.opts)
	if err != nil {
		return err
	}
	verifyAtEnd(r.t, r.opts.FS, crashDir)
	r.l = l
	r.h.mu.Lock()
	r.h.syncedNext = max(r.h.syncedNext, l.NextOffset())
	r.h.mu.Unlock()
	return nil
}

// reopen closes the log and opens it again, as a restart would.
func (r *crashRun) reopen() error {
	next := r.l.NextOffset()
	err := r.l.Close()
	r.l = nil
	if err != nil {
		return err
	}
	r.h.synced(next)
	return r.open()
}

// close closes the log, ignoring errors: for a log whose machine crashed.
func (r *crashRun) close() {
	if r.l != nil {
		r.l.Close()
		r.l = nil
	}
}

func (r *crashRun) newRecord(typ string, size int) (uint64, histRecord) {
	id := r.nextID.Add(1)
	rec := histRecord{typ: typ, data: tracedPayload(id, size)}
	r.h.attempt(id, rec)
	return id, rec
}

func (r *crashRun) append(size int) error {
	id, rec := r.newRecord("", size)
	off, err := r.l.Append(rec.data)
	if err != nil {
		return err
	}
	if r.opts.Sync == seglog.SyncAlways {
		r.h.synced(off + 1)
	}
	return r.h.ack(off, id)
}

func (r *crashRun) appendRecords(n, size int) error {
	recs := make([]seglog.Record, n)
	ids := make([]uint64, n)
	for i := range recs {
		typ := ""
		if i%2 == 1 {
			typ = fmt.Sprintf("type-%d", i%3)
		}
		id, rec := r.newRecord(typ, size+i*37)
		ids[i] = id
		recs[i] = seglog.Record{Type: rec.typ, Data: rec.data}
	}
	first, err := r.l.AppendRecords(recs...)
	if err != nil {
		return err
	}
	if r.opts.Sync == seglog.SyncAlways {
		r.h.synced(first + uint64(n))
	}
	for i, id := range ids {
		if err := r.h.ack(first+uint64(i), id); err != nil {
			return err
		}
	}
	return nil
}

func (r *crashRun) sync() error {
	next := r.l.NextOffset()
	if err := r.l.Sync(); err != nil {
		return err
	}
	r.h.synced(next)
	return nil
}

// saveState runs a state call predicted to make the state want.
func (r *crashRun) saveState(want stateSnap, call func() error) error {
	r.h.mu.Lock()
	r.h.inflight = append(r.h.inflight, want)
	r.h.mu.Unlock()
	if err := call(); err != nil {
		return err
	}
	r.h.mu.Lock()
	r.h.state, r.h.inflight = want, nil
	r.h.mu.Unlock()
	if got := snapState(r.l); !got.equal(want) {
		r.t.Errorf("state after a state call is %v, want %v", got, want)
	}
	return nil
}

func (r *crashRun) curState() stateSnap {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	s := r.h.state
	s.Meta = maps.Clone(s.Meta)
	return s
}

// ack fetches up to max pending records, checks them, and acknowledges
// them all: the normal branch, which releases the batch acknowledged the
// time before.
func (r *crashRun) ack(max int) error {
	b, err := r.l.Pending(max)
	if err != nil {
		return err
	}
	st := r.curState()
	if b.Sequence != st.Sequence {
		r.t.Errorf("Pending sequence %d, want %d", b.Sequence, st.Sequence)
	}
	for i, rec := range b.Records {
		if want := st.Cursor + uint64(i); rec.Offset != want {
			r.t.Errorf("Pending record %d has offset %d, want %d", i, rec.Offset, want)
		}
		if err := r.h.checkRecord(rec); err != nil {
			r.t.Errorf("Pending: %v", err)
		}
	}
	want := st
	n := uint64(len(b.Records))
	if n > 0 {
		want = stateSnap{Sequence: st.Sequence + n, Cursor: st.Cursor + n, First: st.Cursor, Meta: st.Meta}
	}
	return r.saveState(want, func() error {
		res, err := r.l.Ack(b.Sequence + n)
		r.removed.Add(int64(res.SegmentsRemoved))
		if err == nil && want.Cursor > st.Cursor {
			r.h.synced(want.Cursor) // Ack made what it sent durable
		}
		return err
	})
}

func (r *crashRun) reset() error {
	next := r.l.NextOffset()
	st := r.curState()
	want := stateSnap{Sequence: st.Sequence, Cursor: next, First: next, Meta: st.Meta}
	r.resets++
	return r.saveState(want, func() error {
		err := r.l.Reset()
		if err == nil {
			r.h.synced(next)
		}
		return err
	})
}

// setMeta stores a value of size bytes under key, or deletes key if size
// is negative.
func (r *crashRun) setMeta(key string, size int) error {
	st := r.curState()
	want := st
	want.Meta = maps.Clone(st.Meta)
	if want.Meta == nil {
		want.Meta = map[string]string{}
	}
	var v []byte
	if size >= 0 {
		v = bytes.Repeat([]byte{byte('A' + r.metas%26)}, size)
		want.Meta[key] = string(v)
	} else {
		delete(want.Meta, key)
	}
	if len(want.Meta) == 0 {
		want.Meta = nil
	}
	r.metas++
	return r.saveState(want, func() error { return r.l.SetMeta(key, v) })
}

// checkRecord checks that rec is one that was appended, intact, and the
// one acknowledged at its offset if any was.
func (h *history) checkRecord(rec seglog.Record) error {
	id, ok := parseTraced(rec.Data)
	if !ok {
		return fmt.Errorf("offset %d holds %d bytes that no append wrote", rec.Offset, len(rec.Data))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	want, ok := h.attempted[id]
	if !ok {
		return fmt.Errorf("offset %d holds record id %d, never appended", rec.Offset, id)
	}
	if rec.Type != want.typ || !bytes.Equal(rec.Data, want.data) {
		return fmt.Errorf("offset %d: record id %d reads back different (type %q, %d bytes; want %q, %d bytes)",
			rec.Offset, id, rec.Type, len(rec.Data), want.typ, len(want.data))
	}
	if ackedID, ok := h.acked[rec.Offset]; ok && ackedID != id {
		return fmt.Errorf("offset %d holds record id %d, but the append of id %d returned this offset", rec.Offset, id, ackedID)
	}
	return nil
}

// checkHistory checks a log recovered from h's workload: the delivery state is
// the last one a state call returned (or one that was in flight), every
// acknowledged record that the sync policy promises is there and reads
// back identical, the records form a dense run with nothing that was never
// appended, and the log accepts a new append. It leaves l open.
func checkHistory(l *seglog.Log, h *history, policy seglog.SyncPolicy) error {
	got := snapState(l)
	h.mu.Lock()
	want, inflight := h.state, slices.Clone(h.inflight)
	acked := maps.Clone(h.acked)
	syncedNext := h.syncedNext
	h.mu.Unlock()
	if !got.equal(want) && !slices.ContainsFunc(inflight, got.equal) {
		return fmt.Errorf("recovered state %v, want %v (or one of %d in flight: %v)", got, want, len(inflight), inflight)
	}
	st := l.State()
	if st.First > st.Cursor || st.Cursor > st.Next {
		return fmt.Errorf("recovered state out of order: first %d cursor %d next %d", st.First, st.Cursor, st.Next)
	}
	for _, off := range slices.Sorted(maps.Keys(acked)) {
		if off < st.First {
			continue // released
		}
		promised := policy == seglog.SyncAlways || off < syncedNext
		if off >= st.Next {
			if promised {
				return fmt.Errorf("acknowledged record at offset %d lost: the log ends at %d", off, st.Next)
			}
			continue
		}
		rec, err := l.Read(off)
		if err != nil {
			return fmt.Errorf("read acknowledged offset %d: %w", off, err)
		}
		if err := h.checkRecord(rec); err != nil {
			return err
		}
	}
	want0 := st.First
	for rec, err := range l.Records(st.First) {
		if err != nil {
			return fmt.Errorf("scan from %d: %w", st.First, err)
		}
		if rec.Offset != want0 {
			return fmt.Errorf("scan: offset %d after %d, want dense offsets", rec.Offset, want0-1)
		}
		if err := h.checkRecord(rec); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		want0++
	}
	if want0 != st.Next {
		return fmt.Errorf("scan ended at %d, but the log's next offset is %d", want0, st.Next)
	}
	// The log accepts new appends, at the next offset.
	data := []byte("after recovery")
	off, err := l.Append(data)
	if err != nil {
		return fmt.Errorf("append after recovery: %w", err)
	}
	if off != st.Next {
		return fmt.Errorf("append after recovery got offset %d, want %d", off, st.Next)
	}
	if err := l.Sync(); err != nil {
		return fmt.Errorf("sync after recovery: %w", err)
	}
	rec, err := l.Read(off)
	if err != nil || !bytes.Equal(rec.Data, data) {
		return fmt.Errorf("read back the append after recovery: %q, %v", rec.Data, err)
	}
	return nil
}
