package log_test

import (
	"flag"
	"testing"

	"github.com/seglog/seglog/internal/testlog"
	seglog "github.com/seglog/seglog/log"
)

var followRounds = flag.Int("follow-rounds", 40, "read-only opens per mode of TestReadOnlyFollowsLiveWriter")

// TestReadOnlyFollowsLiveWriter: read-only logs opened again and again,
// and one kept open and refreshed, read a log whose writer appends, rolls
// small segments and releases them all the while. A reader may find that
// records were released before it reached them (it then starts again
// from the writer's first offset), but it never reports an error, and every
// record it returns is the one appended at its offset, in order: it skips
// only records the writer released.
func TestReadOnlyFollowsLiveWriter(t *testing.T) {
	for _, mode := range []struct {
		name string
		sync seglog.SyncPolicy
	}{{"never", seglog.SyncNever}, {"always", seglog.SyncAlways}} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openLog(t, dir, &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: mode.sync})
			for range 300 {
				if _, err := w.AppendRecords(restartRecord(w.NextOffset())); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			// The writer, until the readers are done.
			bg := testlog.StartWriter(t, w, 40, 1000, restartRecord)
			defer bg.Stop()

			follower := openLog(t, dir, &seglog.Options{ReadOnly: true})
			var next uint64 // the follower's next offset
			records, skips := 0, 0
			// The rounds go on until the writer has released a few times
			// (bounded: a slow disk makes SyncAlways appends slow).
			round := 0
			for ; (round < *followRounds || bg.Acks() < 6) && round < 50**followRounds && !t.Failed(); round++ {
				r, err := seglog.Open(dir, quietOpts(&seglog.Options{ReadOnly: true}))
				if err != nil {
					t.Fatalf("round %d: read-only open: %v", round, err)
				}
				n, rs := readLive(t, r, r.FirstOffset(), 300)
				records, skips = records+n, skips+rs
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
				n, rs = readLive(t, follower, next, 300)
				records, skips = records+n, skips+rs
				next = follower.NextOffset()
			}
			st := w.State()
			t.Logf("%d records read in %d rounds, %d skips past records released before they were read; the writer keeps [%d, %d)", records, round, skips, st.First, st.Next)
			if st.First == 0 {
				t.Error("the writer released nothing: the test did not exercise releases")
			}
		})
	}
}

// readLive reads up to max records of r from offset from to the end it
// finds, checking each, and returns how many it read and how often it
// skipped records released before it reached them.
func readLive(t *testing.T, r *seglog.Log, from uint64, max int) (n, skips int) {
	t.Helper()
	off := from
	for rec, err := range r.Records(off) {
		if err != nil {
			t.Fatalf("reading from %d (the log keeps [%d, %d)): %v", off, r.FirstOffset(), r.NextOffset(), err)
		}
		if rec.Offset != off {
			// Skipped offsets must have been released.
			if err := r.Refresh(); err != nil {
				t.Fatal(err)
			}
			if first := r.FirstOffset(); rec.Offset < off || rec.Offset > first {
				t.Fatalf("record %d after %d, but the log keeps [%d, %d)", rec.Offset, off, first, r.NextOffset())
			}
			skips++
		}
		if want := restartRecord(rec.Offset); rec.Type != want.Type || string(rec.Data) != string(want.Data) {
			t.Fatalf("record %d: %q %q, want %q %q", rec.Offset, rec.Type, rec.Data, want.Type, want.Data)
		}
		off = rec.Offset + 1
		n++
		if n == max {
			break
		}
	}
	return n, skips
}
