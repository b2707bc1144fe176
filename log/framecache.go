package log

import (
	"slices"
	"sync/atomic"
)

// frameCache keeps the last few frames that Read decoded, with the start of
// each record, so that reads of neighbouring offsets (the common pattern:
// a reader walking the log by offset) cost one copy instead of one read,
// one checksum and one decompression each. Frames never change once
// written, and the offsets of a frame identify it.
type frameCache struct {
	frames [frameCacheSize]atomic.Pointer[cachedFrame]
	hand   atomic.Uint32
}

const frameCacheSize = 4

type cachedFrame struct {
	base uint64
	recs frameRecords // the records, aliasing the decoded body
}

func (c *frameCache) get(offset uint64) *cachedFrame {
	for i := range c.frames {
		if f := c.frames[i].Load(); f != nil && offset >= f.base && offset < f.base+uint64(len(f.recs.recs)) {
			return f
		}
	}
	return nil
}

func (c *frameCache) put(f *cachedFrame) {
	c.frames[c.hand.Add(1)%frameCacheSize].Store(f)
}

// newCachedFrame walks a decoded body once, recording where each record is.
func newCachedFrame(base uint64, count uint32, raw []byte) (*cachedFrame, error) {
	f := &cachedFrame{base: base}
	if err := f.recs.decode(raw, count); err != nil {
		return nil, err
	}
	return f, nil
}

// record returns a copy of the record at offset, which the frame holds.
func (f *cachedFrame) record(offset uint64) Record {
	r := f.recs.recs[offset-f.base]
	return Record{Offset: offset, Type: r.typ, Data: slices.Clone(r.data)}
}
