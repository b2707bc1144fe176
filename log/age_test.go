package log_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// The age limit: sealed segments last written more than Options.MaxAge ago
// (their files' modification times, set back here) are dropped by the next
// append under LimitDrop, unsent records included, which Pending hands out
// as one GapDropped gap with their exact labels, nothing else lost; under
// LimitRefuse the append fails with ErrFull instead, and nothing is
// dropped. The active segment never counts.
func TestMaxAge(t *testing.T) {
	for _, policy := range []seglog.LimitPolicy{seglog.LimitDrop, seglog.LimitRefuse} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, MaxAge: time.Hour, Limit: policy, Logger: quiet}
			l, err := seglog.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { l.Close() }()
			data := []byte(strings.Repeat("x", 1000))
			for range 60 { // about four segments
				if _, err := l.Append(data); err != nil {
					t.Fatal(err)
				}
			}
			// One exchange: 5 records acknowledged, the rest unsent.
			mustAck(t, l, mustPending(t, l, 5).Next())
			segs, _ := filepath.Glob(filepath.Join(dir, "*"+segment.Suffix))
			if len(segs) < 4 {
				t.Fatalf("%d segments", len(segs))
			}
			// The two oldest segments are two hours old when the agent
			// starts again (a log reads a sealed segment's time once).
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-2 * time.Hour)
			for _, s := range segs[:2] {
				if err := os.Chtimes(s, old, old); err != nil {
					t.Fatal(err)
				}
			}
			if l, err = seglog.Open(dir, opts); err != nil {
				t.Fatal(err)
			}
			third, _ := segment.ParseFileName(filepath.Base(segs[2]))
			before := l.State()
			_, err = l.Append(data)
			if policy == seglog.LimitRefuse {
				if !errors.Is(err, seglog.ErrFull) || l.State().First != before.First {
					t.Fatalf("Append past the age limit: %v, state %+v", err, l.State())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st := l.State()
			if st.First != third || st.DroppedUnsent != third-5 || st.DroppedAcked != 5 || st.DroppedSegments != 2 {
				t.Fatalf("after the age drop: %+v, want first %d", st, third)
			}
			b := mustPending(t, l, 10)
			if len(b.Gaps) != 1 || b.Gaps[0].Offset != 5 || b.Gaps[0].Count != third-5 || b.Gaps[0].Label != 5 ||
				b.Gaps[0].Reason != seglog.GapDropped || !strings.Contains(b.Gaps[0].Detail, "age") {
				t.Fatalf("batch gaps %+v", b.Gaps)
			}
			if len(b.Records) == 0 || b.Records[0].Offset != third {
				t.Fatalf("first record after the gap: %+v", b.Records)
			}
			seglog.WaitReleases(l)
			left, _ := filepath.Glob(filepath.Join(dir, "*"+segment.Suffix))
			if len(left) == 0 || filepath.Base(left[0]) != filepath.Base(segs[2]) {
				t.Fatalf("segments left %v of %v", left, segs)
			}
		})
	}
}

func TestMaxAgeOption(t *testing.T) {
	if _, err := seglog.Open(t.TempDir(), &seglog.Options{MaxAge: -time.Second}); err == nil {
		t.Fatal("a negative MaxAge was accepted")
	}
}
