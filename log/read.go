package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// view is what a reader holds of one segment while it reads: the file,
// the index entries and the readable end. It must be released.
type view struct {
	s     *segFile
	f     vfs.File
	idx   frameIndex
	end   int64  // bytes of the file that hold complete frames
	bound uint64 // offsets below it may be returned
	next  *segFile
	// endOff is, for the last segment, the offset after the last frame in
	// idx: it bounds damage to that frame.
	endOff uint64
}

// acquire finds the segment holding offset and pins it. It makes buffered
// appends readable first, and for a read-only log looks for new appends.
func (l *Log) acquire(offset uint64) (view, error) {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return view{}, ErrClosed
	}
	if err := l.readableLocked(offset); err != nil {
		l.mu.Unlock()
		return view{}, err
	}
	if l.mu.closed { // while readableLocked waited for the writer
		l.mu.Unlock()
		return view{}, ErrClosed
	}
	if offset < l.mu.state.First || offset >= l.mu.next || len(l.mu.segs) == 0 {
		first, next := l.mu.state.First, l.mu.next
		l.mu.Unlock()
		return view{}, fmt.Errorf("%w: offset %d not in [%d, %d)", ErrOutOfRange, offset, first, next)
	}
	segs := l.mu.segs
	i := l.findSegmentLocked(offset)
	s := segs[i]
	v := view{s: s, bound: l.mu.next}
	if l.opts.Sync == SyncAlways && l.follow == nil {
		v.bound = l.mu.synced
	}
	if i+1 < len(segs) {
		v.next = segs[i+1]
		l.mu.Unlock()
		f, idx, err := l.acquireSealed(s)
		if err != nil {
			if l.follow != nil && errors.Is(err, fs.ErrNotExist) {
				err = l.segmentGone(s, offset, err)
			}
			return view{}, err
		}
		v.f, v.idx, v.end = f, idx, s.size
		return v, nil
	}
	s.mu.Lock()
	s.refs++
	v.f = s.f
	s.mu.Unlock()
	v.idx = frameIndex{entries: s.entries}
	if l.mu.w != nil {
		v.end, v.endOff = l.mu.w.size, l.mu.written
	} else {
		v.end, v.endOff = l.mu.roEnd, l.mu.next
	}
	l.mu.Unlock()
	return v, nil
}

// segmentGone tells why the file of segment s, which holds offset, is not
// there for a read-only log: its writer released it since the reader
// last looked (ErrOutOfRange), or it is missing although the writer's
// checkpoint, read after the file was found gone, keeps offset (damage).
// The writer deletes only segments that a checkpoint it saved first
// released. l.mu is not held.
func (l *Log) segmentGone(s *segFile, offset uint64, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if rerr := l.follow.refreshLocked(); rerr != nil {
		return errors.Join(err, rerr)
	}
	if first := l.mu.state.First; offset < first {
		return fmt.Errorf("%w: offset %d was released (the log keeps records from %d)", ErrOutOfRange, offset, first)
	}
	return &CorruptError{File: s.path, Offset: 0, Reason: "segment file missing"}
}

// readableLocked makes offset readable if it has been appended: it
// writes out buffered frames (SyncInterval, SyncNever: a write, no
// fsync), waits for the group commit in flight (SyncAlways), or, for a
// read-only log, picks up the writer's new appends. A read never syncs.
func (l *Log) readableLocked(offset uint64) error {
	switch {
	case l.follow != nil:
		if offset >= l.mu.next {
			return l.follow.refreshLocked()
		}
	case offset >= l.mu.next || l.mu.err != nil:
	case l.opts.Sync == SyncAlways:
		// Every record appended and not yet synced has its appender
		// waiting in commitLocked, which writes and syncs it (or
		// discards it, taking next back below it, if the write fails):
		// wait for that group commit. A write that fails (a full disk)
		// is the error of the appends in it, which their callers get: a
		// reader reads what is durable, up to l.mu.synced. A failed
		// fsync is everyone's.
		for offset >= l.mu.synced && offset < l.mu.next && l.mu.err == nil && !l.mu.closed {
			l.cond.Wait()
		}
		if l.mu.err != nil {
			return l.mu.err
		}
	default:
		for offset >= l.mu.written && offset < l.mu.next {
			if err := l.flushLocked(false); err != nil {
				return err
			}
		}
	}
	return nil
}

// Read returns the record at offset. Data is the caller's to keep.
// A read costs one index lookup and one read of the frame that holds the
// record, whose checksum it verifies; reads of neighbouring offsets share
// the work of decoding their frame.
func (l *Log) Read(offset uint64) (Record, error) {
	return l.read(nil, offset, true)
}

// ReadAppend is Read for callers that reuse buffers: it appends the
// record's data to dst and returns the record with Data set to the
// extended slice, as append does. With room in dst, it allocates nothing
// (for records of few distinct type tags).
func (l *Log) ReadAppend(dst []byte, offset uint64) (Record, error) {
	return l.read(dst, offset, false)
}

func (l *Log) read(dst []byte, offset uint64, clone bool) (Record, error) {
	// A frame in the cache was read from the file, so it was readable;
	// only a release since, or Close, can have put offset out of reach.
	if !l.readClosed.Load() && offset >= l.readFirst.Load() {
		if f := l.frames.get(offset); f != nil && f.acquire() {
			r := f.record(dst, offset, clone)
			f.release()
			return r, nil
		}
	}
	return l.readFile(dst, offset, clone)
}

// readFile is read for a record not in the frame cache.
func (l *Log) readFile(dst []byte, offset uint64, clone bool) (Record, error) {
	v, err := l.acquire(offset)
	if err != nil {
		return Record{}, err
	}
	defer v.s.release()
	if offset >= v.bound {
		return Record{}, fmt.Errorf("%w: offset %d not yet durable", ErrOutOfRange, offset)
	}
	i := v.idx.Search(offset)
	if i < 0 {
		return Record{}, &CorruptError{File: v.s.path, Offset: 0, Reason: fmt.Sprintf("no frame holds offset %d", offset)}
	}
	e := v.idx.At(i)
	if l.walking(offset) {
		// The reader walks the log: keep the frame decoded for the
		// reads of its next records.
		f, size, err := l.loadRun(&v, i, offset)
		if err != nil {
			return Record{}, err
		}
		l.walk.frameNext.Store(f.base + uint64(f.count()))
		f.acquire() // the cache may drop f as soon as it has it
		l.frames.put(f, size)
		r := f.record(dst, offset, clone)
		f.release()
		return r, nil
	}
	// A read at random: decode into a reused buffer and keep nothing.
	rb := readBufs.Get().(*readBuf)
	defer rb.put()
	h, raw, err := l.readFrame(&v, e, offset, &rb.frameBuf)
	if err != nil {
		return Record{}, err
	}
	l.walk.frameNext.Store(h.Next())
	var rec Record
	if err := walkFrame(&rb.body, raw, h.Count, func(i uint32, typ string, data []byte) {
		if o := h.Base + uint64(i); o == offset {
			rec = Record{Offset: o, Type: typ, Data: copyData(dst, data, clone)}
		}
	}); err != nil {
		return Record{}, &CorruptError{File: v.s.path, Offset: int64(e.Pos), Reason: fmt.Sprintf("frame at offset %d: %v", h.Base, err)}
	}
	return rec, nil
}

// readWalk tells a walk through the log from reads at random. Concurrent
// readers may blur it; it only chooses whether a frame is kept decoded.
type readWalk struct {
	next      atomic.Uint64 // 1 + the offset of the last read from a file
	frameNext atomic.Uint64 // the offset after that read's frame
}

// walking reports whether a read of offset, which missed the frame
// cache, follows on from the last read from a file: the next offset, or
// the start of the next frame.
func (l *Log) walking(offset uint64) bool {
	w := offset == l.walk.next.Load() || offset == l.walk.frameNext.Load()
	l.walk.next.Store(offset + 1)
	return w
}

// copyData returns data as Read (clone) or ReadAppend returns it.
func copyData(dst, data []byte, clone bool) []byte {
	if clone {
		b := make([]byte, len(data))
		copy(b, data)
		return b
	}
	return append(dst, data...)
}

// frameBuf holds one frame read from a file: the stored frame, header
// included, and its decompressed body when it is compressed. Its slices
// are reused from read to read when it is.
type frameBuf struct {
	frame []byte
	raw   []byte
}

// readBuf is the scratch of a read at random, reused through readBufs.
type readBuf struct {
	frameBuf
	body segment.Body
}

var readBufs = sync.Pool{New: func() any { return new(readBuf) }}

// maxPooledRead bounds the buffers kept for reuse, so that a read of an
// exceptionally large frame does not pin its memory.
const maxPooledRead = 1 << 20

func (rb *readBuf) put() {
	if cap(rb.frame)+cap(rb.raw) <= maxPooledRead {
		readBufs.Put(rb)
	}
}

// walkFrame walks a decoded body, which must hold exactly count records,
// calling fn for each.
func walkFrame(b *segment.Body, raw []byte, count uint32, fn func(i uint32, typ string, data []byte)) error {
	b.Reset(raw)
	for i := uint32(0); i < count; i++ {
		typ, data, err := b.Next()
		if err != nil {
			return fmt.Errorf("record %d of %d: %w", i, count, err)
		}
		fn(i, typ, data)
	}
	if b.Len() != 0 {
		return fmt.Errorf("%d bytes after the last record", b.Len())
	}
	return nil
}

// loadFrame reads, checks and decodes the frame an index entry points at,
// which must hold offset, into a frame for the cache.
func (l *Log) loadFrame(v *view, e index.Entry, offset uint64, fb *frameBuf) (*cachedFrame, error) {
	h, raw, err := l.readFrame(v, e, offset, fb)
	if err != nil {
		return nil, err
	}
	f, err := newCachedFrame(h.Base, h.Count, raw)
	if err != nil {
		return nil, &CorruptError{File: v.s.path, Offset: int64(e.Pos), Reason: fmt.Sprintf("frame at offset %d: %v", h.Base, err)}
	}
	return f, nil
}

// readFrame reads and checks the frame an index entry points at, which
// must hold offset, into fb, and returns its header and decoded body.
func (l *Log) readFrame(v *view, e index.Entry, offset uint64, fb *frameBuf) (segment.FrameHeader, []byte, error) {
	path := v.s.path
	if cap(fb.frame) < int(e.Len) {
		fb.frame = make([]byte, e.Len)
	}
	b := fb.frame[:e.Len]
	fb.frame = b
	if _, err := v.f.ReadAt(b, int64(e.Pos)); err != nil {
		if errors.Is(err, io.EOF) {
			return segment.FrameHeader{}, nil, &CorruptError{File: path, Offset: int64(e.Pos), Reason: "frame extends past the end of the file"}
		}
		return segment.FrameHeader{}, nil, fmt.Errorf("seglog: read %s at %d: %w", path, e.Pos, err)
	}
	return l.decodeFrame(v, e, offset, b, fb)
}

// decodeFrame checks the frame b, read from where index entry e points,
// which must hold offset, and returns its header and decoded body
// (decompressed into fb.raw, or b's body when it is stored as is).
func (l *Log) decodeFrame(v *view, e index.Entry, offset uint64, b []byte, fb *frameBuf) (segment.FrameHeader, []byte, error) {
	path := v.s.path
	h, err := segment.ParseFrameHeader(path, int64(e.Pos), b, v.s.fileSalt())
	if err != nil {
		return h, nil, err
	}
	if h.Base != e.Offset || h.Size() != int64(e.Len) {
		return h, nil, &CorruptError{File: path, Offset: int64(e.Pos), Reason: fmt.Sprintf("frame does not match its index entry (offset %d)", e.Offset)}
	}
	if err := segment.VerifyFrame(path, int64(e.Pos), &h, b, b[segment.FrameHeaderSize:], v.s.fileSalt()); err != nil {
		return h, nil, err
	}
	if offset >= h.Next() {
		return h, nil, &CorruptError{File: path, Offset: e.End(), Reason: fmt.Sprintf("offset %d lies in a damaged region after this position", offset)}
	}
	d, err := segment.LookupDict(l.dicts, path, int64(e.Pos), &h)
	if err != nil {
		return h, nil, err
	}
	raw, err := segment.DecompressDict(h.Codec, d, fb.raw[:0], b[segment.FrameHeaderSize:], h.RawLen)
	if err != nil {
		return h, nil, &CorruptError{File: path, Offset: int64(e.Pos), Reason: err.Error()}
	}
	if h.Codec != segment.CodecNone {
		fb.raw = raw
	}
	return h, raw, nil
}

// Records iterates over the records from offset from (or the first
// retained one, if later) to the end of the log as it is when the
// iteration reaches it. A record's Data is valid only until the iteration
// moves on: copy it to keep it. In place of records that cannot be read
// (damaged frames, a segment missing or cut short) the iteration yields an
// error matching ErrCorrupt: a *GapError with the exact run of offsets
// when the index and the neighbouring frames or segments prove it, else
// the *CorruptError alone. If the caller goes on, it resumes after the
// damage. Records released while the iteration runs (by Ack, or by the
// writer of a read-only log) are not damage: the iteration skips them
// and goes on from the first retained record.
func (l *Log) Records(from uint64) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		l.scanFrom(from, func(rec Record, d *damage, err error) bool {
			switch {
			case err != nil:
				return yield(Record{}, err)
			case d != nil:
				return yield(Record{}, d.gapError())
			}
			return yield(rec, nil)
		})
	}
}

// GapError is the error Records yields for a run of offsets it cannot
// read; Pending hands the same run out as Gap. It matches ErrCorrupt and
// unwraps to the *CorruptError that locates the damage.
type GapError struct {
	Gap Gap // Label is 0: Records has no labels
	Err error
}

func (e *GapError) Error() string {
	return fmt.Sprintf("offsets [%d, %d) cannot be read: %v", e.Gap.Offset, e.Gap.End(), e.Err)
}

// Unwrap returns the *CorruptError.
func (e *GapError) Unwrap() error { return e.Err }

// damage is a run of offsets [from, to) that cannot be read, and why. Its
// extent is exact: from follows the last good record (or is where the read
// started), and to is proven by a checked index entry, the next good frame
// or the next segment's base.
type damage struct {
	from, to uint64
	err      error
}

func (d *damage) gapError() *GapError {
	return &GapError{Gap: Gap{Offset: d.from, Count: d.to - d.from, Reason: GapDamaged, Detail: d.err.Error()}, Err: d.err}
}

// walkFunc gets, in offset order, each record (Data valid until it
// returns), each run of damage, and each error that is not damage or whose
// extent cannot be proven. It returns false to stop the walk.
type walkFunc func(rec Record, d *damage, err error) bool

// scanFrom reads the log from offset from, as Records describes.
func (l *Log) scanFrom(from uint64, fn walkFunc) {
	var sc segment.Scanner
	var body frameRecords
	off := from
	for {
		if first := l.FirstOffset(); off < first {
			off = first
		}
		v, err := l.acquire(off)
		if errors.Is(err, ErrOutOfRange) {
			if first := l.FirstOffset(); off < first {
				off = first // released while it was read: go on from the first kept record
				continue
			}
			return
		}
		if err != nil {
			next, ok := l.segmentAfter(off)
			if !errors.Is(err, ErrCorrupt) || !ok {
				fn(Record{}, nil, err)
				return
			}
			// The segment holding off cannot be read at all (a damaged
			// header, no valid frame, its file gone): its offsets from
			// off run to the next segment's base.
			if !fn(Record{}, &damage{from: off, to: next, err: err}, nil) {
				return
			}
			off = next
			continue
		}
		next, more := func() (uint64, bool) {
			defer v.s.release() // also when the loop body panics
			return l.scanSegment(&v, &sc, &body, off, fn)
		}()
		if !more || next <= off {
			return
		}
		off = next
	}
}

// segmentAfter returns the base offset of the first segment after the one
// holding offset.
func (l *Log) segmentAfter(offset uint64) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := l.findSegmentLocked(offset) + 1; i < len(l.mu.segs) && l.mu.segs[i].base > offset {
		return l.mu.segs[i].base, true
	}
	if len(l.mu.segs) > 0 && l.mu.segs[0].base > offset {
		return l.mu.segs[0].base, true
	}
	return 0, false
}

// scanSegment walks the records of one pinned segment from off. It
// returns the offset to continue from and whether to go on.
func (l *Log) scanSegment(v *view, sc *segment.Scanner, body *frameRecords, off uint64, fn walkFunc) (uint64, bool) {
	if v.idx.Len() == 0 {
		return off, false
	}
	i := v.idx.Search(off)
	if i < 0 {
		// No valid frame holds the first offsets of the segment: its
		// index was rebuilt past damaged frames at its start.
		i = 0
		if e := v.idx.At(0); off < e.Offset {
			err := &CorruptError{File: v.s.path, Offset: segment.HeaderSize, Reason: fmt.Sprintf("no valid frame holds offsets [%d, %d)", off, e.Offset)}
			if !fn(Record{}, &damage{from: off, to: e.Offset, err: err}, nil) {
				return off, false
			}
			off = e.Offset
		}
	}
	e := v.idx.At(i)
	sc.Reset(v.f, v.s.path, v.s.fileSalt(), int64(e.Pos), v.end, e.Offset)
	sc.SetDicts(l.dicts)
	for sc.Next() {
		h := sc.Header()
		// Only a faulty writer makes a frame whose checksum holds but
		// whose records do not fit its header or its segment: refuse it
		// whole rather than return records that were never appended.
		reason := ""
		if err := body.decode(sc.Body(), h.Count); err != nil {
			reason = err.Error()
		} else if v.next != nil && h.Next() > v.next.base {
			reason = fmt.Sprintf("frame offsets [%d, %d) pass the next segment's base %d", h.Base, h.Next(), v.next.base)
		}
		if reason != "" {
			limit := v.bound
			if v.next != nil {
				limit = min(limit, v.next.base)
			}
			to := min(h.Next(), limit)
			err := &CorruptError{File: v.s.path, Offset: sc.Pos(), Reason: reason}
			if to > off {
				if !fn(Record{}, &damage{from: off, to: to, err: err}, nil) {
					return off, false
				}
			} else if !fn(Record{}, nil, err) {
				return off, false
			}
			off = max(off, to)
			continue
		}
		for i, r := range body.recs {
			o := h.Base + uint64(i)
			if o < off {
				continue
			}
			if o >= v.bound {
				return o, false
			}
			if !fn(Record{Offset: o, Type: r.typ, Data: r.data}, nil, nil) {
				return o, false
			}
			off = o + 1
		}
		off = max(off, h.Next())
	}
	if err := sc.Err(); err != nil {
		if v.next != nil && errors.Is(err, segment.ErrIncomplete) {
			// A sealed segment was synced whole: a frame cut short by
			// its end is damage, not a write in progress.
			err = &CorruptError{File: v.s.path, Offset: sc.Pos(), Reason: "frame cut short by the end of a sealed segment"}
		}
		// The damage runs to the next frame the index knows past it, or
		// to the next segment, or, in the last segment, to the offset
		// after its last frame.
		to, ok := uint64(0), false
		for j := i; j < v.idx.Len(); j++ {
			if e := v.idx.At(j); int64(e.Pos) > sc.Pos() {
				to, ok = e.Offset, true
				break
			}
		}
		switch {
		case ok:
		case v.next != nil:
			to, ok = v.next.base, true
		case errors.Is(err, ErrCorrupt) && v.endOff > off:
			to, ok = v.endOff, true
		}
		if errors.Is(err, ErrCorrupt) && ok && to > off {
			if !fn(Record{}, &damage{from: off, to: to, err: err}, nil) {
				return off, false
			}
			return to, true
		}
		if !fn(Record{}, nil, err) || !ok {
			return off, false
		}
		return to, true
	}
	if v.next != nil {
		if off < v.next.base {
			// The segment ends before the next one starts: the offsets
			// between them, which the next segment's base says were
			// appended, are gone with a segment file or the end of this one.
			err := &CorruptError{File: v.s.path, Offset: sc.End(), Reason: fmt.Sprintf(
				"the segment ends at offset %d but the next one, %s, starts at %d: a segment file deleted (%s would be its name) or this one cut short",
				off, filepath.Base(v.next.path), v.next.base, segment.FileName(off))}
			if !fn(Record{}, &damage{from: off, to: v.next.base, err: err}, nil) {
				return off, false
			}
		}
		return max(off, v.next.base), true
	}
	// The active segment: appends may have gone on, into it or a new one.
	return off, true
}

// frameRecords holds the records of one decoded frame body. It is reused
// from frame to frame, so iterating does not allocate per record.
type frameRecords struct {
	walk segment.Body
	recs []struct {
		typ  string
		data []byte
	}
}

// decode walks a body, which must hold exactly count records.
func (f *frameRecords) decode(raw []byte, count uint32) error {
	f.walk.Reset(raw)
	f.recs = f.recs[:0]
	for i := uint32(0); i < count; i++ {
		typ, data, err := f.walk.Next()
		if err != nil {
			return fmt.Errorf("record %d of %d: %w", i, count, err)
		}
		f.recs = append(f.recs, struct {
			typ  string
			data []byte
		}{typ, data})
	}
	if f.walk.Len() != 0 {
		return fmt.Errorf("%d bytes after the last record", f.walk.Len())
	}
	return nil
}
