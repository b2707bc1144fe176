package crashfs_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	"github.com/seglog/seglog/log/vfs"
)

// dump returns every file under dir of fsys, by path, with its contents, and
// every directory with the value "<dir>", for comparing whole trees.
func dump(t *testing.T, fsys *crashfs.FS, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatalf("ReadDir(%q): %v", dir, err)
		}
		for _, n := range names {
			p := dir + "/" + n
			if dir == "." {
				p = n
			}
			st, err := fsys.Stat(p)
			if err != nil {
				t.Fatalf("Stat(%q): %v", p, err)
			}
			if st.IsDir() {
				out[p] = "<dir>"
				walk(p)
				continue
			}
			b, err := fsys.ReadFile(p)
			if err != nil {
				t.Fatalf("ReadFile(%q): %v", p, err)
			}
			if int64(len(b)) != st.Size() {
				t.Fatalf("%s: Stat size %d, contents %d bytes", p, st.Size(), len(b))
			}
			out[p] = string(b)
		}
	}
	walk(dir)
	return out
}

func mustOpen(t *testing.T, fsys vfs.FS, name string, flag int) vfs.File {
	t.Helper()
	f, err := fsys.OpenFile(name, flag, 0o644)
	if err != nil {
		t.Fatalf("OpenFile(%q, %#x): %v", name, flag, err)
	}
	return f
}

func mustWriteAt(t *testing.T, f vfs.File, s string, off int64) {
	t.Helper()
	if n, err := f.WriteAt([]byte(s), off); err != nil || n != len(s) {
		t.Fatalf("WriteAt(%q, %d) = %d, %v", s, off, n, err)
	}
}

func readFile(t *testing.T, fsys *crashfs.FS, name string) string {
	t.Helper()
	b, err := fsys.ReadFile(name)
	if err != nil {
		t.Fatalf("ReadFile(%q): %v", name, err)
	}
	return string(b)
}

func TestOpenFile(t *testing.T) {
	const rw, create = os.O_RDWR, os.O_RDWR | os.O_CREATE
	tests := []struct {
		name    string
		path    string
		flag    int
		want    error // matched with errors.Is; nil for success
		content string
	}{
		{"create", "db/new", create, nil, ""},
		{"open existing", "db/a", rw, nil, "hello"},
		{"create existing", "db/a", create, nil, "hello"},
		{"excl existing", "db/a", create | os.O_EXCL, fs.ErrExist, ""},
		{"excl new", "db/new", create | os.O_EXCL, nil, ""},
		{"trunc", "db/a", rw | os.O_TRUNC, nil, ""},
		{"missing", "db/missing", rw, fs.ErrNotExist, ""},
		{"missing rdonly", "db/missing", os.O_RDONLY, fs.ErrNotExist, ""},
		{"missing parent", "nodir/a", create, fs.ErrNotExist, ""},
		{"parent is a file", "db/a/b", create, syscall.ENOTDIR, ""},
		{"ancestor is a file", "db/a/b/c", create, syscall.ENOTDIR, ""},
		{"directory", "db", rw, syscall.EISDIR, ""},
		{"directory rdonly", "db", os.O_RDONLY, syscall.EISDIR, ""},
		{"append unsupported", "db/a", rw | os.O_APPEND, syscall.EINVAL, ""},
		{"bad access mode", "db/a", os.O_WRONLY | os.O_RDWR, syscall.EINVAL, ""},
		{"unclean name", "./db//a", rw, nil, "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := crashfs.New()
			if err := fsys.MkdirAll("db", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := fsys.WriteFile("db/a", []byte("hello")); err != nil {
				t.Fatal(err)
			}
			f, err := fsys.OpenFile(tt.path, tt.flag, 0o600)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				var pe *fs.PathError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %T, want *fs.PathError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Name() != tt.path {
				t.Errorf("Name() = %q, want %q", f.Name(), tt.path)
			}
			if got := readFile(t, fsys, tt.path); got != tt.content {
				t.Errorf("contents = %q, want %q", got, tt.content)
			}
			if sz, err := f.Size(); err != nil || sz != int64(len(tt.content)) {
				t.Errorf("Size() = %d, %v, want %d", sz, err, len(tt.content))
			}
		})
	}
}

func TestAccessModes(t *testing.T) {
	fsys := crashfs.New()
	if err := fsys.WriteFile("a", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		flag            int
		canRead, canWrt bool
	}{
		{os.O_RDONLY, true, false},
		{os.O_WRONLY, false, true},
		{os.O_RDWR, true, true},
	}
	for _, tt := range tests {
		f := mustOpen(t, fsys, "a", tt.flag)
		_, rerr := f.ReadAt(make([]byte, 1), 0)
		_, werr := f.WriteAt([]byte("H"), 0)
		terr := f.Truncate(5)
		if (rerr == nil) != tt.canRead {
			t.Errorf("flag %#x: ReadAt err = %v", tt.flag, rerr)
		}
		if (werr == nil) != tt.canWrt || (terr == nil) != tt.canWrt {
			t.Errorf("flag %#x: WriteAt err = %v, Truncate err = %v", tt.flag, werr, terr)
		}
		if !tt.canWrt && !errors.Is(werr, syscall.EBADF) {
			t.Errorf("flag %#x: WriteAt err = %v, want EBADF", tt.flag, werr)
		}
		if err := f.Sync(); err != nil {
			t.Errorf("flag %#x: Sync: %v", tt.flag, err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFile(t, fsys, "a"); got != "Hello" {
		t.Errorf("contents = %q", got)
	}
}

func TestReadAt(t *testing.T) {
	fsys := crashfs.New()
	if err := fsys.WriteFile("a", []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, fsys, "a", os.O_RDONLY)
	defer f.Close()
	tests := []struct {
		off     int64
		len     int
		want    string
		wantErr error
	}{
		{0, 10, "0123456789", nil},
		{2, 3, "234", nil},
		{8, 5, "89", io.EOF},
		{10, 1, "", io.EOF},
		{100, 1, "", io.EOF},
		{100, 0, "", nil},
		{-1, 1, "", syscall.EINVAL}, // any error will do; checked below
	}
	for _, tt := range tests {
		p := make([]byte, tt.len)
		n, err := f.ReadAt(p, tt.off)
		if tt.off < 0 {
			if err == nil {
				t.Errorf("ReadAt(off %d): no error", tt.off)
			}
			continue
		}
		if err != tt.wantErr || string(p[:n]) != tt.want {
			t.Errorf("ReadAt(%d, %d) = %q, %v; want %q, %v", tt.len, tt.off, p[:n], err, tt.want, tt.wantErr)
		}
	}
}

func TestWriteAtAndTruncate(t *testing.T) {
	fsys := crashfs.New()
	f := mustOpen(t, fsys, "a", os.O_RDWR|os.O_CREATE)
	defer f.Close()
	mustWriteAt(t, f, "abc", 0)
	mustWriteAt(t, f, "xy", 5) // gap is zero-filled
	if got := readFile(t, fsys, "a"); got != "abc\x00\x00xy" {
		t.Fatalf("after gap write: %q", got)
	}
	if err := f.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4); err != nil { // grows with zeros, not the old bytes
		t.Fatal(err)
	}
	if got := readFile(t, fsys, "a"); got != "ab\x00\x00" {
		t.Fatalf("after truncates: %q", got)
	}
	if n, err := f.WriteAt(nil, 0); n != 0 || err != nil {
		t.Errorf("empty WriteAt = %d, %v", n, err)
	}
	for _, off := range []int64{-1, crashfs.MaxFileSize, 1 << 62, 1<<63 - 1} {
		if _, err := f.WriteAt([]byte("x"), off); err == nil {
			t.Errorf("WriteAt at %d: no error", off)
		}
	}
	for _, size := range []int64{-1, crashfs.MaxFileSize + 1, 1<<63 - 1} {
		if err := f.Truncate(size); err == nil {
			t.Errorf("Truncate(%d): no error", size)
		}
	}
}

func TestClosedFile(t *testing.T) {
	fsys := crashfs.New()
	f := mustOpen(t, fsys, "a", os.O_RDWR|os.O_CREATE)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 1)
	_, rerr := f.ReadAt(p, 0)
	_, werr := f.WriteAt(p, 0)
	_, serr := f.Size()
	for _, err := range []error{rerr, werr, serr, f.Sync(), f.Truncate(0), f.Close()} {
		if !errors.Is(err, fs.ErrClosed) {
			t.Errorf("err = %v, want fs.ErrClosed", err)
		}
	}
}

func TestStatReadDirMkdirAll(t *testing.T) {
	fsys := crashfs.New()
	if err := fsys.MkdirAll("db/sub/deeper", 0o750); err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll("db/sub", 0o755); err != nil { // exists: fine
		t.Fatal(err)
	}
	for _, n := range []string{"db/b", "db/a", "db/c"} {
		if err := fsys.WriteFile(n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	names, err := fsys.ReadDir("db")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "sub"}; !slices.Equal(names, want) {
		t.Errorf("ReadDir = %q, want %q", names, want)
	}
	if names, err := fsys.ReadDir("db/sub/deeper"); err != nil || names == nil || len(names) != 0 {
		t.Errorf("ReadDir(empty) = %q, %v", names, err)
	}
	if _, err := fsys.ReadDir("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir(missing) err = %v", err)
	}
	if _, err := fsys.ReadDir("db/a"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("ReadDir(file) err = %v", err)
	}

	st, err := fsys.Stat("db/b")
	if err != nil {
		t.Fatal(err)
	}
	if st.Name() != "b" || st.Size() != 4 || st.IsDir() || st.Mode() != 0o644 {
		t.Errorf("Stat(file) = %q %d %v %v", st.Name(), st.Size(), st.IsDir(), st.Mode())
	}
	st, err = fsys.Stat("db/sub")
	if err != nil {
		t.Fatal(err)
	}
	if st.Name() != "sub" || !st.IsDir() || st.Mode() != fs.ModeDir|0o750 {
		t.Errorf("Stat(dir) = %q %v %v", st.Name(), st.IsDir(), st.Mode())
	}
	if _, err := fsys.Stat("db/zz"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(missing) err = %v", err)
	}
	for _, d := range []string{"db/a", "db/a/x"} {
		if err := fsys.MkdirAll(d, 0o755); !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("MkdirAll(%q) over a file: err = %v", d, err)
		}
	}
	if err := fsys.MkdirAll("/abs/path", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsys.WriteFile("/abs/path/f", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if names, _ := fsys.ReadDir("/abs"); !slices.Equal(names, []string{"path"}) {
		t.Errorf("ReadDir(/abs) = %q", names)
	}
}

func TestRemoveAndRename(t *testing.T) {
	tests := []struct {
		name    string
		do      func(fsys *crashfs.FS) error
		wantErr error
		want    map[string]string
	}{
		{"remove", func(fsys *crashfs.FS) error { return fsys.Remove("a") }, nil, map[string]string{"b": "B"}},
		{"remove missing", func(fsys *crashfs.FS) error { return fsys.Remove("zz") }, fs.ErrNotExist, nil},
		{"remove dir", func(fsys *crashfs.FS) error { return fsys.Remove("d") }, errors.ErrUnsupported, nil},
		{"rename", func(fsys *crashfs.FS) error { return fsys.Rename("a", "c") }, nil, map[string]string{"b": "B", "c": "A"}},
		{"rename over", func(fsys *crashfs.FS) error { return fsys.Rename("a", "b") }, nil, map[string]string{"b": "A"}},
		{"rename to self", func(fsys *crashfs.FS) error { return fsys.Rename("a", "./a") }, nil, map[string]string{"a": "A", "b": "B"}},
		{"rename across dirs", func(fsys *crashfs.FS) error { return fsys.Rename("a", "d/a") }, nil, map[string]string{"b": "B", "d/a": "A"}},
		{"rename missing", func(fsys *crashfs.FS) error { return fsys.Rename("zz", "c") }, fs.ErrNotExist, nil},
		{"rename into missing dir", func(fsys *crashfs.FS) error { return fsys.Rename("a", "nodir/a") }, fs.ErrNotExist, nil},
		{"rename over dir", func(fsys *crashfs.FS) error { return fsys.Rename("a", "d") }, syscall.EISDIR, nil},
		{"rename dir", func(fsys *crashfs.FS) error { return fsys.Rename("d", "e") }, errors.ErrUnsupported, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := crashfs.New()
			fsys.MkdirAll("d", 0o755)
			fsys.WriteFile("a", []byte("A"))
			fsys.WriteFile("b", []byte("B"))
			before := dump(t, fsys, ".")
			err := tt.do(fsys)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			want := tt.want
			if err != nil {
				want = before // a failed operation changes nothing
			} else {
				want["d"] = "<dir>"
			}
			if got := dump(t, fsys, "."); !mapsEqual(got, want) {
				t.Errorf("tree = %q, want %q", got, want)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// An open handle outlives the removal or replacement of its name, as with
// POSIX unlink.
func TestOpenHandleSurvivesUnlink(t *testing.T) {
	fsys := crashfs.New()
	fsys.WriteFile("a", []byte("old"))
	fsys.WriteFile("b", []byte("new"))
	fa := mustOpen(t, fsys, "a", os.O_RDWR)
	defer fa.Close()
	if err := fsys.Remove("a"); err != nil {
		t.Fatal(err)
	}
	mustWriteAt(t, fa, "OLD!", 0)
	p := make([]byte, 4)
	if n, err := fa.ReadAt(p, 0); n != 4 || err != nil || string(p) != "OLD!" {
		t.Errorf("ReadAt after remove = %q, %v", p[:n], err)
	}
	if err := fa.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat("a"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(removed) err = %v", err)
	}
	// Recreating the name gives a new, empty file.
	fa2 := mustOpen(t, fsys, "a", os.O_RDWR|os.O_CREATE|os.O_EXCL)
	defer fa2.Close()
	if sz, _ := fa2.Size(); sz != 0 {
		t.Errorf("recreated size = %d", sz)
	}

	fb := mustOpen(t, fsys, "b", os.O_RDONLY)
	defer fb.Close()
	fsys.WriteFile("c", []byte("replacement"))
	if err := fsys.Rename("c", "b"); err != nil {
		t.Fatal(err)
	}
	if n, err := fb.ReadAt(p[:3], 0); n != 3 || err != nil || string(p[:3]) != "new" {
		t.Errorf("ReadAt after rename over = %q, %v", p[:n], err)
	}
	if got := readFile(t, fsys, "b"); got != "replacement" {
		t.Errorf("b = %q", got)
	}
}

func TestLock(t *testing.T) {
	fsys := crashfs.New()
	fsys.MkdirAll("db", 0o755)
	l, err := fsys.Lock("db/LOCK", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := fsys.Stat("db/LOCK"); err != nil || st.Mode() != 0o600 {
		t.Fatalf("lock file not created: %v, %v", st, err)
	}
	for _, name := range []string{"db/LOCK", "./db/LOCK"} {
		if _, err := fsys.Lock(name, 0o600); !errors.Is(err, vfs.ErrLocked) {
			t.Errorf("second Lock(%q) err = %v, want vfs.ErrLocked", name, err)
		}
	}
	if _, err := fsys.Lock("db/OTHER", 0o600); err != nil {
		t.Errorf("independent lock: %v", err)
	}
	if _, err := fsys.Lock("nodir/LOCK", 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lock in missing dir err = %v", err)
	}

	// A crash, like the death of the process, releases every lock.
	survivor := fsys.Crash(nil, crashfs.CrashKeepAll)
	l2, err := survivor.Lock("db/LOCK", 0o600)
	if err != nil {
		t.Fatalf("Lock after crash: %v", err)
	}
	l2.Close()

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close err = %v", err)
	}
	l3, err := fsys.Lock("db/LOCK", 0o600)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	l.Close() // a stale handle must not release the new holder's lock
	if _, err := fsys.Lock("db/LOCK", 0o600); !errors.Is(err, vfs.ErrLocked) {
		t.Errorf("stale Close released the lock: %v", err)
	}
	l3.Close()
}

func TestCorrupt(t *testing.T) {
	fsys := crashfs.New()
	fsys.WriteFile("a", []byte("abcd"))
	if err := fsys.Corrupt("a", 1, 0x20); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, fsys, "a"); got != "aBcd" {
		t.Errorf("after Corrupt = %q", got)
	}
	for _, mode := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashKeepAll} {
		if got := readFile(t, fsys.Crash(nil, mode), "a"); got != "aBcd" {
			t.Errorf("%v: corruption lost in crash: %q", mode, got)
		}
	}
	for _, off := range []int64{-1, 4, 1 << 62} {
		if err := fsys.Corrupt("a", off, 1); err == nil {
			t.Errorf("Corrupt at %d: no error", off)
		}
	}
	if err := fsys.Corrupt("zz", 0, 1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Corrupt(missing) err = %v", err)
	}
}

func TestStrings(t *testing.T) {
	for _, s := range []string{
		crashfs.OpWrite.String(), crashfs.OpKind(99).String(),
		crashfs.CrashTorn.String(), crashfs.CrashMode(-1).String(),
		crashfs.Op{Kind: crashfs.OpRename, Name: "a", NewName: "b"}.String(),
		crashfs.PartialWrite{N: 3, Err: syscall.ENOSPC}.Error(),
	} {
		if s == "" || strings.Contains(s, "%!") {
			t.Errorf("bad String: %q", s)
		}
	}
}
