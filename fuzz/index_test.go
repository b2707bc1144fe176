package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/segment"
)

// FuzzIndex decodes arbitrary bytes as the index of a segment of the given
// base and size. The entries returned must satisfy what Decode documents
// (checked, contiguous from the segment header, increasing, inside the
// segment), re-encode to the bytes they came from, and Search must agree
// with a linear scan. The input is also read as a list of frame sizes and
// offset gaps, encoded, decoded and searched, since random bytes rarely
// pass an entry check.
func FuzzIndex(f *testing.F) {
	f.Add([]byte{}, uint64(0), int64(0))
	f.Add(index.AppendHeader(nil, 5), uint64(5), int64(1000))
	f.Fuzz(func(t *testing.T, b []byte, base uint64, size int64) {
		var entries []index.Entry
		var err error
		checkAlloc(t, "Decode", 2*uint64(len(b)), func() {
			entries, err = index.Decode(b, base, segment.HeaderSize, size)
		})
		if err != nil && !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("Decode error %v does not match ErrCorrupt", err)
		}
		checkEntries(t, entries, base, size)
		if len(entries) > 0 || err == nil {
			enc := index.AppendHeader(nil, base)
			for _, e := range entries {
				enc = index.AppendEntry(enc, base, e)
			}
			if !bytes.HasPrefix(b, enc) || (err == nil && len(enc) != len(b)) {
				t.Fatalf("decoded entries re-encode to %x, not a prefix of the input", enc)
			}
		}
		checkSearch(t, entries, b)

		// Generated entries: each pair of input bytes is a frame size and
		// an offset gap.
		var gen []index.Entry
		off, pos := base, int64(segment.HeaderSize)
		for i := 0; i+1 < len(b) && len(gen) < 128; i += 2 {
			if off-base > 1<<31 {
				break
			}
			e := index.Entry{Offset: off, Pos: uint32(pos), Len: uint32(b[i]) + segment.FrameHeaderSize}
			gen = append(gen, e)
			pos = e.End()
			off += 1 + uint64(b[i+1]%64)
		}
		enc := index.AppendHeader(nil, base)
		for _, e := range gen {
			enc = index.AppendEntry(enc, base, e)
		}
		dec, err := index.Decode(enc, base, segment.HeaderSize, pos)
		if err != nil || len(dec) != len(gen) {
			t.Fatalf("generated index of %d entries decodes to %d: %v", len(gen), len(dec), err)
		}
		for i := range gen {
			if dec[i] != gen[i] {
				t.Fatalf("entry %d decodes to %+v, want %+v", i, dec[i], gen[i])
			}
		}
		checkSearch(t, gen, b)
		// Cut anywhere, the generated index decodes to a prefix.
		if len(enc) > 0 {
			cut := int(size&0x7FFFFFFF) % len(enc)
			short, _ := index.Decode(enc[:cut], base, segment.HeaderSize, pos)
			if want := max(cut-index.HeaderSize, 0) / index.EntrySize; len(short) != want {
				t.Fatalf("index cut at %d decodes to %d entries, want %d", cut, len(short), want)
			}
		}
	})
}

func checkEntries(t *testing.T, entries []index.Entry, base uint64, size int64) {
	pos := int64(segment.HeaderSize)
	for i, e := range entries {
		switch {
		case i == 0 && e.Offset != base:
			t.Fatalf("first entry at offset %d, base %d", e.Offset, base)
		case int64(e.Pos) != pos:
			t.Fatalf("entry %d at position %d, want %d", i, e.Pos, pos)
		case e.End() > size:
			t.Fatalf("entry %d ends at %d, past the segment's %d bytes", i, e.End(), size)
		case i > 0 && e.Offset <= entries[i-1].Offset:
			t.Fatalf("entry %d: offsets not increasing", i)
		}
		pos = e.End()
	}
}

// checkSearch compares Search with a linear scan at every entry's offset,
// its neighbours, and offsets taken from probe.
func checkSearch(t *testing.T, entries []index.Entry, probe []byte) {
	linear := func(off uint64) int {
		i := -1
		for j, e := range entries {
			if e.Offset <= off {
				i = j
			}
		}
		return i
	}
	try := func(off uint64) {
		if got, want := index.Search(entries, off), linear(off); got != want {
			t.Fatalf("Search(%d) = %d, linear scan finds %d", off, got, want)
		}
	}
	try(0)
	try(^uint64(0))
	for i, e := range entries {
		if i >= 64 && i != len(entries)-1 {
			continue // the first entries and the last are enough
		}
		try(e.Offset - 1)
		try(e.Offset)
		try(e.Offset + 1)
	}
	for i := 0; i+8 <= len(probe) && i < 128; i += 8 {
		v := binary.LittleEndian.Uint64(probe[i:])
		try(v)
		if len(entries) > 0 {
			try(entries[0].Offset + v%4096)
		}
	}
}

func indexSeeds(t testing.TB) [][]any {
	var seeds [][]any
	fsys, _ := buildLog(t, segment.CodecNone)
	for i, n := range logFiles(fsys, index.Suffix) {
		b, err := fsys.ReadFile(filepath.Join(logDir, n))
		if err != nil {
			t.Fatal(err)
		}
		base, _ := segment.ParseFileName(n[:20] + segment.Suffix)
		seg, _ := fsys.ReadFile(filepath.Join(logDir, segment.FileName(base)))
		seeds = append(seeds, []any{b, base, int64(len(seg))})
		if i == 0 && len(b) > index.HeaderSize+2*index.EntrySize {
			// Torn, damaged, and for a segment that is too short.
			seeds = append(seeds, []any{b[:len(b)-5], base, int64(len(seg))})
			d := bytes.Clone(b)
			d[index.HeaderSize+index.EntrySize+3] ^= 1
			seeds = append(seeds, []any{d, base, int64(len(seg))})
			seeds = append(seeds, []any{b, base, int64(len(seg) / 2)})
		}
	}
	return seeds
}
