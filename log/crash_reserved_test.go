package log_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// The crash tests of the failure window and the sessions: each call that
// changes them is run with the simulated machine crashing at each of its
// mutating I/O steps, and every outcome each CrashMode leaves is recovered.
// After recovery the whole state (delivery state, application metadata,
// failure window, sessions) is the state before the call or the state
// after it, and the one after if the call returned nil; every record
// appended is there; the recovered log refuses appends exactly when its
// state says so, and keeps working.

// rsWindow is the failure window of these tests.
const rsWindow = time.Hour

// rsState is everything the calls under test may change. Session ids are
// random, so each build of a case opens different ones: a session shows
// as its scope and "old" if its id is among those open before the call,
// else as its scope and "new".
type rsState struct {
	ckpt     ckptState
	failures seglog.Failures
	sessions string
}

func rsStateOf(l *seglog.Log, known map[string]bool) rsState {
	var ss []string
	for _, s := range l.Sessions() {
		id := "new"
		if known[s.ID] {
			id = "old"
		}
		ss = append(ss, s.Scope+":"+id)
	}
	return rsState{ckptOf(l), l.Failures(), fmt.Sprint(ss)}
}

// rsDurable is the state a restart finds on fsys now, read from a copy,
// and the ids of its sessions.
func rsDurable(t *testing.T, fsys *crashfs.FS, known map[string]bool) (rsState, map[string]bool) {
	t.Helper()
	l := openCrash(t, rsOpts(fsys.Crash(nil, crashfs.CrashKeepAll)))
	defer l.Close()
	if known == nil {
		known = map[string]bool{}
		for _, s := range l.Sessions() {
			known[s.ID] = true
		}
	}
	return rsStateOf(l, known), known
}

func rsOpts(fsys *crashfs.FS) *seglog.Options {
	o := crashOpts(fsys, seglog.MinSegmentSize, seglog.SyncAlways)
	o.FailureWindow = rsWindow
	return o
}

// rsSetup appends 30 records over a few segments, acknowledges 10, and
// opens a session for "reporter".
func rsSetup(t testing.TB, l *seglog.Log) {
	t.Helper()
	crashAppend(t, l, 30)
	if err := l.SetMeta("uuid", []byte("peer-1")); err != nil {
		t.Fatal(err)
	}
	mustPending(t, l, 10)
	mustAck(t, l, 10)
	if _, err := l.OpenSession("reporter"); err != nil {
		t.Fatal(err)
	}
}

// rsOutage adds a run of failures past the window, and refused appends.
func rsOutage(refused int) func(t testing.TB, l *seglog.Log) {
	return func(t testing.TB, l *seglog.Log) {
		t.Helper()
		rsSetup(t, l)
		for _, at := range []time.Time{outageT0, outageT0.Add(2 * rsWindow)} {
			if err := l.RecordExchangeFailure(at); err != nil {
				t.Fatal(err)
			}
		}
		for range refused {
			if _, err := l.Append([]byte("refused")); !errors.Is(err, seglog.ErrOutage) {
				t.Fatalf("Append during the outage: %v", err)
			}
		}
	}
}

type rsCase struct {
	name  string
	setup func(t testing.TB, l *seglog.Log)
	op    func(l *seglog.Log) error
}

var rsCases = []rsCase{
	{
		name:  "RecordExchangeFailure first",
		setup: rsSetup,
		op:    func(l *seglog.Log) error { return l.RecordExchangeFailure(outageT0) },
	},
	{
		name: "RecordExchangeFailure past the window",
		setup: func(t testing.TB, l *seglog.Log) {
			rsSetup(t, l)
			if err := l.RecordExchangeFailure(outageT0); err != nil {
				t.Fatal(err)
			}
		},
		op: func(l *seglog.Log) error { return l.RecordExchangeFailure(outageT0.Add(rsWindow + time.Second)) },
	},
	{
		name:  "RecordExchangeFailure with refusals to save",
		setup: rsOutage(3),
		op:    func(l *seglog.Log) error { return l.RecordExchangeFailure(outageT0.Add(3 * rsWindow)) },
	},
	{
		name:  "RecordExchangeSuccess ending an outage",
		setup: rsOutage(3),
		op:    func(l *seglog.Log) error { return l.RecordExchangeSuccess() },
	},
	{
		name: "RecordExchangeSuccess after the notice",
		setup: func(t testing.TB, l *seglog.Log) {
			rsOutage(2)(t, l)
			if err := l.RecordExchangeSuccess(); err != nil {
				t.Fatal(err)
			}
			if b := mustPending(t, l, 5); b.Refused != 2 {
				t.Fatalf("batch after the outage: Refused %d, want 2", b.Refused)
			}
		},
		op: func(l *seglog.Log) error { return l.RecordExchangeSuccess() },
	},
	{
		name:  "Close saving refusals",
		setup: rsOutage(4),
		op:    func(l *seglog.Log) error { return l.Close() },
	},
	{
		name:  "OpenSession",
		setup: rsSetup,
		op:    func(l *seglog.Log) error { _, err := l.OpenSession("monitor"); return err },
	},
	{
		name:  "EndSessions",
		setup: rsSetup,
		op:    func(l *seglog.Log) error { return l.EndSessions("reporter") },
	},
	{
		name: "EndAllSessions",
		setup: func(t testing.TB, l *seglog.Log) {
			rsSetup(t, l)
			if _, err := l.OpenSession("monitor"); err != nil {
				t.Fatal(err)
			}
		},
		op: func(l *seglog.Log) error { return l.EndAllSessions() },
	},
}

func TestCrashReservedState(t *testing.T) {
	seed := testSeed(t)
	for _, c := range rsCases {
		t.Run(c.name, func(t *testing.T) {
			build := func() (*crashfs.FS, *seglog.Log) {
				fsys := crashfs.New()
				l := openCrash(t, rsOpts(fsys))
				c.setup(t, l)
				return fsys, l
			}
			fsys, l := build()
			old, known := rsDurable(t, fsys, nil)
			next := l.NextOffset()
			before := fsys.Ops()
			if err := c.op(l); err != nil {
				t.Fatalf("uninterrupted call: %v", err)
			}
			steps := fsys.Ops() - before
			l.Close()
			nw, _ := rsDurable(t, fsys, known)
			if nw == old {
				t.Fatalf("the call changed nothing durable: %+v", old)
			}
			t.Logf("%d steps; old %+v\nnew %+v", steps, old, nw)

			rng := rand.New(rand.NewPCG(seed, uint64(len(c.name))))
			recoveries := 0
			for n := 0; n <= steps; n++ {
				fsys, l := build()
				_, known := rsDurable(t, fsys, nil)
				fsys.CrashAfter(n)
				done := c.op(l) == nil
				for _, mode := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashKeepAll,
					crashfs.CrashTorn, crashfs.CrashRandom, crashfs.CrashRandom, crashfs.CrashRandom} {
					what := fmt.Sprintf("crash point %d of %d (%v)", n, steps, mode)
					rsCheck(t, what, fsys.Crash(rng, mode), known, old, nw, done, next)
					recoveries++
				}
				l.Close()
			}
			t.Logf("%d crash points, %d recoveries", steps+1, recoveries)
		})
	}
}

// rsCheck recovers a survivor and checks it.
func rsCheck(t *testing.T, what string, survivor *crashfs.FS, known map[string]bool, old, nw rsState, done bool, next uint64) {
	t.Helper()
	l, err := seglog.Open(crashDir, rsOpts(survivor))
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	defer l.Close()
	got := rsStateOf(l, known)
	switch {
	case got == nw:
	case got == old && !done:
	case done:
		t.Fatalf("%s: the call returned nil, but the state recovered is\n%+v, want\n%+v", what, got, nw)
	default:
		t.Fatalf("%s: state\n%+v is neither the old\n%+v nor the new\n%+v", what, got, old, nw)
	}
	if l.NextOffset() != next {
		t.Fatalf("%s: next offset %d, want %d", what, l.NextOffset(), next)
	}
	checkCrashRecords(t, what, l, got.ckpt.First)

	// The recovered log refuses exactly when its state says so, keeps
	// the agent's resync reply, and honours its sessions.
	_, err = l.Append(crashRecord(next))
	refused := errors.Is(err, seglog.ErrOutage)
	if refused != got.failures.Refusing || (err != nil && !refused) {
		t.Fatalf("%s: Append = %v with Failures %+v", what, err, got.failures)
	}
	if got.failures.Refusing {
		if _, err := l.AppendWith(crashRecord(next), seglog.AppendOptions{AlwaysKept: true}); err != nil {
			t.Fatalf("%s: AlwaysKept append during the outage: %v", what, err)
		}
	}
	for _, s := range l.Sessions() {
		if !l.SessionOpen(s.ID) {
			t.Fatalf("%s: session %+v listed but not open", what, s)
		}
		_, err := l.AppendWith(crashRecord(l.NextOffset()), seglog.AppendOptions{Session: s.ID, AlwaysKept: true})
		if err != nil {
			t.Fatalf("%s: append in open session %+v: %v", what, s, err)
		}
	}
	// It delivers, with the notice of the refusals of ended runs, and an
	// exchange success ends the outage: the refusals of this run are
	// then the ones to report.
	b := mustPending(t, l, 1000)
	if b.Refused != got.failures.Unreported {
		t.Fatalf("%s: batch Refused %d, recovered %+v", what, b.Refused, got.failures)
	}
	mustAck(t, l, b.Next())
	if err := l.RecordExchangeSuccess(); err != nil {
		t.Fatalf("%s: RecordExchangeSuccess: %v", what, err)
	}
	want := got.failures.Refused
	if refused {
		want++
	}
	if f := l.Failures(); f.Refusing || !f.First.IsZero() || f.Unreported != want {
		t.Fatalf("%s: after a success: %+v, want %d unreported (recovered %+v)", what, f, want, got.failures)
	}
}
