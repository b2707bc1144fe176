package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// TestHeldInCLI: info and stats show the accepted types and the held
// records per type; dump --held prints the held records with their
// original offsets, and the held store is no stray file.
func TestHeldInCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := seglog.Open(dir, &seglog.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetAcceptedTypes([]string{"metrics"}); err != nil {
		t.Fatal(err)
	}
	for i, typ := range []string{"metrics", "inventory", "metrics", "", "inventory"} {
		if _, err := l.AppendTyped(typ, []byte{'r', byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := l.Pending(10); err != nil || len(b.Records) != 2 {
		t.Fatalf("Pending: %d records, %v", len(b.Records), err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	for _, cmd := range []string{"info", "stats"} {
		r := seglogCmd(t, cmd, dir)
		r.wantCode(t, exitOK)
		var lines []string
		for _, line := range strings.Split(r.stdout, "\n") {
			lines = append(lines, strings.Join(strings.Fields(line), " "))
		}
		wants := []string{"accepted types metrics", "held 3 records: - 1, inventory 2"}
		if cmd == "info" {
			wants = append(wants, "delivery sequence 0, cursor 0, 2 pending")
		}
		for _, want := range wants {
			if !slices.Contains(lines, want) {
				t.Errorf("%s does not say %q:\n%s", cmd, want, r)
			}
		}
		if cmd == "info" && strings.Contains(r.stdout, "other files") {
			t.Errorf("info lists the held store as a stray file:\n%s", r)
		}
		r = seglogCmd(t, cmd, "--json", dir)
		r.wantCode(t, exitOK)
		var j struct {
			Held *jsonHeld `json:"held_types"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
			t.Fatal(err)
		}
		if h := j.Held; h == nil || h.Held != 3 || h.ByType["inventory"] != 2 || h.ByType[""] != 1 || !slices.Equal(h.Accepted, []string{"metrics"}) {
			t.Errorf("%s --json held_types = %+v", cmd, j.Held)
		}
	}
	t.Logf("%s", seglogCmd(t, "info", dir).stdout)
	r := seglogCmd(t, "dump", "--held", dir)
	r.wantCode(t, exitOK)
	got := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(got) != 3 || !strings.HasPrefix(got[0], "1\tinventory\t2\tr1") || !strings.HasPrefix(got[1], "3\t-\t2\tr3") || !strings.HasPrefix(got[2], "4\tinventory") {
		t.Errorf("dump --held:\n%s", r)
	}
	r = seglogCmd(t, "dump", "--held", "--type", "inventory", dir)
	if n := strings.Count(r.stdout, "\n"); n != 2 {
		t.Errorf("dump --held --type inventory printed %d lines:\n%s", n, r)
	}
}

// TestVerifyHeldStore: verify reports a held store torn by a crash (a
// warning: the writer's Open cuts it) and one that is not a held store (an
// error); a whole one is no finding.
func TestVerifyHeldStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := seglog.Open(dir, &seglog.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetAcceptedTypes([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendTyped("b", []byte("held")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Pending(10); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r := seglogCmd(t, "verify", dir)
	r.wantCode(t, exitOK)
	if strings.Contains(r.stdout, "held") {
		t.Errorf("verify of a whole held store:\n%s", r)
	}
	path := filepath.Join(dir, seglog.HeldFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)-3], 0o640); err != nil {
		t.Fatal(err)
	}
	r = seglogCmd(t, "verify", dir)
	if !strings.Contains(r.stdout, "held store ends in a torn write") {
		t.Errorf("verify of a torn held store:\n%s", r)
	}
	if err := os.WriteFile(path, []byte("not a held store"), 0o640); err != nil {
		t.Fatal(err)
	}
	r = seglogCmd(t, "verify", dir)
	if r.code == exitOK || !strings.Contains(r.stdout, "not a held store") {
		t.Errorf("verify of a foreign held store:\n%s", r)
	}
}
