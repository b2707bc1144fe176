package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seglog/seglog/checkpoint"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
)

// TestInfoFailuresAndSessions: info shows the run of failed exchanges
// (first and latest failure, records refused), the refusals of an ended
// outage not yet reported, and the open sessions; it hides the log's own
// metadata keys.
func TestInfoFailuresAndSessions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := seglog.Open(dir, &seglog.Options{FailureWindow: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fail := func(at time.Time) {
		t.Helper()
		if err := l.RecordExchangeFailure(at); err != nil {
			t.Fatal(err)
		}
	}
	refuse := func(n int) {
		t.Helper()
		for range n {
			if _, err := l.Append([]byte("x")); !errors.Is(err, seglog.ErrOutage) {
				t.Fatalf("Append during an outage: %v", err)
			}
		}
	}
	fail(t0)
	fail(t0.Add(2 * time.Hour))
	refuse(3)
	if err := l.RecordExchangeSuccess(); err != nil {
		t.Fatal(err)
	}
	fail(t0.Add(24 * time.Hour))
	fail(t0.Add(27 * time.Hour))
	refuse(2)
	if err := l.SetMeta("uuid", []byte("peer")); err != nil {
		t.Fatal(err)
	}
	rep, err := l.OpenSession("reporter")
	if err != nil {
		t.Fatal(err)
	}
	mon, err := l.OpenSession("monitor")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	r := seglogCmd(t, "info", dir)
	r.wantCode(t, exitOK)
	var lines []string // with the table's padding taken out
	for _, line := range strings.Split(r.stdout, "\n") {
		lines = append(lines, strings.Join(strings.Fields(line), " "))
	}
	for _, want := range []string{
		"metadata 1 key: uuid",
		"exchanges failing since 2026-03-02T12:00:00Z, latest failure 2026-03-02T15:00:00Z (3h0m0s later); 2 records refused in this outage",
		"refused 3 records refused in an ended outage, not yet reported to the peer",
		`sessions 2 open: "monitor" ` + mon + `, "reporter" ` + rep,
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("info does not say %q:\n%s", want, r)
		}
	}
	r = seglogCmd(t, "info", "--json", dir)
	r.wantCode(t, exitOK)
	var j struct {
		MetadataKeys []string      `json:"metadata_keys"`
		Failures     *jsonFailures `json:"exchange_failures"`
		Sessions     []jsonSession `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatal(err)
	}
	f := j.Failures
	if len(j.MetadataKeys) != 1 || f == nil || !f.FirstFailure.Equal(t0.Add(24*time.Hour)) || *f.FailingSeconds != 3*3600 ||
		f.RefusedInRun != 2 || f.Unreported != 3 || len(j.Sessions) != 2 || j.Sessions[1] != (jsonSession{"reporter", rep}) {
		t.Errorf("info --json: %+v %+v\n%s", j, f, r)
	}

	// A damaged entry is pointed at.
	s, st, err := checkpoint.Open(vfs.Default, dir, 0o640, false)
	if err != nil {
		t.Fatal(err)
	}
	st.Meta[checkpoint.KeySessions] = []byte{9}
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	s.Close()
	r = seglogCmd(t, "info", dir)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "attention") || !strings.Contains(r.stdout, checkpoint.KeySessions) {
		t.Errorf("info with a damaged %s entry:\n%s", checkpoint.KeySessions, r)
	}
	// verify calls it an error, and repair leaves it alone.
	r = seglogCmd(t, "verify", dir)
	r.wantCode(t, exitProblems)
	if !strings.Contains(r.stdout, "checkpoint_reserved") {
		t.Errorf("verify with a damaged %s entry:\n%s", checkpoint.KeySessions, r)
	}
	r = seglogCmd(t, "repair", dir)
	if !strings.Contains(r.stdout, "checkpoint_reserved") {
		t.Errorf("repair with a damaged %s entry:\n%s", checkpoint.KeySessions, r)
	}
	t.Logf("info, verify and repair with a damaged entry:\n%s", r.stdout)
}
