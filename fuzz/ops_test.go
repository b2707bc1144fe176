package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// FuzzOps drives a log with operations decoded from the input (see the
// op* constants) and checks it against a reference model after every one:
// the log never panics, never returns a record that was not appended
// (records carry their id and a checksum), never loses an acknowledged
// record under SyncAlways, nor under SyncNever one that a returned Sync,
// Ack or Close made durable, and keeps exactly the delivery state of the
// last state call that returned. Crashes go through crashfs in every mode;
// injected full-disk writes (whole or partial) must surface as errors
// matching ENOSPC and must not leave the log unusable.
func FuzzOps(f *testing.F) {
	warmCodecs()
	f.Add([]byte{0, opAppend, 10, opCrash, 0, 0})
	f.Add([]byte{1, opAppend, 10, opFlush, opAppend, 20, opCrash, 3, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 2048 {
			return // longer inputs only cost time
		}
		fz := fuzzBytes(in)
		cfg := fz.byte()
		opts := seglog.Options{Logger: quiet, SegmentSize: seglog.MinSegmentSize, Codec: seglog.Codec(cfg >> 1 % 3)}
		if cfg&1 == 1 {
			opts.Sync = seglog.SyncNever
		}
		m := &opsModel{t: t, opts: opts, attempted: map[uint64]fuzzRecord{}, acked: map[uint64]uint64{}}
		// Records are at most 2 KiB and there are at most len(in) of them;
		// a crash copies the filesystem.
		checkAlloc(t, "the operations", 32<<20+uint64(len(in))*256<<10, func() {
			m.run(&fz)
		})
	})
}

// Operations, one input byte each (modulo opCount), most followed by
// argument bytes.
const (
	opAppend        = iota // size/8
	opAppendRecords        // count, size/8
	opAck                  // max: Pending(max), then acknowledge it all
	opAckN                 // delta: Ack(sequence + int8(delta)), any branch
	opPending              // max
	opReset                //
	opSetMeta              // key, size (255: delete)
	opReopen               //
	opCrash                // mode, seed
	opRead                 // which
	opSync                 //
	opFlush                //
	opFailWrite            // skip, partial: the write after skip others fails with ENOSPC
	opCount
)

type opsModel struct {
	t    *testing.T
	opts seglog.Options
	fs   *crashfs.FS
	l    *seglog.Log

	nextID    uint64
	attempted map[uint64]fuzzRecord // by id, as appended
	acked     map[uint64]uint64     // offset -> id, for appends that returned nil
	next      uint64                // the log's next offset
	synced    uint64                // offsets below it are promised durable
	state     opsState

	fault  writeFault
	failed bool // the hook fired during the current operation
}

// writeFault is the write-failure hook: once armed, after skip more writes
// it fails one with ENOSPC, partially if partial >= 0, and records that it
// fired. The log's background writer calls it, hence the mutex.
type writeFault struct {
	mu      sync.Mutex
	armed   bool
	skip    int
	partial int
	fired   bool
}

func (f *writeFault) arm(skip, partial int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed, f.skip, f.partial = true, skip, partial
}

func (f *writeFault) disarm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = false
}

// takeFired reports whether the hook fired since the last call.
func (f *writeFault) takeFired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fired := f.fired
	f.fired = false
	return fired
}

func (f *writeFault) hook(op crashfs.Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op.Kind != crashfs.OpWrite || !f.armed {
		return nil
	}
	if f.skip > 0 {
		f.skip--
		return nil
	}
	f.armed, f.fired = false, true
	if f.partial >= 0 {
		return crashfs.PartialWrite{N: f.partial % max(op.Len, 1), Err: syscall.ENOSPC}
	}
	return syscall.ENOSPC
}

type opsState struct {
	seq, cursor, first uint64
	meta               map[string]string
}

// opsPayload is the data of record id: the id, a checksum and filler.
func opsPayload(id uint64, size int) []byte {
	b := make([]byte, 16+size)
	binary.LittleEndian.PutUint64(b, id)
	for i := 16; i < len(b); i++ {
		b[i] = byte(id) + byte(i)
	}
	binary.LittleEndian.PutUint64(b[8:], xxhash.Sum64(b[16:])^id)
	return b
}

func (m *opsModel) fatalf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("%s (sync %v, codec %v)", fmt.Sprintf(format, args...), m.opts.Sync, m.opts.Codec)
}

func (m *opsModel) setFS(fsys *crashfs.FS) {
	m.fs = fsys
	m.fault.disarm()
	fsys.SetHook(m.fault.hook)
}

func (m *opsModel) open() {
	o := m.opts
	o.FS = m.fs
	l, err := seglog.Open(logDir, &o)
	if err != nil {
		m.fatalf("Open: %v", err)
	}
	m.l = l
}

// opErr checks the error of an operation: only an injected write failure
// may cause one, and it must say so.
func (m *opsModel) opErr(what string, err error) bool {
	m.t.Helper()
	if err == nil {
		return false
	}
	if m.fault.takeFired() {
		m.failed = true
	}
	if !m.failed {
		m.fatalf("%s failed with no injected error: %v", what, err)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		m.fatalf("%s failed on a full disk with an error that does not match ENOSPC: %v", what, err)
	}
	return true
}

func (m *opsModel) run(fz *fuzzBytes) {
	defer func() {
		if m.l != nil {
			m.l.Close()
		}
	}()
	m.setFS(crashfs.New())
	m.open()
	m.check("open")
	for step := 0; fz.len() > 0; step++ {
		op := int(fz.byte()) % opCount
		m.fault.takeFired()
		m.failed = false
		m.do(op, fz)
		m.check(fmt.Sprintf("step %d (op %d)", step, op))
	}
	m.fault.disarm()
	next := m.l.NextOffset()
	if err := m.l.Close(); err != nil {
		m.fatalf("Close: %v", err)
	}
	m.l = nil
	m.synced = max(m.synced, next)
	m.setFS(m.fs.Crash(nil, crashfs.CrashLoseUnsynced))
	m.recover("final crash")
}

func (m *opsModel) appendOne(size int) {
	m.nextID++
	data := opsPayload(m.nextID, size)
	m.attempted[m.nextID] = fuzzRecord{data: data}
	defer m.adoptFullDiskRelease(m.allAcked(), m.next)
	off, err := m.l.Append(data)
	if m.opErr("Append", err) {
		return
	}
	if off != m.next {
		m.fatalf("Append got offset %d, want %d", off, m.next)
	}
	m.acked[off] = m.nextID
	m.next++
	if m.opts.Sync == seglog.SyncAlways {
		m.synced = m.next
	}
}

func (m *opsModel) appendRecords(n, size int) {
	recs := make([]seglog.Record, n)
	ids := make([]uint64, n)
	for i := range recs {
		m.nextID++
		ids[i] = m.nextID
		typ := ""
		if i%2 == 1 {
			typ = "t"
		}
		data := opsPayload(m.nextID, size+i)
		m.attempted[m.nextID] = fuzzRecord{typ, data}
		recs[i] = seglog.Record{Type: typ, Data: data}
	}
	defer m.adoptFullDiskRelease(m.allAcked(), m.next)
	first, err := m.l.AppendRecords(recs...)
	if m.opErr("AppendRecords", err) {
		return
	}
	if first != m.next {
		m.fatalf("AppendRecords got offset %d, want %d", first, m.next)
	}
	for i, id := range ids {
		m.acked[first+uint64(i)] = id
	}
	m.next += uint64(n)
	if m.opts.Sync == seglog.SyncAlways {
		m.synced = m.next
	}
}

// allAcked reports whether every record is acknowledged under SyncAlways:
// then an append that finds the disk full makes the log give back the
// space it holds (see adoptFullDiskRelease).
func (m *opsModel) allAcked() bool {
	return m.opts.Sync == seglog.SyncAlways && m.state.cursor == m.next
}

// adoptFullDiskRelease follows the one change an append makes to the
// delivery state: when every record was acknowledged and an injected
// failure made the disk look full, the log releases the kept window
// (first moves to the cursor, the next offset before the append) to give
// its space back, and tries the append once more.
func (m *opsModel) adoptFullDiskRelease(allAcked bool, nextBefore uint64) {
	fired := m.fault.takeFired() || m.failed
	if !allAcked || !fired {
		return
	}
	if st := m.l.State(); st.First == nextBefore && st.Cursor == nextBefore {
		m.state.first = nextBefore
	}
}

// checkRecord checks that rec is the record acknowledged at its offset.
func (m *opsModel) checkRecord(rec seglog.Record) {
	m.t.Helper()
	if len(rec.Data) < 16 {
		m.fatalf("offset %d: %d bytes that no append wrote", rec.Offset, len(rec.Data))
	}
	id := binary.LittleEndian.Uint64(rec.Data)
	want, ok := m.attempted[id]
	if !ok || rec.Type != want.typ || !bytes.Equal(rec.Data, want.data) {
		m.fatalf("offset %d holds a record (id %d, type %q, %d bytes) that was never appended", rec.Offset, id, rec.Type, len(rec.Data))
	}
	if a, ok := m.acked[rec.Offset]; !ok || a != id {
		m.fatalf("offset %d holds record id %d, but its append returned offset %d for id %d (ok %v)", rec.Offset, id, rec.Offset, a, ok)
	}
}

func (m *opsModel) do(op int, fz *fuzzBytes) {
	switch op {
	case opAppend:
		m.appendOne(int(fz.byte()) * 8)
	case opAppendRecords:
		m.appendRecords(1+int(fz.byte()%4), int(fz.byte())*4)
	case opAck, opPending:
		b, err := m.l.Pending(1 + int(fz.byte()%16))
		if m.opErr("Pending", err) {
			return
		}
		if b.Sequence != m.state.seq {
			m.fatalf("Pending labelled %d, want sequence %d", b.Sequence, m.state.seq)
		}
		for i, rec := range b.Records {
			if rec.Offset != m.state.cursor+uint64(i) {
				m.fatalf("Pending record %d at offset %d, want %d", i, rec.Offset, m.state.cursor+uint64(i))
			}
			m.checkRecord(rec)
		}
		if want := min(m.next-m.state.cursor, uint64(len(b.Records))); uint64(len(b.Records)) != want {
			m.fatalf("Pending returned %d records, want %d", len(b.Records), want)
		}
		if op == opAck {
			m.ack(b.Sequence + uint64(len(b.Records)))
		}
	case opAckN:
		n := int64(m.state.seq) + int64(int8(fz.byte()))
		m.ack(uint64(max(n, 0)))
	case opReset:
		err := m.l.Reset()
		if m.opErr("Reset", err) {
			return
		}
		m.state.first, m.state.cursor = m.next, m.next
		m.synced = m.next
	case opSetMeta:
		key := fmt.Sprintf("key%d", fz.byte()%3)
		size := fz.byte()
		var v []byte
		if size != 255 {
			v = bytes.Repeat([]byte{size}, int(size)*4)
		}
		err := m.l.SetMeta(key, v)
		if m.opErr("SetMeta", err) {
			return
		}
		meta := maps.Clone(m.state.meta)
		if meta == nil {
			meta = map[string]string{}
		}
		if v == nil {
			delete(meta, key)
		} else {
			meta[key] = string(v)
		}
		m.state.meta = meta
	case opReopen:
		next := m.l.NextOffset()
		err := m.l.Close()
		m.l = nil
		if !m.opErr("Close", err) {
			m.synced = max(m.synced, next)
		}
		m.fault.disarm()
		m.recover("reopen")
	case opCrash:
		mode := crashfs.CrashMode(fz.byte() % 4)
		rng := rand.New(rand.NewPCG(uint64(fz.byte()), 0))
		survivor := m.fs.Crash(rng, mode)
		m.fault.disarm()
		m.l.Close()
		m.l = nil
		m.setFS(survivor)
		m.recover(fmt.Sprintf("crash (%v)", mode))
	case opRead:
		span := m.next - m.state.first
		off := m.state.first + uint64(fz.byte())%(span+2)
		if fz.len()%7 == 0 && m.state.first > 0 {
			off = m.state.first - 1
		}
		rec, err := m.l.Read(off)
		if off < m.state.first || off >= m.next {
			if !errors.Is(err, seglog.ErrOutOfRange) {
				m.fatalf("Read(%d) outside [%d, %d): %v, want ErrOutOfRange", off, m.state.first, m.next, err)
			}
			return
		}
		if m.opErr("Read", err) {
			return
		}
		m.checkRecord(rec)
	case opSync:
		next := m.l.NextOffset()
		if !m.opErr("Sync", m.l.Sync()) {
			m.synced = max(m.synced, next)
		}
	case opFlush:
		m.opErr("Flush", m.l.Flush())
	case opFailWrite:
		skip, partial := int(fz.byte()%4), -1
		if p := fz.byte(); p < 128 {
			partial = int(p)
		}
		m.fault.arm(skip, partial)
	}
}

func (m *opsModel) ack(n uint64) {
	old := m.state
	res, err := m.l.Ack(n)
	if m.opErr("Ack", err) {
		return
	}
	st := res.State
	switch {
	case st.Sequence != n:
		m.fatalf("Ack(%d) left sequence %d", n, st.Sequence)
	case st.First < old.first:
		m.fatalf("Ack(%d) moved first back from %d to %d", n, old.first, st.First)
	case st.First > st.Cursor || st.Cursor > m.next:
		m.fatalf("Ack(%d) left first %d cursor %d next %d", n, st.First, st.Cursor, m.next)
	case res.Released != st.First-old.first:
		m.fatalf("Ack(%d) released %d, first moved %d", n, res.Released, st.First-old.first)
	}
	m.state.seq, m.state.cursor, m.state.first = st.Sequence, st.Cursor, st.First
	// The log makes what it acknowledges durable before saving the state.
	m.synced = max(m.synced, st.Cursor)
}

// check compares the open log with the model.
func (m *opsModel) check(when string) {
	m.t.Helper()
	st := m.l.State()
	if st.Sequence != m.state.seq || st.Cursor != m.state.cursor || st.First != m.state.first || st.Next != m.next {
		m.fatalf("%s: state seq %d cursor %d first %d next %d; model seq %d cursor %d first %d next %d",
			when, st.Sequence, st.Cursor, st.First, st.Next, m.state.seq, m.state.cursor, m.state.first, m.next)
	}
	keys := m.l.MetaKeys()
	if want := slices.Sorted(maps.Keys(m.state.meta)); !slices.Equal(keys, want) {
		m.fatalf("%s: meta keys %q, want %q", when, keys, want)
	}
	for _, k := range keys {
		if v, _ := m.l.Meta(k); string(v) != m.state.meta[k] {
			m.fatalf("%s: meta %q has %d bytes, want %d", when, k, len(v), len(m.state.meta[k]))
		}
	}
}

// recover opens the log on m.fs after a crash or a reopen and checks it:
// the state of the last state call that returned, every promised record,
// nothing else, and the records after the durable ones cut off cleanly.
func (m *opsModel) recover(when string) {
	m.t.Helper()
	m.open()
	next := m.l.NextOffset()
	if next < m.synced || next > m.next {
		m.fatalf("%s: recovered log ends at %d; durable up to %d, appended up to %d", when, next, m.synced, m.next)
	}
	// Records past the recovered end were never durable: forget them.
	for off := next; off < m.next; off++ {
		delete(m.acked, off)
	}
	m.next = next
	m.synced = next
	m.check(when)
	want := m.state.first
	for rec, err := range m.l.Records(m.state.first) {
		if err != nil {
			m.fatalf("%s: scan: %v", when, err)
		}
		if rec.Offset != want {
			m.fatalf("%s: scan returned offset %d, want %d", when, rec.Offset, want)
		}
		m.checkRecord(rec)
		want++
	}
	if want != next {
		m.fatalf("%s: scan ended at %d, the log at %d", when, want, next)
	}
}

func opsSeeds(t testing.TB) [][]any {
	var seeds [][]any
	for cfg := range byte(6) {
		rng := rand.New(rand.NewPCG(uint64(cfg), 5))
		in := []byte{cfg}
		for range 60 {
			op := byte(rng.IntN(opCount))
			if rng.IntN(3) == 0 {
				op = opAppend
			}
			in = append(in, op, byte(rng.IntN(256)), byte(rng.IntN(256)))
		}
		seeds = append(seeds, []any{in})
	}
	return seeds
}
