package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSampleLogs copies the scenario logs into $SEGLOG_SAMPLE_DIR, for
// trying the command by hand: SEGLOG_SAMPLE_DIR=/tmp/logs go test -run TestSampleLogs
func TestSampleLogs(t *testing.T) {
	out := os.Getenv("SEGLOG_SAMPLE_DIR")
	if out == "" {
		t.Skip("SEGLOG_SAMPLE_DIR not set")
	}
	for _, sc := range scenarios {
		dir := buildScenario(t, sc.name)
		dst := filepath.Join(out, sc.name)
		os.RemoveAll(dst)
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command("cp", "-r", dir, dst).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
	}
}
