package log_test

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// D5: a full disk whose space the log itself holds, in the one active
// segment of a log with the default segment size. Once everything is
// acknowledged, the log gives the space back and appends work again; Reset
// works on a full disk.

// letterCapacity makes fsys behave as a disk of capacity bytes for the files in
// crashDir, allocated in pages of 4 KiB as tmpfs does: a write that would need
// more pages than are free fails with ENOSPC. A file gets its first page
// with its first byte, so a full disk has no room for a new segment.
func letterCapacity(fsys *crashfs.FS, capacity int64) {
	fsys.SetHook(func(op crashfs.Op) error {
		if op.Kind != crashfs.OpWrite {
			return nil
		}
		const page = 4096
		pages := func(n int64) int64 { return (n + page - 1) / page * page }
		var used, size int64
		names, err := fsys.ReadDir(crashDir)
		if err != nil {
			return nil
		}
		for _, n := range names {
			st, err := fsys.Stat(filepath.Join(crashDir, n))
			if err != nil {
				continue
			}
			used += pages(st.Size())
			if filepath.Join(crashDir, n) == op.Name {
				size = st.Size()
			}
		}
		if grow := pages(op.Off+int64(op.Len)) - pages(size); grow > 0 && used+grow > capacity {
			return syscall.ENOSPC
		}
		return nil
	})
}

// fillLetters appends 2000-byte records until an append fails with ENOSPC, and
// returns the next offset.
func fillLetters(t *testing.T, l *seglog.Log) uint64 {
	t.Helper()
	for range 100000 {
		next := l.NextOffset()
		off, err := l.Append(tracedPayload(next, 2000))
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

// deliverAll hands out and acknowledges everything pending, in batches
// of 50.
func deliverAll(t *testing.T, l *seglog.Log) {
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

// appendAfterFull checks that appends work again and take the next
// offsets.
func appendAfterFull(t *testing.T, l *seglog.Log, next uint64, when string) uint64 {
	t.Helper()
	for range 5 {
		off, err := l.Append(tracedPayload(next, 2000))
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
			opts := crashOpts(fsys, 0, policy) // the default segment size
			l := openCrash(t, opts)
			defer func() { l.Close() }()
			letterCapacity(fsys, 1<<20)
			next := fillLetters(t, l)
			for range 3 {
				if _, err := l.Append(tracedPayload(next, 2000)); !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("append on a full disk: %v, want ENOSPC", err)
				}
			}
			deliverAll(t, l)
			next = appendAfterFull(t, l, next, "after delivering everything")

			// Full again, everything acknowledged, then a restart.
			next = fillLetters(t, l)
			deliverAll(t, l)
			if err := l.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			l = openCrash(t, opts)
			next = appendAfterFull(t, l, next, "after a restart")
		})
	}
}

func TestFullDiskReset(t *testing.T) {
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			fsys := crashfs.New()
			l := openCrash(t, crashOpts(fsys, 0, policy))
			defer l.Close()
			letterCapacity(fsys, 1<<20)
			next := fillLetters(t, l)
			if err := l.Reset(); err != nil {
				t.Fatalf("Reset on a full disk: %v", err)
			}
			if st := l.State(); st.First != next || st.Cursor != next || st.PendingCount != 0 {
				t.Fatalf("after Reset: %+v", st)
			}
			appendAfterFull(t, l, next, "after Reset")
			segs, _ := logFiles(t, fsys, crashDir)
			if len(segs) != 1 || segs[0] != next {
				t.Fatalf("segments after Reset: %v, want one at %d", segs, next)
			}
			if _, err := fsys.Stat(crashDir + "/LOCK"); errors.Is(err, fs.ErrNotExist) {
				t.Fatal("lock file gone")
			}
		})
	}
}

// The same on a real filesystem: a 1 MiB tmpfs, skipped where it cannot
// be mounted.
func TestRealFullDiskActiveSegmentReleased(t *testing.T) {
	dir := filepath.Join(mountTmpfs(t, 1<<20), "log")
	opts := &seglog.Options{Logger: quiet} // the default segment size
	l, err := seglog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	next := fillLetters(t, l)
	deliverAll(t, l)
	next = appendAfterFull(t, l, next, "after delivering everything")
	next = fillLetters(t, l)
	deliverAll(t, l)
	l.Close()
	if l, err = seglog.Open(dir, opts); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	next = appendAfterFull(t, l, next, "after a restart")
	next = fillLetters(t, l)
	if err := l.Reset(); err != nil {
		t.Fatalf("Reset on a full tmpfs: %v", err)
	}
	appendAfterFull(t, l, next, "after Reset")
}

// Appenders racing on a full disk while a sender delivers everything: the
// space the log gives back is taken by whichever append comes first, no
// offset is returned twice, and every append that returned nil reads back
// until it is released.
func TestFullDiskManyAppenders(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	defer l.Close()
	letterCapacity(fsys, 256<<10)
	var mu sync.Mutex
	got := map[uint64][]byte{}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 400 {
				d := tracedPayload(uint64(g)<<32|uint64(i), 1000)
				off, err := l.Append(d)
				if err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Errorf("append: %v", err)
						return
					}
					continue
				}
				mu.Lock()
				if _, dup := got[off]; dup {
					t.Errorf("offset %d returned twice", off)
				}
				got[off] = d
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := l.Pending(20)
			if err != nil {
				t.Errorf("Pending: %v", err)
				return
			}
			for _, r := range b.Records {
				mu.Lock()
				want, ok := got[r.Offset]
				mu.Unlock()
				if ok && !bytes.Equal(r.Data, want) {
					t.Errorf("offset %d: data differs", r.Offset)
				}
			}
			if len(b.Gaps) > 0 {
				t.Errorf("gaps %+v on a log without damage", b.Gaps)
			}
			if _, err := l.Ack(b.Next()); err != nil && !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("Ack: %v", err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-senderDone
	if len(got) < 400 {
		t.Fatalf("only %d of 1600 appends went through: the log did not give its space back", len(got))
	}
	t.Logf("%d of 1600 appends went through", len(got))
}

// Reset on a full disk under SyncNever, with nothing buffered: the same.
func TestFullDiskResetSyncNever(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	letterCapacity(fsys, 1<<20)
	next := fillLetters(t, l)
	l.Close()
	l = openCrash(t, crashOpts(fsys, 0, seglog.SyncNever))
	defer l.Close()
	if err := l.Reset(); err != nil {
		t.Fatalf("Reset on a full disk: %v", err)
	}
	if st := l.State(); st.First != next || st.Cursor != next {
		t.Fatalf("after Reset: %+v", st)
	}
	for i := range 5 {
		if off, err := l.Append(tracedPayload(next+uint64(i), 2000)); err != nil || off != next+uint64(i) {
			t.Fatalf("append after Reset: offset %d, %v", off, err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync after Reset: %v", err)
	}
}
