package log_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// beforeListFS runs a function, once, before the next directory listing.
type beforeListFS struct {
	vfs.FS
	before atomic.Pointer[func()]
}

func (h *beforeListFS) ReadDir(dir string) ([]string, error) {
	if f := h.before.Swap(nil); f != nil {
		(*f)()
	}
	return h.FS.ReadDir(dir)
}

// restartRecord is the record at offset i of the logs below.
func restartRecord(i uint64) seglog.Record {
	return seglog.Record{Type: "event", Data: fmt.Appendf(nil, "record %d %s", i, strings.Repeat("x", int(i%64)))}
}

// ackRecords acknowledges the next n records of w, then one more, so that
// the n are released (the last batch acknowledged is kept).
func ackRecords(t *testing.T, w *seglog.Log, n int) {
	t.Helper()
	ackBatch(t, w, n)
	ackBatch(t, w, 1)
}

func ackBatch(t *testing.T, w *seglog.Log, n int) {
	t.Helper()
	b, err := w.Pending(n)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != n {
		t.Fatalf("Pending(%d) gave %d records", n, len(b.Records))
	}
	if _, err := w.Ack(b.Sequence + uint64(len(b.Records))); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyRestartAfterRelease: a read-only log that falls behind its
// writer's releases starts again from the first record the writer keeps.
// The writer saves the checkpoint that releases segments and then deletes
// them, so that, between the reader's read of the checkpoint and its
// listing of the directory, the writer may release and delete the very
// segment that holds the first record that checkpoint keeps. The reader
// must then start from the newer state, not take the first segment it
// lists for the one that holds the older first offset and report the
// records between them as damage ("no valid frame holds offsets").
func TestReadOnlyRestartAfterRelease(t *testing.T) {
	dir := t.TempDir()
	w, err := seglog.Open(dir, &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	appendN := func(n int) {
		t.Helper()
		for range n {
			if _, err := w.AppendRecords(restartRecord(w.NextOffset())); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	appendN(400) // about four segments of 16 KiB

	hook := &beforeListFS{FS: vfs.Default}
	r, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, FS: hook, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := r.NextOffset()

	// The writer goes on and releases past everything the reader has seen.
	appendN(800)
	ackRecords(t, w, int(seen)+250)
	first1 := w.FirstOffset()
	if first1 <= seen {
		t.Fatalf("setup: the writer keeps from %d, not past the reader's end %d", first1, seen)
	}
	// Once the reader has read that checkpoint, and before it lists the
	// directory, the writer releases the segment holding first1 too.
	var first2 uint64
	release := func() {
		ackRecords(t, w, 400)
		first2 = w.FirstOffset()
		if err := w.Close(); err != nil { // waits for the deletions
			t.Error(err)
		}
	}
	hook.before.Store(&release)

	if err := r.Refresh(); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if hook.before.Load() != nil {
		t.Fatal("setup: the reader did not list the directory")
	}
	if first2 <= first1 {
		t.Fatalf("setup: the second release kept from %d, not past %d", first2, first1)
	}
	st := r.State()
	t.Logf("reader had [0, %d); the writer released to %d, then to %d; the reader now keeps [%d, %d)", seen, first1, first2, st.First, st.Next)
	if st.First != first2 {
		t.Errorf("reader's first offset %d, want the writer's %d", st.First, first2)
	}
	want := first2
	for rec, err := range r.Records(0) {
		if err != nil {
			t.Fatalf("where offset %d was expected: %v", want, err)
		}
		if rec.Offset != want {
			t.Fatalf("record at offset %d, want %d", rec.Offset, want)
		}
		if exp := restartRecord(want); rec.Type != exp.Type || string(rec.Data) != string(exp.Data) {
			t.Fatalf("record %d: got %q %q", want, rec.Type, rec.Data)
		}
		want++
	}
	if want != 1200 {
		t.Errorf("read up to %d, want 1200", want)
	}
	var gapErr *seglog.GapError
	if _, err := r.Read(first1); errors.As(err, &gapErr) || errors.Is(err, seglog.ErrCorrupt) {
		t.Errorf("read of a released offset reports damage: %v", err)
	}
}

// TestReadOnlySegmentReleasedWhileRead: a read-only log lists a sealed
// segment, and its writer releases and deletes it before the reader opens
// it. The reader goes on from the first record the writer keeps (a read
// of a released offset is out of range), instead of failing on the
// missing file: records released before they were read are no damage.
func TestReadOnlySegmentReleasedWhileRead(t *testing.T) {
	dir := t.TempDir()
	w, err := seglog.Open(dir, &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for range 600 {
		if _, err := w.AppendRecords(restartRecord(w.NextOffset())); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	r, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.FirstOffset() != 0 {
		t.Fatalf("setup: the reader keeps from %d", r.FirstOffset())
	}
	ackRecords(t, w, 300)
	first := w.FirstOffset()
	if err := w.Close(); err != nil { // waits for the deletions
		t.Fatal(err)
	}
	if first == 0 {
		t.Fatal("setup: nothing released")
	}

	if _, err := r.Read(0); !errors.Is(err, seglog.ErrOutOfRange) {
		t.Errorf("read of released offset 0: %v, want ErrOutOfRange", err)
	}
	want := first
	for rec, err := range r.Records(0) {
		if err != nil {
			t.Fatalf("where offset %d was expected: %v", want, err)
		}
		if rec.Offset != want || string(rec.Data) != string(restartRecord(want).Data) {
			t.Fatalf("record %d %q, want offset %d", rec.Offset, rec.Data, want)
		}
		want++
	}
	if want != 600 {
		t.Errorf("read up to %d, want 600", want)
	}
	if got := r.FirstOffset(); got != first {
		t.Errorf("reader's first offset %d, want %d", got, first)
	}
}

// TestReadOnlySegmentFileMissing: a sealed segment the checkpoint keeps
// disappears under a read-only log (no writer released it). That is
// damage, reported as the exact run of offsets the file held.
func TestReadOnlySegmentFileMissing(t *testing.T) {
	dir := t.TempDir()
	w, err := seglog.Open(dir, &seglog.Options{SegmentSize: seglog.MinSegmentSize, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for range 400 {
		if _, err := w.AppendRecords(restartRecord(w.NextOffset())); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	names, err := vfs.Default.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bases []uint64
	for _, n := range names {
		if b, ok := segment.ParseFileName(n); ok {
			bases = append(bases, b)
		}
	}
	slices.Sort(bases)
	if len(bases) < 3 {
		t.Fatalf("setup: %d segments", len(bases))
	}
	if err := os.Remove(filepath.Join(dir, segment.FileName(bases[1]))); err != nil {
		t.Fatal(err)
	}
	var gaps []seglog.Gap
	n := 0
	for rec, err := range r.Records(0) {
		var ge *seglog.GapError
		switch {
		case errors.As(err, &ge):
			gaps = append(gaps, ge.Gap)
		case err != nil:
			t.Fatalf("after %d records: %v", n, err)
		default:
			if rec.Offset >= bases[1] && rec.Offset < bases[2] {
				t.Fatalf("record %d read from the missing segment", rec.Offset)
			}
			n++
		}
	}
	if len(gaps) != 1 || gaps[0].Offset != bases[1] || gaps[0].End() != bases[2] || gaps[0].Reason != seglog.GapDamaged {
		t.Fatalf("gaps %+v, want one damaged gap [%d, %d)", gaps, bases[1], bases[2])
	}
	if want := 400 - int(bases[2]-bases[1]); n != want {
		t.Errorf("%d records read, want %d", n, want)
	}
}
