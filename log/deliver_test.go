package log_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// The delivery protocol seen from the public API. The numbers follow the
// reference's worked example (../shared/seed/landscape-store.md), 0-based:
// records A..J are offsets 0..9.

// exampleLog opens a log holding A..J and plays the first two exchanges
// of the worked example: (seq 0: A B C) answered 3, then (seq 3: D..H)
// answered 8. The state is then S=8, P=5, first D (3), cursor I (8).
func exampleLog(t *testing.T) (*seglog.Log, *crashfs.FS) {
	t.Helper()
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	t.Cleanup(func() { l.Close() })
	appendLetters(t, l, 10)
	if got := batchLetters(t, mustPending(t, l, 3)); got != "seq 0: A B C" {
		t.Fatalf("first batch %q", got)
	}
	mustAck(t, l, 3)
	if got := batchLetters(t, mustPending(t, l, 5)); got != "seq 3: D E F G H" {
		t.Fatalf("second batch %q", got)
	}
	mustAck(t, l, 8)
	want := seglog.State{Sequence: 8, Cursor: 8, First: 3, Next: 10, PendingCount: 2}
	if st := l.State(); st != want {
		t.Fatalf("state %+v, want %+v", st, want)
	}
	return l, fsys
}

func TestAckWorkedExample(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	defer l.Close()
	appendLetters(t, l, 10)

	type step struct {
		max      int    // Pending(max)
		batch    string // what it hands out
		answer   uint64 // the peer's next-expected
		branch   seglog.AckBranch
		released uint64
		state    seglog.State
		next     string // what Pending hands out next
	}
	steps := []step{
		// 1: send (seq 0: A,B,C); peer answers 3: S=3, P=3, kept A..J, next D.
		{3, "seq 0: A B C", 3, seglog.AckNormal, 0,
			seglog.State{Sequence: 3, Cursor: 3, First: 0, Next: 10, PendingCount: 7}, "seq 3: D E F G H I J"},
		// 2: send (seq 3: D..H); peer answers 8: A,B,C deleted; S=8,
		// P=5, kept D..J, next I.
		{5, "seq 3: D E F G H", 8, seglog.AckNormal, 3,
			seglog.State{Sequence: 8, Cursor: 8, First: 3, Next: 10, PendingCount: 2}, "seq 8: I J"},
	}
	st0 := seglog.State{Sequence: 0, Cursor: 0, First: 0, Next: 10, PendingCount: 10}
	if st := l.State(); st != st0 {
		t.Fatalf("step 0: state %+v, want %+v", st, st0)
	}
	for i, s := range steps {
		if got := batchLetters(t, mustPending(t, l, s.max)); got != s.batch {
			t.Fatalf("step %d: Pending(%d) = %q, want %q", i+1, s.max, got, s.batch)
		}
		res := mustAck(t, l, s.answer)
		if res.Branch != s.branch || res.Released != s.released || res.Resync || res.State != s.state {
			t.Fatalf("step %d: Ack(%d) = %+v, want branch %v, released %d, state %+v", i+1, s.answer, res, s.branch, s.released, s.state)
		}
		if got := batchLetters(t, mustPending(t, l, 100)); got != s.next {
			t.Fatalf("step %d: next batch %q, want %q", i+1, got, s.next)
		}
	}
	if got := lettersOf(readAllRecords(t, l)); got != "D E F G H I J" {
		t.Fatalf("kept after step 2: %q, want D..J", got)
	}

	// Step 3 sends (seq 8: I,J); the peer's answer takes one of three
	// branches, each played from the same state.
	for _, c := range []struct {
		name     string
		answer   uint64
		branch   seglog.AckBranch
		resync   bool
		released uint64
		state    seglog.State
		kept     string
		next     string
	}{
		// 3: peer answers 5: rewind, S=5, P=2, next F.
		{"3 rewind", 5, seglog.AckRewind, false, 0,
			seglog.State{Sequence: 5, Cursor: 5, First: 3, Next: 10, PendingCount: 5}, "D E F G H I J", "seq 5: F G H I J"},
		// 3': peer answers 2 (older than D): ancient, S=2, P=0, D..J
		// resent with D labelled 2.
		{"3' ancient", 2, seglog.AckAncient, true, 0,
			seglog.State{Sequence: 2, Cursor: 3, First: 3, Next: 10, PendingCount: 7}, "D E F G H I J", "seq 2: D E F G H I J"},
		// 3'': peer answers 11 (more than the 2 sent): too high, D..H
		// deleted, S=11, P=0, I,J resent as 11,12.
		{"3'' too high", 11, seglog.AckTooHigh, true, 5,
			seglog.State{Sequence: 11, Cursor: 8, First: 8, Next: 10, PendingCount: 2}, "I J", "seq 11: I J"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, _ := exampleLog(t)
			if got := batchLetters(t, mustPending(t, l, 100)); got != "seq 8: I J" {
				t.Fatalf("third batch %q", got)
			}
			res := mustAck(t, l, c.answer)
			if res.Branch != c.branch || res.Resync != c.resync || res.Released != c.released || res.State != c.state {
				t.Fatalf("Ack(%d) = %+v, want branch %v, resync %v, released %d, state %+v",
					c.answer, res, c.branch, c.resync, c.released, c.state)
			}
			if got := lettersOf(readAllRecords(t, l)); got != c.kept {
				t.Fatalf("kept %q, want %q", got, c.kept)
			}
			if got := batchLetters(t, mustPending(t, l, 100)); got != c.next {
				t.Fatalf("next batch %q, want %q", got, c.next)
			}
			checkReleased(t, l)
		})
	}
}

// TestAckBranches checks every branch of Ack at its boundaries, from the
// state S=8, P=5 (first D, cursor I, next after J) of the worked example,
// both after a Pending that handed out one record (sent = 1, while 2 are
// pending) and with no Pending since the last Ack (sent = the pending
// count, 2).
func TestAckBranches(t *testing.T) {
	const (
		s     = 8
		p     = 5
		first = 3
	)
	type want struct {
		branch   seglog.AckBranch
		released uint64
		cursor   uint64
		first    uint64
	}
	rewind := func(n uint64) want { return want{seglog.AckRewind, 0, first + p - (s - n), first} }
	normal := func(n uint64) want { return want{seglog.AckNormal, p, s + (n - s), s} }
	tooHigh := want{seglog.AckTooHigh, p, s, s}
	ancient := want{seglog.AckAncient, 0, first, first}

	cases := []struct {
		name    string
		pending int // Pending(pending) before the Ack; 0: none
		n       uint64
		want    want
	}{
		{"no Pending/N=S-P rewinds to the first kept", 0, s - p, rewind(s - p)},
		{"no Pending/N=S-P-1 is ancient", 0, s - p - 1, ancient},
		{"no Pending/N=0 is ancient", 0, 0, ancient},
		{"no Pending/N=S-1 rewinds by one", 0, s - 1, rewind(s - 1)},
		{"no Pending/N=S changes nothing", 0, s, rewind(s)},
		{"no Pending/N=S+1 is normal", 0, s + 1, normal(s + 1)},
		{"no Pending/N=S+pending is normal", 0, s + 2, normal(s + 2)},
		{"no Pending/N=S+pending+1 is too high", 0, s + 3, tooHigh},
		{"no Pending/huge N is too high", 0, 1 << 62, tooHigh},

		{"Pending(1)/N=S-P rewinds to the first kept", 1, s - p, rewind(s - p)},
		{"Pending(1)/N=S-P-1 is ancient", 1, s - p - 1, ancient},
		{"Pending(1)/N=S changes nothing", 1, s, rewind(s)},
		{"Pending(1)/N=S+sent is normal", 1, s + 1, normal(s + 1)},
		{"Pending(1)/N=S+sent+1 is too high", 1, s + 2, tooHigh},
		// The reference's fault 5: N above what was sent but not above
		// the pending count must not pass unsent records as delivered.
		{"Pending(1)/N above sent, within pending count, is too high", 1, s + 2, tooHigh},

		{"Pending(100)/N=S+sent is normal", 100, s + 2, normal(s + 2)},
		{"Pending(100)/N=S+sent+1 is too high", 100, s + 3, tooHigh},
		{"Pending(100)/N=S-P rewinds to the first kept", 100, s - p, rewind(s - p)},
		{"Pending(100)/N=S-P-1 is ancient", 100, s - p - 1, ancient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, fsys := exampleLog(t)
			if c.pending > 0 {
				mustPending(t, l, c.pending)
			}
			before := l.State()
			res := mustAck(t, l, c.n)
			w := c.want
			wantState := seglog.State{Sequence: c.n, Cursor: w.cursor, First: w.first, Next: 10, PendingCount: 10 - w.cursor}
			resync := w.branch == seglog.AckTooHigh || w.branch == seglog.AckAncient
			if res.Branch != w.branch || res.Resync != resync || res.Released != w.released || res.State != wantState {
				t.Fatalf("from %+v, Ack(%d) = %+v\nwant branch %v, resync %v, released %d, state %+v",
					before, c.n, res, w.branch, resync, w.released, wantState)
			}
			if st := l.State(); st != wantState {
				t.Fatalf("State() = %+v, want %+v", st, wantState)
			}
			checkPendingSet(t, l, wantState)
			checkReleased(t, l)

			// Pending hands out the records from the new cursor,
			// labelled with the new sequence.
			var want []string
			for o := w.cursor; o < 10; o++ {
				want = append(want, letterOf(o))
			}
			b := mustPending(t, l, 100)
			if b.Sequence != c.n || len(b.Records) != len(want) || (len(want) > 0 && b.Records[0].Offset != w.cursor) {
				t.Fatalf("Pending after Ack = %s (first offset %v), want seq %d from offset %d: %v",
					batchLetters(t, b), b.Records, c.n, w.cursor, want)
			}
			if got := lettersOf(b.Records); got != strings.Join(want, " ") {
				t.Fatalf("Pending after Ack = %q, want %q", got, strings.Join(want, " "))
			}

			// The new state is what a reopened log finds.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
			defer l2.Close()
			if st := l2.State(); st != wantState {
				t.Fatalf("after reopen, State() = %+v, want %+v", st, wantState)
			}
		})
	}
}

// checkPendingSet checks IsPending around the cursor and the next offset.
func checkPendingSet(t testing.TB, l *seglog.Log, st seglog.State) {
	t.Helper()
	probe := []uint64{st.First, st.Cursor, st.Next, st.Next + 1}
	if st.Cursor > 0 {
		probe = append(probe, st.Cursor-1)
	}
	if st.Next > 0 {
		probe = append(probe, st.Next-1)
	}
	for _, o := range probe {
		want := st.Cursor <= o && o < st.Next
		if got := l.IsPending(o); got != want {
			t.Fatalf("IsPending(%d) = %v with cursor %d, next %d", o, got, st.Cursor, st.Next)
		}
	}
}

// The branches at the edges of the kept window: nothing kept (P = 0),
// nothing pending, and nothing sent.
func TestAckEdges(t *testing.T) {
	t.Run("fresh log", func(t *testing.T) {
		l := openCrash(t, crashOpts(crashfs.New(), 0, seglog.SyncAlways))
		defer l.Close()
		// Nothing pending: N=S changes nothing, N=S+1 is too high.
		if res := mustAck(t, l, 0); res.Branch != seglog.AckRewind || res.Resync || res.State != (seglog.State{}) {
			t.Fatalf("Ack(0) on an empty log = %+v", res)
		}
		if res := mustAck(t, l, 1); res.Branch != seglog.AckTooHigh || !res.Resync || res.State != (seglog.State{Sequence: 1}) {
			t.Fatalf("Ack(1) on an empty log = %+v", res)
		}
		// P = 0: one below S is ancient.
		appendLetters(t, l, 2)
		if res := mustAck(t, l, 0); res.Branch != seglog.AckAncient || !res.Resync ||
			res.State != (seglog.State{Sequence: 0, Next: 2, PendingCount: 2}) {
			t.Fatalf("Ack(0) with S=1, P=0 = %+v", res)
		}
	})
	t.Run("Pending handing out nothing", func(t *testing.T) {
		l, _ := exampleLog(t)
		mustAck(t, l, 10) // everything delivered
		b := mustPending(t, l, 10)
		if len(b.Records) != 0 || b.Sequence != 10 {
			t.Fatalf("Pending with nothing pending = %+v", b)
		}
		appendLetters(t, l, 1) // appended after the Pending: not sent
		if res := mustAck(t, l, 11); res.Branch != seglog.AckTooHigh {
			t.Fatalf("Ack(11) after an empty Pending = %+v, want too high", res)
		}
	})
	t.Run("the largest Pending since the last Ack counts", func(t *testing.T) {
		// A smaller retry after a lost answer: the peer may hold the
		// larger batch (see TestDeliverSmallerRetry).
		l, _ := exampleLog(t)
		mustPending(t, l, 2)
		mustPending(t, l, 1)
		if res := mustAck(t, l, 10); res.Branch != seglog.AckNormal || res.State.Cursor != 10 {
			t.Fatalf("Ack(10) after Pending(2), Pending(1) = %+v, want normal", res)
		}
	})
	t.Run("sent is forgotten by Ack", func(t *testing.T) {
		l, _ := exampleLog(t)
		mustPending(t, l, 1)
		mustAck(t, l, 8) // N=S: no change; sent goes back to the pending count
		if res := mustAck(t, l, 10); res.Branch != seglog.AckNormal {
			t.Fatalf("Ack(10) after Ack(8) = %+v, want normal", res)
		}
	})
	t.Run("sent is forgotten by reopen", func(t *testing.T) {
		l, fsys := exampleLog(t)
		mustPending(t, l, 1)
		l.Close()
		l = openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
		defer l.Close()
		if res := mustAck(t, l, 10); res.Branch != seglog.AckNormal {
			t.Fatalf("Ack(10) after reopen = %+v, want normal", res)
		}
	})
	t.Run("keep the last batch", func(t *testing.T) {
		// Two normal acks in a row: the first batch goes, the second
		// stays for a resend.
		l, _ := exampleLog(t)
		if got := lettersOf(readAllRecords(t, l)); got != "D E F G H I J" {
			t.Fatalf("kept %q", got)
		}
		appendLetters(t, l, 3) // K L M
		mustPending(t, l, 2)
		res := mustAck(t, l, 10) // I J delivered: D..H released, I J kept
		if res.Released != 5 || lettersOf(readAllRecords(t, l)) != "I J K L M" {
			t.Fatalf("after Ack(10): %+v, kept %q", res, lettersOf(readAllRecords(t, l)))
		}
	})
}

func TestReset(t *testing.T) {
	l, fsys := exampleLog(t)
	mustPending(t, l, 1)
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	want := seglog.State{Sequence: 8, Cursor: 10, First: 10, Next: 10}
	if st := l.State(); st != want {
		t.Fatalf("after Reset, State() = %+v, want %+v", st, want)
	}
	if recs := readAllRecords(t, l); len(recs) != 0 {
		t.Fatalf("after Reset, Records yields %v", recs)
	}
	checkReleased(t, l)
	checkPendingSet(t, l, want)
	if b := mustPending(t, l, 10); len(b.Records) != 0 || b.Sequence != 8 {
		t.Fatalf("Pending after Reset = %+v", b)
	}
	// Offsets are not reused; the sequence labels the next record.
	appendLetters(t, l, 1)
	if b := mustPending(t, l, 10); batchLetters(t, b) != "seq 8: K" || b.Records[0].Offset != 10 {
		t.Fatalf("Pending after Reset and Append = %+v", b)
	}
	seglog.WaitReleases(l)
	checkFiles(t, fsys, crashDir, l.FirstOffset())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	defer l.Close()
	if st := l.State(); st != (seglog.State{Sequence: 8, Cursor: 10, First: 10, Next: 11, PendingCount: 1}) {
		t.Fatalf("after reopen, State() = %+v", st)
	}
	if err := l.Reset(); err != nil { // twice in a row
		t.Fatal(err)
	}
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st != (seglog.State{Sequence: 8, Cursor: 11, First: 11, Next: 11}) {
		t.Fatalf("after two Resets, State() = %+v", st)
	}
}

// Reset and Ack release whole segments: with small segments, the files
// before the first kept offset are gone as soon as the call returns.
func TestReleaseRemovesSegments(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, seglog.MinSegmentSize, seglog.SyncAlways))
	defer l.Close()
	data := bytes.Repeat([]byte("x"), 1000)
	for range 100 {
		if _, err := l.Append(data); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := logFiles(t, fsys, crashDir)
	if len(segs) < 5 {
		t.Fatalf("only %d segments for 100 KB", len(segs))
	}
	mustAck(t, l, 50)        // cursor 50, nothing released yet
	res := mustAck(t, l, 90) // releases [0, 50)
	if res.Released != 50 || res.SegmentsRemoved == 0 {
		t.Fatalf("Ack(90) = %+v", res)
	}
	seglog.WaitReleases(l)
	n := checkFiles(t, fsys, crashDir, 50)
	if n != len(segs)-res.SegmentsRemoved {
		t.Fatalf("%d segment files after removing %d of %d", n, res.SegmentsRemoved, len(segs))
	}
	checkReleased(t, l)
	if recs := readAllRecords(t, l); len(recs) != 50 || recs[0].Offset != 50 {
		t.Fatalf("Records after release: %d records from %d", len(recs), recs[0].Offset)
	}
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	seglog.WaitReleases(l)
	if n := checkFiles(t, fsys, crashDir, 100); n != 1 {
		t.Fatalf("%d segment files after Reset, want 1", n)
	}
}

func TestMeta(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	if _, ok := l.Meta("uuid"); ok {
		t.Fatal("Meta on a fresh log found a value")
	}
	if err := l.SetMeta("uuid", []byte("peer-1")); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta("token", []byte{}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta("gone", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta("gone", nil); err != nil { // nil deletes
		t.Fatal(err)
	}
	for _, k := range []string{"", string(make([]byte, 256))} {
		if err := l.SetMeta(k, []byte("v")); err == nil {
			t.Fatalf("SetMeta with a key of %d bytes succeeded", len(k))
		}
	}
	v, _ := l.Meta("uuid")
	v[0] = 'X' // Meta returns a copy
	check := func(l *seglog.Log) {
		t.Helper()
		if keys := l.MetaKeys(); !slices.Equal(keys, []string{"token", "uuid"}) {
			t.Fatalf("MetaKeys() = %q", keys)
		}
		if v, ok := l.Meta("uuid"); !ok || string(v) != "peer-1" {
			t.Fatalf("Meta(uuid) = %q, %v", v, ok)
		}
		if v, ok := l.Meta("token"); !ok || len(v) != 0 {
			t.Fatalf("Meta(token) = %q, %v", v, ok)
		}
		if _, ok := l.Meta("gone"); ok {
			t.Fatal("deleted key still there")
		}
	}
	check(l)
	// SetMeta does not touch the delivery state, and Ack keeps the meta.
	appendLetters(t, l, 3)
	mustAck(t, l, 2)
	check(l)
	l.Close()
	// Durable when SetMeta returns: a crash that keeps only what was
	// synced still has it.
	l = openCrash(t, crashOpts(fsys.Crash(nil, crashfs.CrashLoseUnsynced), 0, seglog.SyncAlways))
	defer l.Close()
	check(l)
	if st := l.State(); st != (seglog.State{Sequence: 2, Cursor: 2, Next: 3, PendingCount: 1}) {
		t.Fatalf("State() = %+v", st)
	}
}

func TestDeliverClosedAndReadOnly(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	appendLetters(t, l, 3)
	if _, err := l.Pending(0); err == nil {
		t.Fatal("Pending(0) succeeded")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Pending(1); !errors.Is(err, seglog.ErrClosed) {
		t.Fatalf("Pending on a closed log: %v", err)
	}
	if _, err := l.Ack(1); !errors.Is(err, seglog.ErrClosed) {
		t.Fatalf("Ack on a closed log: %v", err)
	}
	if err := l.Reset(); !errors.Is(err, seglog.ErrClosed) {
		t.Fatalf("Reset on a closed log: %v", err)
	}
	if err := l.SetMeta("k", nil); !errors.Is(err, seglog.ErrClosed) {
		t.Fatalf("SetMeta on a closed log: %v", err)
	}

	opts := crashOpts(fsys, 0, seglog.SyncAlways)
	opts.ReadOnly = true
	ro := openCrash(t, opts)
	defer ro.Close()
	if _, err := ro.Pending(1); !errors.Is(err, seglog.ErrReadOnly) {
		t.Fatalf("Pending on a read-only log: %v", err)
	}
	if _, err := ro.Ack(1); !errors.Is(err, seglog.ErrReadOnly) {
		t.Fatalf("Ack on a read-only log: %v", err)
	}
	if err := ro.Reset(); !errors.Is(err, seglog.ErrReadOnly) {
		t.Fatalf("Reset on a read-only log: %v", err)
	}
	if err := ro.SetMeta("k", []byte("v")); !errors.Is(err, seglog.ErrReadOnly) {
		t.Fatalf("SetMeta on a read-only log: %v", err)
	}
	if st := ro.State(); st != (seglog.State{Next: 3, PendingCount: 3}) {
		t.Fatalf("read-only State() = %+v", st)
	}
}

// Ack makes what it acknowledges durable before its checkpoint, whatever
// the sync policy: the checkpoint never points past durable records.
func TestAckSyncsUnderSyncNever(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncNever))
	appendLetters(t, l, 5)
	mustAck(t, l, 3)
	l2 := openCrash(t, crashOpts(fsys.Crash(nil, crashfs.CrashLoseUnsynced), 0, seglog.SyncNever))
	defer l2.Close()
	st := l2.State()
	if st.Sequence != 3 || st.Cursor != 3 || st.Next < 3 {
		t.Fatalf("after a crash, State() = %+v, want sequence 3, cursor 3, next >= 3", st)
	}
	for o := uint64(0); o < st.Next; o++ {
		if r, err := l2.Read(o); err != nil || string(r.Data) != letterOf(o) {
			t.Fatalf("Read(%d) = %q, %v", o, r.Data, err)
		}
	}
	l.Close()
}

// A record handed out by Pending may already be at the peer, so it must
// survive a crash whatever the sync policy: were it lost, the next record
// appended would get its offset and its sequence label, and the peer would
// discard it as a duplicate of the one it already has, while acknowledging
// it. The loss would fall on a record appended after the crash, which no
// sync policy allows.
func TestPendingIsDurable(t *testing.T) {
	for _, policy := range []seglog.SyncPolicy{seglog.SyncNever, seglog.SyncInterval} {
		t.Run(policy.String(), func(t *testing.T) {
			fsys := crashfs.New()
			opts := crashOpts(fsys, 0, policy)
			opts.SyncEvery = time.Hour
			l := openCrash(t, opts)
			defer l.Close()
			appendLetters(t, l, 4)
			if got := batchLetters(t, mustPending(t, l, 3)); got != "seq 0: A B C" {
				t.Fatalf("Pending = %q", got)
			}
			opts = crashOpts(fsys.Crash(nil, crashfs.CrashLoseUnsynced), 0, policy)
			l2 := openCrash(t, opts)
			defer l2.Close()
			if next := l2.NextOffset(); next < 3 {
				t.Fatalf("after a crash, next offset %d: records handed out by Pending were lost", next)
			}
			if got := batchLetters(t, mustPending(t, l2, 3)); got != "seq 0: A B C" {
				t.Fatalf("after a crash, Pending = %q", got)
			}
		})
	}
}
