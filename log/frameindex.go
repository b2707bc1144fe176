package log

import (
	"math"

	"github.com/seglog/seglog/index"
)

// frameIndex locates the frames of one segment for reads: the index
// entries as loaded, or, for a sealed segment whose frames follow one
// another (every segment but one a damaged frame was cut from), a packed
// form in half the memory, so that more of a large log stays loaded.
type frameIndex struct {
	entries []index.Entry // when packed is nil
	packed  *packedIndex
}

// packedIndex holds the offsets and positions of contiguous frames; the
// length of a frame is the distance to the next one, or to end.
type packedIndex struct {
	base uint64
	offs []uint32 // first offset of each frame, less base
	pos  []uint32 // position of each frame
	end  uint32   // end of the last frame
}

// packIndex packs entries, or returns nil when they do not follow one
// another or do not fit.
func packIndex(base uint64, entries []index.Entry) *packedIndex {
	if len(entries) == 0 {
		return nil
	}
	p := &packedIndex{base: base, offs: make([]uint32, len(entries)), pos: make([]uint32, len(entries))}
	for i, e := range entries {
		if e.Offset < base || e.Offset-base > math.MaxUint32 || (i > 0 && int64(e.Pos) != entries[i-1].End()) || e.End() > math.MaxUint32 {
			return nil
		}
		p.offs[i], p.pos[i] = uint32(e.Offset-base), e.Pos
	}
	p.end = uint32(entries[len(entries)-1].End())
	return p
}

func (x frameIndex) Len() int {
	if x.packed != nil {
		return len(x.packed.offs)
	}
	return len(x.entries)
}

// At returns entry i.
func (x frameIndex) At(i int) index.Entry {
	p := x.packed
	if p == nil {
		return x.entries[i]
	}
	end := p.end
	if i+1 < len(p.pos) {
		end = p.pos[i+1]
	}
	return index.Entry{Offset: p.base + uint64(p.offs[i]), Pos: p.pos[i], Len: end - p.pos[i]}
}

// Search returns the index of the entry whose frame may hold offset: the
// last entry starting at or before it, or -1 if there is none.
func (x frameIndex) Search(offset uint64) int {
	p := x.packed
	if p == nil {
		return index.Search(x.entries, offset)
	}
	if offset < p.base {
		return -1
	}
	d := uint32(min(offset-p.base, math.MaxUint32))
	lo, hi := 0, len(p.offs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.offs[m] <= d {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// bytes is the memory the index holds.
func (x frameIndex) bytes() int64 {
	if x.packed != nil {
		return int64(cap(x.packed.offs)+cap(x.packed.pos)) * 4
	}
	return int64(cap(x.entries)) * entryBytes
}
