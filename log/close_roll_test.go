package log_test

import (
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// TestCloseRecordsSealedSegmentDurable: under SyncNever, records written
// while the background fsync of the sealed segment is still running carry
// no proof that it finished. Close must leave a proof anyway, so that the
// next Open does not read the sealed segment whole to check it (which it
// would do by checking every frame, then fsyncing the file). A power loss
// after Close still loses nothing.
func TestCloseRecordsSealedSegmentDurable(t *testing.T) {
	fsys := crashfs.New()
	seg0 := crashDir + "/" + segment.FileName(0)
	// Hold the background fsync of the sealed segment until records are
	// written to the next one.
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var armed atomic.Bool
	holdFS := &holdSyncFS{FS: fsys, hold: func(name string) {
		if name == seg0 && armed.Load() {
			once.Do(func() {
				close(held)
				<-release
			})
		}
	}}
	l1, err := seglog.Open(crashDir, &seglog.Options{FS: holdFS, Logger: quiet, SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	var want [][]byte
	for i := 0; len(procSegs(t, fsys)) < 2; i++ {
		p := procPayload(i)
		if _, err := l1.Append(p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	<-held
	for i := len(want); i < len(want)+3; i++ {
		if _, err := l1.Append(procPayload(i)); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		want = append(want, procPayload(len(want)))
	}
	if err := l1.Flush(); err != nil { // frames cut before the fsync ends
		t.Fatal(err)
	}
	close(release)
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}

	var synced []string
	var mu sync.Mutex
	fsys.SetHook(func(op crashfs.Op) error {
		if op.Kind == crashfs.OpSync {
			mu.Lock()
			synced = append(synced, op.Name)
			mu.Unlock()
		}
		return nil
	})
	l2, err := openProc(t, fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	fsys.SetHook(nil)
	if rec := l2.Recovery(); rec != (seglog.Recovery{}) {
		t.Errorf("Open after a clean Close recovered something: %+v", rec)
	}
	for _, name := range synced {
		if name == seg0 {
			t.Errorf("Open checked the sealed segment %s again after a clean Close", seg0)
		}
	}
	l2.Close()

	l3, err := openProc(t, fsys.Crash(nil, crashfs.CrashLoseUnsynced), nil)
	if err != nil {
		t.Fatalf("open after power loss: %v", err)
	}
	defer l3.Close()
	if got := l3.NextOffset(); got != uint64(len(want)) {
		t.Fatalf("after power loss the log ends at %d, want %d", got, len(want))
	}
	for i, p := range want {
		r, err := l3.Read(uint64(i))
		if err != nil || string(r.Data) != string(p) {
			t.Fatalf("Read(%d) after power loss: %q, %v", i, r.Data, err)
		}
	}
}

// holdSyncFS calls hold before each File.Sync, outside the crashfs lock,
// so that a test can hold an fsync under way.
type holdSyncFS struct {
	*crashfs.FS
	hold func(name string)
}

type holdSyncFile struct {
	vfs.File
	name string
	fs   *holdSyncFS
}

func (h *holdSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := h.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return holdSyncFile{File: f, name: name, fs: h}, nil
}

func (f holdSyncFile) Sync() error {
	f.fs.hold(f.name)
	return f.File.Sync()
}
