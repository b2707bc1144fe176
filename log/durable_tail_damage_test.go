package log_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// durableTailLog appends 12 records, one frame each, to a new log under
// policy, acknowledges the first acked of them (so that the checkpoint's
// cursor is at offset acked), closes it, and returns the directory and
// the path of its only segment.
func durableTailLog(t *testing.T, policy seglog.SyncPolicy, acked int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, &seglog.Options{Sync: policy})
	for i := range 12 {
		if _, err := l.Append(bytes.Repeat([]byte{byte('a' + i)}, 100)); err != nil {
			t.Fatal(err)
		}
		if policy != seglog.SyncAlways {
			if err := l.Sync(); err != nil { // one frame a record
				t.Fatal(err)
			}
		}
	}
	if acked > 0 {
		b, err := l.Pending(acked)
		if err != nil || len(b.Records) != acked {
			t.Fatalf("Pending(%d): %d records, %v", acked, len(b.Records), err)
		}
		if _, err := l.Ack(b.Sequence + uint64(acked)); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)
	segs := segmentPaths(t, dir)
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	return dir, segs[0]
}

// TestDamagedDurableLastFrameIsKept flips one byte inside the last frame
// of the active segment of a closed log whose checkpoint cursor lies past
// that frame: the frame was acknowledged, so it was durable, and the
// damage cannot be a torn write. Open must refuse the log with ErrCorrupt
// naming the file and the frame's position, under TruncateCorrupt too,
// and leave every byte of the segment in place. A read-only Open refuses it
// as well.
func TestDamagedDurableLastFrameIsKept(t *testing.T) {
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncInterval, seglog.SyncNever} {
		for _, truncate := range []bool{false, true} {
			t.Run(policy.String()+map[bool]string{false: "", true: "/TruncateCorrupt"}[truncate], func(t *testing.T) {
				dir, seg := durableTailLog(t, policy, 12)
				frames := fileFrames(t, seg)
				last := frames[len(frames)-1]
				xorByte(t, seg, last.pos+segment.FrameHeaderSize+10, 0x40)
				verifyExpectDamage(t, dir)
				before, err := os.ReadFile(seg)
				if err != nil {
					t.Fatal(err)
				}
				l, err := seglog.Open(dir, quietOpts(&seglog.Options{Sync: policy, TruncateCorrupt: truncate}))
				if err == nil {
					l.Close()
					t.Fatal("Open accepted a log whose acknowledged last frame is damaged")
				}
				mustCorrupt(t, err, seg, last.pos)
				after, err := os.ReadFile(seg)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(before, after) {
					t.Fatalf("Open changed the segment: %d bytes before, %d after", len(before), len(after))
				}
				ro, err := seglog.Open(dir, quietOpts(&seglog.Options{ReadOnly: true}))
				if err == nil {
					ro.Close()
					t.Fatal("read-only Open accepted the damaged log")
				}
				if !errors.Is(err, seglog.ErrCorrupt) {
					t.Fatalf("read-only Open: %v, want ErrCorrupt", err)
				}
			})
		}
	}
}

// TestDamagedUnackedLastFrameIsTorn is the control: with the cursor before
// the damaged last frame, nothing durable names it, and Open cuts it as a
// torn tail, reports it, and keeps every acknowledged record.
func TestDamagedUnackedLastFrameIsTorn(t *testing.T) {
	dir, seg := durableTailLog(t, seglog.SyncNever, 11)
	frames := fileFrames(t, seg)
	last := frames[len(frames)-1]
	xorByte(t, seg, last.pos+segment.FrameHeaderSize+10, 0x40)
	l := openLog(t, dir, &seglog.Options{Sync: seglog.SyncNever})
	rec := l.Recovery()
	if rec.TornBytes != last.size || rec.TornFrom != 11 || rec.File != filepath.Clean(seg) {
		t.Fatalf("Recovery %+v, want %d torn bytes from offset 11 in %s", rec, last.size, seg)
	}
	if n := l.NextOffset(); n != 11 {
		t.Fatalf("next offset %d, want 11", n)
	}
	for o := range uint64(11) {
		if r, err := l.Read(o); err != nil || r.Data[0] != byte('a'+o) {
			t.Fatalf("Read(%d): %q, %v", o, r.Data, err)
		}
	}
}
