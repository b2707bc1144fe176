package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// The full-disk tests on a real filesystem: a tmpfs of 1 MiB, mounted for
// the test (it needs root, and is skipped where mounting is not allowed).
// The simulated ones, on crashfs, are in inject_test.go.

// mountTmpfs mounts a tmpfs of size bytes in a temporary directory, or skips
// the test where mounting is not allowed (it needs root).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// ballastTmpfs mounts a tmpfs of 1 MiB (see mountTmpfs) holding a 128 KiB
// ballast file, to delete for space, and returns the log directory in it,
// verified at the end of the test, and the ballast's path.
func ballastTmpfs(t *testing.T) (dir, ballast string) {
	t.Helper()
	mnt := mountTmpfs(t, 1<<20)
	ballast = filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 128<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(mnt, "log")
	verifyAtEnd(t, nil, dir)
	return dir, ballast
}

// fillTmpfs appends 2000-byte records to l until an append fails, and
// returns the error. acked gets the records whose appends returned.
func fillTmpfs(t *testing.T, l *seglog.Log, acked *[][]byte) error {
	t.Helper()
	for range 10000 {
		d := tracedPayload(uint64(len(*acked)), 2000)
		off, err := l.Append(d)
		if err != nil {
			return err
		}
		if off != uint64(len(*acked)) {
			t.Fatalf("append got offset %d, want %d", off, len(*acked))
		}
		*acked = append(*acked, d)
	}
	t.Fatal("the tmpfs never filled")
	return nil
}

// checkAcked checks that l ends at len(acked) and holds the acked
// records from its first offset.
func checkAcked(t *testing.T, l *seglog.Log, acked [][]byte, when string) {
	t.Helper()
	if n := l.NextOffset(); n != uint64(len(acked)) {
		t.Fatalf("%s: next offset %d, want %d", when, n, len(acked))
	}
	for o := l.FirstOffset(); o < uint64(len(acked)); o++ {
		rec, err := l.Read(o)
		if err != nil || !bytes.Equal(rec.Data, acked[o]) {
			t.Fatalf("%s: read %d: %v", when, o, err)
		}
	}
}

// ackAll sends everything pending in batches of 50 and acknowledges
// each, as an agent catching up with its peer does: each Ack releases the
// batch acknowledged before it, so all but the last batch are released.
func ackAll(t *testing.T, l *seglog.Log) (released uint64, segments int, err error) {
	t.Helper()
	for {
		b, err := l.Pending(50)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Records) == 0 {
			return released, segments, nil
		}
		res, err := l.Ack(b.Sequence + uint64(len(b.Records)))
		if err != nil {
			return released, segments, err
		}
		released += res.Released
		segments += res.SegmentsRemoved
	}
}

// TestRealDiskFull fills a real 1 MiB tmpfs (skipped where it cannot be
// mounted). The append that finds the disk full fails with ENOSPC, every
// acknowledged record survives a reopen with no torn bytes, and once space
// is freed, by deleting a ballast file or by acknowledging records so that
// their segments are released, the log goes on at the next offset.
func TestRealDiskFull(t *testing.T) {
	dir, ballast := ballastTmpfs(t)
	opts := &seglog.Options{Logger: quiet, SegmentSize: seglog.MinSegmentSize}
	l, err := seglog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	var acked [][]byte
	// Deliver a little first, as a running agent has: both checkpoint
	// slots then hold a state (see TestRealDiskFullFreshLog).
	for range 2 {
		d := tracedPayload(uint64(len(acked)), 2000)
		if _, err := l.Append(d); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, d)
		if _, _, err := ackAll(t, l); err != nil {
			t.Fatal(err)
		}
	}

	err = fillTmpfs(t, l, &acked)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full tmpfs: %v, want ENOSPC", err)
	}
	t.Logf("tmpfs full after %d records of 2000 bytes: %v", len(acked), err)
	for range 3 {
		if _, err := l.Append(tracedPayload(1<<40, 2000)); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append on a still-full tmpfs: %v, want ENOSPC", err)
		}
	}
	checkAcked(t, l, acked, "on the full disk")
	if err := l.Close(); err != nil {
		t.Fatalf("close on a full disk: %v", err)
	}
	if l, err = seglog.Open(dir, opts); err != nil {
		t.Fatalf("reopen on a full disk: %v", err)
	}
	if rec := l.Recovery(); rec.TornBytes != 0 {
		t.Errorf("reopen cut %d torn bytes: a failed write left a partial frame", rec.TornBytes)
	}
	checkAcked(t, l, acked, "reopened on the full disk")

	// Free space by deleting the ballast.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if err = fillTmpfs(t, l, &acked); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("refilling: %v, want ENOSPC", err)
	}
	checkAcked(t, l, acked, "refilled")

	// Free space by acknowledging: the released segments are deleted.
	released, segs, err := ackAll(t, l)
	if err != nil {
		t.Fatalf("Ack on a full disk: %v", err)
	}
	t.Logf("Ack on a full disk released %d records, %d segments", released, segs)
	// The released segments are deleted in the background; Close waits
	// for that. (An append right after the Ack may still find the disk
	// full until the deletion is done.)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = seglog.Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		d := tracedPayload(uint64(len(acked)), 2000)
		off, err := l.Append(d)
		if err != nil || off != uint64(len(acked)) {
			t.Fatalf("append after releasing: offset %d, %v (want %d)", off, err, len(acked))
		}
		acked = append(acked, d)
	}
	checkAcked(t, l, acked, "after releasing")
	l.Close()
	if l, err = seglog.Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	checkAcked(t, l, acked, "reopened at the end")
}

// TestRealDiskFullFreshLog fills a tmpfs with a log that has never saved
// its delivery state, then acknowledges everything to free space.
func TestRealDiskFullFreshLog(t *testing.T) {
	dir := filepath.Join(mountTmpfs(t, 1<<20), "log")
	opts := &seglog.Options{Logger: quiet, SegmentSize: seglog.MinSegmentSize}
	l, err := seglog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var acked [][]byte
	if err := fillTmpfs(t, l, &acked); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full tmpfs: %v, want ENOSPC", err)
	}
	// The checkpoint slots were given their room when the log was
	// created, so the save that frees the disk needs no new block.
	if _, _, err := ackAll(t, l); err != nil {
		t.Fatalf("Ack on a full disk: %v", err)
	}
	seglog.WaitReleases(l) // the released segments are deleted in the background
	d := tracedPayload(uint64(len(acked)), 2000)
	if off, err := l.Append(d); err != nil || off != uint64(len(acked)) {
		t.Fatalf("append after releasing: offset %d, %v", off, err)
	}
}
