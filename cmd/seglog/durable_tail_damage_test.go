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
