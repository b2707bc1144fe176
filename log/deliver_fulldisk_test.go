package log_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// D5: a full disk whose space the log itself holds, in the one active
// segment of a log with the default segment size. Once everything is
// acknowledged, the log gives the space back and appends work again; Reset
// works on a full disk.

// dlCapacity makes fsys behave as a disk of capacity bytes for the files in
// dlDir, allocated in pages of 4 KiB as tmpfs does: a write that would need
// more pages than are free fails with ENOSPC. A file gets its first page
// with its first byte, so a full disk has no room for a new segment.
func dlCapacity(fsys *crashfs.FS, capacity int64) {
	fsys.SetHook(func(op crashfs.Op) error {
		if op.Kind != crashfs.OpWrite {
			return nil
		}
		const page = 4096
		pages := func(n int64) int64 { return (n + page - 1) / page * page }
		var used, size int64
		names, err := fsys.ReadDir(dlDir)
		if err != nil {
			return nil
		}
		for _, n := range names {
			st, err := fsys.Stat(filepath.Join(dlDir, n))
			if err != nil {
				continue
			}
			used += pages(st.Size())
			if filepath.Join(dlDir, n) == op.Name {
				size = st.Size()
			}
		}
		if grow := pages(op.Off+int64(op.Len)) - pages(size); grow > 0 && used+grow > capacity {
			return syscall.ENOSPC
		}
		return nil
	})
}

// dlFill appends 2000-byte records until an append fails with ENOSPC, and
// returns the next offset.
func dlFill(t *testing.T, l *seglog.Log) uint64 {
	t.Helper()
	for range 100000 {
		next := l.NextOffset()
		off, err := l.Append(relPayload(next, 2000))
		if errors.Is(err, syscall.ENOSPC) {
			return next
		}
		if err != nil || off != next {
			t.Fatalf("append: offset %d, %v (want %d)", off, err, next)
		}
	}
	t.Fatal("the disk never filled")
	return 0
}

// dlDeliverAll hands out and acknowledges everything pending, in batches
// of 50.
func dlDeliverAll(t *testing.T, l *seglog.Log) {
	t.Helper()
	for {
		b, err := l.Pending(50)
		if err != nil {
			t.Fatalf("Pending on a full disk: %v", err)
		}
		if b.Empty() {
			return
		}
		if _, err := l.Ack(b.Next()); err != nil {
			t.Fatalf("Ack on a full disk: %v", err)
		}
	}
}

// dlAppendAfterFull checks that appends work again and take the next
// offsets.
func dlAppendAfterFull(t *testing.T, l *seglog.Log, next uint64, when string) uint64 {
	t.Helper()
	for range 5 {
		off, err := l.Append(relPayload(next, 2000))
		if err != nil || off != next {
			t.Fatalf("%s: append: offset %d, %v (want %d)", when, off, err, next)
		}
		next++
	}
	if st := l.State(); st.PendingCount != 5 || l.FirstOffset() > next-5 {
		t.Fatalf("%s: state %+v, first %d", when, st, l.FirstOffset())
	}
	rec, err := l.Read(next - 5)
	if err != nil || rec.Offset != next-5 {
		t.Fatalf("%s: read %d: %+v, %v", when, next-5, rec, err)
	}
	return next
}

// Under SyncAlways, the default: under the buffered policies a full disk
// also makes Pending and Ack fail while appends are buffered, a separate
// defect.
func TestFullDiskActiveSegmentReleased(t *testing.T) {
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			fsys := crashfs.New()
			opts := dlOpts(fsys, 0, policy) // the default segment size
			l := dlOpen(t, opts)
			defer func() { l.Close() }()
			dlCapacity(fsys, 1<<20)
			next := dlFill(t, l)
			for range 3 {
				if _, err := l.Append(relPayload(next, 2000)); !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("append on a full disk: %v, want ENOSPC", err)
				}
			}
			dlDeliverAll(t, l)
			next = dlAppendAfterFull(t, l, next, "after delivering everything")

			// Full again, everything acknowledged, then a restart.
			next = dlFill(t, l)
			dlDeliverAll(t, l)
			if err := l.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			l = dlOpen(t, opts)
			next = dlAppendAfterFull(t, l, next, "after a restart")
		})
	}
}

func TestFullDiskReset(t *testing.T) {
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			fsys := crashfs.New()
			l := dlOpen(t, dlOpts(fsys, 0, policy))
			defer l.Close()
			dlCapacity(fsys, 1<<20)
			next := dlFill(t, l)
			if err := l.Reset(); err != nil {
				t.Fatalf("Reset on a full disk: %v", err)
			}
			if st := l.State(); st.First != next || st.Cursor != next || st.PendingCount != 0 {
				t.Fatalf("after Reset: %+v", st)
			}
			dlAppendAfterFull(t, l, next, "after Reset")
			segs, _ := dlFiles(t, fsys, dlDir)
			if len(segs) != 1 || segs[0] != next {
				t.Fatalf("segments after Reset: %v, want one at %d", segs, next)
			}
			if _, err := fsys.Stat(dlDir + "/LOCK"); errors.Is(err, fs.ErrNotExist) {
				t.Fatal("lock file gone")
			}
		})
	}
}

// The same on a real filesystem: a 1 MiB tmpfs, skipped where it cannot
// be mounted.
func TestRealFullDiskActiveSegmentReleased(t *testing.T) {
	dir := filepath.Join(relTmpfs(t, 1<<20), "log")
	opts := &seglog.Options{Logger: relQuiet} // the default segment size
	l, err := seglog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	next := dlFill(t, l)
	dlDeliverAll(t, l)
	next = dlAppendAfterFull(t, l, next, "after delivering everything")
	next = dlFill(t, l)
	dlDeliverAll(t, l)
	l.Close()
	if l, err = seglog.Open(dir, opts); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	next = dlAppendAfterFull(t, l, next, "after a restart")
	next = dlFill(t, l)
	if err := l.Reset(); err != nil {
		t.Fatalf("Reset on a full tmpfs: %v", err)
	}
	dlAppendAfterFull(t, l, next, "after Reset")
}
