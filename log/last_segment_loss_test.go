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

// lastSegmentLog builds a closed log of three or more 16 KiB segments whose
// last segment holds records, with the checkpoint's cursor at cursorIn
// records into the last segment (negative: that many records before it).
// It returns the directory, the last segment's path and its base offset.
func lastSegmentLog(t *testing.T, cursorIn int) (string, string, uint64) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, &seglog.Options{SegmentSize: seglog.MinSegmentSize})
	for {
		segs := segmentPaths(t, dir)
		if len(segs) >= 3 && len(fileFrames(t, segs[len(segs)-1])) >= 5 {
			break
		}
		if _, err := l.Append(bytes.Repeat([]byte("r"), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	segs := segmentPaths(t, dir)
	last := segs[len(segs)-1]
	base := fileFrames(t, last)[0].base
	cursor := int64(base) + int64(cursorIn)
	if cursor > 0 {
		b, err := l.Pending(int(cursor))
		if err != nil || len(b.Records) != int(cursor) {
			t.Fatalf("Pending(%d): %d records, %v", cursor, len(b.Records), err)
		}
		if _, err := l.Ack(b.Sequence + uint64(cursor)); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)
	return dir, last, base
}

// snapshotDir returns the contents of every file of dir by name.
func snapshotDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range ents {
		if e.Name() == seglog.LockFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

// TestLastSegmentLossIsDamage damages the last segment of a closed log in
// the ways an interrupted roll never does, since its records (named by
// the checkpoint, or by its index, written only once the segment's header
// was synced) were there: cut to 32 bytes or less, or deleted. Open must
// refuse the log with ErrCorrupt naming the segment, and change no file;
// an offset that held a record must never be given to a new one.
func TestLastSegmentLossIsDamage(t *testing.T) {
	tests := []struct {
		name     string
		cursorIn int   // checkpoint cursor relative to the segment's base
		cut      int64 // bytes kept; -1 deletes the segment
		file     string
	}{
		{"cut to 20 bytes, index names its records", -2, 20, "seg"},
		{"cut to 0 bytes, index names its records", -2, 0, "seg"},
		{"cut to 20 bytes, cursor inside it", 3, 20, "seg"},
		{"cut to 32 bytes, cursor inside it", 3, segment.HeaderSize, "checkpoint"},
		{"deleted, index names its records", -2, -1, "seg"},
		{"deleted, cursor inside it", 3, -1, "seg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, last, base := lastSegmentLog(t, tt.cursorIn)
			verifyExpectDamage(t, dir)
			if tt.cut < 0 {
				if err := os.Remove(last); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Truncate(last, tt.cut); err != nil {
				t.Fatal(err)
			}
			before := snapshotDir(t, dir)
			l, err := seglog.Open(dir, quietOpts(nil))
			if err == nil {
				next := l.NextOffset()
				off, aerr := l.Append([]byte("new"))
				l.Close()
				t.Fatalf("Open accepted the log: next offset %d (the lost segment began at %d); a new append got %d (%v)", next, base, off, aerr)
			}
			want := last
			if tt.file == "checkpoint" {
				want = filepath.Join(dir, "checkpoint")
			}
			mustCorrupt(t, err, want, 0)
			if after := snapshotDir(t, dir); !sameFiles(before, after) {
				t.Fatalf("Open changed the directory: %d files before, %d after", len(before), len(after))
			}
			if _, err := os.Stat(filepath.Join(dir, index.FileName(base))); err != nil {
				t.Fatalf("the lost segment's index is gone: %v", err)
			}
			if !strings.Contains(err.Error(), "offset") {
				t.Fatalf("error %q names no offset", err)
			}
		})
	}
}

// TestInterruptedRollIsNotDamage is the control: a last segment whose
// header was never synced (cut inside its header, with its index holding
// no entry) and that nothing durable names is the leftover of a roll a
// crash interrupted; Open drops it and the log goes on at its base offset.
func TestInterruptedRollIsNotDamage(t *testing.T) {
	dir, last, base := lastSegmentLog(t, -2)
	// The roll wrote the header and the bare index header, nothing more.
	if err := os.Truncate(last, 20); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, index.FileName(base)), index.AppendHeader(nil, base), 0o640); err != nil {
		t.Fatal(err)
	}
	l, err := seglog.Open(dir, quietOpts(nil))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer l.Close()
	if n := l.NextOffset(); n != base {
		t.Fatalf("next offset %d, want %d", n, base)
	}
	if _, err := os.Stat(last); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the torn segment is still there: %v", err)
	}
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// TestOpenKeepsIndexOfMissingSegment: the index of a segment that is gone
// from the middle of the log names offsets the checkpoint keeps; whatever
// Open makes of the missing segment, it must not delete that evidence.
func TestOpenKeepsIndexOfMissingSegment(t *testing.T) {
	dir, _, _ := lastSegmentLog(t, -2)
	verifyExpectDamage(t, dir)
	segs := segmentPaths(t, dir)
	mid := segs[len(segs)-2]
	if err := os.Remove(mid); err != nil {
		t.Fatal(err)
	}
	idx := strings.TrimSuffix(mid, segment.Suffix) + index.Suffix
	before, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := seglog.Open(dir, quietOpts(nil)); err == nil {
		l.Close()
	}
	after, err := os.ReadFile(idx)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("Open removed or changed the index of the missing segment %s: %v", mid, err)
	}
}
