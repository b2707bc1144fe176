package log_test

import (
	"io/fs"
	"sync/atomic"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
)

// countFS counts the files open through it.
type countFS struct {
	*crashfs.FS
	open *atomic.Int64
}

type countFile struct {
	vfs.File
	open   *atomic.Int64
	closed atomic.Bool
}

func (c countFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	return &countFile{File: f, open: c.open}, nil
}

func (f *countFile) Close() error {
	if !f.closed.Swap(true) {
		f.open.Add(-1)
	}
	return f.File.Close()
}

// TestOpenFilesBounded: a log that is never acknowledged (an agent
// offline for long) keeps growing. The sealed segments hold open files only
// up to a bound (maxLoaded, lowered to 16 here), whether they were loaded
// by a read or sealed by this process's own rolls.
func TestOpenFilesBounded(t *testing.T) {
	defer seglog.SetLoadBounds(16, 12<<20)()
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncInterval, seglog.SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			var open atomic.Int64
			fsys := countFS{FS: crashfs.New(), open: &open}
			l, err := seglog.Open(crashDir, &seglog.Options{FS: fsys, Logger: quiet, SegmentSize: seglog.MinSegmentSize, Sync: policy})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			const segments = 60
			for i := 0; len(procSegs(t, fsys.FS)) < segments; i++ {
				if _, err := l.Append(procPayload(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := readEvery(l); err != nil {
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

// TestOpenFilesBoundedReadOnly: the same for a read-only reader
// following a writer with Refresh.
func TestOpenFilesBoundedReadOnly(t *testing.T) {
	defer seglog.SetLoadBounds(16, 12<<20)()
	cfs := crashfs.New()
	w, err := seglog.Open(crashDir, &seglog.Options{FS: cfs, Logger: quiet, SegmentSize: seglog.MinSegmentSize})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var open atomic.Int64
	r, err := seglog.Open(crashDir, &seglog.Options{FS: countFS{FS: cfs, open: &open}, Logger: quiet, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const segments = 60
	for i := 0; len(procSegs(t, cfs)) < segments; i++ {
		if _, err := w.Append(procPayload(i)); err != nil {
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
	if err := readEvery(r); err != nil {
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
