package log_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// Crash tests of the size limit's drop. A log capped at four segments,
// whose peer acknowledged the first 5 records, is filled to the cap; then
// appends that drop the oldest segment (the 5 acknowledged records and
// unsent ones after them) run with the machine crashing at each of their
// mutating I/O steps in turn, and what each CrashMode leaves is recovered,
// then Open of the survivor is crashed at each of its steps. After every
// recovery:
//
//   - the delivery state is the old one (nothing dropped) or the new one
//     (first moved to the dropped segment's end, cursor unchanged), and the
//     new one if a drop was reported done;
//   - every record from the first kept offset to the end is there, intact;
//     under SyncAlways the end is the last append that returned;
//   - Pending hands out the dropped unsent records as one GapDropped gap
//     with exactly their labels, then every kept record with its label;
//   - no segment before the first kept offset is left, and none after it
//     is missing.

// limitCrashCase is one run of appends to crash.
type limitCrashCase struct {
	name    string
	policy  seglog.SyncPolicy
	appends int // appends of the crashed call
}

func limitCrashOpts(fsys *crashfs.FS, policy seglog.SyncPolicy) *seglog.Options {
	opts := crashOpts(fsys, seglog.MinSegmentSize, policy)
	opts.MaxBytes = 4 * seglog.MinSegmentSize
	opts.Limit = seglog.LimitDrop
	return opts
}

// limitCrashBuild builds the log: 5 records acknowledged, then, under
// SyncAlways, records up to the last one that fits under the cap without a
// drop. Under the buffered policies, where appends share frames as the
// flusher's timing decides, 50 records: the cap holds about 60.
func limitCrashBuild(t *testing.T, policy seglog.SyncPolicy) (*crashfs.FS, *seglog.Log) {
	t.Helper()
	fsys := crashfs.New()
	l := openCrash(t, limitCrashOpts(fsys, policy))
	crashAppend(t, l, 5)
	mustPending(t, l, 5)
	mustAck(t, l, 5)
	if policy != seglog.SyncAlways {
		crashAppend(t, l, 50)
		return fsys, l
	}
	for {
		probe := fsys.Crash(nil, crashfs.CrashKeepAll)
		pl := openCrash(t, limitCrashOpts(probe, policy))
		crashAppend(t, pl, 1)
		dropped := pl.State().DroppedSegments > 0
		pl.Close()
		if dropped {
			return fsys, l
		}
		crashAppend(t, l, 1)
	}
}

func TestCrashSizeLimitDrop(t *testing.T) {
	seed := testSeed(t)
	cases := []limitCrashCase{
		{"one append drops a segment", seglog.SyncAlways, 1},
		{"appends drop two segments", seglog.SyncAlways, 20},
		{"appends drop a segment, SyncInterval", seglog.SyncInterval, 15},
		{"appends drop two segments, SyncNever", seglog.SyncNever, 35},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			points, recoveries := limitCrashEveryStep(t, c, seed)
			t.Logf("%d crash points, %d recoveries", points, recoveries)
		})
	}
}

// limitCrashWant is what a recovery is checked against.
type limitCrashWant struct {
	policy   seglog.SyncPolicy
	old, new seglog.State
	firsts   map[uint64]bool // the first offsets the uninterrupted call went through
	next     uint64          // end of the log before the call
	returned uint64          // end of the log after the appends that returned nil
	saved    uint64          // the first offset the crashed call's log held last
	done     bool            // the call returned nil
}

func limitCrashEveryStep(t *testing.T, c limitCrashCase, seed uint64) (points, recoveries int) {
	op := func(l *seglog.Log) (uint64, error) {
		for range c.appends {
			o := l.NextOffset()
			if _, err := l.Append(crashRecord(o)); err != nil {
				return o, err // the failed append's record may survive
			}
		}
		return l.NextOffset(), nil
	}
	fsys, l := limitCrashBuild(t, c.policy)
	old := l.State()
	before := fsys.Ops()
	firsts := map[uint64]bool{old.First: true}
	for range c.appends {
		if _, err := l.Append(crashRecord(l.NextOffset())); err != nil {
			t.Fatalf("uninterrupted call: %v", err)
		}
		firsts[l.State().First] = true
	}
	seglog.WaitReleases(l)
	steps := fsys.Ops() - before
	newSt := l.State()
	l.Close()
	if newSt.First <= old.Cursor || newSt.Cursor != old.Cursor || newSt.DroppedAcked != 5 {
		t.Fatalf("the call did not drop acknowledged and unsent records: old %+v, new %+v", old, newSt)
	}
	t.Logf("old state %+v, new %+v, %d steps", old, newSt, steps)

	rng := rand.New(rand.NewPCG(seed, uint64(len(c.name))))
	for n := 0; n <= steps; n++ {
		points++
		fsys, l := limitCrashBuild(t, c.policy)
		fsys.CrashAfter(n)
		end, err := op(l)
		seglog.WaitReleases(l)
		st := l.State()
		w := limitCrashWant{policy: c.policy, old: old, new: newSt, firsts: firsts, next: old.Next,
			returned: end, saved: st.First, done: err == nil}
		for i, mode := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashRandom, crashfs.CrashKeepAll,
			crashfs.CrashTorn, crashfs.CrashRandom} {
			survivor := fsys.Crash(rng, mode)
			what := fmt.Sprintf("crash point %d of %d (%v)", n, steps, mode)
			recoveries += limitCrashRecover(t, what, survivor, w, rng, i == 0)
		}
		l.Close()
	}
	return points, recoveries
}

func limitCrashRecover(t *testing.T, what string, survivor *crashfs.FS, w limitCrashWant, rng *rand.Rand, again bool) int {
	t.Helper()
	probe := survivor.Crash(nil, crashfs.CrashKeepAll)
	l, err := seglog.Open(crashDir, limitCrashOpts(probe, w.policy))
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	openSteps := probe.Ops()
	limitCrashCheck(t, what, l, probe, w)
	l.Close()
	n := 1
	if !again {
		return n
	}
	return n + crashDuringOpen(t, what, "", survivor, rng, openSteps,
		func(fsys *crashfs.FS) *seglog.Options { return limitCrashOpts(fsys, w.policy) },
		func(what string, l *seglog.Log, fsys *crashfs.FS) { limitCrashCheck(t, what, l, fsys, w) })
}

func limitCrashCheck(t *testing.T, what string, l *seglog.Log, fsys *crashfs.FS, w limitCrashWant) {
	t.Helper()
	got := l.State()
	if got.Sequence != w.old.Sequence || got.Cursor != w.old.Cursor {
		t.Fatalf("%s: sequence %d cursor %d, want %d and %d", what, got.Sequence, got.Cursor, w.old.Sequence, w.old.Cursor)
	}
	// Under the buffered policies, frames (and so segment bases) follow
	// the flusher's timing: the crashed run's drops may differ from the
	// uninterrupted one's.
	deterministic := w.policy == seglog.SyncAlways
	if (deterministic && !w.firsts[got.First]) || got.First < w.saved || (deterministic && w.done && got.First != w.new.First) {
		t.Fatalf("%s: first %d: not one the call went through (%v), or before %d, the last it saved (the call returned nil: %v)",
			what, got.First, w.firsts, w.saved, w.done)
	}
	next := l.NextOffset()
	switch {
	case w.policy == seglog.SyncAlways && next != w.returned && !(next == w.returned+1 && !w.done):
		t.Fatalf("%s: next offset %d, want %d: appended records lost", what, next, w.returned)
	case next < w.next && w.policy == seglog.SyncAlways:
		t.Fatalf("%s: next offset %d before %d", what, next, w.next)
	case next < got.First:
		t.Fatalf("%s: next offset %d before the first kept %d", what, next, got.First)
	}
	o := checkCrashRecords(t, what, l, got.First)
	if o != next {
		t.Fatalf("%s: Records stopped at %d, next offset %d", what, o, next)
	}
	if _, err := checkFilesErr(t, fsys, crashDir, got.First, false); err != nil {
		t.Fatalf("%s: after Open: %v", what, err)
	}

	// Delivery: the dropped unsent records as one gap with exactly their
	// labels, then every kept record.
	b, err := l.Pending(1 << 20)
	if err != nil {
		t.Fatalf("%s: Pending: %v", what, err)
	}
	label := got.Sequence
	o = got.Cursor
	for e := range b.Entries() {
		if e.Label != label {
			t.Fatalf("%s: entry labelled %d, want %d", what, e.Label, label)
		}
		if g := e.Gap; g != nil {
			if o != got.Cursor || g.Reason != seglog.GapDropped || g.Offset != got.Cursor || g.End() != got.First {
				t.Fatalf("%s: gap %+v, want the dropped range [%d, %d)", what, *g, got.Cursor, got.First)
			}
			label, o = label+g.Count, g.End()
			continue
		}
		if e.Record.Offset != o {
			t.Fatalf("%s: record at offset %d, want %d", what, e.Record.Offset, o)
		}
		label, o = label+1, o+1
	}
	if o != next || (got.First > got.Cursor) != (len(b.Gaps) == 1) {
		t.Fatalf("%s: delivery ended at %d with %d gaps, next %d, first %d", what, o, len(b.Gaps), next, got.First)
	}
	if _, err := l.Ack(b.Next()); err != nil {
		t.Fatalf("%s: Ack after recovery: %v", what, err)
	}
	if _, err := l.Append(crashRecord(next)); err != nil {
		t.Fatalf("%s: Append after recovery: %v", what, err)
	}
}

// An Ack that answers into or past a dropped range, crashed at each of
// its steps: the state recovered is the old or the new one, and the range
// still pending is handed out exactly.
func TestCrashSizeLimitAck(t *testing.T) {
	seed := testSeed(t)
	build := func(t *testing.T) (*crashfs.FS, *seglog.Log, seglog.Batch) {
		fsys, l := limitCrashBuild(t, seglog.SyncAlways)
		crashAppend(t, l, 20)     // drops the first segment or two
		b := mustPending(t, l, 3) // the gap and two records
		if len(b.Gaps) != 1 || b.Gaps[0].Reason != seglog.GapDropped {
			t.Fatalf("no dropped gap first: %+v", b)
		}
		return fsys, l, b
	}
	_, l, b := build(t)
	g := b.Gaps[0]
	l.Close()
	for _, c := range []struct {
		name string
		n    uint64
	}{
		{"into the range", g.Label + g.Count/2},
		{"past the range", b.Next()},
		{"ancient", g.Label - 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys, l, _ := build(t)
			old := ckptOf(l)
			next := l.NextOffset()
			before := fsys.Ops()
			mustAck(t, l, c.n)
			seglog.WaitReleases(l)
			steps := fsys.Ops() - before
			want := ckptOf(l)
			l.Close()
			// The range is passed only by an answer past it: an answer
			// into it moves the cursor into it, an ancient one leaves the
			// cursor on it; first never moves.
			wantCursor := old.Cursor
			if c.n > old.Sequence {
				wantCursor += c.n - old.Sequence
			}
			if want.First != old.First || want.Cursor != wantCursor || want.Sequence != c.n {
				t.Fatalf("Ack(%d) from %+v: %+v, want first %d cursor %d", c.n, old, want, old.First, wantCursor)
			}
			rng := rand.New(rand.NewPCG(seed, uint64(len(c.name))))
			for n := 0; n <= steps; n++ {
				fsys, l, _ := build(t)
				fsys.CrashAfter(n)
				_, err := l.Ack(c.n)
				seglog.WaitReleases(l)
				for _, mode := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashRandom, crashfs.CrashKeepAll, crashfs.CrashTorn} {
					what := fmt.Sprintf("crash point %d of %d (%v)", n, steps, mode)
					s := fsys.Crash(rng, mode)
					rl, oerr := seglog.Open(crashDir, limitCrashOpts(s, seglog.SyncAlways))
					if oerr != nil {
						t.Fatalf("%s: Open: %v", what, oerr)
					}
					got := ckptOf(rl)
					if got != want && (got != old || err == nil) {
						t.Fatalf("%s: state %+v, old %+v, new %+v (Ack returned %v)", what, got, old, want, err)
					}
					if rl.NextOffset() != next {
						t.Fatalf("%s: next %d, want %d", what, rl.NextOffset(), next)
					}
					pb, perr := rl.Pending(1 << 20)
					if perr != nil {
						t.Fatalf("%s: Pending: %v", what, perr)
					}
					wantGap := got.First > got.Cursor
					if wantGap != (len(pb.Gaps) == 1) || (wantGap && (pb.Gaps[0].Offset != got.Cursor || pb.Gaps[0].End() != got.First || pb.Gaps[0].Label != got.Sequence)) ||
						pb.Next() != got.Sequence+(next-got.Cursor) {
						t.Fatalf("%s: batch gaps %s next %d; state %+v, next offset %d", what, gapsString(pb.Gaps), pb.Next(), got, next)
					}
					rl.Close()
				}
				l.Close()
			}
		})
	}
}
