package crashfs

import (
	"errors"
	"fmt"
	"math"
)

// ErrCrashed is returned by every mutating operation at and after the point
// chosen with FS.CrashAfter: the simulated machine is down and nothing it is
// asked to do takes effect.
var ErrCrashed = errors.New("crashfs: simulated crash: the machine is down")

// OpKind names a kind of mutating operation.
type OpKind int

// The mutating operations the hook sees. Reads, Stat, ReadDir, MkdirAll,
// Close and the test helpers (WriteFile, Corrupt) are not hooked.
const (
	OpWrite    OpKind = iota + 1 // File.WriteAt; Off and Len describe the write
	OpSync                       // File.Sync
	OpSyncDir                    // FS.SyncDir; Name is the directory
	OpCreate                     // FS.OpenFile or FS.Lock that creates the file
	OpRename                     // FS.Rename; Name is the old name, NewName the new one
	OpRemove                     // FS.Remove
	OpTruncate                   // File.Truncate (Off is the new size), or OpenFile with O_TRUNC on an existing file
)

func (k OpKind) String() string {
	switch k {
	case OpWrite:
		return "write"
	case OpSync:
		return "sync"
	case OpSyncDir:
		return "syncdir"
	case OpCreate:
		return "create"
	case OpRename:
		return "rename"
	case OpRemove:
		return "remove"
	case OpTruncate:
		return "truncate"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op describes a mutating operation about to be performed.
type Op struct {
	Kind    OpKind
	Name    string // file or directory name, as passed by the caller
	NewName string // OpRename only: the destination
	Off     int64  // OpWrite: offset; OpTruncate: new size
	Len     int    // OpWrite: length of the write
}

func (op Op) String() string {
	switch op.Kind {
	case OpWrite:
		return fmt.Sprintf("write %s [%d,+%d)", op.Name, op.Off, op.Len)
	case OpTruncate:
		return fmt.Sprintf("truncate %s to %d", op.Name, op.Off)
	case OpRename:
		return fmt.Sprintf("rename %s -> %s", op.Name, op.NewName)
	}
	return op.Kind.String() + " " + op.Name
}

// PartialWrite, returned by a hook (or given to Inject) for an OpWrite, makes
// WriteAt write only the first N bytes and then fail with Err, the way a
// write that runs out of space part way does. A nil Err is reported as
// io.ErrShortWrite when N is short. For any other kind of operation a
// PartialWrite is just an error that fails it.
type PartialWrite struct {
	N   int
	Err error
}

func (p PartialWrite) Error() string {
	return fmt.Sprintf("crashfs: partial write of %d bytes: %v", p.N, p.Err)
}

func (p PartialWrite) Unwrap() error { return p.Err }

// SetHook installs h, replacing any previous hook; nil removes it. h is
// called before every mutating operation whose arguments are valid, and if
// it returns an error the operation does not take effect and the caller gets
// that error (wrapped in *fs.PathError or *os.LinkError, as os would).
//
// Mutating operations are serialized while h runs, so h may inspect the FS
// (Ops, ReadFile, Stat, ReadDir, ReadAt, even Crash to snapshot the state at
// this exact point) but must not call a mutating method or Close, which
// would deadlock.
func (f *FS) SetHook(h func(op Op) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// Ops reports how many mutating operations have been attempted so far,
// including those that failed by hook, Inject or CrashAfter.
func (f *FS) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// CrashAfter lets n more mutating operations proceed and makes the next one
// and every one after it fail with ErrCrashed without taking effect.
// CrashAfter(0) crashes at the very next operation; on a fresh FS,
// CrashAfter(n) crashes at the operation Ops would number n. A negative n
// cancels the crash.
func (f *FS) CrashAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 0 {
		f.crashAt = -1
		return
	}
	f.crashAt = f.ops + n
	if f.crashAt < 0 { // overflow: never
		f.crashAt = math.MaxInt
	}
}

// Inject makes the nth (0-based) next operation of the given kind fail with
// err without taking effect; other operations proceed. Like CrashAfter,
// counting starts at this call. A PartialWrite err on OpWrite performs part
// of the write. A nil err cancels an earlier Inject for the same operation.
func (f *FS) Inject(kind OpKind, nth int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if nth < 0 {
		return
	}
	key := injectKey{kind, f.kindOps[kind] + nth}
	if err == nil {
		delete(f.injected, key)
		return
	}
	f.injected[key] = err
}

type injectKey struct {
	kind OpKind
	nth  int
}

// before counts op and decides whether it may proceed: a crash takes
// precedence over an injected error, which takes precedence over the hook.
// The caller holds f.opMu, not f.mu, so the hook can read the FS.
func (f *FS) before(op Op) error {
	f.mu.Lock()
	n := f.ops
	f.ops++
	k := f.kindOps[op.Kind]
	f.kindOps[op.Kind]++
	var err error
	if f.crashAt >= 0 && n >= f.crashAt {
		err = ErrCrashed
	} else if e, ok := f.injected[injectKey{op.Kind, k}]; ok {
		delete(f.injected, injectKey{op.Kind, k})
		err = e
	}
	h := f.hook
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if h != nil {
		return h(op)
	}
	return nil
}
