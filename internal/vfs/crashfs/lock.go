package crashfs

import (
	"io"
	"io/fs"

	"github.com/seglog/seglog/log/vfs"
)

// lockHandle is a held lock. Locks live in the FS, not in its files, so a
// crash (which returns a new FS) releases them all, as the death of the
// process releases flock locks.
type lockHandle struct {
	fs       *FS
	key      string
	name     string
	released bool
}

// Lock takes the exclusive lock on name, creating the file (an OpCreate) if
// needed, as the OS implementation does. Locks are keyed by cleaned name;
// a second Lock of a held name fails with an error matching vfs.ErrLocked.
func (f *FS) Lock(name string, perm fs.FileMode) (io.Closer, error) {
	f.opMu.Lock()
	defer f.opMu.Unlock()
	f.mu.Lock()
	clean, d, base, err := f.lookup("lock", name)
	var ino *inode
	if err == nil {
		if f.locks[clean] != nil {
			err = &fs.PathError{Op: "lock", Path: name, Err: vfs.ErrLocked}
		}
		ino = d.cur[base]
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if ino == nil {
		if err := f.before(Op{Kind: OpCreate, Name: name}); err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ino == nil {
		d.cur[base] = &inode{perm: perm & fs.ModePerm}
	}
	l := &lockHandle{fs: f, key: clean, name: name}
	f.locks[clean] = l
	return l, nil
}

// Close releases the lock. The file stays.
func (l *lockHandle) Close() error {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.released {
		return &fs.PathError{Op: "close", Path: l.name, Err: fs.ErrClosed}
	}
	l.released = true
	if l.fs.locks[l.key] == l {
		delete(l.fs.locks, l.key)
	}
	return nil
}
