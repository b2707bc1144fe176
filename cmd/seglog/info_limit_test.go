package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// info on a log whose size limit dropped records while its server was
// away: the dropped range is the first pending gap, and the counts and
// the cap show.
func TestInfoSizeLimit(t *testing.T) {
	dir := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, MaxBytes: 3 * seglog.MinSegmentSize,
		Limit: seglog.LimitDrop, Logger: quietLogger()}
	l, err := seglog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(strings.Repeat("r", 500))
	for range 10 {
		if _, err := l.Append(data); err != nil {
			t.Fatal(err)
		}
	}
	b, err := l.Pending(10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ack(b.Next()); err != nil {
		t.Fatal(err)
	}
	for range 300 {
		if _, err := l.Append(data); err != nil {
			t.Fatal(err)
		}
	}
	st := l.State()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st.DropPending == 0 || st.DroppedAcked != 10 {
		t.Fatalf("no drop of unsent records after the acknowledged ones: %+v", st)
	}

	r := seglogCmd(t, "info", dir)
	r.wantCode(t, exitOK)
	want := fmt.Sprintf("dropped %d records unsent and 10 acknowledged (%d segments) under a cap of 48 KiB; offsets [10, %d) are dropped and go to the peer next as a gap, labels [10, %d)",
		st.DroppedUnsent, st.DroppedSegments, st.First, st.First)
	if !strings.Contains(r.stdout, want) {
		t.Errorf("info does not say %q:\n%s", want, r.stdout)
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("[10, %d) dropped:", st.First)) {
		t.Errorf("info's gaps line lacks the dropped range:\n%s", r.stdout)
	}

	r = seglogCmd(t, "--json", "info", dir)
	r.wantCode(t, exitOK)
	var j jsonInfo
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatalf("info --json: %v\n%s", err, r)
	}
	sl := j.SizeLimit
	if sl == nil || sl.MaxBytes != opts.MaxBytes || sl.DroppedUnsent != st.DroppedUnsent || sl.DroppedAcked != 10 ||
		sl.DroppedSegments != st.DroppedSegments || sl.DropPending != st.DropPending {
		t.Errorf("info --json size_limit: %+v, state %+v", sl, st)
	}
	if j.Delivery == nil || len(j.Delivery.Gaps) == 0 || j.Delivery.Gaps[0].From != 10 || j.Delivery.Gaps[0].To != st.First || j.Delivery.Gaps[0].Reason != "dropped" {
		t.Errorf("info --json gaps: %+v", j.Delivery)
	}
	r = seglogCmd(t, "verify", dir)
	r.wantCode(t, exitOK)
	r = seglogCmd(t, "stats", "--no-progress", dir)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, want) {
		t.Errorf("stats does not say %q:\n%s", want, r.stdout)
	}
}
