package vfs

import (
	"errors"
	"io"
	"io/fs"
)

// ErrLocked is returned by FS.Lock when another holder has the lock.
var ErrLocked = errors.New("vfs: lock held by another owner")

// FS is the set of filesystem operations seglog performs.
// Names are slash-free paths as accepted by the os package.
type FS interface {
	// OpenFile opens name with os.OpenFile's flag semantics
	// (os.O_RDONLY, os.O_RDWR, os.O_CREATE, os.O_EXCL, os.O_TRUNC).
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Remove removes a file. The removal is durable after SyncDir.
	Remove(name string) error
	// Rename atomically replaces newname with oldname. Durable after SyncDir.
	Rename(oldname, newname string) error
	// ReadDir lists the names in a directory, in no particular order.
	ReadDir(dir string) ([]string, error)
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string, perm fs.FileMode) error
	// SyncDir makes the directory's entries durable.
	SyncDir(dir string) error
	// Stat describes a file.
	Stat(name string) (fs.FileInfo, error)
	// Lock takes an exclusive, non-blocking lock on the file name, creating
	// it if needed. It fails with an error matching ErrLocked if the lock is
	// held, by this process or another. Closing the returned Closer releases it.
	Lock(name string, perm fs.FileMode) (io.Closer, error)
}

// File is an open file. ReadAt may be called concurrently with WriteAt on
// regions that do not overlap.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync makes the file's written data and size durable (fdatasync(2)
	// where the system has it: timestamps are not part of it).
	Sync() error
	// Truncate changes the file's size. Durable after Sync.
	Truncate(size int64) error
	// Size reports the file's current size.
	Size() (int64, error)
	// Name reports the name the file was opened with.
	Name() string
}

// Writeback is implemented by files that can start writing a range of
// their written data to the disk without waiting for it (Linux's
// sync_file_range(2) with SYNC_FILE_RANGE_WRITE), so that a later Sync
// finds less left to do. It makes nothing durable: only Sync does.
type Writeback interface {
	StartWriteback(off, n int64) error
}
