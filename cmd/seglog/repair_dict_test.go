package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// dictSegments makes a log whose later segments are compressed with the
// dictionary 00001.dict, and returns it with the number of records.
func dictSegments(t *testing.T) (string, int) {
	t.Helper()
	dir := dictLog(t)
	l, err := seglog.Open(dir, &seglog.Options{Codec: seglog.CodecZstd, SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if _, err := l.Append([]byte(fmt.Sprintf(`{"type":"log","source":"dpkg","line":"status half-configured libbar%d:amd64"}`, i%13))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, 7000
}

// TestRepairMissingDictionary: frames whose dictionary is missing are
// reported by verify; repair --cut-corrupt does not cut them (they are
// intact), changes nothing and names the dictionary to restore; once it
// is restored every record reads again.
func TestRepairMissingDictionary(t *testing.T) {
	dir, n := dictSegments(t)
	path := filepath.Join(dir, "00001.dict")
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	r := seglogCmd(t, "verify", dir)
	r.wantCode(t, exitProblems)
	if !strings.Contains(r.stdout, "dictionary file missing") {
		t.Fatalf("verify does not report the frames of the missing dictionary:\n%s", r)
	}
	before := snapshot(t, dir)
	r = seglogCmd(t, "--json", "repair", "--apply", "--cut-corrupt", dir)
	r.wantCode(t, exitProblems)
	var out struct {
		Actions      []json.RawMessage `json:"actions"`
		RestoreDicts []string          `json:"restore_dictionaries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(out.Actions) != 0 || !slices.Equal(out.RestoreDicts, []string{"00001.dict"}) {
		t.Fatalf("repair: %d actions, restore %v; want none and 00001.dict\n%s", len(out.Actions), out.RestoreDicts, r)
	}
	if !snapEqual(before, snapshot(t, dir)) {
		t.Fatal("repair changed the log")
	}
	r = seglogCmd(t, "repair", "--cut-corrupt", dir)
	if !strings.Contains(r.stdout, "restore the dictionary files 00001.dict") {
		t.Fatalf("repair does not advise restoring the dictionary:\n%s", r)
	}

	if err := os.WriteFile(path, saved, 0o640); err != nil {
		t.Fatal(err)
	}
	seglogCmd(t, "verify", dir).wantCode(t, exitOK)
	if got := len(readable(t, dir)); got != n {
		t.Fatalf("%d records readable after restoring the dictionary, want %d", got, n)
	}
}

// TestRepairCutKeepsDictionary: a cut that removes every segment using a
// dictionary leaves the dictionary file as it was.
func TestRepairCutKeepsDictionary(t *testing.T) {
	dir, _ := dictSegments(t)
	path := filepath.Join(dir, "00001.dict")
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seg := segmentFiles(t, dir)[0]
	e := indexEntries(t, seg)[3]
	flipByte(t, seg, int64(e.Pos)+segment.FrameHeaderSize)
	seglogCmd(t, "repair", "--apply", "--cut-corrupt", dir).wantCode(t, exitOK)
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, saved) {
		t.Fatalf("dictionary after the cut: %v, equal %v", err, bytes.Equal(got, saved))
	}
	seglogCmd(t, "verify", dir).wantCode(t, exitOK)
	l := openAndDeliver(t, dir)
	l.Close()
}
