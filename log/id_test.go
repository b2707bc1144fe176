package log_test

import (
	"testing"

	"github.com/seglog/seglog/checkpoint"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
)

// TestID: a new log has an id that survives reopening; a log made before
// logs had ids (a version 1 checkpoint) reads without one, and gets one,
// durably, at its first writable Open, its state kept.
func TestID(t *testing.T) {
	dir := t.TempDir()
	l, err := seglog.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := l.ID()
	if id.IsZero() || len(id.String()) != 32 {
		t.Fatalf("new log id %q", id)
	}
	if _, err := l.Append([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Pending(1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ack(1); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l, err = seglog.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if l.ID() != id {
		t.Fatalf("id %s after reopening, was %s", l.ID(), id)
	}
	l.Close()
	if other, err := seglog.Open(t.TempDir(), nil); err != nil {
		t.Fatal(err)
	} else if other.ID() == id {
		t.Fatal("two logs with one id")
	} else {
		other.Close()
	}

	// The checkpoint of an older seglog: the same state, no id.
	s, st, err := checkpoint.Open(vfs.Default, dir, 0o600, false)
	if err != nil {
		t.Fatal(err)
	}
	st.ID = [16]byte{}
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro, err := seglog.Open(dir, &seglog.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if !ro.ID().IsZero() || ro.ID().String() != "" {
		t.Fatalf("read-only open of an old log: id %q", ro.ID())
	}
	ro.Close()
	if l, err = seglog.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	given := l.ID()
	if given.IsZero() || given == id {
		t.Fatalf("old log given id %q (was %s)", given, id)
	}
	if s := l.State(); s.Sequence != 1 || s.Cursor != 1 {
		t.Fatalf("state %+v after giving the id", s)
	}
	l.Close()
	ro, err = seglog.Open(dir, &seglog.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.ID() != given {
		t.Fatalf("id %s read back, given %s", ro.ID(), given)
	}
}
