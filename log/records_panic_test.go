package log_test

import (
	"sync/atomic"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// TestRecordsPanicKeepsNoFile: a loop over Records whose body panics
// leaves no file open once the log is closed.
func TestRecordsPanicKeepsNoFile(t *testing.T) {
	var open atomic.Int64
	fsys := countFS{FS: crashfs.New(), open: &open}
	l, err := seglog.Open("/panicky", &seglog.Options{FS: fsys, Logger: quiet})
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
	if n := open.Load(); n != 0 {
		t.Fatalf("%d files still open after Close", n)
	}
}
