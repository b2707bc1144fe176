package log_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// TestEveryDamagedFileMatchesErrCorrupt damages each kind of file of a log
// (a segment's frame, a segment's header, an index, one and both
// checkpoint slots) and checks that the error reporting it matches
// seglog.ErrCorrupt and is one *seglog.CorruptError naming the damaged
// file and the byte position of the damage.
func TestEveryDamagedFileMatchesErrCorrupt(t *testing.T) {
	src := t.TempDir()
	l, err := seglog.Open(src, &seglog.Options{Logger: quiet, SegmentSize: seglog.MinSegmentSize})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		if _, err := l.Append([]byte(fmt.Sprintf("record %04d %s", i, strings.Repeat("x", 100)))); err != nil {
			t.Fatal(err)
		}
	}
	// Two saves: both checkpoint slots hold a state. Records 0 and 1 are
	// released; the first segment holds the rest.
	for range 2 {
		b, err := l.Pending(1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Ack(b.Next()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, segment.FileName(0))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, segment.FileName(n))); err == nil {
		t.Fatal("the log fits in one segment: nothing sealed to damage")
	}

	// copyLog copies the closed log into a new directory.
	copyLog := func(t *testing.T) string {
		t.Helper()
		dst := t.TempDir()
		ents, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() == seglog.LockFile {
				continue
			}
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o640); err != nil {
				t.Fatal(err)
			}
		}
		return dst
	}
	flip := func(t *testing.T, path string, pos int64) {
		t.Helper()
		xorByte(t, path, pos, 0x40)
	}
	// mustCorrupt checks err is a corruption error naming file at pos
	// (pos < 0: any position).
	mustCorrupt := func(t *testing.T, err error, file string, pos int64) {
		t.Helper()
		if !errors.Is(err, seglog.ErrCorrupt) {
			t.Fatalf("error %v (%T) does not match seglog.ErrCorrupt", err, err)
		}
		var ce *seglog.CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("error %v (%T) carries no *seglog.CorruptError", err, err)
		}
		if ce.File != file || (pos >= 0 && ce.Offset != pos) {
			t.Fatalf("error names %s at %d, want %s at %d: %v", ce.File, ce.Offset, file, pos, err)
		}
		want := fmt.Sprintf("%s: offset %d: corrupt: ", ce.File, ce.Offset)
		if ce.File == "" {
			want = fmt.Sprintf("offset %d: corrupt: ", ce.Offset)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not contain %q", err, want)
		}
	}
	open := func(t *testing.T, dir string, ro bool) (*seglog.Log, error) {
		t.Helper()
		l, err := seglog.Open(dir, &seglog.Options{Logger: quiet, SegmentSize: seglog.MinSegmentSize, ReadOnly: ro})
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		return l, err
	}

	t.Run("segment frame", func(t *testing.T) {
		dir := copyLog(t)
		seg := filepath.Join(dir, segment.FileName(0))
		fi, err := os.Stat(seg)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := index.ReadFile(vfs.Default, filepath.Join(dir, index.FileName(0)), 0, fi.Size())
		if err != nil || len(entries) < 10 || entries[5].Offset != 5 {
			t.Fatalf("index of the first segment: %d entries, %v", len(entries), err)
		}
		flip(t, seg, int64(entries[5].Pos)+segment.FrameHeaderSize+3) // in the frame's body
		for _, ro := range []bool{false, true} {
			l, err := open(t, dir, ro)
			if err != nil {
				t.Fatalf("ReadOnly %v: Open: %v", ro, err)
			}
			_, err = l.Read(5)
			mustCorrupt(t, err, seg, int64(entries[5].Pos))
			if !ro {
				l.Close()
			}
		}
	})

	t.Run("segment header", func(t *testing.T) {
		dir := copyLog(t)
		seg := filepath.Join(dir, segment.FileName(0))
		flip(t, seg, 20) // the base offset
		l, err := open(t, dir, false)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		_, err = l.Read(5)
		mustCorrupt(t, err, seg, -1)
	})

	t.Run("index", func(t *testing.T) {
		dir := copyLog(t)
		idx := filepath.Join(dir, index.FileName(0))
		seg := filepath.Join(dir, segment.FileName(0))
		fi, err := os.Stat(seg)
		if err != nil {
			t.Fatal(err)
		}
		at := int64(index.HeaderSize + index.EntrySize + 5) // the second entry
		flip(t, idx, at)
		entries, err := index.ReadFile(vfs.Default, idx, 0, fi.Size())
		mustCorrupt(t, err, idx, index.HeaderSize+index.EntrySize)
		if len(entries) != 1 {
			t.Errorf("%d entries before the damaged one, want 1", len(entries))
		}
		// The log rebuilds a damaged index: every record reads.
		l, err := open(t, dir, false)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		for off := uint64(2); off < n; off += 37 {
			if _, err := l.Read(off); err != nil {
				t.Fatalf("Read(%d) with a damaged index: %v", off, err)
			}
		}
	})

	t.Run("one checkpoint slot", func(t *testing.T) {
		dir := copyLog(t)
		slot := filepath.Join(dir, checkpoint.SlotNames()[0])
		flip(t, slot, 30)
		_, info, err := checkpoint.Read(vfs.Default, dir)
		if err != nil {
			t.Fatalf("one damaged slot: %v", err)
		}
		var torn *seglog.CorruptError = info.Torn // one type: no conversion
		if torn == nil {
			t.Fatal("damaged slot not reported in Info.Torn")
		}
		mustCorrupt(t, torn, slot, -1)
	})

	t.Run("both checkpoint slots", func(t *testing.T) {
		dir := copyLog(t)
		slots := checkpoint.SlotNames()
		for _, s := range slots {
			flip(t, filepath.Join(dir, s), 30)
		}
		for _, ro := range []bool{false, true} {
			_, err := open(t, dir, ro)
			if err == nil {
				t.Fatalf("ReadOnly %v: Open of a log with both checkpoint slots damaged succeeded", ro)
			}
			mustCorrupt(t, err, filepath.Join(dir, slots[0]), -1)
			if !strings.Contains(err.Error(), slots[1]) {
				t.Errorf("ReadOnly %v: %v does not name %s", ro, err, slots[1])
			}
		}
	})

	t.Run("checkpoint bytes", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(src, checkpoint.SlotNames()[0]))
		if err != nil {
			t.Fatal(err)
		}
		b[30] ^= 0x40
		_, _, err = checkpoint.Unmarshal(b)
		mustCorrupt(t, err, "", -1)
	})
}
