package inspect_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/inspect"
	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// TestVerifyAndRepairOverAnotherFS runs Verify and Repair on a log kept on
// the crash-testing filesystem, which they read and change only through
// Options.FS: a live writer is seen through the filesystem's lock, a
// damaged sealed frame is found where it is, and the repair (backup copies,
// the cut, the rebuilt index) happens on that filesystem and leaves a log
// that verifies and opens.
func TestVerifyAndRepairOverAnotherFS(t *testing.T) {
	ctx := context.Background()
	fsys := crashfs.New()
	const dir = "/log"
	opts := &seglog.Options{FS: fsys, SegmentSize: seglog.MinSegmentSize, Logger: slog.New(slog.DiscardHandler)}
	l, err := seglog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := l.Append(fmt.Appendf(nil, "record %04d %0200d", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := inspect.Verify(ctx, dir, inspect.Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Live || !r.Healthy() || r.Records != 200 {
		t.Fatalf("live log: live %v, healthy %v, %d records: %v", r.Live, r.Healthy(), r.Records, r.Findings)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Damage a frame of the first (sealed) segment, found through its index.
	seg := filepath.Join(dir, segment.FileName(0))
	fi, err := fsys.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := index.ReadFile(fsys, filepath.Join(dir, index.FileName(0)), 0, fi.Size())
	if err != nil || len(entries) < 20 {
		t.Fatalf("index: %d entries, %v", len(entries), err)
	}
	e := entries[10]
	if err := fsys.Corrupt(seg, int64(e.Pos)+segment.FrameHeaderSize+5, 0x40); err != nil {
		t.Fatal(err)
	}
	r, err = inspect.Verify(ctx, dir, inspect.Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range r.Findings {
		if f.Code == inspect.CodeFrameCorrupt && f.File == segment.FileName(0) && f.Position != nil && *f.Position == int64(e.Pos) {
			found = true
		}
	}
	if r.Live || r.Healthy() || !found {
		t.Fatalf("damaged log: live %v, healthy %v, findings %v", r.Live, r.Healthy(), r.Findings)
	}

	res, err := inspect.Repair(ctx, dir, inspect.RepairOptions{FS: fsys, Apply: true, CutCorrupt: true,
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Applied || res.After == nil || !res.After.Healthy() || res.Plan.Next != e.Offset {
		t.Fatalf("repair: applied %v, next %d (want %d), after %+v", res.Applied, res.Plan.Next, e.Offset, res.After)
	}
	if _, err := fsys.Stat(filepath.Join(dir, "repair-20260102T030405Z", segment.FileName(0))); err != nil {
		t.Fatalf("the cut segment was not copied aside on the same filesystem: %v", err)
	}
	l, err = seglog.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open after the repair: %v", err)
	}
	defer l.Close()
	if l.NextOffset() != e.Offset {
		t.Fatalf("next offset %d after the repair, want %d", l.NextOffset(), e.Offset)
	}
	if _, err := l.Read(e.Offset - 1); err != nil {
		t.Fatalf("Read before the cut: %v", err)
	}
}
