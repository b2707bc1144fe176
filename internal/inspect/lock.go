package inspect

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
)

// ErrLocked is returned by LockWriter while a writer has the log open.
var ErrLocked = seglog.ErrLocked

// WriterActive reports whether a process holds the log's writer lock
// (the flock(2) on the LOCK file that seglog.Open takes). It finds out by
// trying the lock without blocking and releasing it at once; it creates
// nothing, so a log without a LOCK file has no writer. A writer starting
// in the microseconds the lock is tried would fail its Open with
// seglog.ErrLocked, as it would beside any other lock holder.
func WriterActive(dir string) (bool, error) { return writerActive(vfs.Default, dir) }

// writerActive is WriterActive through fsys. Another filesystem than the
// operating system's is probed through its own Lock, only when the lock
// file exists, so that nothing is created.
func writerActive(fsys vfs.FS, dir string) (bool, error) {
	if fsys != vfs.Default {
		name := filepath.Join(dir, seglog.LockFile)
		if _, err := fsys.Stat(name); errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		l, err := fsys.Lock(name, 0o640)
		if errors.Is(err, vfs.ErrLocked) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return false, l.Close()
	}
	f, err := os.Open(filepath.Join(dir, seglog.LockFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// LockWriter takes the log's writer lock exactly as seglog.Open does, so
// that no writer can open the log until it is released. It fails with an
// error matching ErrLocked while a writer holds it.
func LockWriter(dir string) (io.Closer, error) { return lockWriter(vfs.Default, dir) }

func lockWriter(fsys vfs.FS, dir string) (io.Closer, error) {
	l, err := fsys.Lock(filepath.Join(dir, seglog.LockFile), 0o640)
	if errors.Is(err, vfs.ErrLocked) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	}
	return l, err
}
