package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/inspect"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// readable returns every record a reader of the library can read from
// the log in dir, by offset, skipping damaged frames as Records does.
func readable(t testing.TB, dir string) map[uint64]string {
	t.Helper()
	l, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("open read-only: %v", err)
	}
	defer l.Close()
	out := map[uint64]string{}
	for rec, err := range l.Records(0) {
		if err == nil {
			out[rec.Offset] = rec.Type + "\x00" + string(rec.Data)
		}
	}
	return out
}

func inRanges(rs []inspect.Range, off uint64) bool {
	for _, r := range rs {
		if off >= r.From && (r.To == nil || off < *r.To) {
			return true
		}
	}
	return false
}

// TestRepairApply damages a log in each way, repairs it, and checks that
// verify then exits 0, that every record readable before is still there
// unless the repair reported it dropped, and that the log takes appends.
func TestRepairApply(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t testing.TB, dir string)
		flags  []string
		// plain: a repair without flags leaves it unhealthy (exit 1).
		needsFlags bool
		dropped    bool // records readable before are dropped
	}{
		{name: "torn_tail", damage: tearTail},
		{name: "missing_index", damage: scenarios[3].damage},
		{name: "corrupt_checkpoint", damage: corruptCheckpointSlot},
		{name: "flipped_byte", damage: flipInSealed, flags: []string{"--cut-corrupt"}, needsFlags: true, dropped: true},
		{name: "both_checkpoint_slots", damage: func(t testing.TB, dir string) {
			flipByte(t, filepath.Join(dir, "checkpoint.0"), 30)
			flipByte(t, filepath.Join(dir, "checkpoint.1"), 30)
		}, flags: []string{"--reset-checkpoint"}, needsFlags: true},
		{name: "missing_segment", damage: func(t testing.TB, dir string) {
			seg := segmentFiles(t, dir)[1]
			if err := os.Remove(seg); err != nil {
				t.Fatal(err)
			}
		}, flags: []string{"--cut-corrupt"}, needsFlags: true, dropped: true},
		{name: "corrupt_active_tail", damage: func(t testing.TB, dir string) {
			// Damage before the durable end of the active segment, proven
			// by the frames written after it.
			segs := segmentFiles(t, dir)
			e := indexEntries(t, segs[len(segs)-1])
			flipByte(t, segs[len(segs)-1], int64(e[2].Pos)+segment.FrameHeaderSize+1)
		}, flags: []string{"--cut-corrupt"}, needsFlags: true, dropped: true},
		{name: "damage_before_cursor", damage: func(t testing.TB, dir string) {
			// The cut falls before the cursor (30): records already sent
			// are lost, and the cursor and first offset move to the cut.
			seg := segmentFiles(t, dir)[0]
			flipByte(t, seg, int64(indexEntries(t, seg)[10].Pos)+segment.FrameHeaderSize)
		}, flags: []string{"--cut-corrupt"}, needsFlags: true, dropped: true},
		{name: "stray_files", damage: func(t testing.TB, dir string) {
			for name, data := range map[string]string{
				"checkpoint.tmp":           "partial",
				"00000000000000009999.idx": "orphan",
				// A roll interrupted before the new segment's header was
				// synced: an empty file named by the next offset.
				segment.FileName(320): "",
			} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o640); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "torn_and_missing_index", damage: func(t testing.TB, dir string) {
			tearTail(t, dir)
			segs := segmentFiles(t, dir)
			os.Remove(strings.TrimSuffix(segs[1], ".seg") + ".idx")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := buildHealthy(t, 320, seglog.CodecNone)
			c.damage(t, dir)
			seglogCmd(t, "verify", dir).wantCode(t, exitProblems)
			before := readableOrEmpty(t, dir)

			// The plan changes nothing.
			snap := snapshot(t, dir)
			seglogCmd(t, "repair", dir).wantCode(t, exitProblems)
			if !snapEqual(snap, snapshot(t, dir)) {
				t.Fatal("repair without --apply changed the log")
			}
			if c.needsFlags {
				seglogCmd(t, "repair", "--apply", dir).wantCode(t, exitProblems)
			}
			args := append([]string{"repair", "--apply", "--json", dir}, c.flags...)
			r := seglogCmd(t, args...)
			r.wantCode(t, exitOK)
			var rep jsonRepair
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("%v\n%s", err, r)
			}
			if !rep.Applied || rep.BackupDir == "" || rep.After == nil || !rep.After.Healthy {
				t.Fatalf("repair did not apply cleanly:\n%s", r)
			}
			if c.dropped != (len(rep.Dropped) > 0) {
				t.Errorf("dropped %v, want some: %v", rep.Dropped, c.dropped)
			}
			// Every file changed or removed has its original in the backup.
			for _, a := range rep.Actions {
				if a.Kind == inspect.ActIndex && strings.Contains(a.Detail, "missing") {
					continue
				}
				name := a.File
				if name == "checkpoint" {
					name = "checkpoint.0"
				}
				if _, err := os.Stat(filepath.Join(rep.BackupDir, name)); err != nil {
					t.Errorf("%s %s: no copy in the backup: %v", a.Kind, a.File, err)
				}
			}
			seglogCmd(t, "verify", dir).wantCode(t, exitOK)

			after := readable(t, dir)
			for off, v := range before {
				if inRanges(rep.Dropped, off) {
					if _, ok := after[off]; ok {
						t.Errorf("offset %d reported dropped but still readable", off)
					}
					continue
				}
				if after[off] != v {
					t.Errorf("offset %d readable before the repair is lost or changed", off)
				}
			}
			for _, rg := range rep.Dropped {
				for off := rg.From; off < *rg.To; off++ {
					if _, ok := before[off]; !ok {
						t.Errorf("offset %d reported dropped but was not readable before", off)
					}
				}
			}

			// The repaired log opens for writing and appends at the
			// offset the plan said.
			l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			if off, err := l.Append([]byte("after repair")); err != nil || off != rep.NextOffset {
				t.Errorf("append after repair: offset %d, %v; want offset %d", off, err, rep.NextOffset)
			}
			if rec := l.Recovery(); rec.TornBytes != 0 || rec.SegmentsRemoved != 0 || rec.Corrupt != nil {
				t.Errorf("the writer's open still had to recover: %+v", rec)
			}
			l.Close()
			seglogCmd(t, "verify", dir).wantCode(t, exitOK)
		})
	}
}

func readableOrEmpty(t testing.TB, dir string) map[uint64]string {
	l, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		// A log the library refuses to open has nothing readable.
		return map[uint64]string{}
	}
	l.Close()
	return readable(t, dir)
}

// snapshot reads every file of a directory tree.
func snapshot(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func snapEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestRepairLocked: repair --apply refuses with exit status 4 while a
// writer has the log open, and changes nothing; the plan still works.
func TestRepairLocked(t *testing.T) {
	dir := buildScenario(t, "torn_tail")
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	snap := snapshot(t, dir)
	r := seglogCmd(t, "repair", "--apply", dir)
	r.wantCode(t, exitLocked)
	if !strings.Contains(r.stderr, "locked") {
		t.Errorf("no word of the lock:\n%s", r)
	}
	if !snapEqual(snap, snapshot(t, dir)) {
		t.Fatal("a refused repair changed the log")
	}
	seglogCmd(t, "repair", dir).wantCode(t, exitOK) // the writer's open cut the tail
}

// TestVerifyReportsEveryFinding: damage in two segments and a missing
// index are all reported, each with its file and position.
func TestVerifyReportsEveryFinding(t *testing.T) {
	dir := buildHealthy(t, 320, seglog.CodecNone)
	segs := segmentFiles(t, dir)
	for _, seg := range segs[:2] {
		e := indexEntries(t, seg)
		flipByte(t, seg, int64(e[3].Pos)+segment.FrameHeaderSize+2)
		flipByte(t, seg, int64(e[len(e)-4].Pos)+2) // a frame header
	}
	os.Remove(strings.TrimSuffix(segs[2], ".seg") + ".idx")
	r := seglogCmd(t, "verify", "--json", dir)
	r.wantCode(t, exitProblems)
	var codes []string
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	for {
		var f struct {
			Kind     string         `json:"kind"`
			Code     string         `json:"code"`
			File     string         `json:"file"`
			Position *int64         `json:"position"`
			Offsets  *inspect.Range `json:"offsets"`
		}
		if err := dec.Decode(&f); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if f.Kind == "finding" {
			codes = append(codes, f.Code+" "+f.File)
			if f.Code == inspect.CodeFrameCorrupt && (f.Position == nil || f.Offsets == nil || f.Offsets.To == nil) {
				t.Errorf("finding without position or offsets: %+v", f)
			}
		}
	}
	want := []string{
		"frame_corrupt " + filepath.Base(segs[0]), "frame_corrupt " + filepath.Base(segs[0]),
		"frame_corrupt " + filepath.Base(segs[1]), "frame_corrupt " + filepath.Base(segs[1]),
		"index_missing " + strings.TrimSuffix(filepath.Base(segs[2]), ".seg") + ".idx",
	}
	if strings.Join(codes, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s\n%s", strings.Join(codes, "\n"), strings.Join(want, "\n"), r)
	}
}

// TestRepairCutBeforeCursorKeepsSequence: a cut before the cursor loses
// records the peer already has. The sequence must not move back with the
// cursor, or the peer would take the next records for ones it holds and
// drop them; it moves past the records after the cursor too, which a
// Pending may have handed out. The records kept for a resend go, so that a
// peer asking for one gets a resynchronisation rather than another record
// under its label, as does a peer answering with the sequence it expected
// before the cut.
func TestRepairCutBeforeCursorKeepsSequence(t *testing.T) {
	dir := buildHealthy(t, 320, seglog.CodecNone)
	ro, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	old := ro.State()
	ro.Close()
	seg := segmentFiles(t, dir)[0]
	e := indexEntries(t, seg)[10]
	if e.Offset >= old.Cursor || old.First >= e.Offset {
		t.Fatalf("damage at offset %d is not inside the kept window [%d, %d)", e.Offset, old.First, old.Cursor)
	}
	flipByte(t, seg, int64(e.Pos)+segment.FrameHeaderSize)
	seglogCmd(t, "repair", "--apply", "--cut-corrupt", dir).wantCode(t, exitOK)

	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wantSeq := old.Sequence + (old.Next - old.Cursor)
	st := l.State()
	if st.Sequence != wantSeq || st.Cursor != e.Offset || st.First != e.Offset || st.Next != e.Offset {
		t.Fatalf("after the cut at %d: state %+v; want sequence %d, first = cursor = next = %d", e.Offset, st, wantSeq, e.Offset)
	}
	if _, err := l.Append([]byte("after the cut")); err != nil {
		t.Fatal(err)
	}
	b, err := l.Pending(10)
	if err != nil {
		t.Fatal(err)
	}
	if b.Sequence != wantSeq || len(b.Records) != 1 {
		t.Fatalf("first batch after the cut: sequence %d, %d records; want sequence %d, 1 record", b.Sequence, len(b.Records), wantSeq)
	}
	res, err := l.Ack(old.Sequence) // what the peer expected before the cut
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resync {
		t.Fatalf("Ack(%d) after the cut: %+v, want Resync", old.Sequence, res)
	}
}

// TestDamageInReleasedRecords: damage among records the checkpoint has
// already released hurts nothing a read can return. verify notes it, and
// repair --cut-corrupt cuts nothing for it.
func TestDamageInReleasedRecords(t *testing.T) {
	dir := buildHealthy(t, 320, seglog.CodecNone)
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ackPending(t, l, 40)
	ackPending(t, l, 40) // releases what the first acknowledged
	st := l.State()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := segmentFiles(t, dir)[0]
	e := indexEntries(t, seg)
	var hit *index.Entry
	for i := range e {
		if i+1 < len(e) && e[i+1].Offset <= st.First {
			hit = &e[i]
			break
		}
	}
	if hit == nil {
		t.Fatalf("no frame wholly before the first offset %d", st.First)
	}
	flipByte(t, seg, int64(hit.Pos)+segment.FrameHeaderSize)
	r := seglogCmd(t, "verify", dir)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "all released") {
		t.Errorf("verify says nothing of the damage among released records:\n%s", r)
	}
	before := readable(t, dir)
	seglogCmd(t, "repair", "--apply", "--cut-corrupt", dir).wantCode(t, exitOK)
	after := readable(t, dir)
	if len(after) != len(before) {
		t.Fatalf("repair --cut-corrupt for released records: %d readable records before, %d after", len(before), len(after))
	}
	ro, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got := ro.State(); got.Sequence != st.Sequence || got.Cursor != st.Cursor || got.First != st.First || got.Next != st.Next {
		t.Errorf("state after repair %+v, want %+v", got, st)
	}
}
