package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// TestDamagedDurableLastFrameCLI: one byte flipped in the last frame of
// the active segment, with the checkpoint's cursor past it. The frame was
// acknowledged, so durable: verify reports damage, not a torn tail, info
// does not call it one, and repair --apply (without --cut-corrupt) leaves
// the segment as it is.
func TestDamagedDurableLastFrameCLI(t *testing.T) {
	dir := t.TempDir()
	l, err := seglog.Open(dir, &seglog.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if _, err := l.Append(bytes.Repeat([]byte{byte('a' + i)}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := l.Pending(12)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ack(b.Sequence + 12); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := segmentFiles(t, dir)[0]
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-20] ^= 0x40 // inside the last frame's body
	if err := os.WriteFile(seg, data, 0o640); err != nil {
		t.Fatal(err)
	}

	r := seglogCmd(t, "verify", dir)
	r.wantCode(t, exitProblems)
	if strings.Contains(r.stdout, "torn_tail") || !strings.Contains(r.stdout, "frame_corrupt") {
		t.Errorf("verify calls acknowledged damage a torn tail:\n%s", r)
	}
	r = seglogCmd(t, "info", dir)
	if strings.Contains(r.stdout, "torn tail") {
		t.Errorf("info calls acknowledged damage a torn tail:\n%s", r)
	}
	r = seglogCmd(t, "repair", "--apply", dir)
	r.wantCode(t, exitProblems)
	after, err := os.ReadFile(seg)
	if err != nil || !bytes.Equal(after, data) {
		t.Fatalf("repair without --cut-corrupt changed the segment (%d bytes, was %d): %v\n%s", len(after), len(data), err, r)
	}
}

// TestLastSegmentLossCLI: the last segment cut to 20 bytes, or deleted,
// while its index names records (the checkpoint before them): verify
// reports an error, not an interrupted roll or an orphan index, and repair
// without --cut-corrupt leaves every file as it is.
func TestLastSegmentLossCLI(t *testing.T) {
	for _, cut := range []int64{20, -1} {
		t.Run(map[bool]string{true: "cut to 20 bytes", false: "deleted"}[cut >= 0], func(t *testing.T) {
			dir := buildHealthy(t, 400, seglog.CodecNone)
			segs := segmentFiles(t, dir)
			last := segs[len(segs)-1]
			if cut >= 0 {
				if err := os.Truncate(last, cut); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(last); err != nil {
				t.Fatal(err)
			}
			before := fileSnapshot(t, dir)
			r := seglogCmd(t, "verify", dir)
			r.wantCode(t, exitProblems)
			if strings.Contains(r.stdout, "torn_header") || strings.Contains(r.stdout, "orphan_index") || !strings.Contains(r.stdout, "error") {
				t.Errorf("verify takes the lost end of the log for an interrupted roll or a stray index:\n%s", r)
			}
			r = seglogCmd(t, "info", dir)
			if !strings.Contains(r.stdout, "attention") {
				t.Errorf("info sees nothing wrong:\n%s", r)
			}
			r = seglogCmd(t, "repair", "--apply", dir)
			r.wantCode(t, exitProblems)
			sameSnapshot(t, before, fileSnapshot(t, dir))
		})
	}
}
