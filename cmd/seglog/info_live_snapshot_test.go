package main

import (
	"encoding/json"
	"flag"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

var infoRuns = flag.Int("info.runs", 200, "runs of info against a live writer in TestInfoLiveSnapshot")

// TestInfoLiveSnapshot runs "seglog info --json" -info.runs times (200 by
// default) while a writer appends, rolls, acknowledges and releases as
// fast as it can. Every output must be a possible state of the log: first
// offset at or below the cursor, the cursor at or below the next offset,
// pending equal to their difference, and no missing offsets or damage on a
// healthy log. Reading the checkpoint and the segments at different
// moments made about half the runs impossible.
func TestInfoLiveSnapshot(t *testing.T) {
	dir := buildHealthy(t, 100, seglog.CodecNone)
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Sync: seglog.SyncNever, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stop := liveWriter(t, l, 7, 5) // acknowledging every few records
	bad, notes := 0, 0
	last := l.NextOffset()
	for run := range *infoRuns {
		// Let the writer move on between runs, so that no two read the
		// same state.
		waitFor(t, "the writer to append", func() bool { return l.NextOffset() > last })
		last = l.NextOffset()
		r := seglogCmd(t, "info", "--json", dir)
		if r.code != exitOK {
			bad++
			t.Errorf("run %d: %s", run, r)
			continue
		}
		var j jsonInfo
		if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, r.stdout)
		}
		if j.Note != "" {
			notes++
		}
		why := ""
		switch d := j.Delivery; {
		case j.FirstOffset > j.NextOffset:
			why = "first offset past the next"
		case d == nil:
			why = "no delivery state"
		case d.Cursor > j.NextOffset:
			why = "cursor past the next offset"
		case d.First > d.Cursor:
			why = "first offset past the cursor"
		case d.First != j.FirstOffset:
			why = "two first offsets"
		case d.Pending != j.NextOffset-d.Cursor:
			why = "pending is not next minus cursor"
		case j.Records != j.NextOffset-j.FirstOffset:
			why = "records is not next minus first"
		case len(j.Problems) > 0:
			why = "problems on a healthy log"
		}
		if why != "" {
			bad++
			if bad <= 5 {
				t.Errorf("run %d: impossible output (%s):\n%s", run, why, r.stdout)
			}
		}
	}
	stop()
	st := l.State()
	t.Logf("%d runs, %d impossible, %d clamped with a note; the writer ended at first %d, cursor %d, next %d", *infoRuns, bad, notes, st.First, st.Cursor, st.Next)
	if bad > 0 {
		t.Fatalf("%d of %d runs printed an impossible state", bad, *infoRuns)
	}
	if st.First == 0 {
		t.Fatal("the writer released nothing: the test did not exercise releases")
	}
}
