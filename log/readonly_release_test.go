package log_test

import (
	"fmt"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// TestReadOnlyCatchesUpAfterRelease: a reader that falls behind while the
// writer rolls several segments and releases them picks up at the first
// kept record on its next refresh.
func TestReadOnlyCatchesUpAfterRelease(t *testing.T) {
	dir := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize}
	verifyAtEnd(t, nil, dir)
	w, err := seglog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rec := func(i int) []byte { return fmt.Appendf(nil, "record %04d %0900d", i, i) }
	for i := range 5 {
		if _, err := w.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := seglog.Open(dir, &seglog.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.NextOffset(); got != 5 {
		t.Fatalf("reader NextOffset = %d, want 5", got)
	}
	// Several segments' worth, then release all but the last 10.
	for i := 5; i < 100; i++ {
		if _, err := w.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Ack(90); err != nil { // cursor 90
		t.Fatal(err)
	}
	if _, err := w.Ack(100); err != nil { // releases [0, 90), cursor 100
		t.Fatal(err)
	}
	seglog.WaitReleases(w)
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	if first, next := r.FirstOffset(), r.NextOffset(); first != 90 || next != 100 {
		t.Fatalf("reader sees [%d, %d), want [90, 100)", first, next)
	}
	want := 90
	for got, err := range r.Records(0) {
		if err != nil {
			t.Fatal(err)
		}
		if got.Offset != uint64(want) || string(got.Data) != string(rec(want)) {
			t.Fatalf("record %d: got offset %d %.20q", want, got.Offset, got.Data)
		}
		want++
	}
	if want != 100 {
		t.Fatalf("Records stopped at %d, want 100", want)
	}
}
