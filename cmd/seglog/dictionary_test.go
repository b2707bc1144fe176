package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// dictLog makes a log of similar small JSON records whose later frames
// are compressed with a trained dictionary.
func dictLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	opts := &seglog.Options{Codec: seglog.CodecZstd, Sync: seglog.SyncNever, Logger: quietLogger()}
	l, err := seglog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4000 {
		msg := fmt.Sprintf(`{"type":"log","time":"2025-06-24T14:%02d:%02d","source":"dpkg","line":"status installed libfoo%d:amd64 1.%d-%d"}`, i/60%60, i%60, i%37, i%11, i%5)
		if _, err := l.Append([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if i == 1000 {
			if _, err := l.TrainDictionary(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// stats and verify on a log with a dictionary: stats names it and gives
// its ratio beside that of compressed frames without one; verify checks
// it, and reports it damaged, with the frames that name it, once a byte
// of it is flipped.
func TestStatsVerifyDictionary(t *testing.T) {
	// The log had no dictionary when its first segment began: the one
	// trained goes to segments started after it (dictSegments adds them).
	dir, _ := dictSegments(t)

	r := seglogCmd(t, "--json", "stats", dir)
	r.wantCode(t, exitOK)
	var j jsonStats
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Dictionaries) != 1 || j.Dictionaries[0].ID != 1 || j.Dictionaries[0].File != "00001.dict" || j.Dictionaries[0].Frames == 0 || j.NoDictionary == nil {
		t.Fatalf("stats dictionaries: %+v, without: %+v", j.Dictionaries, j.NoDictionary)
	}
	if d := j.Dictionaries[0]; d.CompressionRatio <= 1 {
		t.Fatalf("dictionary ratio %v", d.CompressionRatio)
	}
	r = seglogCmd(t, "stats", dir)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "dictionary 1") || !strings.Contains(r.stdout, "no dictionary") {
		t.Fatalf("stats text does not show the dictionary:\n%s", r.stdout)
	}
	seglogCmd(t, "verify", dir).wantCode(t, exitOK)

	path := filepath.Join(dir, "00001.dict")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	r = seglogCmd(t, "verify", dir)
	r.wantCode(t, exitProblems)
	if !strings.Contains(r.stdout, "dictionary_corrupt") && !strings.Contains(r.stdout, "00001.dict") {
		t.Fatalf("verify does not report the dictionary:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "frame compressed with dictionary 1") {
		t.Fatalf("verify does not report the frames that name it:\n%s", r.stdout)
	}
}

// train-dictionary trains from the latest records of a closed log.
func TestTrainDictionaryCommand(t *testing.T) {
	dir := dictLog(t)
	r := seglogCmd(t, "--json", "train-dictionary", dir)
	r.wantCode(t, exitOK)
	var got struct {
		ID   uint16
		File string
		Size int
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != 2 || got.Size == 0 || filepath.Base(got.File) != "00002.dict" {
		t.Fatalf("train-dictionary: %s", r.stdout)
	}
	seglogCmd(t, "verify", dir).wantCode(t, exitOK)
}
