package log

import (
	"sync"
	"sync/atomic"

	"github.com/seglog/seglog/segment"
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
	bytes int    // memory the frame holds
	raw   []byte // the decoded body
	// span holds the start and end of record i's data in raw at 2i and
	// 2i+1: no pointers, so that building it costs no write barriers.
	span  []uint32
	types []string // each record's type tag; nil when none has one

	// pooled is the read-ahead buffer raw lies in, returned to chunkPool
	// once refs, the cache's reference and those of the reads copying
	// from it, drops to 0; nil for a frame whose memory is the garbage
	// collector's to free (readahead.go).
	pooled *[]byte
	refs   atomic.Int32
}

// acquire pins f's memory for a copy out of it. It fails for a pooled
// frame already dropped from the cache and released.
func (f *cachedFrame) acquire() bool {
	if f.pooled == nil {
		return true
	}
	for {
		n := f.refs.Load()
		if n <= 0 {
			return false
		}
		if f.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference taken by acquire, or the cache's own.
func (f *cachedFrame) release() {
	if f.pooled != nil && f.refs.Add(-1) == 0 {
		chunkPool.Put(f.pooled)
	}
}

func (f *cachedFrame) count() int { return len(f.span) / 2 }

func (c *frameCache) get(offset uint64) *cachedFrame {
	for i := range c.frames {
		if f := c.frames[i].Load(); f != nil && offset >= f.base && offset < f.base+uint64(f.count()) {
			return f
		}
	}
	return nil
}

// put caches f, which holds size bytes of buffers, dropping the oldest
// frames beyond the cache's bound.
func (c *frameCache) put(f *cachedFrame, size int) {
	f.bytes = size + cap(f.span)*4 + cap(f.types)*16
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hand = (c.hand + 1) % frameCacheSize
	if old := c.frames[c.hand].Swap(f); old != nil {
		old.release()
	}
	total := f.bytes
	for i := 1; i < frameCacheSize; i++ {
		j := (c.hand - i + frameCacheSize) % frameCacheSize // newest first
		g := c.frames[j].Load()
		if g == nil {
			continue
		}
		if total+g.bytes > frameCacheBytes {
			c.frames[j].Store(nil)
			g.release()
			continue
		}
		total += g.bytes
	}
}

// newCachedFrame walks a decoded body, which must hold exactly count
// records, once, recording where each record is.
func newCachedFrame(base uint64, count uint32, raw []byte) (*cachedFrame, error) {
	f := &cachedFrame{base: base, raw: raw, span: make([]uint32, 0, 2*int(count))}
	var b segment.Body
	err := walkFrame(&b, raw, count, func(i uint32, typ string, data []byte) {
		end := uint32(len(raw) - b.Len()) // data ends where the walk is
		f.span = append(f.span, end-uint32(len(data)), end)
		if typ != "" && f.types == nil {
			f.types = make([]string, count)
		}
		if f.types != nil {
			f.types[i] = typ
		}
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// record returns the record at offset, which the frame holds: its data
// copied (clone), or appended to dst.
func (f *cachedFrame) record(dst []byte, offset uint64, clone bool) Record {
	i := offset - f.base
	r := Record{Offset: offset, Data: copyData(dst, f.raw[f.span[2*i]:f.span[2*i+1]], clone)}
	if f.types != nil {
		r.Type = f.types[i]
	}
	return r
}
