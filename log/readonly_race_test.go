package log_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// listHookFS runs hook once, right after the first directory listing.
type listHookFS struct {
	*crashfs.FS
	once sync.Once
	hook func()
}

func (h *listHookFS) ReadDir(dir string) ([]string, error) {
	names, err := h.FS.ReadDir(dir)
	h.once.Do(h.hook)
	return names, err
}

// TestReadOnlyOpenWriterRollsMeanwhile: between a read-only Open's listing
// of the segments and its reading of the checkpoint, the writer rolls to a
// new segment, appends and acknowledges there. The checkpoint then points
// past every segment listed; Open finds the new one instead of reporting
// the log corrupt.
func TestReadOnlyOpenWriterRollsMeanwhile(t *testing.T) {
	fsys := crashfs.New()
	const dir = "/racing"
	w := openLog(t, dir, &seglog.Options{FS: fsys, SegmentSize: seglog.MinSegmentSize})
	var want []seglog.Record
	add := func(n int) {
		for range n {
			want = append(want, appendRecs(t, w, seglog.Record{Data: fmt.Appendf(nil, "record %d %0400d", len(want), 0)})...)
		}
	}
	add(10)
	hooked := &listHookFS{FS: fsys, hook: func() {
		add(80) // several rolls
		ackPending(t, w, 1000)
	}}
	ro := openLog(t, dir, &seglog.Options{FS: hooked, ReadOnly: true})
	if st := ro.State(); st.Cursor != uint64(len(want)) || st.Next != uint64(len(want)) {
		t.Fatalf("reader state %+v; want cursor and next %d", st, len(want))
	}
	checkLog(t, ro, want)
}

// TestReadOnlyOpenEmptyListing: the listing finds no segment yet, then the
// writer creates the log, appends, and releases up to an offset inside a
// segment before the checkpoint is read. Open starts at the segment
// holding the first kept record.
func TestReadOnlyOpenEmptyListing(t *testing.T) {
	fsys := crashfs.New()
	const dir = "/late"
	if err := fsys.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	var w *seglog.Log
	var want []seglog.Record
	hooked := &listHookFS{FS: fsys, hook: func() {
		w = openLog(t, dir, &seglog.Options{FS: fsys, SegmentSize: seglog.MinSegmentSize})
		for i := range 90 {
			want = append(want, appendRecs(t, w, seglog.Record{Data: fmt.Appendf(nil, "record %d %0400d", i, 0)})...)
		}
		ackPending(t, w, 45)
		ackPending(t, w, 45) // releases what the first acknowledged
	}}
	ro := openLog(t, dir, &seglog.Options{FS: hooked, ReadOnly: true})
	st := w.State()
	if st.First == 0 {
		t.Fatal("nothing released")
	}
	if got := ro.State(); got != st {
		t.Fatalf("reader state %+v, writer %+v", got, st)
	}
	checkLog(t, ro, want[st.First:])
}

// ackPending hands out up to max records and acknowledges them all.
func ackPending(t *testing.T, l *seglog.Log, max int) {
	t.Helper()
	b, err := l.Pending(max)
	if err != nil {
		t.Error(err)
		return
	}
	if _, err := l.Ack(b.Sequence + uint64(len(b.Records))); err != nil {
		t.Error(err)
	}
}
