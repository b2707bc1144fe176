package log_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// After a process dies (kill -9, or a Close whose fsync failed) the next
// Open finds whatever the dead process wrote, synced or not: the operating
// system still holds it. The tests below check that Open makes what it
// adopts durable before the log acts on it, so that a power loss after the
// restart cannot take back what the restarted process was shown.

// TestReopenAdoptsUnsyncedRecords: records written but never fsynced by a
// process that died are visible after the restart; a Sync that returns nil
// afterwards must cover them. FuzzOps found this.
func TestReopenAdoptsUnsyncedRecords(t *testing.T) {
	countInjected(t)
	fsys := crashfs.New()
	opts := func(o *seglog.Options) { o.Sync = seglog.SyncNever }
	l := openFS(t, fsys, opts)
	for i := range 3 {
		if _, err := l.Append(tracedPayload(uint64(i), 200)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil { // written, not synced
		t.Fatal(err)
	}
	// The process "dies": its last fsync fails and it closes.
	fsys.Inject(crashfs.OpSync, 0, syscall.EIO)
	injectedErr.Add(1)
	if err := l.Close(); !errors.Is(err, seglog.ErrSyncFailed) && !errors.Is(err, syscall.EIO) {
		t.Fatalf("close with a failed fsync: %v", err)
	}

	l2 := openFS(t, fsys, opts)
	if got := l2.NextOffset(); got != 3 {
		t.Fatalf("restarted log ends at %d, want 3 (the dead process's writes are visible)", got)
	}
	if err := l2.Sync(); err != nil {
		t.Fatal(err)
	}
	l3 := openFS(t, fsys.Crash(nil, crashfs.CrashLoseUnsynced), opts)
	defer l3.Close()
	if got := l3.NextOffset(); got != 3 {
		t.Fatalf("after Sync returned nil and a power loss, the log ends at %d, want 3", got)
	}
	l2.Close()
}

// TestReopenAdoptsUnsyncedCheckpoint: a checkpoint save whose fsync never
// happened is visible after the restart, and Open deletes the segments it
// releases. If a power loss then takes the checkpoint back, the older
// state keeps records whose segments are gone, and the log cannot open.
func TestReopenAdoptsUnsyncedCheckpoint(t *testing.T) {
	countInjected(t)
	fsys := crashfs.New()
	l := openFS(t, fsys, nil)
	for i := range 40 {
		if _, err := l.Append(tracedPayload(uint64(i), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := l.Pending(30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ack(b.Sequence + uint64(len(b.Records))); err != nil { // cursor 30, first 0
		t.Fatal(err)
	}
	b, err = l.Pending(5)
	if err != nil {
		t.Fatal(err)
	}
	// The Ack that would release offsets below 30 writes its checkpoint,
	// and the process dies before the fsync.
	fsys.Inject(crashfs.OpSync, 0, syscall.EIO)
	injectedErr.Add(1)
	if _, err := l.Ack(b.Sequence + uint64(len(b.Records))); err == nil {
		t.Fatal("Ack with a failed fsync succeeded")
	}
	l.Close()

	l2 := openFS(t, fsys, nil) // adopts first 30, removes the segments below
	first := l2.FirstOffset()
	for i := range 20 { // a roll syncs the directory: the removals are durable
		if _, err := l2.Append(tracedPayload(100+uint64(i), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	l2.Close()
	opts := &seglog.Options{FS: fsys.Crash(nil, crashfs.CrashLoseUnsynced), Logger: quiet, SegmentSize: seglog.MinSegmentSize}
	l3, err := seglog.Open(crashDir, opts)
	if err != nil {
		t.Fatalf("restart adopted first offset %d; after a power loss the log does not open: %v", first, err)
	}
	defer l3.Close()
	if got := l3.FirstOffset(); got != first {
		t.Errorf("after a power loss the first offset went from %d back to %d", first, got)
	}
}
