package log_test

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// The delivery state's crash tests. Each case builds a log, then runs one
// state-changing call (an Ack that releases segments, a Reset, a SetMeta)
// with the simulated machine crashing at its n-th mutating I/O step, for
// n = 0, 1, ... until the call runs untouched, and recovers what each
// CrashMode leaves. After recovery:
//
//   - the delivery state (sequence, cursor, first offset, metadata) is
//     wholly the old one or wholly the new one, and the new one if the
//     call returned nil;
//   - no record at or after the durable cursor is lost (under SyncAlways,
//     no record at all), and every record read back is the one appended;
//   - no record before the first offset is returned;
//   - Open has deleted the segments the state released, and index files
//     left without their segment;
//   - the recovered log takes appends and acknowledgements.
//
// Open itself is then crashed at each of its own steps, and the survivor
// of that recovered once more: the same holds.
//
// The storage core's crash tests are in crash_test.go.

// ckptState is the part of the delivery state a checkpoint holds.
type ckptState struct {
	Sequence, Cursor, First uint64
	Meta                    string
}

func ckptOf(l *seglog.Log) ckptState {
	st := l.State()
	var meta []string
	for _, k := range l.MetaKeys() {
		v, _ := l.Meta(k)
		if len(v) > 16 {
			v = fmt.Appendf(v[:8:8], "...(%d bytes, crc %08x)", len(v), crc32.ChecksumIEEE(v))
		}
		meta = append(meta, fmt.Sprintf("%s=%q", k, v))
	}
	return ckptState{st.Sequence, st.Cursor, st.First, strings.Join(meta, ",")}
}

// crashCase is one call to crash.
type crashCase struct {
	name   string
	policy seglog.SyncPolicy
	setup  func(t testing.TB, l *seglog.Log)
	op     func(l *seglog.Log) error
}

// crashRecord is the data of the record at offset o: big enough that a
// few dozen fill a minimum-size segment.
func crashRecord(o uint64) []byte {
	return fmt.Appendf(nil, "%06d:%s", o, bytes.Repeat([]byte{byte('a' + o%26)}, 1000))
}

func crashAppend(t testing.TB, l *seglog.Log, n int) {
	t.Helper()
	for range n {
		if _, err := l.Append(crashRecord(l.NextOffset())); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
}

// crashSetup appends 80 records, acknowledges the first 40, appends 40
// more: 120 records in about 8 segments, first 0, cursor 40, sequence 40.
// withPending hands out the batches before their Acks; without, under
// SyncNever, the last records appended are not yet synced.
func crashSetup(withPending bool) func(t testing.TB, l *seglog.Log) {
	return func(t testing.TB, l *seglog.Log) {
		t.Helper()
		crashAppend(t, l, 80)
		if err := l.SetMeta("uuid", []byte("peer-1")); err != nil {
			t.Fatal(err)
		}
		if withPending {
			mustPending(t, l, 40)
		}
		mustAck(t, l, 40)
		crashAppend(t, l, 40)
		if withPending {
			mustPending(t, l, 40)
		}
	}
}

var crashCases = []crashCase{
	{
		name: "Ack normal releasing segments", policy: seglog.SyncAlways,
		setup: crashSetup(true),
		op:    func(l *seglog.Log) error { _, err := l.Ack(80); return err },
	},
	{
		name: "Ack too high releasing segments", policy: seglog.SyncAlways,
		setup: crashSetup(true),
		op:    func(l *seglog.Log) error { _, err := l.Ack(81); return err },
	},
	{
		name: "Ack ancient", policy: seglog.SyncAlways,
		setup: crashSetup(true),
		op:    func(l *seglog.Log) error { _, err := l.Ack(3); return err },
	},
	{
		name: "Ack rewind", policy: seglog.SyncAlways,
		setup: crashSetup(true),
		op:    func(l *seglog.Log) error { _, err := l.Ack(20); return err },
	},
	{
		name: "Reset", policy: seglog.SyncAlways,
		setup: crashSetup(true),
		op:    func(l *seglog.Log) error { return l.Reset() },
	},
	{
		name: "Reset again", policy: seglog.SyncAlways,
		setup: func(t testing.TB, l *seglog.Log) {
			crashSetup(false)(t, l)
			if err := l.Reset(); err != nil {
				t.Fatal(err)
			}
		},
		// The active segment is empty: nothing to roll, nothing to release.
		op: func(l *seglog.Log) error { return l.Reset() },
	},
	{
		name: "SetMeta", policy: seglog.SyncAlways,
		setup: crashSetup(true),
		op:    func(l *seglog.Log) error { return l.SetMeta("token", bytes.Repeat([]byte("t"), 3000)) },
	},
	{
		name: "SetMeta delete", policy: seglog.SyncAlways,
		setup: crashSetup(true),
		op:    func(l *seglog.Log) error { return l.SetMeta("uuid", nil) },
	},
	{
		// No Pending before the Ack: what it acknowledges is not yet
		// synced, so the Ack syncs the data before its checkpoint.
		name: "Ack normal releasing segments, SyncNever", policy: seglog.SyncNever,
		setup: crashSetup(false),
		op:    func(l *seglog.Log) error { _, err := l.Ack(100); return err },
	},
	{
		name: "Ack too high releasing segments, SyncNever", policy: seglog.SyncNever,
		setup: crashSetup(true),
		op:    func(l *seglog.Log) error { _, err := l.Ack(100); return err },
	},
	{
		name: "Reset, SyncNever", policy: seglog.SyncNever,
		setup: crashSetup(false),
		op:    func(l *seglog.Log) error { return l.Reset() },
	},
	{
		name: "SetMeta, SyncNever", policy: seglog.SyncNever,
		setup: crashSetup(false),
		op:    func(l *seglog.Log) error { return l.SetMeta("token", []byte("abc")) },
	},
}

func TestCrashAck(t *testing.T) {
	seed := testSeed(t)
	total := 0
	for _, c := range crashCases {
		t.Run(c.name, func(t *testing.T) {
			points, recoveries := crashEveryAckStep(t, c, seed)
			t.Logf("%d crash points, %d recoveries", points, recoveries)
			total += points
		})
	}
	t.Logf("%d crash points in all", total)
}

// crashBuild builds a case's log on a fresh filesystem.
func crashBuild(t *testing.T, c crashCase) (*crashfs.FS, *seglog.Log) {
	t.Helper()
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, seglog.MinSegmentSize, c.policy))
	c.setup(t, l)
	return fsys, l
}

// crashWant is what a recovery is checked against.
type crashWant struct {
	policy   seglog.SyncPolicy
	old, new ckptState
	next     uint64 // records appended before the call
	done     bool   // the call returned nil
}

func crashEveryAckStep(t *testing.T, c crashCase, seed uint64) (points, recoveries int) {
	// A dry run gives the new state and the number of steps.
	fsys, l := crashBuild(t, c)
	want := crashWant{policy: c.policy, old: ckptOf(l), next: l.NextOffset()}
	segsBefore, _ := logFiles(t, fsys, crashDir)
	before := fsys.Ops()
	if err := c.op(l); err != nil {
		t.Fatalf("uninterrupted call: %v", err)
	}
	seglog.WaitReleases(l) // released segments are deleted in the background
	steps := fsys.Ops() - before
	want.new = ckptOf(l)
	segsAfter, _ := logFiles(t, fsys, crashDir)
	l.Close()
	if want.new.First > want.old.First && len(segsAfter) >= len(segsBefore) {
		t.Fatalf("the call released [%d, %d) but removed no segment (%d before, %d after)",
			want.old.First, want.new.First, len(segsBefore), len(segsAfter))
	}
	t.Logf("old state %+v, new %+v, %d steps, segments %d -> %d", want.old, want.new, steps, len(segsBefore), len(segsAfter))

	rng := rand.New(rand.NewPCG(seed, uint64(len(c.name))))
	for n := 0; n <= steps; n++ {
		points++
		fsys, l := crashBuild(t, c)
		fsys.CrashAfter(n)
		err := c.op(l)
		seglog.WaitReleases(l)
		w := want
		w.done = err == nil
		if w.done {
			// Even if the machine died before the released segments
			// were deleted, nothing before the new first offset is
			// returned.
			checkReleased(t, l)
			if got := ckptOf(l); got != w.new {
				t.Fatalf("crash point %d: the call returned nil, state %+v, want %+v", n, got, w.new)
			}
		}
		// Each mode, the random ones three times; Open is crashed in
		// turn on the first two survivors that may keep released files.
		for i, mode := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashRandom, crashfs.CrashKeepAll,
			crashfs.CrashTorn, crashfs.CrashTorn, crashfs.CrashRandom, crashfs.CrashRandom} {
			survivor := fsys.Crash(rng, mode)
			what := fmt.Sprintf("crash point %d of %d (%v)", n, steps, mode)
			recoveries += crashRecover(t, what, survivor, w, rng, i < 2)
		}
		l.Close()
	}
	return points, recoveries
}

// crashRecover opens a survivor and checks it, then, if again is set,
// crashes Open of copies of the survivor at each of its steps and checks
// what those leave. It returns the number of recoveries checked.
func crashRecover(t *testing.T, what string, survivor *crashfs.FS, w crashWant, rng *rand.Rand, again bool) int {
	t.Helper()
	probe := survivor.Crash(nil, crashfs.CrashKeepAll) // a copy: the survivor is all durable
	l, err := seglog.Open(crashDir, crashOpts(probe, seglog.MinSegmentSize, w.policy))
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	openSteps := probe.Ops()
	removed := l.Recovery().SegmentsRemoved
	crashCheck(t, what, l, probe, w)
	l.Close()
	n := 1
	if !again {
		return n
	}
	return n + crashDuringOpen(t, what, fmt.Sprintf(" of %d (it removes %d segments)", openSteps, removed), survivor, rng, openSteps,
		func(fsys *crashfs.FS) *seglog.Options { return crashOpts(fsys, seglog.MinSegmentSize, w.policy) },
		func(what string, l *seglog.Log, fsys *crashfs.FS) { crashCheck(t, what, l, fsys, w) })
}

// crashCheck checks a recovered log, then that it works.
func crashCheck(t *testing.T, what string, l *seglog.Log, fsys *crashfs.FS, w crashWant) {
	t.Helper()
	got := ckptOf(l)
	switch {
	case got == w.new:
	case got == w.old && !w.done:
	case w.done:
		t.Fatalf("%s: the call returned nil, but the state recovered is %+v, want %+v", what, got, w.new)
	default:
		t.Fatalf("%s: state %+v is neither the old %+v nor the new %+v", what, got, w.old, w.new)
	}
	next := l.NextOffset()
	switch {
	case w.policy == seglog.SyncAlways && next != w.next:
		t.Fatalf("%s: next offset %d, want %d: appended records lost", what, next, w.next)
	case next < got.Cursor || next > w.next:
		t.Fatalf("%s: next offset %d outside [cursor %d, %d]", what, next, got.Cursor, w.next)
	}
	o := checkCrashRecords(t, what, l, got.First)
	if o != next {
		t.Fatalf("%s: Records stopped at %d, next offset %d", what, o, next)
	}
	checkReleased(t, l)
	if _, err := checkFilesErr(t, fsys, crashDir, got.First, false); err != nil {
		t.Fatalf("%s: after Open: %v", what, err)
	}

	// The recovered log works: it appends, hands out, acknowledges.
	off, err := l.Append(crashRecord(next))
	if err != nil || off != next {
		t.Fatalf("%s: Append after recovery = %d, %v", what, off, err)
	}
	b, err := l.Pending(1000)
	if err != nil || b.Sequence != got.Sequence || uint64(len(b.Records)) != next+1-got.Cursor {
		t.Fatalf("%s: Pending after recovery: %d records labelled %d, %v; want %d labelled %d",
			what, len(b.Records), b.Sequence, err, next+1-got.Cursor, got.Sequence)
	}
	if _, err := l.Ack(got.Sequence + uint64(len(b.Records))); err != nil {
		t.Fatalf("%s: Ack after recovery: %v", what, err)
	}
}
