package log_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// The delivery contract of docs/protocol.md ("What is guaranteed, and what
// a server must do"), one test per statement, against refServer, a
// reference server that follows the server rules (or, where a test says
// so, breaks one of them).

// refServer is a reference server. It keeps the label it expects next and
// what it stored, in order: the offset of each record (decoded from the
// payload, which the tests make from the offset with tracedPayload), or -1
// for each offset a gap notice covered.
type refServer struct {
	// noDedupe breaks rule 2 and 3: the server stores every entry it gets
	// from the label it expects or below, as if new.
	noDedupe bool
	expect   uint64
	stored   []int64
	// labels[i] is the label stored[i] arrived with.
	labels []uint64
}

// receive applies the server rules to a batch and returns the answer:
//  1. a batch that starts past the expected label stores nothing (the
//     answer, the label expected, makes the agent go back);
//  2. entries labelled below the expected label are duplicates: skipped;
//  3. the entry at the expected label is stored (a gap as "missing"), and
//     the expected label moves past it;
//  4. the answer is the label expected after the batch, given once what it
//     covers is stored.
func (s *refServer) receive(b seglog.Batch) uint64 {
	if s.noDedupe {
		for e := range b.Entries() {
			if e.Record != nil {
				s.stored = append(s.stored, int64(binary.LittleEndian.Uint64(e.Record.Data)))
				s.labels = append(s.labels, e.Label)
			}
		}
		s.expect = b.Next()
		return s.expect
	}
	if b.Sequence > s.expect {
		return s.expect
	}
	for e := range b.Entries() {
		if e.Record != nil {
			if e.Label == s.expect {
				s.stored = append(s.stored, int64(binary.LittleEndian.Uint64(e.Record.Data)))
				s.labels = append(s.labels, e.Label)
				s.expect++
			}
			continue
		}
		for i := range e.Gap.Count {
			if e.Label+i == s.expect {
				s.stored = append(s.stored, -1)
				s.labels = append(s.labels, e.Label+i)
				s.expect++
			}
		}
	}
	return s.expect
}

// snapshot and restore model a server that loses what it stored after a
// point (restored from a backup).
func (s *refServer) snapshot() refServer {
	return refServer{expect: s.expect, stored: slices.Clone(s.stored), labels: slices.Clone(s.labels)}
}

// ctAgent is an agent: a log, and the records it appended.
type ctAgent struct {
	t    *testing.T
	fsys *crashfs.FS
	l    *seglog.Log
	next uint64
}

func newCtAgent(t *testing.T) *ctAgent {
	fsys := crashfs.New()
	a := &ctAgent{t: t, fsys: fsys, l: openCrash(t, crashOpts(fsys, seglog.MinSegmentSize, seglog.SyncAlways))}
	t.Cleanup(func() { a.l.Close() })
	return a
}

func (a *ctAgent) append(n int) {
	a.t.Helper()
	for range n {
		if _, err := a.l.Append(tracedPayload(a.next, 200)); err != nil {
			a.t.Fatal(err)
		}
		a.next++
	}
}

// exchange sends one batch of up to max entries to srv and applies the
// answer, unless lost.
func (a *ctAgent) exchange(srv *refServer, max int, lost bool) seglog.AckResult {
	a.t.Helper()
	b := mustPending(a.t, a.l, max)
	n := srv.receive(b)
	if lost {
		return seglog.AckResult{}
	}
	return mustAck(a.t, a.l, n)
}

// drain exchanges until nothing is pending and the last batch is
// acknowledged.
func (a *ctAgent) drain(srv *refServer) (resyncs int) {
	a.t.Helper()
	for i := 0; ; i++ {
		if i > 10000 {
			a.t.Fatal("delivery never ends")
		}
		st := a.l.State()
		res := a.exchange(srv, 7, false)
		if res.Resync {
			resyncs++
		}
		if st.PendingCount == 0 && res.State.PendingCount == 0 {
			return resyncs
		}
	}
}

// ctCheck checks what srv stored: each offset of want once, in order, and
// nothing else (-1 for an offset delivered as a gap).
func ctCheck(t *testing.T, srv *refServer, want []int64) {
	t.Helper()
	if slices.Equal(srv.stored, want) {
		return
	}
	i := 0
	for i < len(srv.stored) && i < len(want) && srv.stored[i] == want[i] {
		i++
	}
	t.Fatalf("server stored %d entries, want %d; they differ from entry %d: got %v, want %v",
		len(srv.stored), len(want), i, srv.stored[i:min(i+10, len(srv.stored))], want[i:min(i+10, len(want))])
}

func ctRange(from, to int64) []int64 {
	var r []int64
	for o := from; o < to; o++ {
		r = append(r, o)
	}
	return r
}

// Statement: with a server that follows the rules, every record appended
// reaches it exactly once and in order, whatever answers are lost, however
// the batch size varies, and across crashes of the agent.
func TestContractExactlyOnce(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	a := newCtAgent(t)
	srv := &refServer{}
	for step := range 3000 {
		switch x := rng.IntN(100); {
		case x < 40:
			a.append(1 + rng.IntN(4))
		case x < 95:
			a.exchange(srv, 1+rng.IntN(12), rng.IntN(4) == 0)
		default:
			// The agent's machine crashes (SyncAlways: every append that
			// returned, and every Ack, is durable).
			a.l.Close()
			a.fsys = a.fsys.Crash(rng, crashfs.CrashLoseUnsynced)
			a.l = openCrash(t, crashOpts(a.fsys, seglog.MinSegmentSize, seglog.SyncAlways))
			if got := a.l.NextOffset(); got != a.next {
				t.Fatalf("step %d: next %d after a crash, want %d", step, got, a.next)
			}
		}
	}
	if resyncs := a.drain(srv); resyncs != 0 {
		t.Fatalf("%d resyncs with a server that follows the rules", resyncs)
	}
	ctCheck(t, srv, ctRange(0, int64(a.next)))
}

// Statement: a damaged record reaches the server as a gap notice for its
// label, once; the server answers past it; every other record arrives
// exactly once and in order.
func TestContractGap(t *testing.T) {
	a := newCtAgent(t)
	a.append(20)
	a.l.Close()
	flipInRecord(t, a.fsys, tracedPayload(7, 200)[16:100])
	a.l = openCrash(t, crashOpts(a.fsys, seglog.MinSegmentSize, seglog.SyncAlways))
	srv := &refServer{}
	a.exchange(srv, 5, true) // answers lost: the gap is handed out again, and skipped as a duplicate
	a.exchange(srv, 9, false)
	a.drain(srv)
	want := ctRange(0, 20)
	want[7] = -1
	ctCheck(t, srv, want)
}

// Statement (rewind): a server that loses what it stored, back to a point
// inside the kept window (the batch acknowledged last), gets it again under
// the same labels: nothing lost, nothing duplicated.
func TestContractRewind(t *testing.T) {
	a := newCtAgent(t)
	a.append(30)
	srv := &refServer{}
	a.exchange(srv, 10, false)
	backup := srv.snapshot()
	a.exchange(srv, 10, false) // labels 10..19, acknowledged, kept
	*srv = backup              // the server loses them
	res := a.exchange(srv, 10, false)
	if res.Branch != seglog.AckRewind || res.Resync {
		t.Fatalf("answer after the server's loss: %+v, want rewind", res)
	}
	a.drain(srv)
	ctCheck(t, srv, ctRange(0, 30))
}

// Statement (rewind, server wrong): an answer inside the kept window but
// below what the server has (a stale one) makes the agent resend from it
// under the same labels: a server that skips duplicates by label stores
// nothing twice; one that does not stores the resent records twice.
func TestContractRewindDuplicates(t *testing.T) {
	for _, dedupe := range []bool{true, false} {
		a := newCtAgent(t)
		a.append(30)
		srv := &refServer{noDedupe: !dedupe}
		a.exchange(srv, 10, false)
		a.exchange(srv, 10, false) // has 0..19, kept 10..19
		if res := mustAck(t, a.l, 15); res.Branch != seglog.AckRewind || res.Resync {
			t.Fatalf("stale Ack(15) = %+v, want rewind", res)
		}
		a.drain(srv)
		want := ctRange(0, 30)
		if !dedupe {
			want = append(ctRange(0, 20), ctRange(15, 30)...) // 15..19 twice
		}
		ctCheck(t, srv, want)
	}
}

// Statement (ancient): a server that loses more than the kept window makes
// the agent send from its oldest kept record, relabelled, and Resync: the
// records released in between are lost to it, and nothing is duplicated.
func TestContractAncient(t *testing.T) {
	a := newCtAgent(t)
	a.append(40)
	srv := &refServer{}
	a.exchange(srv, 10, false)
	backup := srv.snapshot() // has 0..9
	a.exchange(srv, 10, false)
	a.exchange(srv, 10, false) // releases 10..19; kept 20..29
	*srv = backup
	res := a.exchange(srv, 10, false)
	if res.Branch != seglog.AckAncient || !res.Resync || res.State.Cursor != 20 {
		t.Fatalf("answer after the server lost more than the window: %+v, want ancient to 20", res)
	}
	a.drain(srv)
	ctCheck(t, srv, append(ctRange(0, 10), ctRange(20, 40)...)) // 10..19 lost
}

// Statement (too high): an answer above what was handed out releases what
// was acknowledged before, moves the cursor past nothing, and makes the
// agent Resync: nothing is lost. The records from the cursor go out again
// under new labels; a server that follows rule 1 answers the label it
// expects, and delivery goes on. The batch the server had when it answered
// wrongly is stored twice: the wrong answer threw away what it acknowledged.
func TestContractTooHigh(t *testing.T) {
	a := newCtAgent(t)
	a.append(30)
	srv := &refServer{}
	a.exchange(srv, 10, false)
	b := mustPending(t, a.l, 5) // labels 10..14
	srv.receive(b)              // stored; the server answers wrongly:
	res := mustAck(t, a.l, 1000)
	if res.Branch != seglog.AckTooHigh || !res.Resync || res.State.Cursor != 10 {
		t.Fatalf("Ack(1000) = %+v, want too high with the cursor on 10", res)
	}
	// The batch now starts at label 1000, past what the server expects
	// (15): it stores nothing and answers 15; the agent goes back.
	if res := a.exchange(srv, 10, false); res.Branch != seglog.AckAncient || res.State.Sequence != 15 || res.State.Cursor != 10 {
		t.Fatalf("answer to a batch past the expected label: %+v", res)
	}
	a.drain(srv)
	want := append(ctRange(0, 15), ctRange(10, 30)...) // 10..14 twice, nothing lost
	ctCheck(t, srv, want)
}

// Statement (a wrong answer below the kept window): an answer the server
// took from stale state, lower than what it has, takes the ancient branch
// and relabels the kept records below the labels the server already holds.
// A server that dedupes by label then skips records it never had: the
// records from the cursor are lost. Rule 4 (answer the label expected now,
// never a remembered one) is what prevents it.
func TestContractStaleAnswerLoses(t *testing.T) {
	a := newCtAgent(t)
	a.append(30)
	srv := &refServer{}
	a.exchange(srv, 10, false)
	a.exchange(srv, 10, false) // has 0..19; kept 10..19; cursor 20
	res := mustAck(t, a.l, 3)  // stale: far below the window
	if res.Branch != seglog.AckAncient || !res.Resync || res.State.Cursor != 10 {
		t.Fatalf("Ack(3) = %+v, want ancient", res)
	}
	// One batch of everything: 10..19 go out as labels 3..12, 20..29 as
	// 13..22. Below 20, the server skips them as duplicates, stores 27..29
	// (labels 20..22) and answers 23, which the agent takes as the whole
	// batch delivered: 20..26 are acknowledged unseen.
	if res := a.exchange(srv, 100, false); res.Branch != seglog.AckNormal {
		t.Fatalf("answer to the relabelled batch: %+v", res)
	}
	a.drain(srv)
	got := map[int64]bool{}
	for _, o := range srv.stored {
		got[o] = true
	}
	var lost []int64
	for o := range int64(30) {
		if !got[o] {
			lost = append(lost, o)
		}
	}
	if fmt.Sprint(lost) != fmt.Sprint(ctRange(20, 27)) {
		t.Fatalf("lost %v, want 20..26 (the hazard the rules prevent)", lost)
	}
}
