package log_test

import (
	"io/fs"
	"sync/atomic"
	"testing"

	"github.com/seglog/seglog/internal/vfs"
	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// countingFS counts the files open through it.
type countingFS struct {
	*crashfs.FS
	open atomic.Int64
}

type countedFile struct {
	vfs.File
	fs     *countingFS
	closed atomic.Bool
}

func (c *countingFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	return &countedFile{File: f, fs: c}, nil
}

func (f *countedFile) Close() error {
	if f.closed.CompareAndSwap(false, true) {
		f.fs.open.Add(-1)
	}
	return f.File.Close()
}

// TestRecordsPanicKeepsNoFile: a loop over Records whose body panics
// leaves no file open once the log is closed.
func TestRecordsPanicKeepsNoFile(t *testing.T) {
	fsys := &countingFS{FS: crashfs.New()}
	l, err := seglog.Open("/panicky", &seglog.Options{FS: fsys, Logger: coreQuiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([]byte("one")); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		for range l.Records(0) {
			panic("in the loop body")
		}
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fsys.open.Load(); n != 0 {
		t.Fatalf("%d files still open after Close", n)
	}
}
