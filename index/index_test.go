package index_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/segment"
)

const first = 32 // where a segment's first frame starts

// layout returns n contiguous entries for a segment with base offset base,
// and the segment size they cover.
func layout(rng *rand.Rand, base uint64, n int) ([]index.Entry, int64) {
	var es []index.Entry
	off, pos := base, int64(first)
	for i := 0; i < n; i++ {
		e := index.Entry{Offset: off, Pos: uint32(pos), Len: uint32(41 + rng.IntN(500))}
		es = append(es, e)
		off += 1 + uint64(rng.IntN(20))
		pos = e.End()
	}
	return es, pos
}

func encode(base uint64, es []index.Entry) []byte {
	b := index.AppendHeader(nil, base)
	for _, e := range es {
		b = index.AppendEntry(b, base, e)
	}
	return b
}

func TestDerivedConstants(t *testing.T) {
	if got, want := index.HeaderSize, len(index.Magic)+2+8; got != want {
		t.Errorf("HeaderSize = %d, want magic+version+base = %d", got, want)
	}
	if got := len(index.AppendHeader(nil, 1)); got != index.HeaderSize {
		t.Errorf("AppendHeader writes %d bytes, HeaderSize is %d", got, index.HeaderSize)
	}
	if got, want := index.EntrySize, 4+4+4+4; got != want {
		t.Errorf("EntrySize = %d, want rel+pos+len+check = %d", got, want)
	}
	if got := len(index.AppendEntry(nil, 1, index.Entry{Offset: 1})); got != index.EntrySize {
		t.Errorf("AppendEntry writes %d bytes, EntrySize is %d", got, index.EntrySize)
	}
	if got, want := index.FileName(42), "00000000000000000042.idx"; got != want {
		t.Errorf("FileName(42) = %q, want %q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{0, 1, 2, 100} {
		base := uint64(rng.IntN(1 << 40))
		es, size := layout(rng, base, n)
		got, err := index.Decode(encode(base, es), base, first, size)
		if err != nil || len(got) != n {
			t.Fatalf("n=%d: %d entries, %v", n, len(got), err)
		}
		for i := range es {
			if got[i] != es[i] {
				t.Fatalf("entry %d = %+v, want %+v", i, got[i], es[i])
			}
		}
	}
}

// TestDecodeStopsAtFirstBadEntry damages entry k in each way the decoder
// checks and expects exactly the entries before k, with ErrCorrupt.
func TestDecodeStopsAtFirstBadEntry(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const base = 1000
	es, size := layout(rng, base, 8)
	entryAt := func(b []byte, k int) []byte { return b[index.HeaderSize+k*index.EntrySize:][:index.EntrySize] }
	damages := []struct {
		name string
		do   func(b []byte, k int) []byte
	}{
		{"flipped byte", func(b []byte, k int) []byte { entryAt(b, k)[rng.IntN(index.EntrySize)] ^= 0x10; return b }},
		{"position gap", func(b []byte, k int) []byte {
			e := es[k]
			e.Pos++
			copy(entryAt(b, k), index.AppendEntry(nil, base, e))
			return b
		}},
		{"offset not increasing", func(b []byte, k int) []byte {
			e := es[k]
			if k > 0 {
				e.Offset = es[k-1].Offset
			} else {
				e.Offset = base + 1 // the first entry must be at base
			}
			copy(entryAt(b, k), index.AppendEntry(nil, base, e))
			return b
		}},
		{"past the segment", func(b []byte, k int) []byte {
			e := es[k]
			e.Len = uint32(size) + 1
			copy(entryAt(b, k), index.AppendEntry(nil, base, e))
			return b
		}},
		{"entry of another segment", func(b []byte, k int) []byte {
			copy(entryAt(b, k), index.AppendEntry(nil, base+1, index.Entry{Offset: es[k].Offset, Pos: es[k].Pos, Len: es[k].Len}))
			return b
		}},
		{"cut inside the entry", func(b []byte, k int) []byte {
			return b[:index.HeaderSize+k*index.EntrySize+1+rng.IntN(index.EntrySize-1)]
		}},
	}
	for _, d := range damages {
		for k := range es {
			b := d.do(encode(base, es), k)
			got, err := index.Decode(b, base, first, size)
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("%s at %d: err %v, want ErrCorrupt", d.name, k, err)
			}
			if len(got) != k {
				t.Fatalf("%s at %d: %d entries, want %d", d.name, k, len(got), k)
			}
			for i := range got {
				if got[i] != es[i] {
					t.Fatalf("%s at %d: entry %d = %+v, want %+v", d.name, k, i, got[i], es[i])
				}
			}
		}
	}
	// A segment shorter than the index says: entries up to its end.
	got, err := index.Decode(encode(base, es), base, first, es[5].End())
	if !errors.Is(err, segment.ErrCorrupt) || len(got) != 6 {
		t.Fatalf("short segment: %d entries, %v; want 6", len(got), err)
	}
}

func TestDecodeBadHeader(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	es, size := layout(rng, 7, 3)
	good := encode(7, es)
	for i := 0; i < index.HeaderSize; i++ {
		b := append([]byte(nil), good...)
		b[i] ^= 1
		if got, err := index.Decode(b, 7, first, size); !errors.Is(err, segment.ErrCorrupt) || len(got) != 0 {
			t.Errorf("header byte %d flipped: %d entries, %v", i, len(got), err)
		}
	}
	for n := 0; n < index.HeaderSize; n++ {
		if _, err := index.Decode(good[:n], 7, first, size); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("header cut to %d bytes: %v", n, err)
		}
	}
	if got, err := index.Decode(good, 8, first, size); !errors.Is(err, segment.ErrCorrupt) || len(got) != 0 {
		t.Errorf("index of base 7 decoded as base 8: %d entries, %v", len(got), err)
	}
	if got, err := index.Decode(index.AppendHeader(nil, 7), 7, first, size); err != nil || len(got) != 0 {
		t.Errorf("empty index: %d entries, %v", len(got), err)
	}
}

// TestSearchAgreesWithLinearScan compares Search with the obvious loop on
// random entry sets and offsets around and between them.
func TestSearchAgreesWithLinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	linear := func(es []index.Entry, off uint64) int {
		r := -1
		for i, e := range es {
			if e.Offset <= off {
				r = i
			}
		}
		return r
	}
	for round := 0; round < 300; round++ {
		base := uint64(rng.IntN(1000))
		es, _ := layout(rng, base, rng.IntN(40))
		probes := []uint64{0, base, ^uint64(0)}
		if base > 0 {
			probes = append(probes, base-1)
		}
		for _, e := range es {
			probes = append(probes, e.Offset, e.Offset+1, e.Offset-1)
		}
		for i := 0; i < 20; i++ {
			probes = append(probes, uint64(rng.IntN(int(base)+2000)))
		}
		for _, off := range probes {
			if got, want := index.Search(es, off), linear(es, off); got != want {
				t.Fatalf("Search(%v, %d) = %d, linear scan says %d", es, off, got, want)
			}
		}
	}
}
