package log

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/vfs"
	"github.com/seglog/seglog/segment"
)

// view is what a reader holds of one segment while it reads: the file,
// the index entries and the readable end. It must be released.
type view struct {
	s       *segFile
	f       vfs.File
	entries []index.Entry
	end     int64  // bytes of the file that hold complete frames
	bound   uint64 // offsets below it may be returned
	next    *segFile
	// endOff is, for the last segment, the offset after the last frame in
	// entries: it bounds damage to that frame.
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
	if l.opts.Sync == SyncAlways && !l.opts.ReadOnly {
		v.bound = l.mu.synced
	}
	if i+1 < len(segs) {
		v.next = segs[i+1]
		l.mu.Unlock()
		f, entries, err := l.acquireSealed(s)
		if err != nil {
			return view{}, err
		}
		v.f, v.entries, v.end = f, entries, s.size
		return v, nil
	}
	s.mu.Lock()
	s.refs++
	v.f = s.f
	s.mu.Unlock()
	v.entries = s.entries
	if l.mu.w != nil {
		v.end, v.endOff = l.mu.w.size, l.mu.written
	} else {
		v.end, v.endOff = l.roEnd, l.mu.next
	}
	l.mu.Unlock()
	return v, nil
}

// readableLocked makes offset readable if it has been appended: it
// writes out buffered frames, waits for a group commit in flight, or, for
// a read-only log, picks up the writer's new appends.
func (l *Log) readableLocked(offset uint64) error {
	switch {
	case l.opts.ReadOnly:
		if offset >= l.mu.next {
			return l.refreshLocked()
		}
	case offset >= l.mu.next || l.mu.err != nil:
	case l.opts.Sync == SyncAlways:
		if offset >= l.mu.synced {
			// A write that fails (a full disk) is the error of the
			// appends in it, which their callers get: a reader reads
			// what is durable, up to l.mu.synced. A failed fsync is
			// everyone's.
			if err := l.syncLocked(offset + 1); err != nil && (l.mu.err != nil || errors.Is(err, ErrClosed)) {
				return err
			}
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
// Reads of neighbouring offsets share the work of decoding their frame.
func (l *Log) Read(offset uint64) (Record, error) {
	// A frame in the cache was read from the file, so it was readable;
	// only a release since, or Close, can have put offset out of reach.
	if !l.readClosed.Load() && offset >= l.readFirst.Load() {
		if f := l.frames.get(offset); f != nil {
			return f.record(offset), nil
		}
	}
	v, err := l.acquire(offset)
	if err != nil {
		return Record{}, err
	}
	defer v.s.release()
	if offset >= v.bound {
		return Record{}, fmt.Errorf("%w: offset %d not yet durable", ErrOutOfRange, offset)
	}
	i := index.Search(v.entries, offset)
	if i < 0 {
		return Record{}, &CorruptError{File: v.s.path, Offset: 0, Reason: fmt.Sprintf("no frame holds offset %d", offset)}
	}
	f, err := l.loadFrame(&v, v.entries[i], offset)
	if err != nil {
		return Record{}, err
	}
	l.frames.put(f)
	return f.record(offset), nil
}

// loadFrame reads, checks and decodes the frame an index entry points at,
// which must hold offset.
func (l *Log) loadFrame(v *view, e index.Entry, offset uint64) (*cachedFrame, error) {
	path := v.s.path
	b := make([]byte, e.Len)
	if _, err := v.f.ReadAt(b, int64(e.Pos)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &CorruptError{File: path, Offset: int64(e.Pos), Reason: "frame extends past the end of the file"}
		}
		return nil, fmt.Errorf("seglog: read %s at %d: %w", path, e.Pos, err)
	}
	h, err := segment.ParseFrameHeader(path, int64(e.Pos), b)
	if err != nil {
		return nil, err
	}
	if h.Base != e.Offset || h.Size() != int64(e.Len) {
		return nil, &CorruptError{File: path, Offset: int64(e.Pos), Reason: fmt.Sprintf("frame does not match its index entry (offset %d)", e.Offset)}
	}
	if err := segment.VerifyFrame(path, int64(e.Pos), &h, b, b[segment.FrameHeaderSize:]); err != nil {
		return nil, err
	}
	if offset >= h.Next() {
		return nil, &CorruptError{File: path, Offset: e.End(), Reason: fmt.Sprintf("offset %d lies in a damaged region after this position", offset)}
	}
	raw, err := segment.Decompress(h.Codec, nil, b[segment.FrameHeaderSize:], h.RawLen)
	if err != nil {
		return nil, &CorruptError{File: path, Offset: int64(e.Pos), Reason: err.Error()}
	}
	f, err := newCachedFrame(h.Base, h.Count, raw)
	if err != nil {
		return nil, &CorruptError{File: path, Offset: int64(e.Pos), Reason: fmt.Sprintf("frame at offset %d: %v", h.Base, err)}
	}
	return f, nil
}

// Records iterates over the records from offset from (or the first
// retained one, if later) to the end of the log as it is when the
// iteration reaches it. A record's Data is valid only until the iteration
// moves on: copy it to keep it. In place of records that cannot be read
// (damaged frames, a segment missing or cut short) the iteration yields an
// error matching ErrCorrupt: a *GapError with the exact run of offsets
// when the index and the neighbouring frames or segments prove it, else
// the *CorruptError alone. If the caller goes on, it resumes after the
// damage.
func (l *Log) Records(from uint64) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		l.walk(from, func(rec Record, d *damage, err error) bool {
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

// walk reads the log from offset from, as Records describes.
func (l *Log) walk(from uint64, fn walkFunc) {
	var sc segment.Scanner
	var body frameRecords
	off := from
	for {
		if first := l.FirstOffset(); off < first {
			off = first
		}
		v, err := l.acquire(off)
		if errors.Is(err, ErrOutOfRange) {
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
	if len(v.entries) == 0 {
		return off, false
	}
	i := index.Search(v.entries, off)
	if i < 0 {
		// No valid frame holds the first offsets of the segment: its
		// index was rebuilt past damaged frames at its start.
		i = 0
		if e := v.entries[0]; off < e.Offset {
			err := &CorruptError{File: v.s.path, Offset: segment.HeaderSize, Reason: fmt.Sprintf("no valid frame holds offsets [%d, %d)", off, e.Offset)}
			if !fn(Record{}, &damage{from: off, to: e.Offset, err: err}, nil) {
				return off, false
			}
			off = e.Offset
		}
	}
	sc.Reset(v.f, v.s.path, int64(v.entries[i].Pos), v.end, v.entries[i].Offset)
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
		for j := i; j < len(v.entries); j++ {
			if int64(v.entries[j].Pos) > sc.Pos() {
				to, ok = v.entries[j].Offset, true
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
