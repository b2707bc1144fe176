package log_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seglog/seglog/index"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// indexOfOffset returns the index file beside a segment file.
func indexOfOffset(seg string) string {
	return strings.TrimSuffix(seg, segment.Suffix) + index.Suffix
}

// TestIndexRebuilt deletes, cuts, garbles or swaps index files, of sealed
// segments and of the active one, and reopens: every record reads, each
// damaged index is rebuilt to exactly what the writer had written, and the
// log appends and reopens cleanly afterwards.
func TestIndexRebuilt(t *testing.T) {
	rng := newRand(t)
	src := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize}
	want := buildSegments(t, rng, src, opts, 4)
	l := openLog(t, src, opts)
	for range 5 { // frames for the active index
		want = append(want, appendRecs(t, l, seglog.Record{Data: recordData(rng, 100, false)})...)
	}
	closeLog(t, l)
	segs := segmentPaths(t, src)
	if len(segs) != 4 {
		t.Fatalf("%d segments, want 4", len(segs))
	}
	names := make([]string, len(segs)) // index file names, in segment order
	orig := map[string][]byte{}
	for i, s := range segs {
		names[i] = filepath.Base(indexOfOffset(s))
		b, err := os.ReadFile(indexOfOffset(s))
		if err != nil {
			t.Fatal(err)
		}
		orig[names[i]] = b
	}
	active, sealed, first := names[len(names)-1], names[1], names[0]

	garble := func(b []byte) []byte {
		b = bytes.Clone(b)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	flipEntry := func(b []byte) []byte {
		b = bytes.Clone(b)
		n := (len(b) - index.HeaderSize) / index.EntrySize
		b[index.HeaderSize+index.EntrySize*(n/2)+rng.IntN(index.EntrySize)] ^= 0x08
		return b
	}
	midEntry := func(b []byte) []byte { return b[:index.HeaderSize+index.EntrySize+7] }
	tests := []struct {
		name    string
		damage  map[string]func([]byte) []byte // index file -> new contents; nil: delete
		rebuilt bool                           // Recovery().IndexRebuilt: the active index was rebuilt
	}{
		{"every index deleted", map[string]func([]byte) []byte{first: nil, sealed: nil, names[2]: nil, active: nil}, true},
		{"active deleted", map[string]func([]byte) []byte{active: nil}, true},
		{"sealed deleted", map[string]func([]byte) []byte{sealed: nil}, false},
		{"active garbled", map[string]func([]byte) []byte{active: garble}, true},
		{"sealed garbled", map[string]func([]byte) []byte{sealed: garble}, false},
		{"every index garbled", map[string]func([]byte) []byte{first: garble, sealed: garble, names[2]: garble, active: garble}, true},
		{"active cut inside an entry", map[string]func([]byte) []byte{active: midEntry}, true},
		{"sealed cut inside an entry", map[string]func([]byte) []byte{sealed: midEntry}, false},
		{"active header only", map[string]func([]byte) []byte{active: func(b []byte) []byte { return b[:index.HeaderSize] }}, true},
		{"sealed empty", map[string]func([]byte) []byte{sealed: func([]byte) []byte { return nil }}, false},
		{"active entry flipped", map[string]func([]byte) []byte{active: flipEntry}, true},
		{"sealed entry flipped", map[string]func([]byte) []byte{sealed: flipEntry}, false},
		{"sealed index of another segment", map[string]func([]byte) []byte{sealed: func([]byte) []byte { return orig[first] }}, false},
		{"active index of another segment", map[string]func([]byte) []byte{active: func([]byte) []byte { return orig[sealed] }}, true},
		{"active with garbage after", map[string]func([]byte) []byte{active: func(b []byte) []byte { return append(bytes.Clone(b), garble(b[:40])...) }}, true},
		{"sealed with garbage after", map[string]func([]byte) []byte{sealed: func(b []byte) []byte { return append(bytes.Clone(b), garble(b[:40])...) }}, false},
	}
	work := filepath.Join(t.TempDir(), "log")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			copyDir(t, src, work)
			for name, f := range tt.damage {
				path := filepath.Join(work, name)
				if f == nil {
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.WriteFile(path, f(orig[name]), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			// A ReadOnly open reads everything and writes nothing.
			ro := openLog(t, work, &seglog.Options{ReadOnly: true})
			checkLog(t, ro, want)
			closeLog(t, ro)
			for name, f := range tt.damage {
				_, err := os.Stat(filepath.Join(work, name))
				if f == nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a ReadOnly open created %s", name)
				}
			}

			l := openLog(t, work, opts)
			if got := l.Recovery().IndexRebuilt; got != tt.rebuilt {
				t.Errorf("Recovery().IndexRebuilt = %v, want %v", got, tt.rebuilt)
			}
			checkLog(t, l, want)
			for name := range tt.damage {
				got, err := os.ReadFile(filepath.Join(work, name))
				if err != nil || !bytes.Equal(got, orig[name]) {
					t.Errorf("%s after reading: %d bytes (%v), not the %d the writer wrote", name, len(got), err, len(orig[name]))
				}
			}
			got := append([]seglog.Record(nil), want...)
			got = append(got, appendRecs(t, l, seglog.Record{Data: []byte("after the rebuild")})...)
			checkLog(t, l, got)
			closeLog(t, l)

			l = openLog(t, work, opts)
			if l.Recovery().IndexRebuilt {
				t.Errorf("index rebuilt again on the next open")
			}
			checkLog(t, l, got)
			closeLog(t, l)
		})
	}
}

// TestOrphanIndexRemoved checks that a writer's Open removes an index
// file whose segment is gone, and a ReadOnly open leaves it.
func TestOrphanIndexRemoved(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	want := appendRecs(t, l, seglog.Record{Data: []byte("x")})
	closeLog(t, l)
	orphan := filepath.Join(dir, index.FileName(1000))
	if err := os.WriteFile(orphan, index.AppendHeader(nil, 1000), 0o640); err != nil {
		t.Fatal(err)
	}
	closeLog(t, openLog(t, dir, &seglog.Options{ReadOnly: true}))
	if _, err := os.Stat(orphan); err != nil {
		t.Fatalf("ReadOnly open touched the orphan index: %v", err)
	}
	l = openLog(t, dir, nil)
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("orphan index still there after Open: %v", err)
	}
	checkLog(t, l, want)
}

// TestForgedIndexNeverMisleads replaces a sealed index with entries that
// check (they are built with the right base) but lie about which offsets
// each frame holds. Reads must return the right record or ErrCorrupt,
// never another record.
func TestForgedIndexNeverMisleads(t *testing.T) {
	rng := newRand(t)
	dir := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever}
	want := buildSegments(t, rng, dir, opts, 4)
	seg := segmentPaths(t, dir)[1]
	frames := fileFrames(t, seg)
	base := frames[0].base
	for _, shift := range []int{-1, 1} {
		b := index.AppendHeader(nil, base)
		for i, f := range frames {
			off := f.base
			if i > 0 && (i+shift >= 0 && i+shift < len(frames)) {
				off = max(frames[i-1].base+1, uint64(int64(f.base)+int64(shift)))
			}
			b = index.AppendEntry(b, base, index.Entry{Offset: off, Pos: uint32(f.pos), Len: uint32(f.size)})
		}
		if err := os.WriteFile(indexOfOffset(seg), b, 0o640); err != nil {
			t.Fatal(err)
		}
		l := openLog(t, dir, opts)
		for o := frames[0].base; o < frames[len(frames)-1].next(); o++ {
			r, err := l.Read(o)
			if err == nil && !sameRecord(r, want[o]) {
				t.Fatalf("shift %d: Read(%d) = %s, want %s", shift, o, describeRecord(r), describeRecord(want[o]))
			}
			if err != nil {
				mustCorrupt(t, err, seg, -1)
			}
		}
		closeLog(t, l)
	}
	os.Remove(indexOfOffset(seg))
	checkLog(t, openLog(t, dir, opts), want)
}
