package log

import (
	"math/rand/v2"
	"testing"

	"github.com/seglog/seglog/index"
)

// TestPackedIndex: the packed form of contiguous entries answers Search
// and At as the entries do, and entries with a gap are not packed.
func TestPackedIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		base := rng.Uint64N(1 << 40)
		var entries []index.Entry
		off, pos := base, uint32(32)
		for range 1 + rng.IntN(50) {
			n, size := 1+rng.Uint64N(100), 40+rng.Uint32N(20000)
			entries = append(entries, index.Entry{Offset: off, Pos: pos, Len: size})
			off += n
			pos += size
		}
		p := packIndex(base, entries)
		if p == nil {
			t.Fatalf("contiguous entries not packed: %v", entries)
		}
		plain, packed := frameIndex{entries: entries}, frameIndex{packed: p}
		if plain.Len() != packed.Len() {
			t.Fatalf("Len %d, packed %d", plain.Len(), packed.Len())
		}
		for i := range entries {
			if packed.At(i) != entries[i] {
				t.Fatalf("At(%d) = %+v, want %+v", i, packed.At(i), entries[i])
			}
		}
		for _, o := range []uint64{0, base - 1, base, base + 1, off - 1, off, off + 1<<33, rng.Uint64N(off-base) + base} {
			if a, b := plain.Search(o), packed.Search(o); a != b {
				t.Fatalf("Search(%d) = %d, packed %d", o, a, b)
			}
		}
		if packed.bytes() >= plain.bytes() {
			t.Fatalf("packed index takes %d bytes, entries %d", packed.bytes(), plain.bytes())
		}
		if len(entries) > 1 {
			gap := append([]index.Entry(nil), entries...)
			k := 1 + rng.IntN(len(gap)-1)
			for j := k; j < len(gap); j++ {
				gap[j].Pos += 7 // a damaged region cut between frames
			}
			if packIndex(base, gap) != nil {
				t.Fatalf("entries with a gap at %d packed", k)
			}
		}
	}
}
