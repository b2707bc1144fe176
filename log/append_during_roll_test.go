package log_test

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// TestAppendDuringRoll appends a record that fits in the full segment
// while another append is rolling to a new one. Found by the group-commit
// crash workload: the small record went into the sealed segment's writer,
// whose buffer was then dropped, yet its Append returned success once a
// later group was synced, and the new segment began with the wrong offset.
func TestAppendDuringRoll(t *testing.T) {
	fsys := crashfs.New()
	opts := &seglog.Options{FS: fsys, Logger: quiet, SegmentSize: seglog.MinSegmentSize}
	verifyAtEnd(t, fsys, crashDir)
	l, err := seglog.Open(crashDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Fill the first segment to within 1 KiB of its end.
	var acked []uint64
	for size := 0; size < seglog.MinSegmentSize-2048; size += 1000 + segment.FrameHeaderSize + 4 {
		off, err := l.Append(tracedPayload(uint64(len(acked)), 1000))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, off)
	}

	rolling, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsys.SetHook(func(op crashfs.Op) error {
		if op.Kind == crashfs.OpCreate && strings.HasSuffix(op.Name, segment.Suffix) {
			once.Do(func() {
				close(rolling)
				<-proceed
			})
		}
		return nil
	})
	var wg sync.WaitGroup
	offs := make([]uint64, 2)
	errs := make([]error, 2)
	wg.Go(func() { offs[0], errs[0] = l.Append(tracedPayload(100, 4000)) }) // needs a new segment
	<-rolling
	next, waits := l.NextOffset(), seglog.RollWaits(l)
	wg.Go(func() { offs[1], errs[1] = l.Append(tracedPayload(101, 100)) }) // fits in the old one
	// Let the small append reach the writer: without the bug, it waits
	// for the roll; with it, it takes an offset at once. One of the two
	// happens, so the loop ends by itself.
	for l.NextOffset() == next && seglog.RollWaits(l) == waits {
		runtime.Gosched()
	}
	close(proceed)
	wg.Wait()
	fsys.SetHook(nil)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	// A third append makes a later group commit, which with the bug
	// "synced" the lost record.
	off3, err := l.Append(tracedPayload(102, 100))
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]uint64{offs[0]: 100, offs[1]: 101, off3: 102}
	for i, off := range acked {
		want[off] = uint64(i)
	}
	check := func(l *seglog.Log, when string) {
		for off, id := range want {
			rec, err := l.Read(off)
			if err != nil {
				t.Errorf("%s: read %d: %v", when, off, err)
				continue
			}
			if got, _ := parseTraced(rec.Data); got != id || !bytes.Equal(rec.Data, tracedPayload(id, len(rec.Data))) {
				t.Errorf("%s: offset %d holds record %d, want %d", when, off, got, id)
			}
		}
	}
	check(l, "before reopen")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := seglog.Open(crashDir, &seglog.Options{FS: fsys.Crash(nil, crashfs.CrashLoseUnsynced), Logger: quiet, SegmentSize: seglog.MinSegmentSize})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l2.Close()
	check(l2, "after a crash")
}
