package log_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// procFS is a crashfs whose Lock always succeeds, so that a Log left
// open without Close stands for a process killed with SIGKILL: its writes
// stay in the "page cache" (the FS), unsynced, and the next Open, the new
// process, sees them.
type procFS struct{ *crashfs.FS }

type noLock struct{}

func (noLock) Close() error { return nil }

func (procFS) Lock(string, fs.FileMode) (io.Closer, error) { return noLock{}, nil }

func openProc(t *testing.T, fsys *crashfs.FS, mod func(*seglog.Options)) (*seglog.Log, error) {
	t.Helper()
	opts := &seglog.Options{FS: procFS{fsys}, Logger: quiet, SegmentSize: seglog.MinSegmentSize}
	if mod != nil {
		mod(opts)
	}
	l, err := seglog.Open(crashDir, opts)
	if err == nil {
		verifyAtEnd(t, opts.FS, crashDir)
	}
	return l, err
}

func procPayload(i int) []byte { return fmt.Appendf(nil, "record %04d %0500d", i, i) }

// checkAll reads every offset in [First, Next) back.
func readEvery(l *seglog.Log) error {
	for o := l.FirstOffset(); o < l.NextOffset(); o++ {
		if _, err := l.Read(o); err != nil {
			return fmt.Errorf("read %d of [%d, %d): %w", o, l.FirstOffset(), l.NextOffset(), err)
		}
	}
	return nil
}

// TestReopenAfterKillThenPowerLoss: a process killed under SyncNever
// leaves written but unsynced frames. The next process recovers them and
// appends; its frames claim (field durable) that the whole file was synced.
// A power loss before that claim is true must not make Open refuse the log
// as corrupt: the lost frames were never synced.
func TestReopenAfterKillThenPowerLoss(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		fsys := crashfs.New()
		l1, err := openProc(t, fsys, func(o *seglog.Options) { o.Sync = seglog.SyncNever })
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			if _, err := l1.Append(procPayload(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l1.Flush(); err != nil {
			t.Fatal(err)
		}
		// l1 is killed: never closed.

		l2, err := openProc(t, fsys, nil) // SyncAlways
		if err != nil {
			t.Fatalf("seed %d: reopen after kill: %v", seed, err)
		}
		// Power fails during the next append's fsync: its frame was
		// written, the append returns an error.
		fsys.CrashAfter(2)
		if _, err := l2.Append(procPayload(100)); err == nil {
			t.Fatalf("seed %d: append returned no error though its fsync crashed", seed)
		}
		after := fsys.Crash(rand.New(rand.NewPCG(seed, 1)), crashfs.CrashRandom)
		l3, err := openProc(t, after, nil)
		if err != nil {
			t.Fatalf("seed %d: open after power loss: %v", seed, err)
		}
		if err := readEvery(l3); err != nil {
			t.Errorf("seed %d: %v", seed, err)
		}
		l3.Close()
		l2.Close()
	}
}

// TestReopenAfterKillPrevSegment: a process killed under SyncNever
// right after a roll, before the background fsync of the sealed segment.
// The next process finds that segment complete (in the page cache) and
// marks its own frames PrevSynced, so that recovery after a power loss no
// longer checks it. The sealed segment must then really be durable.
func TestReopenAfterKillPrevSegment(t *testing.T) {
	fsys := crashfs.New()
	l1, err := openProc(t, fsys, func(o *seglog.Options) { o.Sync = seglog.SyncNever })
	if err != nil {
		t.Fatal(err)
	}
	seg0 := crashDir + "/" + segment.FileName(0)
	errNoSync := errors.New("test: fsync of the sealed segment held back")
	fsys.SetHook(func(op crashfs.Op) error {
		if op.Kind == crashfs.OpSync && op.Name == seg0 {
			return errNoSync // stands for the background fsync not done yet
		}
		return nil
	})
	i := 0
	for ; l1.State().Next == 0 || len(procSegs(t, fsys)) < 2; i++ {
		if _, err := l1.Append(procPayload(i)); err != nil {
			break // the failed background fsync is sticky
		}
	}
	if len(procSegs(t, fsys)) < 2 {
		t.Fatal("no roll")
	}
	// The fsync of the sealed segment fails for good in this process
	// (sticky), so it never makes the segment durable.
	if err := l1.Sync(); !errors.Is(err, seglog.ErrSyncFailed) {
		t.Fatalf("Sync with the sealed segment's fsync failing: %v", err)
	}
	fsys.SetHook(nil)
	// l1 is killed: never closed.

	l2, err := openProc(t, fsys, nil) // SyncAlways
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	if _, err := l2.Append(procPayload(1000)); err != nil {
		t.Fatal(err) // acknowledged: durable
	}
	after := fsys.Crash(nil, crashfs.CrashLoseUnsynced)
	l3, err := openProc(t, after, nil)
	if err != nil {
		t.Fatalf("open after power loss: %v", err)
	}
	defer l3.Close()
	if err := readEvery(l3); err != nil {
		t.Error(err)
	}
	l2.Close()
}

func procSegs(t *testing.T, fsys *crashfs.FS) []string {
	t.Helper()
	names, err := fsys.ReadDir(crashDir)
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, n := range names {
		if _, ok := segment.ParseFileName(n); ok {
			segs = append(segs, n)
		}
	}
	return segs
}
