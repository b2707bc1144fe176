package log_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	seglog "github.com/seglog/seglog/log"
)

// TestReadOnlyFollowsWriter opens a log ReadOnly beside its writer and
// follows the writer's synced appends across segment rolls, finding them
// each of the three ways: a Read of a new offset, Refresh, and Records.
func TestReadOnlyFollowsWriter(t *testing.T) {
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			rng := newRand(t)
			dir := t.TempDir()
			w := openLog(t, dir, &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: policy})
			ro := openLog(t, dir, &seglog.Options{ReadOnly: true})
			checkLog(t, ro, nil)
			var want []seglog.Record
			for round := 0; len(segmentPaths(t, dir)) < 5; round++ {
				old := uint64(len(want))
				for range 1 + rng.IntN(4) {
					r := seglog.Record{Data: recordData(rng, rng.IntN(3000), rng.IntN(2) == 0)}
					if rng.IntN(3) == 0 {
						r.Type = fmt.Sprintf("t%d", round%5)
					}
					want = append(want, appendRecs(t, w, r)...)
				}
				if policy != seglog.SyncAlways {
					if err := w.Sync(); err != nil {
						t.Fatal(err)
					}
				}
				switch round % 3 {
				case 0: // a Read past the known end looks for new appends
					last := uint64(len(want)) - 1
					r, err := ro.Read(last)
					if err != nil || !sameRecord(r, want[last]) {
						t.Fatalf("round %d: reader Read(%d) = %s, %v", round, last, describeRecord(r), err)
					}
				case 1:
					if err := ro.Refresh(); err != nil {
						t.Fatalf("round %d: Refresh: %v", round, err)
					}
				case 2: // so does an iteration reaching the end
					i := old
					for r, err := range ro.Records(old) {
						if err != nil || !sameRecord(r, want[i]) {
							t.Fatalf("round %d: reader Records yields %s, %v; want offset %d", round, describeRecord(r), err, i)
						}
						i++
					}
					if i != uint64(len(want)) {
						t.Fatalf("round %d: reader Records stopped at %d, want %d", round, i, len(want))
					}
				}
				if got := ro.NextOffset(); got != uint64(len(want)) {
					t.Fatalf("round %d: reader NextOffset %d, writer %d", round, got, len(want))
				}
				if _, err := ro.Read(uint64(len(want))); !errors.Is(err, seglog.ErrOutOfRange) {
					t.Fatalf("round %d: reader Read past the end: %v", round, err)
				}
			}
			checkLog(t, ro, want)
			checkLog(t, w, want)
			closeLog(t, w)
			checkLog(t, ro, want) // the writer's Close changes nothing
			closeLog(t, ro)
			checkLog(t, openLog(t, dir, &seglog.Options{ReadOnly: true}), want)
		})
	}
}

// TestSyncNeverWritesOutQuietly: under SyncNever a few appends, far below
// the buffer's flush threshold, still reach the operating system within
// SyncEvery with no Flush or Sync, so a reader in another process sees them.
func TestSyncNeverWritesOutQuietly(t *testing.T) {
	dir := t.TempDir()
	w := openLog(t, dir, &seglog.Options{Sync: seglog.SyncNever, SyncEvery: 5 * time.Millisecond})
	ro := openLog(t, dir, &seglog.Options{ReadOnly: true})
	var want []seglog.Record
	for i := range 3 {
		want = append(want, appendRecs(t, w, seglog.Record{Data: []byte(fmt.Sprintf("quiet %d", i))})...)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ro.Refresh(); err != nil {
			t.Fatal(err)
		}
		if ro.NextOffset() == uint64(len(want)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader sees %d of %d records appended under SyncNever", ro.NextOffset(), len(want))
		}
		time.Sleep(time.Millisecond)
	}
	checkLog(t, ro, want)
}

// TestReadOnlyOpen covers ReadOnly opens of a directory with no log, an
// empty log, and a log whose writer is gone: nothing is created or changed.
func TestReadOnlyOpen(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	if l, err := seglog.Open(missing, quietOpts(&seglog.Options{ReadOnly: true})); err == nil {
		l.Close()
		t.Fatal("ReadOnly Open of a missing directory succeeded")
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadOnly Open created %s (%v)", missing, err)
	}

	empty := t.TempDir()
	ro := openLog(t, empty, &seglog.Options{ReadOnly: true})
	checkLog(t, ro, nil)
	if names, _ := filepath.Glob(filepath.Join(empty, "*")); len(names) != 0 {
		t.Fatalf("ReadOnly Open of an empty directory created %v", names)
	}
	// A writer arrives after the reader.
	w := openLog(t, empty, nil)
	want := appendRecs(t, w, seglog.Record{Data: []byte("late")})
	if err := ro.Refresh(); err != nil {
		t.Fatal(err)
	}
	checkLog(t, ro, want)
	checkLog(t, w, want)
}
