package crashfs

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/seglog/seglog/log/vfs"
)

// MaxFileSize bounds the size of a file. Writes or truncates beyond it fail
// with EFBIG instead of trying to allocate the memory.
const MaxFileSize = 1 << 30

// FS is an in-memory vfs.FS that can simulate a crash (see Crash) and fail
// chosen operations (see SetHook, CrashAfter and Inject). The zero value is
// not usable; call New.
type FS struct {
	// opMu serializes the methods that change files or directories, from
	// argument checks through the hook to the effect, so that what the hook
	// was told is what happens. It is taken before mu and is not held by
	// readers, so a hook may read the FS.
	opMu sync.Mutex

	mu       sync.Mutex // guards everything below and all inodes
	dirs     map[string]*dir
	locks    map[string]*lockHandle
	hook     func(Op) error
	ops      int
	kindOps  map[OpKind]int
	crashAt  int // index of the first operation to fail with ErrCrashed; -1: none
	injected map[injectKey]error
}

var _ vfs.FS = (*FS)(nil)

// dir is a directory: its current namespace and the one that survives a
// crash. Both map base names to inodes; subdirectories are not entries, they
// are found by path in FS.dirs, since they are always durable.
type dir struct {
	perm    fs.FileMode
	cur     map[string]*inode
	durable map[string]*inode
}

func newDir(perm fs.FileMode) *dir {
	return &dir{perm: perm & fs.ModePerm, cur: map[string]*inode{}, durable: map[string]*inode{}}
}

// New returns an empty FS holding the directories "." and "/".
func New() *FS {
	return &FS{
		dirs:     map[string]*dir{".": newDir(0o755), "/": newDir(0o755)},
		locks:    map[string]*lockHandle{},
		kindOps:  map[OpKind]int{},
		crashAt:  -1,
		injected: map[injectKey]error{},
	}
}

// lookup resolves name to its cleaned form, its parent directory and base
// name. It fails if the parent does not exist, or with EISDIR if name is
// itself a directory. f.mu must be held.
func (f *FS) lookup(op, name string) (clean string, d *dir, base string, err error) {
	clean = filepath.Clean(name)
	if f.dirs[clean] != nil {
		return "", nil, "", &fs.PathError{Op: op, Path: name, Err: syscall.EISDIR}
	}
	d = f.dirs[filepath.Dir(clean)]
	if d == nil {
		errno := syscall.ENOENT
		if f.fileAncestor(clean) {
			errno = syscall.ENOTDIR
		}
		return "", nil, "", &fs.PathError{Op: op, Path: name, Err: errno}
	}
	return clean, d, filepath.Base(clean), nil
}

// fileAncestor reports whether some ancestor of the cleaned path p is a
// file, which makes the OS fail a lookup with ENOTDIR rather than ENOENT.
// f.mu must be held.
func (f *FS) fileAncestor(p string) bool {
	for {
		parent := filepath.Dir(p)
		if parent == p {
			return false
		}
		if d := f.dirs[filepath.Dir(parent)]; d != nil && d.cur[filepath.Base(parent)] != nil {
			return true
		}
		p = parent
	}
}

// file returns the inode name currently refers to. f.mu must be held.
func (f *FS) file(op, name string) (*dir, string, *inode, error) {
	_, d, base, err := f.lookup(op, name)
	if err != nil {
		return nil, "", nil, err
	}
	ino := d.cur[base]
	if ino == nil {
		return nil, "", nil, &fs.PathError{Op: op, Path: name, Err: syscall.ENOENT}
	}
	return d, base, ino, nil
}

// dirOf returns the directory named name. f.mu must be held.
func (f *FS) dirOf(op, name string) (*dir, error) {
	d := f.dirs[filepath.Clean(name)]
	if d != nil {
		return d, nil
	}
	_, _, _, err := f.file(op, name)
	if err == nil || errors.Is(err, syscall.ENOTDIR) {
		return nil, &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
	}
	return nil, &fs.PathError{Op: op, Path: name, Err: syscall.ENOENT}
}

const supportedFlags = os.O_RDONLY | os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_EXCL | os.O_TRUNC

// OpenFile opens name. Flags other than os.O_RDONLY, O_WRONLY, O_RDWR,
// O_CREATE, O_EXCL and O_TRUNC are rejected with EINVAL rather than ignored,
// so that a caller relying on, say, O_APPEND notices. Directories cannot be
// opened. Creating a file is an OpCreate; truncating an existing one with
// O_TRUNC is an OpTruncate.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f.opMu.Lock()
	defer f.opMu.Unlock()
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	if flag&^supportedFlags != 0 || acc == os.O_WRONLY|os.O_RDWR {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EINVAL}
	}
	f.mu.Lock()
	_, d, base, err := f.lookup("open", name)
	var ino *inode
	if err == nil {
		ino = d.cur[base]
	}
	f.mu.Unlock()
	switch {
	case err != nil:
		return nil, err
	case ino == nil && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOENT}
	case ino != nil && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EEXIST}
	case ino == nil:
		if err := f.before(Op{Kind: OpCreate, Name: name}); err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		ino = &inode{perm: perm & fs.ModePerm}
		f.mu.Lock()
		d.cur[base] = ino
		f.mu.Unlock()
	case flag&os.O_TRUNC != 0:
		if err := f.before(Op{Kind: OpTruncate, Name: name}); err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		f.mu.Lock()
		ino.truncate(0)
		f.mu.Unlock()
	}
	return &file{
		fs:       f,
		ino:      ino,
		name:     name,
		readable: acc == os.O_RDONLY || acc == os.O_RDWR,
		writable: acc == os.O_WRONLY || acc == os.O_RDWR,
	}, nil
}

// Remove unlinks a file from the current namespace; open handles keep
// working. Removing a directory is not supported.
func (f *FS) Remove(name string) error {
	f.opMu.Lock()
	defer f.opMu.Unlock()
	f.mu.Lock()
	if f.dirs[filepath.Clean(name)] != nil {
		f.mu.Unlock()
		return &fs.PathError{Op: "remove", Path: name, Err: errors.ErrUnsupported}
	}
	d, base, _, err := f.file("remove", name)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if err := f.before(Op{Kind: OpRemove, Name: name}); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	f.mu.Lock()
	delete(d.cur, base)
	f.mu.Unlock()
	return nil
}

// Rename points newname at oldname's inode and unlinks oldname, in the
// current namespaces of their directories. Renaming directories is not
// supported.
func (f *FS) Rename(oldname, newname string) error {
	f.opMu.Lock()
	defer f.opMu.Unlock()
	linkErr := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	f.mu.Lock()
	if f.dirs[filepath.Clean(oldname)] != nil {
		f.mu.Unlock()
		return linkErr(errors.ErrUnsupported)
	}
	od, ob, ino, err := f.file("rename", oldname)
	if err != nil {
		f.mu.Unlock()
		return linkErr(syscall.ENOENT)
	}
	newClean, nd, nb, err := f.lookup("rename", newname)
	f.mu.Unlock()
	if err != nil {
		return linkErr(errno(err))
	}
	if err := f.before(Op{Kind: OpRename, Name: oldname, NewName: newname}); err != nil {
		return linkErr(err)
	}
	if filepath.Clean(oldname) == newClean {
		return nil
	}
	f.mu.Lock()
	nd.cur[nb] = ino
	delete(od.cur, ob)
	f.mu.Unlock()
	return nil
}

// ReadDir lists the base names of the files (current namespace) and
// subdirectories of dir, sorted.
func (f *FS) ReadDir(dirname string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.dirOf("open", dirname)
	if err != nil {
		return nil, err
	}
	clean := filepath.Clean(dirname)
	names := slices.Collect(maps.Keys(d.cur))
	for p := range f.dirs {
		if p != clean && filepath.Dir(p) == clean {
			names = append(names, filepath.Base(p))
		}
	}
	if names == nil {
		names = []string{}
	}
	slices.Sort(names)
	return names, nil
}

// MkdirAll creates dir and its missing parents. Directories are durable at
// once: seglog creates its directory before anything else, and modelling
// its loss would only test the test.
func (f *FS) MkdirAll(dirname string, perm fs.FileMode) error {
	f.opMu.Lock()
	defer f.opMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	var missing []string
	p := filepath.Clean(dirname)
	for f.dirs[p] == nil {
		missing = append(missing, p)
		parent := filepath.Dir(p)
		if parent == p { // a root we do not know, such as a volume name
			break
		}
		p = parent
	}
	if len(missing) == 0 {
		return nil
	}
	// Only the topmost missing directory has an existing parent, so only it
	// can collide with a file.
	top := missing[len(missing)-1]
	if pd := f.dirs[filepath.Dir(top)]; pd != nil && pd.cur[filepath.Base(top)] != nil {
		return &fs.PathError{Op: "mkdir", Path: top, Err: syscall.ENOTDIR}
	}
	for _, p := range missing {
		f.dirs[p] = newDir(perm)
	}
	return nil
}

// SyncDir makes the current namespace of dir durable.
func (f *FS) SyncDir(dirname string) error {
	f.opMu.Lock()
	defer f.opMu.Unlock()
	f.mu.Lock()
	d, err := f.dirOf("sync", dirname)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if err := f.before(Op{Kind: OpSyncDir, Name: dirname}); err != nil {
		return &fs.PathError{Op: "sync", Path: dirname, Err: err}
	}
	f.mu.Lock()
	d.durable = maps.Clone(d.cur)
	f.mu.Unlock()
	return nil
}

// Stat describes a file or directory.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clean := filepath.Clean(name)
	if d := f.dirs[clean]; d != nil {
		return fileInfo{name: filepath.Base(clean), mode: fs.ModeDir | d.perm}, nil
	}
	_, _, ino, err := f.file("stat", name)
	if err != nil {
		return nil, err
	}
	return fileInfo{name: filepath.Base(clean), size: int64(len(ino.data)), mode: ino.perm}, nil
}

// ReadFile returns a copy of the current contents of name. It is a test
// helper: it is not hooked or counted.
func (f *FS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, _, ino, err := f.file("open", name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(ino.data), nil
}

// WriteFile sets the contents of name to data, creating it if needed, and
// makes both the contents and the directory entry durable, as if written,
// synced and its directory synced. It is a test helper for preparing state:
// it is not hooked or counted. Handles already open on name see the new
// contents.
func (f *FS) WriteFile(name string, data []byte) error {
	f.opMu.Lock()
	defer f.opMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(data) > MaxFileSize {
		return &fs.PathError{Op: "write", Path: name, Err: syscall.EFBIG}
	}
	_, d, base, err := f.lookup("open", name)
	if err != nil {
		return err
	}
	ino := d.cur[base]
	if ino == nil {
		ino = &inode{perm: 0o644}
		d.cur[base] = ino
	}
	ino.data = slices.Clone(data)
	ino.synced = slices.Clone(data)
	ino.pending = nil
	d.durable[base] = ino
	return nil
}

// Corrupt XORs the byte at off of name with xor, in both the current and
// the synced contents: damage at rest that no crash mode repairs, for
// testing checksums. off must lie within the current contents. It is not
// hooked or counted.
func (f *FS) Corrupt(name string, off int64, xor byte) error {
	f.opMu.Lock()
	defer f.opMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	_, _, ino, err := f.file("corrupt", name)
	if err != nil {
		return err
	}
	if off < 0 || off >= int64(len(ino.data)) {
		return &fs.PathError{Op: "corrupt", Path: name, Err: syscall.EINVAL}
	}
	ino.data[off] ^= xor
	if off < int64(len(ino.synced)) {
		ino.synced[off] ^= xor
	}
	return nil
}

// errno strips the *fs.PathError that lookup wraps around its errors.
func errno(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }
