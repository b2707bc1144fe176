package log_test

import (
	"io/fs"
	"sync/atomic"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
)

// reviewCountFS counts the files open through it.
type reviewCountFS struct {
	*crashfs.FS
	open *atomic.Int64
}

type reviewCountFile struct {
	vfs.File
	open   *atomic.Int64
	closed atomic.Bool
}

func (c reviewCountFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	return &reviewCountFile{File: f, open: c.open}, nil
}

func (f *reviewCountFile) Close() error {
	if !f.closed.Swap(true) {
		f.open.Add(-1)
	}
	return f.File.Close()
}

// TestReviewOpenFilesBounded: a log that is never acknowledged (an agent
// offline for long) keeps growing. The sealed segments hold open files only
// up to a bound (maxLoaded, lowered to 16 here), whether they were loaded
// by a read or sealed by this process's own rolls.
func TestReviewOpenFilesBounded(t *testing.T) {
	defer seglog.SetLoadBounds(16, 12<<20)()
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncInterval, seglog.SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			var open atomic.Int64
			fsys := reviewCountFS{FS: crashfs.New(), open: &open}
			l, err := seglog.Open(reviewDir, &seglog.Options{FS: fsys, Logger: reviewQuiet, SegmentSize: seglog.MinSegmentSize, Sync: policy})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			const segments = 60
			for i := 0; len(reviewSegs(t, fsys.FS)) < segments; i++ {
				if _, err := l.Append(reviewPayload(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := reviewCheckAll(l); err != nil {
				t.Fatal(err)
			}
			// 16 sealed segments loaded, the active segment and its index,
			// two checkpoint slots, and some slack.
			if n := open.Load(); n > 16+2+2+4 {
				t.Errorf("%d files open for %d segments", n, segments)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if n := open.Load(); n != 0 {
				t.Errorf("%d files still open after Close", n)
			}
		})
	}
}

// TestReviewOpenFilesBoundedReadOnly: the same for a read-only reader
// following a writer with Refresh.
func TestReviewOpenFilesBoundedReadOnly(t *testing.T) {
	defer seglog.SetLoadBounds(16, 12<<20)()
	cfs := crashfs.New()
	w, err := seglog.Open(reviewDir, &seglog.Options{FS: cfs, Logger: reviewQuiet, SegmentSize: seglog.MinSegmentSize})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var open atomic.Int64
	r, err := seglog.Open(reviewDir, &seglog.Options{FS: reviewCountFS{FS: cfs, open: &open}, Logger: reviewQuiet, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const segments = 60
	for i := 0; len(reviewSegs(t, cfs)) < segments; i++ {
		if _, err := w.Append(reviewPayload(i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if err := r.Refresh(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	if r.NextOffset() != w.NextOffset() {
		t.Fatalf("reader at %d, writer at %d", r.NextOffset(), w.NextOffset())
	}
	if err := reviewCheckAll(r); err != nil {
		t.Fatal(err)
	}
	if n := open.Load(); n > 16+1+4 {
		t.Errorf("reader holds %d files open for %d segments", n, segments)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := open.Load(); n != 0 {
		t.Errorf("%d files still open after Close", n)
	}
}
