package crashfs

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"syscall"

	"github.com/seglog/seglog/log/vfs"
)

// inode is a file's contents, independent of the names pointing at it.
type inode struct {
	perm    fs.FileMode
	data    []byte   // current contents, what reads see
	synced  []byte   // contents as of the last successful Sync
	pending []change // writes and truncates since that Sync, in order
}

// change is one unsynced operation, kept so that a crash can replay it in
// full, in part or not at all.
type change struct {
	truncate bool
	off      int64  // write offset, or the new size of a truncate
	data     []byte // written bytes, owned by the change
}

func (ino *inode) write(off int64, p []byte) {
	ino.data = writeAt(ino.data, off, p)
	ino.pending = append(ino.pending, change{off: off, data: slices.Clone(p)})
}

func (ino *inode) truncate(size int64) {
	ino.data = truncate(ino.data, size)
	ino.pending = append(ino.pending, change{truncate: true, off: size})
}

func (ino *inode) sync() {
	ino.synced = slices.Clone(ino.data)
	ino.pending = nil
}

// writeAt writes p at off in buf, zero-filling any gap, and returns the
// possibly reallocated buf. Callers bound off+len(p) by MaxFileSize.
func writeAt(buf []byte, off int64, p []byte) []byte {
	if end := int(off) + len(p); end > len(buf) {
		buf = append(buf, make([]byte, end-len(buf))...)
	}
	copy(buf[off:], p)
	return buf
}

// truncate resizes buf to size. Growing appends zeros explicitly rather than
// reslicing, so bytes cut off by an earlier shrink do not reappear.
func truncate(buf []byte, size int64) []byte {
	if int(size) <= len(buf) {
		return buf[:size]
	}
	return append(buf, make([]byte, int(size)-len(buf))...)
}

// file is an open handle on an inode. Its name is the one it was opened
// with; renaming or removing that name does not affect the handle.
type file struct {
	fs       *FS
	ino      *inode
	name     string
	readable bool
	writable bool
	closed   bool // set with both fs.opMu and fs.mu held
}

var _ vfs.File = (*file)(nil)

func (h *file) err(op string, err error) error {
	return &fs.PathError{Op: op, Path: h.name, Err: err}
}

// check validates the handle for an operation. fs.mu or fs.opMu must be held.
func (h *file) check(op string, needRead, needWrite bool) error {
	switch {
	case h.closed:
		return h.err(op, fs.ErrClosed)
	case needRead && !h.readable, needWrite && !h.writable:
		return h.err(op, syscall.EBADF)
	}
	return nil
}

// ReadAt reads the current contents, returning io.EOF with a short count at
// the end of the file, as os.File does.
func (h *file) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("read", true, false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, h.err("readat", errors.New("negative offset"))
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= int64(len(h.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off, extending the file with zeros if off is past its
// end. The write is an OpWrite, which a hook may make partial.
func (h *file) WriteAt(p []byte, off int64) (int, error) {
	h.fs.opMu.Lock()
	defer h.fs.opMu.Unlock()
	if err := h.check("write", false, true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, h.err("writeat", errors.New("negative offset"))
	}
	if off > MaxFileSize-int64(len(p)) {
		return 0, h.err("write", syscall.EFBIG)
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := len(p)
	err := h.fs.before(Op{Kind: OpWrite, Name: h.name, Off: off, Len: len(p)})
	if err != nil {
		var pw PartialWrite
		if !errors.As(err, &pw) {
			return 0, h.err("write", err)
		}
		n = min(max(pw.N, 0), len(p))
		err = pw.Err
		if err == nil && n < len(p) {
			err = io.ErrShortWrite
		}
	}
	if n > 0 {
		h.fs.mu.Lock()
		h.ino.write(off, p[:n])
		h.fs.mu.Unlock()
	}
	if err != nil {
		return n, h.err("write", err)
	}
	return n, nil
}

// Sync makes the current contents durable. It is an OpSync. As with fsync,
// a read-only handle may be synced.
func (h *file) Sync() error {
	h.fs.opMu.Lock()
	defer h.fs.opMu.Unlock()
	if err := h.check("sync", false, false); err != nil {
		return err
	}
	if err := h.fs.before(Op{Kind: OpSync, Name: h.name}); err != nil {
		return h.err("sync", err)
	}
	h.fs.mu.Lock()
	h.ino.sync()
	h.fs.mu.Unlock()
	return nil
}

// Truncate changes the size of the file. It is an OpTruncate.
func (h *file) Truncate(size int64) error {
	h.fs.opMu.Lock()
	defer h.fs.opMu.Unlock()
	if err := h.check("truncate", false, true); err != nil {
		return err
	}
	if size < 0 {
		return h.err("truncate", syscall.EINVAL)
	}
	if size > MaxFileSize {
		return h.err("truncate", syscall.EFBIG)
	}
	if err := h.fs.before(Op{Kind: OpTruncate, Name: h.name, Off: size}); err != nil {
		return h.err("truncate", err)
	}
	h.fs.mu.Lock()
	h.ino.truncate(size)
	h.fs.mu.Unlock()
	return nil
}

func (h *file) Size() (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.check("stat", false, false); err != nil {
		return 0, err
	}
	return int64(len(h.ino.data)), nil
}

func (h *file) Name() string { return h.name }

// Close releases the handle. Unsynced data stays unsynced: closing is not
// syncing.
func (h *file) Close() error {
	h.fs.opMu.Lock()
	defer h.fs.opMu.Unlock()
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return h.err("close", fs.ErrClosed)
	}
	h.closed = true
	return nil
}
