package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seglog/seglog/checkpoint"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// buildHeld writes a log of n records in which every fifth is of type
// "keep", not accepted: Pending judges them all, so the held store holds
// every fifth record and its frontier is the end of the log. It returns
// the directory and the held offsets.
func buildHeld(t testing.TB, n int) (string, []uint64) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.SetAcceptedTypes([]string{"send"}); err != nil {
		t.Fatal(err)
	}
	var held []uint64
	for i := range n {
		typ := "send"
		if i%5 == 0 {
			typ = "keep"
		}
		off, err := l.AppendTyped(typ, []byte(fmt.Sprintf("record %d %s", i, strings.Repeat("x", 300))))
		if err != nil {
			t.Fatal(err)
		}
		if typ == "keep" {
			held = append(held, off)
		}
	}
	if _, err := l.Pending(n); err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st.Held != uint64(len(held)) {
		t.Fatalf("held %d records, want %d", st.Held, len(held))
	}
	return dir, held
}

func heldOffsets(t testing.TB, l *seglog.Log) []uint64 {
	t.Helper()
	var offs []uint64
	for r, err := range l.HeldRecords() {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(r.Data), fmt.Sprintf("record %d ", r.Offset)) || r.Type != "keep" {
			t.Fatalf("held record at %d: type %q, data %.20q", r.Offset, r.Type, r.Data)
		}
		offs = append(offs, r.Offset)
	}
	return offs
}

// openAndDeliver opens the log as a writer, appends a record and checks
// Pending hands it out.
func openAndDeliver(t testing.TB, dir string) *seglog.Log {
	t.Helper()
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("open after repair: %v", err)
	}
	off, err := l.AppendTyped("send", []byte("after the repair"))
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		b, err := l.Pending(50)
		if err != nil {
			t.Fatal(err)
		}
		if b.Empty() {
			break
		}
		for _, r := range b.Records {
			if r.Offset == off {
				return l
			}
		}
		if _, err := l.Ack(b.Next()); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("the record appended after the repair (offset %d) was never handed out", off)
	return nil
}

// TestRepairCutBringsHeldStoreInLine: after a cut, held records whose
// offsets the log gives again leave the store (reported, kept in the
// backup), the others stay, and the log opens and delivers.
func TestRepairCutBringsHeldStoreInLine(t *testing.T) {
	dir, held := buildHeld(t, 120)
	segs := segmentFiles(t, dir)
	seg := segs[len(segs)/2]
	entries := indexEntries(t, seg)
	e := entries[len(entries)/2]
	flipByte(t, seg, int64(e.Pos)+segment.FrameHeaderSize)
	cut := e.Offset

	r := seglogCmd(t, "repair", "--apply", "--cut-corrupt", "--json", dir)
	r.wantCode(t, exitOK)
	var out struct {
		Actions []struct {
			Action string `json:"action"`
			File   string `json:"file"`
		} `json:"actions"`
		BackupDir   string              `json:"backup_dir"`
		HeldPastEnd []seglog.HeldRecord `json:"held_past_end"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	var wantKept, wantPast []uint64
	for _, o := range held {
		if o < cut {
			wantKept = append(wantKept, o)
		} else {
			wantPast = append(wantPast, o)
		}
	}
	var past []uint64
	for _, h := range out.HeldPastEnd {
		past = append(past, h.Offset)
	}
	if !slices.Equal(past, wantPast) {
		t.Fatalf("held_past_end %v, want %v", past, wantPast)
	}
	if _, err := os.Stat(filepath.Join(out.BackupDir, seglog.HeldFile)); err != nil {
		t.Fatalf("no backup of the held store: %v", err)
	}
	seglogCmd(t, "verify", dir).wantCode(t, exitOK)

	l := openAndDeliver(t, dir)
	defer l.Close()
	if got := heldOffsets(t, l); !slices.Equal(got, wantKept) {
		t.Fatalf("held after the repair %v, want %v", got, wantKept)
	}
}

// TestHeldStoreDamage: a torn tail of the held store is cut by Open; a
// flipped byte mid-file is ErrCorrupt naming the file and offset, reported
// by verify and rebuilt by repair from the frames that verify.
func TestHeldStoreDamage(t *testing.T) {
	t.Run("torn tail", func(t *testing.T) {
		dir, held := buildHeld(t, 60)
		f, err := os.OpenFile(filepath.Join(dir, seglog.HeldFile), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{1, 2, 3, 4, 200, 0, 0, 0, 1, 9, 9}) // a frame cut short
		f.Close()
		seglogCmd(t, "verify", dir).wantCode(t, exitProblems) // a warning
		l := openAndDeliver(t, dir)
		defer l.Close()
		if got := heldOffsets(t, l); !slices.Equal(got, held) {
			t.Fatalf("held %v, want %v", got, held)
		}
	})
	t.Run("flipped byte", func(t *testing.T) {
		dir, held := buildHeld(t, 60)
		path := filepath.Join(dir, seglog.HeldFile)
		// The second hold frame: magic, then the first frame (header 9,
		// offset 8, type 1+4, data).
		first := int64(8 + 9 + 8 + 1 + 4 + len(fmt.Sprintf("record %d %s", held[0], strings.Repeat("x", 300))))
		flipByte(t, path, first+9+20)
		_, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
		var ce *seglog.CorruptError
		if !errors.Is(err, seglog.ErrCorrupt) || !errors.As(err, &ce) || ce.File != path || ce.Offset != first {
			t.Fatalf("open: %v; want ErrCorrupt naming %s at %d", err, path, first)
		}
		r := seglogCmd(t, "verify", dir)
		r.wantCode(t, exitProblems)
		if !strings.Contains(r.stdout, fmt.Sprintf("offset %d", first)) {
			t.Fatalf("verify does not name the offset %d:\n%s", first, r)
		}
		seglogCmd(t, "repair", "--apply", dir).wantCode(t, exitProblems) // loses a record: needs --cut-corrupt
		r = seglogCmd(t, "repair", "--apply", "--cut-corrupt", dir)
		r.wantCode(t, exitOK)
		if !strings.Contains(r.stdout, "do not verify") {
			t.Fatalf("repair does not report the lost stretch:\n%s", r)
		}
		seglogCmd(t, "verify", dir).wantCode(t, exitOK)
		l := openAndDeliver(t, dir)
		defer l.Close()
		if got := heldOffsets(t, l); !slices.Equal(got, held[2:]) && !slices.Equal(got, append([]uint64{held[0]}, held[2:]...)) {
			t.Fatalf("held after the repair %v, want %v without the damaged record", got, held)
		}
	})
}

// TestResetCheckpointKeepsID: --reset-checkpoint keeps the log id a
// damaged slot still names, and says so when none does.
func TestResetCheckpointKeepsID(t *testing.T) {
	dir := buildHealthy(t, 40, seglog.CodecNone)
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	id := l.ID()
	l.Close()
	for _, n := range checkpoint.SlotNames() {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && fi.Size() > 60 {
			flipByte(t, filepath.Join(dir, n), 60) // past the id
		}
	}
	r := seglogCmd(t, "repair", "--apply", "--reset-checkpoint", dir)
	r.wantCode(t, exitOK)
	l, err = seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	got := l.ID()
	l.Close()
	if got != id {
		t.Fatalf("log id after reset %v, want %v\n%s", got, id, r)
	}

	for _, n := range checkpoint.SlotNames() {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("garbage, no id in here at all......................................"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	r = seglogCmd(t, "repair", "--apply", "--reset-checkpoint", dir)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "neither slot names the log id") {
		t.Fatalf("repair does not say the id is lost:\n%s", r)
	}
}
