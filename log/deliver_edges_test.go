package log_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"sync/atomic"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// One test per delivery defect found by replaying exchange traces against
// the public API (D1 to D4; D5, the full disk, is in deliver_fulldisk_test.go).

// D1: a smaller retry after a lost answer. What the peer may have is the
// largest batch handed out since the last Ack, not the last one.
func TestDeliverSmallerRetry(t *testing.T) {
	l := openCrash(t, crashOpts(crashfs.New(), 0, seglog.SyncAlways))
	defer l.Close()
	appendLetters(t, l, 5)
	if got := batchLetters(t, mustPending(t, l, 3)); got != "seq 0: A B C" {
		t.Fatalf("first batch %q", got)
	}
	// The answer is lost; the agent retries with a smaller batch, and the
	// peer, which stored A B C, answers 3.
	if got := batchLetters(t, mustPending(t, l, 1)); got != "seq 0: A" {
		t.Fatalf("retry %q", got)
	}
	res := mustAck(t, l, 3)
	if res.Branch != seglog.AckNormal || res.Resync || res.State.Cursor != 3 {
		t.Fatalf("Ack(3) after Pending(3), Pending(1) = %+v, want normal with the cursor on D", res)
	}
	if got := batchLetters(t, mustPending(t, l, 100)); got != "seq 3: D E" {
		t.Fatalf("after the ack: %q, want seq 3: D E (A B C must not be sent again)", got)
	}
	// Over-claims are still caught: 6 is more than any batch handed out.
	if res := mustAck(t, l, 6); res.Branch != seglog.AckTooHigh {
		t.Fatalf("Ack(6) after a batch of 2 = %+v, want too high", res)
	}
}

// D1 across a restart: what the process before may have handed out (as
// much as was pending) still counts after Open, so a smaller first batch
// does not make the answer to a larger one look too high.
func TestDeliverSmallerRetryAfterRestart(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	appendLetters(t, l, 5)
	mustPending(t, l, 3) // the peer stores A B C; the answer is lost
	l.Close()
	l = openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	defer l.Close()
	mustPending(t, l, 1)
	if res := mustAck(t, l, 3); res.Branch != seglog.AckNormal || res.State.Cursor != 3 {
		t.Fatalf("Ack(3) after a restart and Pending(1) = %+v, want normal", res)
	}
}

// D2: after Reset nothing has been handed out, so a late answer to a batch
// from before the Reset cannot pass over a record appended since.
func TestDeliverResetForgetsNothingUnsent(t *testing.T) {
	l := openCrash(t, crashOpts(crashfs.New(), 0, seglog.SyncAlways))
	defer l.Close()
	appendLetters(t, l, 1)
	if got := batchLetters(t, mustPending(t, l, 100)); got != "seq 0: A" {
		t.Fatalf("batch %q", got)
	}
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([]byte("REG")); err != nil {
		t.Fatal(err)
	}
	res := mustAck(t, l, 1) // the peer's late answer to A
	if res.Branch != seglog.AckTooHigh || !res.Resync {
		t.Fatalf("late Ack(1) after Reset = %+v, want too high", res)
	}
	b := mustPending(t, l, 100)
	if len(b.Records) != 1 || string(b.Records[0].Data) != "REG" || b.Sequence != 1 {
		t.Fatalf("after the late answer: %+v, want REG with label 1", b)
	}
}

// D3: answers near the top of uint64 take the branch the rules say, and
// labels never wrap: a batch stops at label 2^64-1, and a log whose
// sequence has reached it refuses to hand anything out.
func TestDeliverNearMaxUint64(t *testing.T) {
	const max = math.MaxUint64
	l := openCrash(t, crashOpts(crashfs.New(), 0, seglog.SyncAlways))
	defer l.Close()
	appendLetters(t, l, 10)
	if res := mustAck(t, l, max-3); res.Branch != seglog.AckTooHigh || res.State.Sequence != max-3 {
		t.Fatalf("Ack(max-3) = %+v", res)
	}
	b := mustPending(t, l, 10)
	if got := batchLetters(t, b); got != "seq 18446744073709551612: A B C" || b.Next() != max {
		t.Fatalf("Pending(10) at S=max-3: %q, next label %d; want A B C up to label max", got, b.Next())
	}
	if res := mustAck(t, l, max); res.Branch != seglog.AckNormal || res.State.Cursor != 3 || res.State.First != 0 {
		t.Fatalf("Ack(max) = %+v, want normal, cursor 3", res)
	}
	// S = max, P = 3: max-1 is inside the kept window.
	res := mustAck(t, l, max-1)
	if res.Branch != seglog.AckRewind || res.Resync || res.State.Cursor != 2 || res.State.Sequence != max-1 {
		t.Fatalf("Ack(max-1) with S=max, P=3 = %+v, want rewind to cursor 2", res)
	}
	// S = max-1, P = 2: max-3 is exactly at the bottom of the window,
	// max-4 just below it.
	if res := mustAck(t, l, max-3); res.Branch != seglog.AckRewind || res.State.Cursor != 0 {
		t.Fatalf("Ack(max-3) with S=max-1, P=2 = %+v, want rewind to cursor 0", res)
	}
	// S = max-3, cursor 0, first 0.
	b = mustPending(t, l, 10)
	if got := batchLetters(t, b); got != "seq 18446744073709551612: A B C" || b.Next() != max {
		t.Fatalf("Pending at S=max-3: %q", got)
	}
	if res := mustAck(t, l, max); res.Branch != seglog.AckNormal || res.State.Cursor != 3 {
		t.Fatalf("Ack(max) = %+v", res)
	}
	if _, err := l.Pending(10); !errors.Is(err, seglog.ErrSequenceOverflow) {
		t.Fatalf("Pending at S=max with records pending: %v, want ErrSequenceOverflow", err)
	}
	if res := mustAck(t, l, max-4); res.Branch != seglog.AckAncient || res.State.Cursor != 0 {
		t.Fatalf("Ack(max-4) with S=max, P=3 = %+v, want ancient", res)
	}
	// An answer the peer chooses low again makes room.
	mustAck(t, l, 5) // ancient: the cursor stays on the first record
	if b := mustPending(t, l, 3); b.Sequence != 5 || len(b.Records) != 3 {
		t.Fatalf("after a low answer: %+v", b)
	}
}

// flipInRecord flips one byte inside the payload of the record whose data
// is want, in the segment files of the closed log in dir.
func flipInRecord(t testing.TB, fsys *crashfs.FS, want []byte) {
	t.Helper()
	segs, _ := logFiles(t, fsys, crashDir)
	for _, base := range segs {
		name := crashDir + "/" + segment.FileName(base)
		b, err := fsys.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, want); i >= 0 {
			b[i+len(want)/2] ^= 0x40
			if err := fsys.WriteFile(name, b); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no segment holds %q", want)
}

// D4: one damaged frame in the middle of the pending range. Pending hands
// out every good record and the damaged one as a gap in its place, never
// failing; the labels stay dense, the Ack takes the normal branch, and a
// peer that answers past the gap is never rewound onto it.
func TestDeliverDamagedFrameIsAGap(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	data := make([][]byte, 40)
	for i := range data {
		data[i] = tracedPayload(uint64(i), 1024)
		if _, err := l.Append(data[i]); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	flipInRecord(t, fsys, data[5][16:200])
	verifyExpectDamage(t, crashDir)
	l = openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	defer l.Close()

	b, err := l.Pending(100)
	if err != nil {
		t.Fatalf("Pending over a damaged frame: %v", err)
	}
	if len(b.Records) != 39 || len(b.Gaps) != 1 || b.Len() != 40 || b.Next() != 40 {
		t.Fatalf("batch: %d records, gaps %+v, len %d", len(b.Records), b.Gaps, b.Len())
	}
	g := b.Gaps[0]
	if g.Offset != 5 || g.Count != 1 || g.Label != 5 || g.Reason != seglog.GapDamaged || g.Detail == "" {
		t.Fatalf("gap %+v, want offset 5, count 1, label 5, damaged", g)
	}
	label := uint64(0)
	for e := range b.Entries() {
		if e.Label != label {
			t.Fatalf("entry label %d, want %d", e.Label, label)
		}
		if e.Record != nil && !bytes.Equal(e.Record.Data, data[e.Record.Offset]) {
			t.Fatalf("record %d differs", e.Record.Offset)
		}
		if e.Gap != nil {
			label += e.Gap.Count
		} else {
			label++
		}
	}
	// A second Pending (a retry) hands the same gap out again, but it is
	// counted once.
	if b2 := mustPending(t, l, 100); len(b2.Gaps) != 1 || b2.Gaps[0] != g {
		t.Fatalf("retry: gaps %+v", b2.Gaps)
	}
	if st := l.State(); st.Gaps != 1 || st.GapOffsets != 1 {
		t.Fatalf("state counts %d gaps over %d offsets, want 1 over 1", st.Gaps, st.GapOffsets)
	}
	if res := mustAck(t, l, 40); res.Branch != seglog.AckNormal || res.State.Cursor != 40 {
		t.Fatalf("Ack(40) = %+v", res)
	}
	// The peer answers from inside the window: the rewind lands on
	// records, and the gap is handed out again in its place.
	res := mustAck(t, l, 3)
	if res.Branch != seglog.AckRewind || res.State.Cursor != 3 {
		t.Fatalf("Ack(3) = %+v, want rewind to 3", res)
	}
	b = mustPending(t, l, 4)
	if len(b.Records) != 3 || len(b.Gaps) != 1 || b.Gaps[0].Label != 5 || b.Next() != 7 {
		t.Fatalf("after the rewind: %+v", b)
	}
	// Records sees the damage as an error naming the range.
	var ge *seglog.GapError
	for _, err := range l.Records(0) {
		if err != nil && !errors.As(err, &ge) {
			t.Fatalf("Records: %v, want a GapError", err)
		}
	}
	if ge == nil || ge.Gap.Offset != 5 || ge.Gap.Count != 1 || !errors.Is(ge, seglog.ErrCorrupt) {
		t.Fatalf("Records reported %v", ge)
	}
}

// D4 on a log whose damaged record is the first pending one, alone in its
// batch, and in a sealed segment: Pending(1) hands out the gap alone.
func TestDeliverGapAlone(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, seglog.MinSegmentSize, seglog.SyncAlways))
	data := make([][]byte, 200)
	for i := range data {
		data[i] = tracedPayload(uint64(i), 1024)
		if _, err := l.Append(data[i]); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	flipInRecord(t, fsys, data[0][16:200])
	flipInRecord(t, fsys, data[1][16:200])
	verifyExpectDamage(t, crashDir)
	l = openCrash(t, crashOpts(fsys, seglog.MinSegmentSize, seglog.SyncAlways))
	defer l.Close()
	b := mustPending(t, l, 1)
	if len(b.Records) != 0 || len(b.Gaps) != 1 || b.Gaps[0].Offset != 0 || b.Gaps[0].Count != 2 {
		t.Fatalf("Pending(1) = %+v, want one gap over offsets 0 and 1", b)
	}
	mustAck(t, l, b.Next())
	b = mustPending(t, l, 1000)
	if len(b.Gaps) != 0 || len(b.Records) != 198 || b.Sequence != 2 {
		t.Fatalf("after the gap: %d records, gaps %+v, seq %d", len(b.Records), b.Gaps, b.Sequence)
	}
}

// countHandler counts the log lines whose message is msg.
type countHandler struct {
	msg string
	n   *atomic.Int64
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// A gap is reported through the Logger once per occurrence: not again when
// a retry or a rewind hands it out again; a second damaged frame is a
// second report.
func TestDeliverGapReportedOnce(t *testing.T) {
	fsys := crashfs.New()
	data := make([][]byte, 30)
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	for i := range data {
		data[i] = tracedPayload(uint64(i), 300)
		if _, err := l.Append(data[i]); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	flipInRecord(t, fsys, data[4][16:200])
	flipInRecord(t, fsys, data[20][16:200])
	verifyExpectDamage(t, crashDir)
	var n atomic.Int64
	opts := crashOpts(fsys, 0, seglog.SyncAlways)
	opts.Logger = slog.New(countHandler{msg: "seglog: records cannot be delivered; handed out as a gap", n: &n})
	l = openCrash(t, opts)
	defer l.Close()
	for range 3 {
		mustPending(t, l, 10) // the first gap, three times
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("%d reports after handing out one gap three times, want 1", got)
	}
	mustAck(t, l, 10)
	mustAck(t, l, 2) // rewind onto the gap
	mustPending(t, l, 100)
	if got, st := n.Load(), l.State(); got != 2 || st.Gaps != 2 || st.GapOffsets != 2 {
		t.Fatalf("%d reports, state %+v; want 2 reports of 2 gaps over 2 offsets", got, st)
	}
}

// A gap near the top of uint64 takes its labels like records: a batch
// stops at label 2^64-1.
func TestDeliverGapNearMaxUint64(t *testing.T) {
	const max = math.MaxUint64
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	data := make([][]byte, 3)
	for i := range data {
		data[i] = tracedPayload(uint64(i), 300)
		if _, err := l.Append(data[i]); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	flipInRecord(t, fsys, data[1][16:200])
	verifyExpectDamage(t, crashDir)
	l = openCrash(t, crashOpts(fsys, 0, seglog.SyncAlways))
	defer l.Close()
	mustAck(t, l, max-2) // too high: S = max-2
	b := mustPending(t, l, 10)
	if len(b.Records) != 1 || len(b.Gaps) != 1 || b.Gaps[0].Label != max-1 || b.Gaps[0].Count != 1 || b.Next() != max {
		t.Fatalf("Pending at S=max-2: %+v", b)
	}
	if res := mustAck(t, l, max); res.Branch != seglog.AckNormal || res.State.Cursor != 2 {
		t.Fatalf("Ack(max) = %+v", res)
	}
	if _, err := l.Pending(10); !errors.Is(err, seglog.ErrSequenceOverflow) {
		t.Fatalf("Pending at S=max: %v", err)
	}
}
