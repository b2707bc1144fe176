package main

import (
	"strings"
	"testing"
)

// TestShipMessagesHideURLPasswords checks that a password given in --to
// does not reach the messages seglog ship prints.
func TestShipMessagesHideURLPasswords(t *testing.T) {
	r := seglogCmd(t, "ship", t.TempDir(), "--to", "nats://user:hunter2@127.0.0.1:1/no-agent-{agent}")
	if r.code == 0 {
		t.Fatalf("ship with a subject naming {agent} and no --agent exited 0")
	}
	if strings.Contains(r.stdout+r.stderr, "hunter2") {
		t.Fatalf("the password reached the output: %q", r.stderr)
	}
	if got := redactedURL("https://a:secret@example.invalid/x"); strings.Contains(got, "secret") {
		t.Fatalf("redactedURL kept the password: %q", got)
	}
}
