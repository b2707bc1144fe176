package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestProgressBarStaysOffFindings: with stdout and stderr on one terminal,
// every finding verify prints starts its own line, not after the bar.
func TestProgressBarStaysOffFindings(t *testing.T) {
	was := isTerminal
	isTerminal = func(io.Writer) bool { return true }
	defer func() { isTerminal = was }()
	dir := buildScenario(t, "flipped_byte")
	var term syncBuffer
	code := runContext(context.Background(), []string{"verify", dir}, &term, &term)
	if code != exitProblems {
		t.Fatalf("exit %d, want %d:\n%s", code, exitProblems, term.String())
	}
	out := term.String()
	if !strings.Contains(out, "verify") {
		t.Fatalf("no progress bar drawn:\n%q", out)
	}
	findings := 0
	for _, line := range strings.Split(out, "\n") {
		shown := line[strings.LastIndex(line, "\r")+1:] // what a terminal keeps
		if strings.Contains(shown, ".seg") || strings.Contains(shown, "checkpoint") {
			findings++
			if !strings.HasPrefix(shown, "error") && !strings.HasPrefix(shown, "warning") && !strings.HasPrefix(shown, "info") {
				t.Errorf("finding printed after the bar: %q", shown)
			}
		}
	}
	if findings == 0 {
		t.Fatalf("no findings in:\n%q", out)
	}
}
