package log

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/seglog/seglog/checkpoint"
)

// applyAck is the whole of the protocol's arithmetic. These tests check
// it exhaustively on small states, against the rules as docs/protocol.md
// states them, and check the invariants the rest of the log relies on.

// ruleOf is the protocol as a tiny independent spec, in terms of the
// labels the log holds rather than of applyAck's comparisons, and in exact
// arithmetic (math/big), so that it cannot wrap where applyAck might: the
// kept window holds labels [s-p, s), the batches handed out since the last
// Ack labels [s, s+sent). An answer n acknowledges the labels below it:
//   - n in (s, s+sent]: normal;
//   - n past s+sent: too high (more than was handed out);
//   - n in [s-p, s]: rewind (still kept);
//   - n below s-p: ancient (no longer kept).
func ruleOf(s, p, sent, n uint64) AckBranch {
	b := func(x uint64) *big.Int { return new(big.Int).SetUint64(x) }
	N, S := b(n), b(s)
	sentEnd := new(big.Int).Add(S, b(sent))
	keptStart := new(big.Int).Sub(S, b(p))
	switch {
	case N.Cmp(S) > 0 && N.Cmp(sentEnd) <= 0:
		return AckNormal
	case N.Cmp(sentEnd) > 0:
		return AckTooHigh
	case N.Cmp(keptStart) >= 0:
		return AckRewind
	}
	return AckAncient
}

// checkApply checks one application of applyAck.
func checkApply(t *testing.T, old checkpoint.State, n, sent uint64) {
	t.Helper()
	st, branch := applyAck(old, n, sent)
	s, p := old.Sequence, old.Cursor-old.First
	if want := ruleOf(s, p, sent, n); branch != want {
		t.Fatalf("applyAck(%+v, N=%d, sent=%d) took %v, want %v", old, n, sent, branch, want)
	}
	if st.Sequence != n {
		t.Fatalf("%v: sequence %d, want N=%d", branch, st.Sequence, n)
	}
	if st.First < old.First || st.First > st.Cursor {
		t.Fatalf("%v: first %d, cursor %d from first %d", branch, st.First, st.Cursor, old.First)
	}
	var wantFirst, wantCursor uint64
	switch branch {
	case AckTooHigh:
		// Everything before the cursor goes; the cursor stays on the
		// oldest unacknowledged record, which now carries label N.
		wantFirst, wantCursor = old.Cursor, old.Cursor
	case AckNormal:
		// The batch acknowledged the time before goes; the cursor moves
		// on by N-S, never past what was sent.
		wantFirst, wantCursor = old.Cursor, old.Cursor+(n-s)
		if n-s > sent {
			t.Fatalf("normal ack of %d records, %d sent", n-s, sent)
		}
	case AckAncient:
		wantFirst, wantCursor = old.First, old.First
	case AckRewind:
		// Back inside the kept window: the record at the new cursor
		// carried label N under the old labelling (S at the cursor).
		wantFirst, wantCursor = old.First, old.Cursor-(s-n)
	}
	if st.First != wantFirst || st.Cursor != wantCursor {
		t.Fatalf("applyAck(%+v, N=%d, sent=%d) = %v first %d cursor %d, want first %d cursor %d",
			old, n, sent, branch, st.First, st.Cursor, wantFirst, wantCursor)
	}
	// The oldest kept record's label, S-P, never goes below zero.
	if st.Cursor-st.First > st.Sequence {
		t.Fatalf("%v: P=%d above S=%d", branch, st.Cursor-st.First, st.Sequence)
	}
	if len(st.Meta) != len(old.Meta) {
		t.Fatalf("%v: metadata changed", branch)
	}
}

func TestApplyAckExhaustive(t *testing.T) {
	meta := map[string][]byte{"uuid": []byte("peer")}
	counts := map[AckBranch]int{}
	for first := uint64(0); first <= 3; first += 3 {
		for p := uint64(0); p <= 5; p++ {
			for s := p; s <= p+6; s++ { // S >= P: the oldest kept label is >= 0
				for sent := uint64(0); sent <= 6; sent++ {
					for n := uint64(0); n <= s+sent+3; n++ {
						old := checkpoint.State{Sequence: s, Cursor: first + p, First: first, Meta: meta}
						checkApply(t, old, n, sent)
						_, b := applyAck(old, n, sent)
						counts[b]++
					}
				}
			}
		}
	}
	for _, b := range []AckBranch{AckNormal, AckRewind, AckTooHigh, AckAncient} {
		if counts[b] == 0 {
			t.Errorf("branch %v never taken", b)
		}
	}
}

// The boundaries of each branch, with the worked example's state: S=8,
// P=5 (first 3, cursor 8), and 2 sent.
func TestApplyAckBoundaries(t *testing.T) {
	old := checkpoint.State{Sequence: 8, Cursor: 8, First: 3}
	for _, c := range []struct {
		n      uint64
		branch AckBranch
		cursor uint64
		first  uint64
	}{
		{2, AckAncient, 3, 3},  // S-P-1
		{3, AckRewind, 3, 3},   // S-P: back to the first kept record, not ancient
		{7, AckRewind, 7, 3},   // S-1
		{8, AckRewind, 8, 3},   // S: no change
		{9, AckNormal, 9, 8},   // S+1
		{10, AckNormal, 10, 8}, // S+sent
		{11, AckTooHigh, 8, 8}, // S+sent+1
		{math.MaxUint64, AckTooHigh, 8, 8},
	} {
		st, b := applyAck(old, c.n, 2)
		if b != c.branch || st.Cursor != c.cursor || st.First != c.first || st.Sequence != c.n {
			t.Errorf("applyAck(S=8 P=5, N=%d, sent=2) = %v %+v, want %v cursor %d first %d",
				c.n, b, st, c.branch, c.cursor, c.first)
		}
	}
}

// Large values, up to the very top of uint64: no comparison wraps. Pending
// never hands out a label past 2^64-2, so s+sent <= 2^64-1.
func TestApplyAckLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	near := func(top uint64) uint64 { return top - rng.Uint64N(1<<10) }
	counts := map[AckBranch]int{}
	for range 50000 {
		var s uint64
		switch rng.IntN(3) {
		case 0:
			s = near(math.MaxUint64)
		case 1:
			s = near(math.MaxUint64/2 + 1<<10)
		default:
			s = rng.Uint64()
		}
		p := rng.Uint64N(min(s, 1<<20) + 1)
		if rng.IntN(8) == 0 {
			p = s // the whole label space below s is kept
		}
		sent := rng.Uint64N(min(math.MaxUint64-s, 1<<20) + 1)
		var n uint64
		switch rng.IntN(5) {
		case 0:
			n = rng.Uint64()
		case 1:
			n = s - p + rng.Uint64N(p/2+1) // rewind window
		case 2:
			n = s + rng.Uint64N(sent+1) // normal, or N=S
		case 3:
			n = near(math.MaxUint64) // answers at the top
		default:
			n = s - min(s, p+1+rng.Uint64N(3)) // just below the window
		}
		var first uint64 // offsets stay below 2^64 too
		if room := math.MaxUint64 - p - sent; room > 0 {
			first = rng.Uint64N(room)
		}
		old := checkpoint.State{Sequence: s, Cursor: first + p, First: first}
		checkApply(t, old, n, sent)
		_, b := applyAck(old, n, sent)
		counts[b]++
	}
	for _, b := range []AckBranch{AckNormal, AckRewind, AckTooHigh, AckAncient} {
		if counts[b] == 0 {
			t.Errorf("branch %v never taken", b)
		}
	}
	// Exactly at the boundary: S = 2^64-1, P = 3, first 0, cursor 3.
	const max = math.MaxUint64
	old := checkpoint.State{Sequence: max, Cursor: 3, First: 0}
	for _, c := range []struct {
		n      uint64
		branch AckBranch
		cursor uint64
	}{
		{max, AckRewind, 3},
		{max - 1, AckRewind, 2},
		{max - 3, AckRewind, 0},
		{max - 4, AckAncient, 0},
		{0, AckAncient, 0},
	} {
		st, b := applyAck(old, c.n, 0)
		if b != c.branch || st.Cursor != c.cursor {
			t.Errorf("applyAck(S=max P=3, N=%d) = %v cursor %d, want %v cursor %d", c.n, b, st.Cursor, c.branch, c.cursor)
		}
	}
}

func TestAckBranchString(t *testing.T) {
	for b, want := range map[AckBranch]string{AckNormal: "normal", AckRewind: "rewind", AckTooHigh: "too-high", AckAncient: "ancient"} {
		if b.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(b), b.String(), want)
		}
	}
	if got := AckBranch(7).String(); got != "AckBranch(7)" {
		t.Errorf("AckBranch(7).String() = %q", got)
	}
}
