package checkpoint_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/log/vfs"
)

// faultFS wraps vfs.Default, counts operations and fails the next write or
// sync of a slot file on request.
type faultFS struct {
	vfs.FS
	mu         sync.Mutex
	writes     []string // files written, in order
	syncs      int
	dirSyncs   int
	failWrite  int // when > 0, the next WriteAt writes this many bytes and fails
	failSync   bool
	opened     int
	openedLive int
}

var errInjected = errors.New("injected fault")

func newFaultFS() *faultFS { return &faultFS{FS: vfs.Default} }

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.opened++
	f.openedLive++
	f.mu.Unlock()
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) SyncDir(dir string) error {
	f.mu.Lock()
	f.dirSyncs++
	f.mu.Unlock()
	return f.FS.SyncDir(dir)
}

type faultFile struct {
	vfs.File
	fs *faultFS
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	f.fs.writes = append(f.fs.writes, filepath.Base(f.Name()))
	n := f.fs.failWrite
	f.fs.failWrite = 0
	f.fs.mu.Unlock()
	if n > 0 {
		m, err := f.File.WriteAt(b[:n], off)
		if err == nil {
			err = errInjected
		}
		return m, err
	}
	return f.File.WriteAt(b, off)
}

func (f *faultFile) Sync() error {
	f.fs.mu.Lock()
	f.fs.syncs++
	fail := f.fs.failSync
	f.fs.failSync = false
	f.fs.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.File.Sync()
}

func (f *faultFile) Close() error {
	f.fs.mu.Lock()
	f.fs.openedLive--
	f.fs.mu.Unlock()
	return f.File.Close()
}

// resetWrites forgets the writes and file syncs so far: those of Open,
// which reserves room in new slot files, before the saves a test counts.
func (f *faultFS) resetWrites() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes, f.syncs = nil, 0
}

func (f *faultFS) counts() (writes []string, syncs, dirSyncs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.writes), f.syncs, f.dirSyncs
}

func slotPath(dir string, i int) string {
	return filepath.Join(dir, []string{checkpoint.Slot0Name, checkpoint.Slot1Name}[i])
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	names, err := vfs.Default.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// overwrite writes b at offset 0 of name in place, without truncating, as
// an interrupted Save would leave it.
func overwrite(t *testing.T, name string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
}

// writeFile replaces a file's contents.
func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustOpen(t *testing.T, fsys vfs.FS, dir string) (*checkpoint.Store, checkpoint.State) {
	t.Helper()
	s, st, err := checkpoint.Open(fsys, dir, 0o600, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, st
}

func mustSave(t *testing.T, s *checkpoint.Store, st checkpoint.State) {
	t.Helper()
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
}

func stateN(i int) checkpoint.State {
	return checkpoint.State{
		Sequence: uint64(i), Cursor: uint64(10 * i), First: uint64(i),
		Meta: map[string][]byte{"n": []byte(fmt.Sprint(i)), "pad": bytes.Repeat([]byte("p"), i%7*10)},
	}
}

func TestOpenFresh(t *testing.T) {
	dir := t.TempDir()
	ffs := newFaultFS()
	s, st := mustOpen(t, ffs, dir)
	if !equalState(st, checkpoint.State{}) || st.Meta != nil {
		t.Errorf("state %+v, want zero", st)
	}
	if in := s.Info(); in != (checkpoint.Info{}) {
		t.Errorf("info %+v, want zero", in)
	}
	if got, want := listDir(t, dir), []string{checkpoint.Slot0Name, checkpoint.Slot1Name}; !slices.Equal(got, want) {
		t.Errorf("dir holds %v, want %v", got, want)
	}
	for i := range 2 {
		fi, err := os.Stat(slotPath(dir, i))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != checkpoint.ReserveSize || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: size %d mode %v, want %d bytes reserved, 0600", fi.Name(), fi.Size(), fi.Mode(), checkpoint.ReserveSize)
		}
	}
	if _, _, d := ffs.counts(); d != 1 {
		t.Errorf("%d directory syncs, want 1", d)
	}
}

func TestOpenBadDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	overwrite(t, file, []byte("x"))
	for _, d := range []string{filepath.Join(dir, "missing"), file} {
		for _, ro := range []bool{false, true} {
			if _, _, err := checkpoint.Open(vfs.Default, d, 0o600, ro); err == nil {
				t.Errorf("Open(%s, readOnly=%v) succeeded", d, ro)
			}
		}
		if _, _, err := checkpoint.Read(vfs.Default, d); err == nil {
			t.Errorf("Read(%s) succeeded", d)
		}
	}
}

// TestSaveAlternates saves many times and checks, after each, the slot
// written, the generation, the number of fsyncs, and what a reader sees.
func TestSaveAlternates(t *testing.T) {
	dir := t.TempDir()
	ffs := newFaultFS()
	s, _ := mustOpen(t, ffs, dir)
	ffs.resetWrites()
	_, _, dirSyncs := ffs.counts()
	for i := 1; i <= 25; i++ {
		st := stateN(i)
		mustSave(t, s, st)
		want := slotPath(dir, (i-1)%2)
		if g := s.Generation(); g != uint64(i) {
			t.Fatalf("save %d: generation %d", i, g)
		}
		if in := s.Info(); in.File != want || in.Generation != uint64(i) || in.Torn != nil {
			t.Fatalf("save %d: info %+v, want file %s", i, in, want)
		}
		writes, syncs, ds := ffs.counts()
		if len(writes) != i || writes[i-1] != filepath.Base(want) || syncs != i || ds != dirSyncs {
			t.Fatalf("save %d: writes %v, %d syncs, %d dir syncs: want one write to %s and one sync per save",
				i, writes, syncs, ds, filepath.Base(want))
		}
		if got := s.State(); !equalState(got, st) {
			t.Fatalf("save %d: State %+v", i, got)
		}
		got, in, err := checkpoint.Read(vfs.Default, dir)
		if err != nil || !equalState(got, st) || in.File != want || in.Generation != uint64(i) {
			t.Fatalf("save %d: Read = %+v %+v %v", i, got, in, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, st := mustOpen(t, vfs.Default, dir)
	if !equalState(st, stateN(25)) || s2.Generation() != 25 {
		t.Fatalf("reopened: %+v gen %d", st, s2.Generation())
	}
	mustSave(t, s2, stateN(26))
	if in := s2.Info(); in.File != slotPath(dir, 1) || in.Generation != 26 {
		t.Fatalf("after reopen: %+v", in)
	}
}

// TestTornSave interrupts the third save in several ways: the slot being
// written (slot 0, holding generation 1) gets part of the new encoding or
// garbage. Open must fall back to generation 2 in slot 1, and the next Save
// must overwrite the torn slot and leave the good one alone.
func TestTornSave(t *testing.T) {
	next, err := checkpoint.Marshal(3, stateN(3))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"nothing written", nil},
		{"magic only", next[:4]},
		{"first sector of header", next[:16]},
		{"header", next[:checkpoint.HeaderSize]},
		{"all but checksum", next[:len(next)-8]},
		{"all but one byte", next[:len(next)-1]},
		{"zeros", make([]byte, len(next))},
		{"garbage", bytes.Repeat([]byte{0xa5}, 300)},
		{"new tail only", append(make([]byte, 20), next[20:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := mustOpen(t, vfs.Default, dir)
			mustSave(t, s, stateN(1))
			mustSave(t, s, stateN(2))
			s.Close()
			good := readFile(t, slotPath(dir, 1))

			if tt.name == "new tail only" {
				f, _ := os.OpenFile(slotPath(dir, 0), os.O_RDWR, 0)
				f.WriteAt(next[20:], 20)
				f.Close()
			} else {
				overwrite(t, slotPath(dir, 0), tt.data)
			}
			_, _, stillValid := checkpoint.Unmarshal(readFile(t, slotPath(dir, 0)))

			for _, ro := range []bool{true, false} {
				s, st, err := checkpoint.Open(vfs.Default, dir, 0o600, ro)
				if err != nil {
					t.Fatal(err)
				}
				in := s.Info()
				if !equalState(st, stateN(2)) || in.File != slotPath(dir, 1) || in.Generation != 2 {
					t.Fatalf("readOnly=%v: state %+v info %+v, want generation 2 from slot 1", ro, st, in)
				}
				if (in.Torn != nil) != (stillValid != nil) {
					t.Fatalf("Torn = %v, want it set iff slot 0 is invalid (%v)", in.Torn, stillValid)
				}
				if in.Torn != nil && (in.Torn.File != slotPath(dir, 0) || !errors.Is(in.Torn, checkpoint.ErrCorrupt)) {
					t.Errorf("Torn = %v, want an error naming slot 0", in.Torn)
				}
				if ro {
					s.Close()
					continue
				}
				mustSave(t, s, stateN(4))
				if in := s.Info(); in.File != slotPath(dir, 0) || in.Generation != 3 {
					t.Fatalf("save after torn: info %+v", in)
				}
				s.Close()
			}
			if !bytes.Equal(readFile(t, slotPath(dir, 1)), good) {
				t.Error("the good slot was modified")
			}
			st, in, err := checkpoint.Read(vfs.Default, dir)
			if err != nil || !equalState(st, stateN(4)) || in.Generation != 3 || in.Torn != nil {
				t.Fatalf("final Read: %+v %+v %v", st, in, err)
			}
		})
	}
}

// TestTornFirstSave: the very first save was interrupted; the other slot
// was never written (empty or absent), so the state is the zero State.
func TestTornFirstSave(t *testing.T) {
	next, _ := checkpoint.Marshal(1, stateN(1))
	for _, absent := range []bool{false, true} {
		for _, torn := range []int{0, 1} {
			t.Run(fmt.Sprintf("torn slot %d, other absent %v", torn, absent), func(t *testing.T) {
				dir := t.TempDir()
				s, _ := mustOpen(t, vfs.Default, dir)
				s.Close()
				// A store whose slots were never written, not even
				// reserved (made by an older version, or cut short by a
				// crash while it was created), whose first save tore.
				writeFile(t, slotPath(dir, torn), next[:30])
				if absent {
					os.Remove(slotPath(dir, 1-torn))
				} else {
					writeFile(t, slotPath(dir, 1-torn), nil)
				}
				st, in, err := checkpoint.Read(vfs.Default, dir)
				if err != nil || !equalState(st, checkpoint.State{}) || in.File != "" || in.Generation != 0 {
					t.Fatalf("Read = %+v %+v %v, want zero state", st, in, err)
				}
				if in.Torn == nil || in.Torn.File != slotPath(dir, torn) || in.Torn.Offset != 30 {
					t.Fatalf("Torn = %v", in.Torn)
				}
				s, st = mustOpen(t, vfs.Default, dir)
				if !equalState(st, checkpoint.State{}) {
					t.Fatalf("Open state %+v", st)
				}
				mustSave(t, s, stateN(7))
				if in := s.Info(); in.File != slotPath(dir, torn) || in.Generation != 1 {
					t.Fatalf("first save went to %+v, want the torn slot", in)
				}
			})
		}
	}
}

func TestBothSlotsCorrupt(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, vfs.Default, dir)
	mustSave(t, s, stateN(1))
	mustSave(t, s, stateN(2))
	s.Close()
	overwrite(t, slotPath(dir, 0), []byte("garbage!"))
	b := readFile(t, slotPath(dir, 1))
	b = b[:binary.LittleEndian.Uint32(b[checkpoint.OffLength:])] // drop the reserved padding
	b[len(b)-3] ^= 1
	overwrite(t, slotPath(dir, 1), b)
	tmp := filepath.Join(dir, "checkpoint.tmp")
	overwrite(t, tmp, nil)
	before := listDir(t, dir)

	for _, ro := range []bool{false, true} {
		_, _, err := checkpoint.Open(vfs.Default, dir, 0o600, ro)
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Fatalf("readOnly=%v: err = %v, want ErrCorrupt", ro, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, slotPath(dir, 0)+": offset 0: corrupt: bad magic") ||
			!strings.Contains(msg, slotPath(dir, 1)+fmt.Sprintf(": offset %d: corrupt: bad checksum", len(b)-8)) {
			t.Errorf("message %q does not name both files with offsets", msg)
		}
	}
	if _, _, err := checkpoint.Read(vfs.Default, dir); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("Read: err = %v", err)
	}
	if after := listDir(t, dir); !slices.Equal(before, after) {
		t.Errorf("a failed Open changed the directory: %v -> %v", before, after)
	}
}

func TestUnknownVersionRefusesOpen(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, vfs.Default, dir)
	mustSave(t, s, stateN(1))
	mustSave(t, s, stateN(2))
	s.Close()
	// A newer writer's slot, intact, with a lower generation even.
	overwrite(t, slotPath(dir, 0), raw{version: 3, gen: 1}.bytes())
	_, _, err := checkpoint.Open(vfs.Default, dir, 0o600, false)
	var ve *checkpoint.VersionError
	if !errors.As(err, &ve) || ve.Version != 3 || ve.File != slotPath(dir, 0) {
		t.Fatalf("err = %v, want a *VersionError naming slot 0", err)
	}
	if !strings.Contains(err.Error(), slotPath(dir, 0)) {
		t.Errorf("message %q does not name the file", err)
	}
}

func TestEqualGenerations(t *testing.T) {
	a, _ := checkpoint.Marshal(5, stateN(1))
	b, _ := checkpoint.Marshal(5, stateN(2))
	tests := []struct {
		name   string
		s0, s1 []byte
		ok     bool
	}{
		{"identical copies", a, a, true},
		{"different contents", a, b, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			overwrite(t, slotPath(dir, 0), tt.s0)
			overwrite(t, slotPath(dir, 1), tt.s1)
			st, in, err := checkpoint.Read(vfs.Default, dir)
			if tt.ok {
				if err != nil || !equalState(st, stateN(1)) || in.Generation != 5 {
					t.Fatalf("Read = %+v %+v %v", st, in, err)
				}
			} else if !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestHighestGenerationWins(t *testing.T) {
	for _, newer := range []int{0, 1} {
		dir := t.TempDir()
		lo, _ := checkpoint.Marshal(9, stateN(1))
		hi, _ := checkpoint.Marshal(10, stateN(2))
		overwrite(t, slotPath(dir, 1-newer), lo)
		overwrite(t, slotPath(dir, newer), hi)
		s, st := mustOpen(t, vfs.Default, dir)
		if !equalState(st, stateN(2)) || s.Generation() != 10 || s.Info().File != slotPath(dir, newer) {
			t.Fatalf("newer in slot %d: got %+v %+v", newer, st, s.Info())
		}
		mustSave(t, s, stateN(3))
		if got := readFile(t, slotPath(dir, newer)); !bytes.Equal(got, hi) {
			t.Fatal("Save overwrote the current slot")
		}
	}
}

// TestFailedSave: a failed write or fsync leaves the previous state current,
// and the retry goes to the same, non-current slot.
func TestFailedSave(t *testing.T) {
	tests := []struct {
		name   string
		inject func(*faultFS)
	}{
		{"short write", func(f *faultFS) { f.failWrite = 20 }},
		{"failed sync", func(f *faultFS) { f.failSync = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := newFaultFS()
			s, _ := mustOpen(t, ffs, dir)
			ffs.resetWrites()
			mustSave(t, s, stateN(1))
			good := readFile(t, slotPath(dir, 0))

			ffs.mu.Lock()
			tt.inject(ffs)
			ffs.mu.Unlock()
			err := s.Save(stateN(2))
			if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), slotPath(dir, 1)) {
				t.Fatalf("Save err = %v, want the injected fault naming slot 1", err)
			}
			if !equalState(s.State(), stateN(1)) || s.Generation() != 1 || s.Info().File != slotPath(dir, 0) {
				t.Fatalf("after failure: %+v %+v", s.State(), s.Info())
			}
			mustSave(t, s, stateN(3))
			writes, _, _ := ffs.counts()
			if want := []string{checkpoint.Slot0Name, checkpoint.Slot1Name, checkpoint.Slot1Name}; !slices.Equal(writes, want) {
				t.Fatalf("writes %v, want %v", writes, want)
			}
			if s.Generation() != 2 || s.Info().File != slotPath(dir, 1) {
				t.Fatalf("after retry: %+v", s.Info())
			}
			if !bytes.Equal(readFile(t, slotPath(dir, 0)), good) {
				t.Fatal("the good slot was modified")
			}
			st, _, err := checkpoint.Read(vfs.Default, dir)
			if err != nil || !equalState(st, stateN(3)) {
				t.Fatalf("Read = %+v %v", st, err)
			}
		})
	}
}

func TestSaveRejectsInvalidState(t *testing.T) {
	dir := t.TempDir()
	ffs := newFaultFS()
	s, _ := mustOpen(t, ffs, dir)
	ffs.resetWrites()
	mustSave(t, s, stateN(1))
	tests := []struct {
		st   checkpoint.State
		want error
	}{
		{checkpoint.State{Meta: map[string][]byte{strings.Repeat("k", 256): nil}}, checkpoint.ErrInvalid},
		{checkpoint.State{Meta: map[string][]byte{"k": make([]byte, checkpoint.MaxSize)}}, checkpoint.ErrTooLarge},
	}
	for _, tt := range tests {
		if err := s.Save(tt.st); !errors.Is(err, tt.want) {
			t.Errorf("Save err = %v, want %v", err, tt.want)
		}
	}
	if writes, _, _ := ffs.counts(); len(writes) != 1 {
		t.Errorf("invalid states were written: %v", writes)
	}
	if s.Generation() != 1 || !equalState(s.State(), stateN(1)) {
		t.Errorf("store changed: %+v", s.Info())
	}
}

func TestClose(t *testing.T) {
	ffs := newFaultFS()
	s, _ := mustOpen(t, ffs, t.TempDir())
	mustSave(t, s, stateN(1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Save(stateN(2)); !errors.Is(err, checkpoint.ErrClosed) {
		t.Fatalf("Save after Close: %v", err)
	}
	if !equalState(s.State(), stateN(1)) || s.Generation() != 1 {
		t.Error("state lost by Close")
	}
	if ffs.openedLive != 0 {
		t.Errorf("%d files left open", ffs.openedLive)
	}
}

func TestReadOnlyCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "checkpoint.0.tmp")
	overwrite(t, tmp, []byte("stale"))
	ffs := newFaultFS()
	s, st, err := checkpoint.Open(ffs, dir, 0o600, true)
	if err != nil {
		t.Fatal(err)
	}
	if !equalState(st, checkpoint.State{}) || s.Info() != (checkpoint.Info{}) {
		t.Errorf("state %+v info %+v", st, s.Info())
	}
	if err := s.Save(stateN(1)); !errors.Is(err, checkpoint.ErrReadOnly) {
		t.Errorf("Save on read-only store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := checkpoint.Read(ffs, dir); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"checkpoint.0.tmp"}) {
		t.Errorf("directory now holds %v", got)
	}
	writes, syncs, dirSyncs := ffs.counts()
	if len(writes) != 0 || syncs != 0 || dirSyncs != 0 || ffs.openedLive != 0 {
		t.Errorf("read-only access wrote %v, synced %d+%d, left %d files open", writes, syncs, dirSyncs, ffs.openedLive)
	}
}

// TestReadLiveStore inspects a store that another handle keeps writing.
func TestReadLiveStore(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, vfs.Default, dir)
	for i := 1; i <= 4; i++ {
		mustSave(t, s, stateN(i))
		ro, st, err := checkpoint.Open(vfs.Default, dir, 0, true)
		if err != nil || !equalState(st, stateN(i)) || ro.Generation() != uint64(i) {
			t.Fatalf("read-only Open after save %d: %+v %v", i, st, err)
		}
		ro.Close()
	}
}

// TestOpenTouchesOnlyItsSlots: Open creates its two slot files and
// leaves every other file in the directory alone, whatever its name.
func TestOpenTouchesOnlyItsSlots(t *testing.T) {
	dir := t.TempDir()
	others := []string{"checkpoint.tmp", "checkpoint.0.tmp", "checkpoint-123.tmp", "checkpoint.0.tmpx", "other.tmp", "xcheckpoint.tmp", "00000000.seg"}
	for _, n := range others {
		overwrite(t, filepath.Join(dir, n), []byte("x"))
	}
	if err := os.Mkdir(filepath.Join(dir, "checkpoint.d.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, vfs.Default, dir)
	if got := checkpoint.SlotNames(); got != [2]string{checkpoint.Slot0Name, checkpoint.Slot1Name} {
		t.Errorf("SlotNames() = %v", got)
	}
	want := append(slices.Clone(others), checkpoint.Slot0Name, checkpoint.Slot1Name, "checkpoint.d.tmp")
	slices.Sort(want)
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Errorf("directory holds %v, want %v", got, want)
	}
}

// TestStaleTail: a short state saved over a longer one leaves stale bytes
// after the encoding, which loading ignores.
func TestStaleTail(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, vfs.Default, dir)
	big := checkpoint.State{Cursor: 1, Meta: bigMeta()}
	mustSave(t, s, big)
	mustSave(t, s, big)
	small := checkpoint.State{Cursor: 2, Meta: map[string][]byte{"k": []byte("v")}}
	mustSave(t, s, small)
	mustSave(t, s, small)
	s.Close()
	bigLen, _ := checkpoint.Marshal(1, big)
	for i := range 2 {
		if fi, _ := os.Stat(slotPath(dir, i)); fi.Size() != int64(len(bigLen)) {
			t.Errorf("slot %d size %d, want the stale %d", i, fi.Size(), len(bigLen))
		}
	}
	st, in, err := checkpoint.Read(vfs.Default, dir)
	if err != nil || !equalState(st, small) || in.Generation != 4 || in.Torn != nil {
		t.Fatalf("Read = %+v %+v %v", st, in, err)
	}
}

func TestStateIsACopy(t *testing.T) {
	s, _ := mustOpen(t, vfs.Default, t.TempDir())
	meta := map[string][]byte{"k": []byte("v")}
	mustSave(t, s, checkpoint.State{Meta: meta})
	meta["k"][0] = 'X' // the caller reuses its buffers after Save
	meta["other"] = nil
	got := s.State()
	if string(got.Meta["k"]) != "v" || len(got.Meta) != 1 {
		t.Fatalf("Save kept a reference to the caller's state: %q", got.Meta)
	}
	got.Meta["k2"] = nil
	if len(s.State().Meta) != 1 {
		t.Fatal("State returned the store's own map")
	}
}

func TestConcurrentUse(t *testing.T) {
	s, _ := mustOpen(t, vfs.Default, t.TempDir())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				if err := s.Save(stateN(g*10 + i)); err != nil {
					t.Error(err)
					return
				}
				_ = s.State()
				_ = s.Info()
			}
		})
	}
	wg.Wait()
	if s.Generation() != 40 {
		t.Fatalf("generation %d, want 40", s.Generation())
	}
}
