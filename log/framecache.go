package log

import (
	"sync"
	"sync/atomic"
)

// frameCache keeps the last few frames that Read decoded while walking the
// log, with the start of each record, so that reads of neighbouring
// offsets (the common pattern: a reader walking the log by offset) cost one
// copy instead of one read, one checksum and one decompression each.
// Frames never change once written, and the offsets of a frame identify
// it. Lookups take no lock; puts, once per frame, do.
type frameCache struct {
	frames [frameCacheSize]atomic.Pointer[cachedFrame]
	mu     sync.Mutex // serialises puts
	hand   int
}

const (
	frameCacheSize = 4
	// frameCacheBytes bounds the memory the cached frames hold. A frame
	// larger than that (a large AppendRecords batch) is kept alone.
	frameCacheBytes = 2 << 20
)

type cachedFrame struct {
	base  uint64
	bytes int          // memory the frame holds
	recs  frameRecords // the records, aliasing the decoded body
}

func (c *frameCache) get(offset uint64) *cachedFrame {
	for i := range c.frames {
		if f := c.frames[i].Load(); f != nil && offset >= f.base && offset < f.base+uint64(len(f.recs.recs)) {
			return f
		}
	}
	return nil
}

// put caches f, which holds size bytes of buffers, dropping the oldest
// frames beyond the cache's bound.
func (c *frameCache) put(f *cachedFrame, size int) {
	f.bytes = size + len(f.recs.recs)*recordRefSize
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hand = (c.hand + 1) % frameCacheSize
	c.frames[c.hand].Store(f)
	total := f.bytes
	for i := 1; i < frameCacheSize; i++ {
		j := (c.hand - i + frameCacheSize) % frameCacheSize // newest first
		g := c.frames[j].Load()
		if g == nil {
			continue
		}
		if total+g.bytes > frameCacheBytes {
			c.frames[j].Store(nil)
			continue
		}
		total += g.bytes
	}
}

// recordRefSize is the memory of one entry of frameRecords.recs.
const recordRefSize = 40

// newCachedFrame walks a decoded body once, recording where each record is.
func newCachedFrame(base uint64, count uint32, raw []byte) (*cachedFrame, error) {
	f := &cachedFrame{base: base}
	if err := f.recs.decode(raw, count); err != nil {
		return nil, err
	}
	return f, nil
}

// record returns the record at offset, which the frame holds: its data
// copied (clone), or appended to dst.
func (f *cachedFrame) record(dst []byte, offset uint64, clone bool) Record {
	r := f.recs.recs[offset-f.base]
	return Record{Offset: offset, Type: r.typ, Data: copyData(dst, r.data, clone)}
}
