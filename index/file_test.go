package index_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/vfs/crashfs"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// TestFileRoundTrip writes index files with WriteFile, on the operating
// system's filesystem and on a crash-testing one, and reads them back with
// ReadFile and FirstEntry.
func TestFileRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const base = 700
	es, size := layout(rng, base, 20)
	if got := index.Encode(base, es); !bytes.Equal(got, encode(base, es)) {
		t.Fatal("Encode differs from AppendHeader and AppendEntry")
	}
	mem := crashfs.New()
	if err := mem.MkdirAll("/log", 0o750); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		fs   vfs.FS
		dir  string
	}{{"os", vfs.Default, t.TempDir()}, {"crashfs", mem, "/log"}} {
		for _, sync := range []bool{false, true} {
			path := filepath.Join(c.dir, index.FileName(base))
			if err := index.WriteFile(c.fs, path, base, es[:3], 0o640, sync); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			// Written again, shorter: the file is replaced, not overlaid.
			if err := index.WriteFile(c.fs, path, base, es[:2], 0o640, sync); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			got, err := index.ReadFile(c.fs, path, base, size)
			if err != nil || !slices.Equal(got, es[:2]) {
				t.Fatalf("%s, sync %v: ReadFile = %v, %v", c.name, sync, got, err)
			}
			if e, ok := index.FirstEntry(c.fs, path, base); !ok || e != es[0] {
				t.Fatalf("%s: FirstEntry = %+v, %v", c.name, e, ok)
			}
		}
		if _, err := index.ReadFile(c.fs, filepath.Join(c.dir, index.FileName(1)), 1, size); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: missing index: %v", c.name, err)
		}
		if _, ok := index.FirstEntry(c.fs, filepath.Join(c.dir, index.FileName(1)), 1); ok {
			t.Errorf("%s: FirstEntry of a missing index", c.name)
		}
	}
	// Synced, the index survives a crash.
	if err := index.WriteFile(mem, "/log/s.idx", base, es, 0o640, true); err != nil {
		t.Fatal(err)
	}
	mem.SyncDir("/log")
	after := mem.Crash(rand.New(rand.NewPCG(1, 2)), crashfs.CrashLoseUnsynced)
	if got, err := index.ReadFile(after, "/log/s.idx", base, size); err != nil || !slices.Equal(got, es) {
		t.Fatalf("after a crash: %d entries, %v", len(got), err)
	}
}

// TestReadFileDamage: a damaged index is a corruption error naming the file
// and the byte of the damage, with the entries before it.
func TestReadFileDamage(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	const base = 9
	es, size := layout(rng, base, 10)
	dir := t.TempDir()
	path := filepath.Join(dir, index.FileName(base))
	b := encode(base, es)
	at := index.HeaderSize + 4*index.EntrySize
	b[at+3] ^= 1
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := index.ReadFile(vfs.Default, path, base, size)
	var ce *segment.CorruptError
	if !errors.Is(err, segment.ErrCorrupt) || !errors.As(err, &ce) || ce.File != path || ce.Offset != int64(at) {
		t.Fatalf("damaged entry: %v", err)
	}
	if !slices.Equal(got, es[:4]) {
		t.Fatalf("%d entries before the damage, want 4", len(got))
	}
	if e, ok := index.FirstEntry(vfs.Default, path, base); !ok || e != es[0] {
		t.Fatalf("FirstEntry before the damage = %+v, %v", e, ok)
	}
	// An index larger than its segment is not read.
	got, err = index.ReadFile(vfs.Default, path, base, int64(len(b))-1)
	if !errors.As(err, &ce) || ce.File != path || got != nil {
		t.Fatalf("index larger than its segment: %d entries, %v", len(got), err)
	}
	// A damaged first entry: no first entry.
	b = encode(base, es)
	b[index.HeaderSize] ^= 1
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, ok := index.FirstEntry(vfs.Default, path, base); ok {
		t.Fatal("FirstEntry of a damaged first entry")
	}
}

// TestWriteFileErrors: a failed create, write or sync reaches the caller.
func TestWriteFileErrors(t *testing.T) {
	es, _ := layout(rand.New(rand.NewPCG(7, 7)), 0, 3)
	boom := errors.New("injected")
	for _, kind := range []crashfs.OpKind{crashfs.OpCreate, crashfs.OpWrite, crashfs.OpSync} {
		mem := crashfs.New()
		if err := mem.MkdirAll("/log", 0o750); err != nil {
			t.Fatal(err)
		}
		mem.Inject(kind, 0, boom)
		if err := index.WriteFile(mem, "/log/a.idx", 0, es, 0o640, true); !errors.Is(err, boom) {
			t.Errorf("%v failing: WriteFile = %v", kind, err)
		}
	}
}

// failingFS opens files whose Size or ReadAt fail.
type failingFS struct {
	vfs.FS
	size, read error
}

type failingFile struct {
	vfs.File
	size, read error
}

func (f failingFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return failingFile{file, f.size, f.read}, nil
}

func (f failingFile) Size() (int64, error) {
	if f.size != nil {
		return 0, f.size
	}
	return f.File.Size()
}

func (f failingFile) ReadAt(b []byte, off int64) (int, error) {
	if f.read != nil {
		return 0, f.read
	}
	return f.File.ReadAt(b, off)
}

// TestReadFileErrors: an I/O failure is returned as such, naming the file,
// not as damage.
func TestReadFileErrors(t *testing.T) {
	es, size := layout(rand.New(rand.NewPCG(8, 8)), 0, 3)
	path := filepath.Join(t.TempDir(), index.FileName(0))
	if err := index.WriteFile(vfs.Default, path, 0, es, 0o640, false); err != nil {
		t.Fatal(err)
	}
	eio := errors.New("input/output error")
	for _, fsys := range []failingFS{{vfs.Default, eio, nil}, {vfs.Default, nil, eio}} {
		_, err := index.ReadFile(fsys, path, 0, size)
		if !errors.Is(err, eio) || errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("ReadFile = %v, want the I/O error", err)
		}
	}
}
