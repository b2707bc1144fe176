package log

import (
	"sync"

	"github.com/seglog/seglog/segment"
)

// frameCache keeps the last few frames that Read decoded, with the start of
// each record, so that reads of neighbouring offsets (the common pattern:
// a reader walking the log by offset) cost one copy instead of one read,
// one checksum and one decompression each. Frames never change once
// written, and the offsets of a frame identify it.
type frameCache struct {
	mu     sync.Mutex
	frames [frameCacheSize]*cachedFrame
	hand   int
}

const frameCacheSize = 4

type cachedFrame struct {
	base   uint64
	types  []string
	starts []uint32 // start of each record's data in raw
	lens   []uint32
	raw    []byte
}

func (c *frameCache) get(offset uint64) *cachedFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.frames {
		if f != nil && offset >= f.base && offset < f.base+uint64(len(f.starts)) {
			return f
		}
	}
	return nil
}

func (c *frameCache) put(f *cachedFrame) {
	c.mu.Lock()
	c.frames[c.hand] = f
	c.hand = (c.hand + 1) % frameCacheSize
	c.mu.Unlock()
}

// newCachedFrame walks a decoded body once, recording where each record is.
func newCachedFrame(base uint64, count uint32, raw []byte) (*cachedFrame, error) {
	f := &cachedFrame{base: base, raw: raw,
		types: make([]string, count), starts: make([]uint32, count), lens: make([]uint32, count)}
	var body segment.Body
	body.Reset(raw)
	for i := range count {
		typ, data, err := body.Next()
		if err != nil {
			return nil, err
		}
		f.types[i] = typ
		f.starts[i] = uint32(len(raw) - body.Len() - len(data))
		f.lens[i] = uint32(len(data))
	}
	if body.Len() != 0 {
		return nil, errTrailing
	}
	return f, nil
}

// record returns a copy of the record at offset, which the frame holds.
func (f *cachedFrame) record(offset uint64) Record {
	i := offset - f.base
	s := f.starts[i]
	data := make([]byte, f.lens[i])
	copy(data, f.raw[s:])
	return Record{Offset: offset, Type: f.types[i], Data: data}
}
