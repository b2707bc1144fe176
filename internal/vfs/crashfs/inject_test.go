package crashfs_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	"github.com/seglog/seglog/log/vfs"
)

// workload performs one operation of each kind, in a fixed order, and
// returns the error of each; it stops at nothing, like a careless caller.
func workload(fsys *crashfs.FS) []error {
	var errs []error
	rec := func(err error) { errs = append(errs, err) }
	f, err := fsys.OpenFile("db/a", os.O_RDWR|os.O_CREATE, 0o644) // create
	rec(err)
	if f == nil {
		f, _ = fsys.OpenFile("db/a", os.O_RDWR|os.O_CREATE, 0o644)
	}
	if f == nil { // the create keeps failing: pad the remaining slots
		return append(errs, err, err, err, err, err, err, err, err)
	}
	_, err = f.WriteAt([]byte("abcdef"), 0) // write
	rec(err)
	rec(f.Truncate(4))      // truncate
	rec(f.Sync())           // sync
	rec(fsys.SyncDir("db")) // syncdir
	rec(f.Close())
	rec(fsys.Rename("db/a", "db/b"))                                         // rename
	rec(fsys.Remove("db/b"))                                                 // remove
	g, err := fsys.OpenFile("db/c", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644) // create
	rec(err)
	if g != nil {
		g.Close()
	}
	return errs
}

func TestHookSeesOps(t *testing.T) {
	fsys := crashfs.New()
	fsys.MkdirAll("db", 0o755)
	fsys.WriteFile("db/x", []byte("x"))
	var got []crashfs.Op
	fsys.SetHook(func(op crashfs.Op) error {
		got = append(got, op)
		return nil
	})
	for _, err := range workload(fsys) {
		if err != nil {
			t.Fatal(err)
		}
	}
	f := mustOpen(t, fsys, "db/x", os.O_RDWR|os.O_TRUNC)
	f.Close()
	l, err := fsys.Lock("db/LOCK", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := fsys.Lock("db/LOCK", 0o600); err != nil { // exists: no create
		t.Fatal(err)
	}
	want := []crashfs.Op{
		{Kind: crashfs.OpCreate, Name: "db/a"},
		{Kind: crashfs.OpWrite, Name: "db/a", Off: 0, Len: 6},
		{Kind: crashfs.OpTruncate, Name: "db/a", Off: 4},
		{Kind: crashfs.OpSync, Name: "db/a"},
		{Kind: crashfs.OpSyncDir, Name: "db"},
		{Kind: crashfs.OpRename, Name: "db/a", NewName: "db/b"},
		{Kind: crashfs.OpRemove, Name: "db/b"},
		{Kind: crashfs.OpCreate, Name: "db/c"},
		{Kind: crashfs.OpTruncate, Name: "db/x"},
		{Kind: crashfs.OpCreate, Name: "db/LOCK"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ops:\n got %v\nwant %v", got, want)
	}
	if fsys.Ops() != len(want) {
		t.Errorf("Ops() = %d, want %d", fsys.Ops(), len(want))
	}
	// Invalid operations fail before reaching the hook and are not counted.
	got = nil
	fsys.Remove("db/missing")
	fsys.Rename("db/missing", "db/y")
	fsys.OpenFile("db/x", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	fsys.SyncDir("nodir")
	if len(got) != 0 || fsys.Ops() != len(want) {
		t.Errorf("invalid operations reached the hook: %v", got)
	}
}

func TestHookFailureHasNoEffect(t *testing.T) {
	errHook := errors.New("injected")
	tests := []struct {
		kind crashfs.OpKind
		do   func(fsys *crashfs.FS, f vfs.File) error
	}{
		{crashfs.OpWrite, func(_ *crashfs.FS, f vfs.File) error { _, err := f.WriteAt([]byte("XX"), 0); return err }},
		{crashfs.OpTruncate, func(_ *crashfs.FS, f vfs.File) error { return f.Truncate(1) }},
		{crashfs.OpSync, func(_ *crashfs.FS, f vfs.File) error { return f.Sync() }},
		{crashfs.OpSyncDir, func(fsys *crashfs.FS, _ vfs.File) error { return fsys.SyncDir(".") }},
		{crashfs.OpCreate, func(fsys *crashfs.FS, _ vfs.File) error {
			_, err := fsys.OpenFile("new", os.O_RDWR|os.O_CREATE, 0o644)
			return err
		}},
		{crashfs.OpCreate, func(fsys *crashfs.FS, _ vfs.File) error { _, err := fsys.Lock("LOCK", 0o644); return err }},
		{crashfs.OpTruncate, func(fsys *crashfs.FS, _ vfs.File) error {
			_, err := fsys.OpenFile("a", os.O_RDWR|os.O_TRUNC, 0o644)
			return err
		}},
		{crashfs.OpRename, func(fsys *crashfs.FS, _ vfs.File) error { return fsys.Rename("a", "b") }},
		{crashfs.OpRemove, func(fsys *crashfs.FS, _ vfs.File) error { return fsys.Remove("a") }},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			fsys := crashfs.New()
			fsys.WriteFile("a", []byte("synced"))
			f := mustOpen(t, fsys, "a", os.O_RDWR)
			defer f.Close()
			mustWriteAt(t, f, "S", 0) // unsynced, to see whether a Sync happens
			fsys.WriteFile("dirty", nil)
			fsys.Remove("dirty") // an unsynced dir change, to see whether a SyncDir happens
			before := dump(t, fsys, ".")
			beforeLost := dump(t, fsys.Crash(nil, crashfs.CrashLoseUnsynced), ".")
			fsys.SetHook(func(op crashfs.Op) error {
				if op.Kind == tt.kind {
					return errHook
				}
				return nil
			})
			if err := tt.do(fsys, f); !errors.Is(err, errHook) {
				t.Fatalf("err = %v, want the hook's", err)
			}
			if after := dump(t, fsys, "."); !mapsEqual(before, after) {
				t.Errorf("current state changed: %q -> %q", before, after)
			}
			if after := dump(t, fsys.Crash(nil, crashfs.CrashLoseUnsynced), "."); !mapsEqual(beforeLost, after) {
				t.Errorf("durable state changed: %q -> %q", beforeLost, after)
			}
			// A failed Lock must not leave the lock held.
			fsys.SetHook(nil)
			l, err := fsys.Lock("LOCK", 0o644)
			if err != nil {
				t.Fatalf("Lock after failures: %v", err)
			}
			l.Close()
		})
	}
}

// A hook may read the FS, including taking a crash snapshot at the exact
// point of an operation, without deadlocking.
func TestHookMayReadFS(t *testing.T) {
	fsys := crashfs.New()
	fsys.MkdirAll("db", 0o755)
	var snaps []*crashfs.FS
	var counts []int
	fsys.SetHook(func(op crashfs.Op) error {
		counts = append(counts, fsys.Ops())
		snaps = append(snaps, fsys.Crash(nil, crashfs.CrashKeepAll))
		fsys.Stat("db")
		fsys.ReadDir("db")
		return nil
	})
	workload(fsys)
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(counts, want) {
		t.Errorf("Ops() seen by hook = %v, want %v", counts, want)
	}
	// The snapshot before the write has db/a empty, the one before the
	// truncate has it full.
	if got := readFile(t, snaps[1], "db/a"); got != "" {
		t.Errorf("before write: %q", got)
	}
	if got := readFile(t, snaps[2], "db/a"); got != "abcdef" {
		t.Errorf("before truncate: %q", got)
	}
}

func TestInject(t *testing.T) {
	tests := []struct {
		name string
		kind crashfs.OpKind
		nth  int
		err  error
		// index into workload's results that must fail; all others succeed
		fails int
	}{
		{"enospc on first write", crashfs.OpWrite, 0, syscall.ENOSPC, 1},
		{"eio on sync", crashfs.OpSync, 0, syscall.EIO, 3},
		{"eio on syncdir", crashfs.OpSyncDir, 0, syscall.EIO, 4},
		{"second create", crashfs.OpCreate, 1, syscall.EDQUOT, 8},
		{"rename", crashfs.OpRename, 0, syscall.EXDEV, 6},
		{"truncate", crashfs.OpTruncate, 0, syscall.EIO, 2},
		{"beyond the workload", crashfs.OpWrite, 5, syscall.EIO, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := crashfs.New()
			fsys.MkdirAll("db", 0o755)
			fsys.Inject(tt.kind, tt.nth, tt.err)
			errs := workload(fsys)
			for i, err := range errs {
				switch {
				case i == tt.fails && !errors.Is(err, tt.err):
					t.Errorf("result %d: err = %v, want %v", i, err, tt.err)
				case i != tt.fails && err != nil && !(tt.kind == crashfs.OpRename && i == 7):
					// (Remove of db/b fails with ENOENT after a failed rename.)
					t.Errorf("result %d: unexpected err %v", i, err)
				}
			}
		})
	}
}

// Inject counts from the call, so it can target "the next sync" mid-test;
// a failed Sync leaves the data unsynced, and a nil error cancels.
func TestInjectRelativeAndSyncFailure(t *testing.T) {
	fsys := crashfs.New()
	f := mustOpen(t, fsys, "a", os.O_RDWR|os.O_CREATE)
	defer f.Close()
	mustWriteAt(t, f, "v1", 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := fsys.SyncDir("."); err != nil {
		t.Fatal(err)
	}
	mustWriteAt(t, f, "v2", 0)
	fsys.Inject(crashfs.OpSync, 0, syscall.EIO)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync err = %v, want EIO", err)
	}
	if got := readFile(t, fsys.Crash(nil, crashfs.CrashLoseUnsynced), "a"); got != "v1" {
		t.Errorf("after failed sync, durable = %q, want v1", got)
	}
	fsys.Inject(crashfs.OpWrite, 0, syscall.EIO)
	fsys.Inject(crashfs.OpWrite, 0, nil) // cancelled
	fsys.Inject(crashfs.OpWrite, -1, syscall.EIO)
	mustWriteAt(t, f, "v3", 0)
	if err := f.Sync(); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	if got := readFile(t, fsys.Crash(nil, crashfs.CrashLoseUnsynced), "a"); got != "v3" {
		t.Errorf("durable = %q, want v3", got)
	}
}

func TestPartialWrite(t *testing.T) {
	tests := []struct {
		name    string
		pw      crashfs.PartialWrite
		wantN   int
		wantErr error
	}{
		{"enospc midway", crashfs.PartialWrite{N: 3, Err: syscall.ENOSPC}, 3, syscall.ENOSPC},
		{"nothing written", crashfs.PartialWrite{N: 0, Err: syscall.ENOSPC}, 0, syscall.ENOSPC},
		{"short, no error given", crashfs.PartialWrite{N: 2}, 2, io.ErrShortWrite},
		{"negative N", crashfs.PartialWrite{N: -5}, 0, io.ErrShortWrite},
		{"N beyond len", crashfs.PartialWrite{N: 100}, 6, nil},
		{"whole but failed", crashfs.PartialWrite{N: 6, Err: syscall.EIO}, 6, syscall.EIO},
	}
	for _, tt := range tests {
		for _, via := range []string{"hook", "inject"} {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				fsys := crashfs.New()
				fsys.WriteFile("a", []byte("0123456789"))
				f := mustOpen(t, fsys, "a", os.O_RDWR)
				defer f.Close()
				if via == "hook" {
					fsys.SetHook(func(op crashfs.Op) error {
						if op.Kind == crashfs.OpWrite {
							return tt.pw
						}
						return nil
					})
				} else {
					fsys.Inject(crashfs.OpWrite, 0, tt.pw)
				}
				n, err := f.WriteAt([]byte("abcdef"), 8)
				if n != tt.wantN || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
					t.Fatalf("WriteAt = %d, %v; want %d, %v", n, err, tt.wantN, tt.wantErr)
				}
				// The first wantN bytes overwrite "89" and extend the file.
				want := "01234567" + "abcdef"[:tt.wantN] + "89"[min(tt.wantN, 2):]
				if got := readFile(t, fsys, "a"); got != want {
					t.Errorf("contents = %q, want %q", got, want)
				}
			})
		}
	}
	// On other operations a PartialWrite is just an error.
	fsys := crashfs.New()
	f := mustOpen(t, fsys, "a", os.O_RDWR|os.O_CREATE)
	defer f.Close()
	fsys.Inject(crashfs.OpSync, 0, crashfs.PartialWrite{N: 1, Err: syscall.EIO})
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("Sync err = %v", err)
	}
}

func TestCrashAfter(t *testing.T) {
	// Count the workload's operations once.
	probe := crashfs.New()
	probe.MkdirAll("db", 0o755)
	workload(probe)
	total := probe.Ops()
	if total != 8 {
		t.Fatalf("workload has %d ops, want 8", total)
	}
	// workload result index of each operation, in order
	opResult := []int{0, 1, 2, 3, 4, 6, 7, 8}
	for n := 0; n <= total; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			fsys := crashfs.New()
			fsys.MkdirAll("db", 0o755)
			fsys.CrashAfter(n)
			errs := workload(fsys)
			for i, r := range opResult {
				err := errs[r]
				if i < n && err != nil {
					t.Errorf("op %d before the crash: %v", i, err)
				}
				// (An operation made invalid by an earlier failure,
				// such as removing the never-renamed db/b, fails its
				// argument checks before it reaches the crash point.)
				if i >= n && !errors.Is(err, crashfs.ErrCrashed) && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("op %d after the crash: err = %v, want ErrCrashed", i, err)
				}
			}
			// Nothing done after the crash point is visible.
			if n == 0 {
				if names, _ := fsys.ReadDir("db"); len(names) != 0 {
					t.Errorf("db = %q after crash before create", names)
				}
			}
			fsys.CrashAfter(-1)
			if err := fsys.SyncDir("db"); err != nil {
				t.Errorf("after CrashAfter(-1): %v", err)
			}
		})
	}
	fsys := crashfs.New()
	fsys.CrashAfter(1 << 62) // far away: no overflow, no crash
	if _, err := fsys.OpenFile("a", os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		t.Error(err)
	}
}

// replaceFile installs data as name with the write-temp, sync, rename,
// SyncDir protocol, or with a buggy one that skips the file Sync.
func replaceFile(fsys *crashfs.FS, name, data string, syncFile bool) error {
	tmp := name + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		return err
	}
	if syncFile {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return err
	}
	return fsys.SyncDir(".")
}

// Crash at every point of a file replacement, in every mode: the correct
// protocol always leaves the old or the new contents, and the one missing
// a Sync is caught.
func TestCrashEveryPoint(t *testing.T) {
	seed := testSeed(t)
	const v1, v2 = "version one", "version two, longer"
	modes := []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashKeepAll, crashfs.CrashTorn, crashfs.CrashRandom}
	for _, syncFile := range []bool{true, false} {
		rng := rand.New(rand.NewPCG(seed, 3))
		bad := 0
		for n := 0; ; n++ {
			fsys := crashfs.New()
			fsys.WriteFile("CURRENT", []byte(v1))
			fsys.CrashAfter(n)
			err := replaceFile(fsys, "CURRENT", v2, syncFile)
			for _, mode := range modes {
				for range 20 {
					got, rerr := fsys.Crash(rng, mode).ReadFile("CURRENT")
					switch {
					case rerr != nil:
						t.Fatalf("n=%d %v: CURRENT lost: %v", n, mode, rerr)
					case string(got) == v2 || (string(got) == v1 && err != nil):
					case syncFile:
						t.Fatalf("n=%d %v: CURRENT = %q (err %v)", n, mode, got, err)
					default:
						bad++
					}
				}
			}
			if err == nil {
				break
			}
			if !errors.Is(err, crashfs.ErrCrashed) {
				t.Fatalf("n=%d: %v", n, err)
			}
		}
		if !syncFile && bad == 0 {
			t.Errorf("the protocol without Sync was never caught")
		}
	}
}

// Concurrent ReadAt and WriteAt on disjoint regions, with Sync, Stat and
// Crash going on: run with -race.
func TestConcurrent(t *testing.T) {
	fsys := crashfs.New()
	f := mustOpen(t, fsys, "a", os.O_RDWR|os.O_CREATE)
	defer f.Close()
	const workers, rounds, size = 8, 200, 16
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			p := make([]byte, size)
			q := make([]byte, size)
			off := int64(w * size)
			for r := range rounds {
				for i := range p {
					p[i] = byte(w + r + i)
				}
				if _, err := f.WriteAt(p, off); err != nil {
					t.Error(err)
					return
				}
				if _, err := f.ReadAt(q, off); err != nil && err != io.EOF {
					t.Error(err)
					return
				}
				if string(p) != string(q) {
					t.Errorf("worker %d read back %v, wrote %v", w, q, p)
					return
				}
			}
		})
	}
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(1, 1))
		for range rounds {
			f.Sync()
			fsys.Stat("a")
			fsys.ReadDir(".")
			fsys.Crash(rng, crashfs.CrashRandom)
			fsys.Ops()
		}
	})
	wg.Go(func() {
		for i := range rounds {
			g, err := fsys.OpenFile(fmt.Sprintf("f%d", i%5), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			g.WriteAt([]byte("x"), int64(i))
			g.Close()
			fsys.Rename(fmt.Sprintf("f%d", i%5), fmt.Sprintf("g%d", i%3))
			fsys.SyncDir(".")
		}
	})
	wg.Wait()
	if sz, _ := f.Size(); sz != workers*size {
		t.Errorf("size = %d", sz)
	}
}

// Odd inputs return errors, never panic.
func TestNoPanics(t *testing.T) {
	fsys := crashfs.New()
	for _, name := range []string{"", ".", "/", "..", "../x", "a/../../b", "\x00", "//"} {
		fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		fsys.OpenFile(name, -1, 0)
		fsys.Remove(name)
		fsys.Rename(name, name)
		fsys.Rename(name, "z")
		fsys.ReadDir(name)
		fsys.SyncDir(name)
		fsys.Stat(name)
		fsys.ReadFile(name)
		fsys.WriteFile(name, nil)
		fsys.Corrupt(name, 0, 1)
		fsys.MkdirAll(name, 0)
		if l, err := fsys.Lock(name, 0); err == nil {
			l.Close()
		}
	}
	fsys.Inject(crashfs.OpKind(-7), 3, errors.New("x"))
	fsys.SetHook(nil)
	fsys.Crash(nil, crashfs.CrashMode(-1))
	fsys.Crash(rand.New(rand.NewPCG(0, 0)), crashfs.CrashMode(99))
	if _, err := fsys.Stat("/"); err != nil {
		t.Error(err)
	}
	if err := fsys.WriteFile("big", make([]byte, 0)); err != nil {
		t.Error(err)
	}
	if _, err := fsys.OpenFile("x", os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Error(err)
	}
}
