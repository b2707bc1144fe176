package log

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/seglog/seglog/segment"
)

// readAhead is how much a reader walking the log reads at once: the frame
// that holds the offset and the frames that follow it in the file, up to
// this many bytes. One read and one pass over them replace a read per
// frame, which for small records is most of what a walk costs (a 16 KiB
// frame holds about 120 records of 128 bytes).
const readAhead = 128 << 10

// chunkPool holds read-ahead buffers: reused, they cost no allocation,
// zeroing or page faults per run. A buffer goes back once no cached run
// and no read copying from it holds it (cachedFrame.release).
var chunkPool = sync.Pool{New: func() any {
	b := make([]byte, readAhead)
	return &b
}}

// loadRun reads, checks and decodes the frame at index position i, which
// holds offset, and the frames after it up to readAhead bytes, into one
// cached run of records, and returns it with the memory it holds. Only
// the first frame's damage is an error: the run stops before a later
// frame that does not check (a read of its offsets meets the damage), or
// that holds offsets not yet readable.
func (l *Log) loadRun(v *view, i int, offset uint64) (*cachedFrame, int, error) {
	first := v.idx.At(i)
	end, n := first.End(), 1
	for j := i + 1; j < v.idx.Len(); j++ {
		e := v.idx.At(j)
		if e.Pos != uint32(end) || e.End() > v.end || e.End()-int64(first.Pos) > readAhead {
			break
		}
		end = e.End()
		n++
	}
	if n == 1 {
		var fb frameBuf
		f, err := l.loadFrame(v, first, offset, &fb)
		if err != nil {
			return nil, 0, err
		}
		return f, len(fb.frame) + len(fb.raw), nil
	}
	pooled := chunkPool.Get().(*[]byte)
	chunk := (*pooled)[:end-int64(first.Pos)]
	if _, err := v.f.ReadAt(chunk, int64(first.Pos)); err != nil {
		chunkPool.Put(pooled)
		// Read the first frame alone: it says precisely what is wrong.
		var fb frameBuf
		f, ferr := l.loadFrame(v, first, offset, &fb)
		if ferr != nil {
			return nil, 0, ferr
		}
		return f, len(fb.frame) + len(fb.raw), nil
	}

	// Check and decode each frame; stored bodies stay in chunk, and
	// compressed ones are decoded into dec.
	type part struct {
		h    segment.FrameHeader
		body []byte // decoded
		at   int    // position of the body in chunk; -1 when decoded
	}
	parts := make([]part, 0, n)
	records, compressed := 0, false
	var fb frameBuf
	for j := range n {
		e := v.idx.At(i + j)
		p := int(e.Pos - first.Pos)
		fb.raw = nil // each decoded body keeps its own buffer
		at := first.Offset
		if j > 0 {
			at = e.Offset
		}
		h, raw, err := l.decodeFrame(v, e, at, chunk[p:p+int(e.Len)], &fb)
		if err != nil || h.Next() > v.bound {
			if j == 0 {
				chunkPool.Put(pooled)
				if err == nil {
					err = fmt.Errorf("%w: offset %d not yet durable", ErrOutOfRange, offset)
				}
				return nil, 0, err
			}
			break
		}
		pt := part{h: h, body: raw, at: p + segment.FrameHeaderSize}
		if h.Codec != segment.CodecNone {
			pt.at, compressed = -1, true
		}
		parts = append(parts, pt)
		records += int(h.Count)
	}
	// Frames decoded into buffers of their own need chunk no longer.
	if compressed {
		defer chunkPool.Put(pooled)
		pooled = nil
	}
	if offset >= parts[0].h.Next() {
		return nil, 0, &CorruptError{File: v.s.path, Offset: first.End(), Reason: fmt.Sprintf("offset %d lies in a damaged region after this position", offset)}
	}

	// One run: raw is chunk when every body is stored as is, else the
	// bodies decoded end to end.
	raw := chunk
	if compressed {
		size := 0
		for _, pt := range parts {
			size += len(pt.body)
		}
		raw = make([]byte, 0, size)
		for k := range parts {
			parts[k].at = len(raw)
			raw = append(raw, parts[k].body...)
		}
	}
	f := &cachedFrame{base: first.Offset, raw: raw, span: make([]uint32, 0, 2*records), pooled: pooled}
	f.refs.Store(1) // the cache's
	for k, pt := range parts {
		if err := f.addRecords(raw[pt.at:pt.at+len(pt.body)], pt.at, pt.h.Count, records); err != nil {
			e := v.idx.At(i + k)
			if k == 0 {
				if f.pooled != nil {
					chunkPool.Put(f.pooled)
				}
				return nil, 0, &CorruptError{File: v.s.path, Offset: int64(e.Pos), Reason: fmt.Sprintf("frame at offset %d: %v", pt.h.Base, err)}
			}
			// Keep the frames before it: a read of its offsets meets
			// the damage from the file.
			f.span = f.span[:2*(pt.h.Base-first.Offset)]
			if f.types != nil {
				f.types = f.types[:pt.h.Base-first.Offset]
			}
			break
		}
	}
	return f, cap(raw), nil
}

// addRecords records where each of the count records of body, which lies
// at position at in f.raw, is, checking that body holds exactly count
// well-formed records (as segment.Body does, in one pass over local
// variables: the walk of a run is most of what it costs beside the read
// and the checksum). records sizes f.types if a record has a type.
func (f *cachedFrame) addRecords(body []byte, at int, count uint32, records int) error {
	pos := 0
	for i := uint32(0); i < count; i++ {
		tl, n := binary.Uvarint(body[pos:])
		if n <= 0 || tl > segment.MaxTypeLen || uint64(len(body)-pos-n) < tl {
			return fmt.Errorf("record %d of %d: bad record type length", i, count)
		}
		typ := body[pos+n : pos+n+int(tl)]
		pos += n + int(tl)
		dl, n := binary.Uvarint(body[pos:])
		if n <= 0 || dl > uint64(len(body)-pos-n) {
			return fmt.Errorf("record %d of %d: bad record data length", i, count)
		}
		start := pos + n
		pos = start + int(dl)
		f.span = append(f.span, uint32(at+start), uint32(at+pos))
		if len(typ) > 0 {
			if f.types == nil {
				f.types = make([]string, len(f.span)/2-1, records)
			}
			j := len(f.span)/2 - 1
			f.types = f.types[:j+1]
			if j > 0 && f.types[j-1] == string(typ) {
				f.types[j] = f.types[j-1] // shared, as segment.Body shares it
			} else {
				f.types[j] = string(typ)
			}
		} else if f.types != nil {
			f.types = append(f.types, "")
		}
	}
	if pos != len(body) {
		return fmt.Errorf("%d bytes after the last record", len(body)-pos)
	}
	return nil
}
