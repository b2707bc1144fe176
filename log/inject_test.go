package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// The error-injection tests make one chosen write, fsync or remove fail
// (crashfs.Inject, or a hook for a condition that lasts, like a full disk)
// and check that the error reaches the caller as what it is, that nothing
// half-done becomes visible, and that the log recovers, by itself once the
// cause is gone or at the next Open.

// injectedErr counts the errors the tests in this file injected, for
// docs/reliability.md.
var injectedErr atomic.Int64

// countInjected logs, when t ends, how many errors it injected.
func countInjected(t *testing.T) {
	before := injectedErr.Load()
	t.Cleanup(func() { t.Logf("%d errors injected", injectedErr.Load()-before) })
}

// openFS opens a log on fsys with small segments.
func openFS(t *testing.T, fsys *crashfs.FS, mod func(*seglog.Options)) *seglog.Log {
	t.Helper()
	opts := &seglog.Options{FS: fsys, Logger: quiet, SegmentSize: seglog.MinSegmentSize}
	if mod != nil {
		mod(opts)
	}
	l, err := seglog.Open(crashDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	verifyAtEnd(t, opts.FS, crashDir)
	return l
}

// activeSeg returns the path and contents of the last segment file.
func activeSeg(t *testing.T, fsys *crashfs.FS) (string, []byte) {
	t.Helper()
	names, err := fsys.ReadDir(crashDir)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for _, n := range names {
		if strings.HasSuffix(n, segment.Suffix) {
			last = n
		}
	}
	b, err := fsys.ReadFile(filepath.Join(crashDir, last))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(crashDir, last), b
}

// verifyExact reopens the log on what a crash in mode leaves of fsys
// and checks that it holds exactly want, from offset first, with no torn
// bytes when clean is set, and takes a new append.
func verifyExact(t *testing.T, fsys *crashfs.FS, mode crashfs.CrashMode, opts func(*seglog.Options), first uint64, want [][]byte, clean bool) {
	t.Helper()
	l := openFS(t, fsys.Crash(nil, mode), opts)
	defer l.Close()
	if rec := l.Recovery(); clean && rec.TornBytes != 0 {
		t.Errorf("after a %v crash: %d torn bytes cut from offset %d; a failed write left a partial frame", mode, rec.TornBytes, rec.TornFrom)
	}
	if got := l.NextOffset(); got != first+uint64(len(want)) {
		t.Errorf("after a %v crash: next offset %d, want %d", mode, got, first+uint64(len(want)))
	}
	off := first
	for rec, err := range l.Records(first) {
		if err != nil {
			t.Fatalf("after a %v crash: scan: %v", mode, err)
		}
		if rec.Offset != off || off-first >= uint64(len(want)) || !bytes.Equal(rec.Data, want[off-first]) {
			t.Fatalf("after a %v crash: unexpected record at offset %d (want offset %d)", mode, rec.Offset, off)
		}
		off++
	}
	if _, err := l.Append([]byte("after")); err != nil {
		t.Fatalf("after a %v crash: append: %v", mode, err)
	}
}

// TestInjectENOSPC fails one segment write with ENOSPC, whole or part of it
// written, under SyncAlways: the append reports ENOSPC, no partial frame is
// left in the file, the next append takes the same offset, and after a
// crash the log holds exactly the records whose appends returned.
func TestInjectENOSPC(t *testing.T) {
	countInjected(t)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"whole", syscall.ENOSPC},
		{"partial-0", crashfs.PartialWrite{N: 0, Err: syscall.ENOSPC}},
		{"partial-header", crashfs.PartialWrite{N: 17, Err: syscall.ENOSPC}},
		{"partial-body", crashfs.PartialWrite{N: segment.FrameHeaderSize + 100, Err: syscall.ENOSPC}},
		{"short-write", crashfs.PartialWrite{N: 200}},
	} {
		for _, codec := range []seglog.Codec{seglog.CodecNone, seglog.CodecZstd} {
			t.Run(fmt.Sprintf("%s/%v", tc.name, codec), func(t *testing.T) {
				fsys := crashfs.New()
				opts := func(o *seglog.Options) { o.Codec = codec }
				l := openFS(t, fsys, opts)
				defer l.Close()
				var want [][]byte
				for i := range 5 {
					d := tracedPayload(uint64(i), 500)
					if _, err := l.Append(d); err != nil {
						t.Fatal(err)
					}
					want = append(want, d)
				}
				_, before := activeSeg(t, fsys)

				fsys.Inject(crashfs.OpWrite, 0, tc.err)
				injectedErr.Add(1)
				_, err := l.Append(tracedPayload(99, 500))
				if err == nil {
					t.Fatal("append on a full disk returned no error")
				}
				if pw, ok := tc.err.(crashfs.PartialWrite); ok && pw.Err == nil {
					if !errors.Is(err, io.ErrShortWrite) {
						t.Errorf("short write reported as %v", err)
					}
				} else if !errors.Is(err, syscall.ENOSPC) {
					t.Errorf("append error %v does not match ENOSPC", err)
				}
				if errors.Is(err, seglog.ErrSyncFailed) {
					t.Errorf("a failed write made the log refuse writes: %v", err)
				}
				if _, after := activeSeg(t, fsys); !bytes.Equal(after, before) {
					t.Errorf("segment changed by the failed append: %d bytes, was %d", len(after), len(before))
				}
				if got := l.NextOffset(); got != 5 {
					t.Errorf("next offset %d after the failed append, want 5", got)
				}
				// Space is free again: the log goes on, offsets dense.
				for i := 5; i < 8; i++ {
					d := tracedPayload(uint64(i), 500)
					off, err := l.Append(d)
					if err != nil {
						t.Fatalf("append after the failure: %v", err)
					}
					if off != uint64(i) {
						t.Fatalf("append after the failure got offset %d, want %d", off, i)
					}
					want = append(want, d)
				}
				for _, mode := range crashModes {
					verifyExact(t, fsys, mode, opts, 0, want, mode != crashfs.CrashRandom && mode != crashfs.CrashTorn)
				}
			})
		}
	}
}

// diskFull installs a hook failing every segment and checkpoint write
// with ENOSPC while full is set, and counts the failures.
func diskFull(fsys *crashfs.FS, full *atomic.Bool) {
	fsys.SetHook(func(op crashfs.Op) error {
		if full.Load() && (op.Kind == crashfs.OpWrite || op.Kind == crashfs.OpCreate) {
			injectedErr.Add(1)
			return syscall.ENOSPC
		}
		return nil
	})
}

// TestDiskFullSyncAlways keeps the disk full across many appends, batches,
// acks and a roll: every call fails with ENOSPC and changes nothing, the
// acknowledged records stay readable, and once space is free the log goes
// on at the next offset.
func TestDiskFullSyncAlways(t *testing.T) {
	countInjected(t)
	fsys := crashfs.New()
	l := openFS(t, fsys, nil)
	defer l.Close()
	var want [][]byte
	for i := range 20 {
		d := tracedPayload(uint64(i), 700)
		if _, err := l.Append(d); err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	var full atomic.Bool
	diskFull(fsys, &full)
	full.Store(true)
	for i := range 30 { // enough to need a roll
		var err error
		switch i % 3 {
		case 0:
			_, err = l.Append(tracedPayload(1000+uint64(i), 700))
		case 1:
			_, err = l.AppendRecords(seglog.Record{Data: tracedPayload(1000+uint64(i), 300)}, seglog.Record{Type: "x", Data: []byte("y")})
		case 2:
			err = l.SetMeta("k", []byte("v"))
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("call %d on a full disk: %v, want ENOSPC", i, err)
		}
	}
	if got := l.NextOffset(); got != 20 {
		t.Fatalf("next offset %d after failed appends, want 20", got)
	}
	for i, d := range want {
		if rec, err := l.Read(uint64(i)); err != nil || !bytes.Equal(rec.Data, d) {
			t.Fatalf("read %d on a full disk: %v", i, err)
		}
	}
	full.Store(false)
	for i := 20; i < 60; i++ { // across a roll
		d := tracedPayload(uint64(i), 700)
		off, err := l.Append(d)
		if err != nil || off != uint64(i) {
			t.Fatalf("append %d after space was freed: offset %d, %v", i, off, err)
		}
		want = append(want, d)
	}
	if err := l.SetMeta("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, mode := range crashModes {
		verifyExact(t, fsys, mode, nil, 0, want, false)
	}
}

// TestDiskFullSyncNever fails every write while records are buffered under
// SyncNever: Sync reports ENOSPC, appends still buffer (except one that
// needs a new segment, which fails), and once space is free the buffered
// records are written in order and survive a crash.
func TestDiskFullSyncNever(t *testing.T) {
	countInjected(t)
	fsys := crashfs.New()
	opts := func(o *seglog.Options) { o.Sync = seglog.SyncNever }
	l := openFS(t, fsys, opts)
	defer l.Close()
	var want [][]byte
	add := func(n int) {
		for range n {
			d := tracedPayload(uint64(len(want)), 300)
			off, err := l.Append(d)
			if err != nil || off != uint64(len(want)) {
				t.Fatalf("append %d: offset %d, %v", len(want), off, err)
			}
			want = append(want, d)
		}
	}
	add(10)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	var full atomic.Bool
	diskFull(fsys, &full)
	full.Store(true)
	add(15)
	for range 3 {
		if err := l.Sync(); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Sync on a full disk: %v, want ENOSPC", err)
		}
		if errors.Is(l.Sync(), seglog.ErrSyncFailed) {
			t.Fatal("a failed write made the log refuse writes")
		}
	}
	if _, err := l.Read(12); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("reading a buffered record on a full disk: %v, want ENOSPC", err)
	}
	add(5) // the buffer keeps taking appends
	// An append that needs a new segment must write the buffer out
	// first, and fails while the disk is full, taking no offset.
	if _, err := l.Append(tracedPayload(1<<40, seglog.MinSegmentSize)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append needing a roll on a full disk: %v, want ENOSPC", err)
	}
	if got := l.NextOffset(); got != uint64(len(want)) {
		t.Fatalf("next offset %d after a failed roll, want %d", got, len(want))
	}
	// What a crash now leaves is the synced records.
	verifyExact(t, fsys, crashfs.CrashLoseUnsynced, opts, 0, want[:10], false)

	full.Store(false)
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync once space is free: %v", err)
	}
	add(30) // and a roll
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	for i, d := range want {
		if rec, err := l.Read(uint64(i)); err != nil || !bytes.Equal(rec.Data, d) {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	for _, mode := range crashModes {
		verifyExact(t, fsys, mode, opts, 0, want, false)
	}
}

// TestFsyncFailure fails a segment fsync with EIO. The kernel may have
// dropped the unsynced pages, so the log must not retry and claim success:
// the append fails with ErrSyncFailed, and so does every write after it
// (sticky), wrapping the cause, while reads of what was acknowledged go
// on. Reopening recovers what is on disk.
func TestFsyncFailure(t *testing.T) {
	countInjected(t)
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			fsys := crashfs.New()
			opts := func(o *seglog.Options) { o.Sync = policy }
			l := openFS(t, fsys, opts)
			defer l.Close()
			var want [][]byte
			for i := range 5 {
				d := tracedPayload(uint64(i), 300)
				if _, err := l.Append(d); err != nil {
					t.Fatal(err)
				}
				want = append(want, d)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			fsys.Inject(crashfs.OpSync, 0, syscall.EIO)
			injectedErr.Add(1)
			_, err := l.Append(tracedPayload(5, 300))
			if policy != seglog.SyncAlways {
				if err != nil {
					t.Fatalf("buffered append: %v", err)
				}
				err = l.Sync()
			}
			if !errors.Is(err, seglog.ErrSyncFailed) || !errors.Is(err, syscall.EIO) {
				t.Fatalf("write with a failed fsync: %v, want ErrSyncFailed wrapping EIO", err)
			}
			// Sticky: no write succeeds, even with the disk healthy again.
			calls := map[string]func() error{
				"Append":        func() error { _, err := l.Append([]byte("x")); return err },
				"AppendRecords": func() error { _, err := l.AppendRecords(seglog.Record{Data: []byte("x")}); return err },
				"Sync":          l.Sync,
				"SetMeta":       func() error { return l.SetMeta("k", []byte("v")) },
				"Ack":           func() error { _, err := l.Ack(1); return err },
				"Reset":         l.Reset,
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, seglog.ErrSyncFailed) || !errors.Is(err, syscall.EIO) {
					t.Errorf("%s after a failed fsync: %v, want ErrSyncFailed wrapping EIO", name, err)
				}
			}
			for i, d := range want {
				if rec, err := l.Read(uint64(i)); err != nil || !bytes.Equal(rec.Data, d) {
					t.Errorf("read %d after a failed fsync: %v", i, err)
				}
			}
			l.Close()
			// What reached the disk is recovered: the record whose fsync
			// failed may or may not be there, the others are.
			for _, mode := range crashModes {
				l2 := openFS(t, fsys.Crash(nil, mode), opts)
				if n := l2.NextOffset(); n < 5 || n > 6 {
					t.Errorf("after a %v crash: next offset %d, want 5 or 6", mode, n)
				}
				for i, d := range want {
					if rec, err := l2.Read(uint64(i)); err != nil || !bytes.Equal(rec.Data, d) {
						t.Errorf("after a %v crash: read %d: %v", mode, i, err)
					}
				}
				if _, err := l2.Append([]byte("after")); err != nil {
					t.Errorf("after a %v crash: append: %v", mode, err)
				}
				l2.Close()
			}
		})
	}
}

// TestFsyncFailureCheckpoint fails the fsync of a checkpoint save. The
// save rewrites the whole encoding into its slot, so a retry after the
// failure writes every byte again rather than trusting pages the kernel
// may have dropped: the call fails, the state is unchanged, and the next
// save succeeds and is what a crash keeps.
func TestFsyncFailureCheckpoint(t *testing.T) {
	countInjected(t)
	fsys := crashfs.New()
	l := openFS(t, fsys, nil)
	defer l.Close()
	if err := l.SetMeta("k", []byte("one")); err != nil {
		t.Fatal(err)
	}
	fsys.Inject(crashfs.OpSync, 0, syscall.EIO)
	injectedErr.Add(1)
	if err := l.SetMeta("k", []byte("two")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SetMeta with a failed fsync: %v, want EIO", err)
	}
	if v, _ := l.Meta("k"); string(v) != "one" {
		t.Fatalf("state after a failed save: %q, want the previous one", v)
	}
	if err := l.SetMeta("k", []byte("three")); err != nil {
		t.Fatalf("SetMeta after a failed save: %v", err)
	}
	for _, mode := range crashModes {
		l2 := openFS(t, fsys.Crash(nil, mode), nil)
		if v, _ := l2.Meta("k"); string(v) != "three" {
			t.Errorf("after a %v crash: meta %q, want three", mode, v)
		}
		l2.Close()
	}
}

// TestRollFailures fails each step of starting a new segment in turn (its
// creation, header write, header fsync, directory fsync): the append that
// needed the roll fails with the error, nothing is half-created, and the
// next append rolls and succeeds.
func TestRollFailures(t *testing.T) {
	countInjected(t)
	for _, kind := range []crashfs.OpKind{crashfs.OpCreate, crashfs.OpWrite, crashfs.OpSync, crashfs.OpSyncDir} {
		t.Run(kind.String(), func(t *testing.T) {
			fsys := crashfs.New()
			l := openFS(t, fsys, nil)
			defer l.Close()
			var want [][]byte
			for i := 0; len(want) < 14; i++ {
				d := tracedPayload(uint64(i), 1000)
				if _, err := l.Append(d); err != nil {
					t.Fatal(err)
				}
				want = append(want, d)
			}
			first := segment.FileName(0)
			fail := true
			fsys.SetHook(func(op crashfs.Op) error {
				roll := strings.HasSuffix(op.Name, segment.Suffix) && !strings.HasSuffix(op.Name, first)
				if kind == crashfs.OpSyncDir {
					roll = true // the log syncs its directory only when it rolls
				}
				if fail && op.Kind == kind && roll {
					fail = false
					injectedErr.Add(1)
					return syscall.EIO
				}
				return nil
			})
			var err error
			for i := 0; err == nil && i < 5; i++ {
				d := tracedPayload(100+uint64(i), 1000)
				if _, err = l.Append(d); err == nil {
					want = append(want, d)
				}
			}
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("append needing a roll whose %v fails: %v, want EIO", kind, err)
			}
			if errors.Is(err, seglog.ErrSyncFailed) {
				t.Errorf("a failed roll made the log refuse writes: %v", err)
			}
			if n := segmentNames(fsys); n != 1 {
				t.Errorf("failed roll left %d segment files, want 1", n)
			}
			for i := range 5 {
				d := tracedPayload(200+uint64(i), 1000)
				off, err := l.Append(d)
				if err != nil || off != uint64(len(want)) {
					t.Fatalf("append after the failed roll: offset %d, %v (want %d)", off, err, len(want))
				}
				want = append(want, d)
			}
			for _, mode := range crashModes {
				verifyExact(t, fsys, mode, nil, 0, want, false)
			}
		})
	}
}

// TestReleaseRemoveFails fails the removal of released segments, during
// the Ack that released them and then during the next Open: the Ack still
// succeeds (its checkpoint is durable), the released records are gone
// from the log at once, and an Open without the fault finishes the job.
func TestReleaseRemoveFails(t *testing.T) {
	countInjected(t)
	fsys := crashfs.New()
	l := openFS(t, fsys, nil)
	defer l.Close()
	for i := range 60 {
		if _, err := l.Append(tracedPayload(uint64(i), 900)); err != nil {
			t.Fatal(err)
		}
	}
	failRemove := func(fsys *crashfs.FS) {
		fsys.SetHook(func(op crashfs.Op) error {
			if op.Kind == crashfs.OpRemove {
				injectedErr.Add(1)
				return syscall.EIO
			}
			return nil
		})
	}
	segsBefore := segmentNames(fsys)
	failRemove(fsys)
	for range 2 { // the second Ack releases what the first sent
		b, err := l.Pending(40)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Ack(b.Sequence + uint64(len(b.Records))); err != nil {
			t.Fatalf("Ack whose segment removal fails: %v", err)
		}
	}
	first := l.FirstOffset()
	if first != 40 {
		t.Fatalf("first offset %d, want 40", first)
	}
	if _, err := l.Read(0); !errors.Is(err, seglog.ErrOutOfRange) {
		t.Fatalf("read of a released record: %v, want ErrOutOfRange", err)
	}
	if n := segmentNames(fsys); n != segsBefore {
		t.Fatalf("%d segments, want all %d still there (removal failed)", n, segsBefore)
	}
	l.Close()

	// The next Open, its removals failing too, then one without the fault.
	survivor := fsys.Crash(nil, crashfs.CrashLoseUnsynced)
	failRemove(survivor)
	if l2, err := seglog.Open(crashDir, &seglog.Options{FS: survivor, Logger: quiet, SegmentSize: seglog.MinSegmentSize}); err == nil {
		if got := l2.FirstOffset(); got != first {
			t.Errorf("Open with failing removals: first offset %d, want %d", got, first)
		}
		l2.Close()
	}
	survivor.SetHook(nil)
	l3 := openFS(t, survivor, nil)
	defer l3.Close()
	if got := l3.Recovery().SegmentsRemoved; got == 0 {
		t.Errorf("Open removed no released segment")
	}
	if n := segmentNames(survivor); n >= segsBefore {
		t.Errorf("%d segments after Open, want fewer than %d", n, segsBefore)
	}
	if got := l3.FirstOffset(); got != first {
		t.Errorf("first offset %d after Open, want %d", got, first)
	}
	for o := first; o < 60; o++ {
		rec, err := l3.Read(o)
		if err != nil {
			t.Fatalf("read %d: %v", o, err)
		}
		if id, ok := parseTraced(rec.Data); !ok || id != o {
			t.Fatalf("offset %d holds record %d", o, id)
		}
	}
}
