package log_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// hdAppend appends records tagged "<type>" whose data is "<type><n>", for
// each of the types in order, and returns their data.
func hdAppend(t testing.TB, l *seglog.Log, n *int, types ...string) []string {
	t.Helper()
	var out []string
	for _, typ := range types {
		d := fmt.Sprintf("%s%d", typ, *n)
		*n++
		if _, err := l.AppendTyped(typ, []byte(d)); err != nil {
			t.Fatalf("AppendTyped: %v", err)
		}
		out = append(out, d)
	}
	return out
}

// hdBatch describes a batch as its records' data, checking that its labels
// are dense from its sequence.
func hdBatch(t testing.TB, b seglog.Batch) string {
	t.Helper()
	var parts []string
	label := b.Sequence
	for e := range b.Entries() {
		if e.Label != label {
			t.Fatalf("entry label %d, want %d", e.Label, label)
		}
		if e.Gap != nil {
			parts = append(parts, fmt.Sprintf("gap(%d)", e.Gap.Count))
			label += e.Gap.Count
			continue
		}
		parts = append(parts, string(e.Record.Data))
		label++
	}
	return strings.Join(parts, " ")
}

func hdHeld(t testing.TB, l *seglog.Log) string {
	t.Helper()
	var parts []string
	for r, err := range l.HeldRecords() {
		if err != nil {
			t.Fatalf("HeldRecords: %v", err)
		}
		parts = append(parts, string(r.Data))
	}
	return strings.Join(parts, " ")
}

// A record of a type the peer does not accept is held: Pending skips it,
// it takes no label, and it is counted; when its type is accepted again it
// goes to the end of the queue, in its original order, and survives a
// restart either way.
func TestHeldTypes(t *testing.T) {
	fsys := crashfs.New()
	opts := crashOpts(fsys, seglog.MinSegmentSize, seglog.SyncAlways)
	l := openCrash(t, opts)
	defer func() { l.Close() }()
	if got := l.AcceptedTypes(); got != nil {
		t.Fatalf("AcceptedTypes of a new log = %q, want nil", got)
	}
	n := 0
	hdAppend(t, l, &n, "a", "b", "a", "b")
	if b := mustPending(t, l, 1); hdBatch(t, b) != "a0" {
		t.Fatalf("before any accepted set: %s", hdBatch(t, b))
	}
	if err := l.SetAcceptedTypes([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	// a0 was handed out: it keeps its label. b1 is now held.
	b := mustPending(t, l, 10)
	if got := hdBatch(t, b); got != "a0 a2" || b.Sequence != 0 {
		t.Fatalf("batch = %q seq %d, want a0 a2 from 0", got, b.Sequence)
	}
	st := l.State()
	if st.Held != 2 || st.PendingCount != 2 || !maps.Equal(l.HeldCounts(), map[string]uint64{"b": 2}) {
		t.Fatalf("state %+v, held counts %v", st, l.HeldCounts())
	}
	if res := mustAck(t, l, 2); res.Branch != seglog.AckNormal {
		t.Fatalf("Ack(2): %v", res.Branch)
	}
	if st := l.State(); st.PendingCount != 0 || st.Cursor != 4 {
		t.Fatalf("after the ack: %+v", st)
	}
	hdAppend(t, l, &n, "a", "b", "a")
	if got := hdBatch(t, mustPending(t, l, 10)); got != "a4 a6" {
		t.Fatalf("batch = %q", got)
	}
	mustAck(t, l, 4)
	// A rewind of one label goes back to a6, over nothing held.
	if res := mustAck(t, l, 3); res.Branch != seglog.AckRewind {
		t.Fatalf("Ack(3): %v", res.Branch)
	}
	if b := mustPending(t, l, 10); hdBatch(t, b) != "a6" || b.Sequence != 3 {
		t.Fatalf("after the rewind: %q seq %d", hdBatch(t, b), b.Sequence)
	}
	mustAck(t, l, 4)
	if got := hdHeld(t, l); got != "b1 b3 b5" {
		t.Fatalf("held records %q", got)
	}

	// Restart: the accepted set and the held records are durable.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openCrash(t, opts)
	if got := l.AcceptedTypes(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("AcceptedTypes after reopen = %q", got)
	}
	if st := l.State(); st.Held != 3 || st.PendingCount != 0 {
		t.Fatalf("after reopen: %+v", st)
	}
	hdAppend(t, l, &n, "a")
	if err := l.SetAcceptedTypes([]string{"b", "a", "a"}); err != nil {
		t.Fatal(err)
	}
	if got := l.AcceptedTypes(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("AcceptedTypes = %q", got)
	}
	if st := l.State(); st.Held != 0 || st.PendingCount != 4 || len(l.HeldCounts()) != 0 {
		t.Fatalf("after accepting b: %+v %v", st, l.HeldCounts())
	}
	b = mustPending(t, l, 10)
	if got := hdBatch(t, b); got != "a7 b1 b3 b5" || b.Sequence != 4 {
		t.Fatalf("batch = %q seq %d, want a7 b1 b3 b5 from 4", got, b.Sequence)
	}
	mustAck(t, l, b.Next())

	// An empty set accepts nothing.
	if err := l.SetAcceptedTypes(nil); err != nil {
		t.Fatal(err)
	}
	hdAppend(t, l, &n, "a", "")
	if b := mustPending(t, l, 10); !b.Empty() {
		t.Fatalf("nothing accepted, batch %q", hdBatch(t, b))
	}
	if got := l.AcceptedTypes(); got == nil || len(got) != 0 {
		t.Fatalf("AcceptedTypes = %#v, want empty", got)
	}
	if !maps.Equal(l.HeldCounts(), map[string]uint64{"a": 1, "": 1}) {
		t.Fatalf("held counts %v", l.HeldCounts())
	}
}

// Held records do not pin segments: once acknowledged records around them
// are released, the segments go while the records stay held.
func TestHeldReleasesSegments(t *testing.T) {
	fsys := crashfs.New()
	opts := crashOpts(fsys, seglog.MinSegmentSize, seglog.SyncAlways)
	l := openCrash(t, opts)
	defer l.Close()
	if err := l.SetAcceptedTypes([]string{"send"}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 1000)
	var want []string
	for i := range 200 {
		typ := "send"
		if i%3 == 0 {
			typ = "keep"
			want = append(want, fmt.Sprintf("%d", i))
		}
		if _, err := l.AppendTyped(typ, []byte(fmt.Sprintf("%d%s", i, big))[:len(fmt.Sprint(i))+1000]); err != nil {
			t.Fatal(err)
		}
	}
	for {
		b := mustPending(t, l, 50)
		if b.Empty() {
			break
		}
		mustAck(t, l, b.Next())
	}
	// One more exchange releases the last batch kept for a resend.
	if _, err := l.AppendTyped("send", []byte("last")); err != nil {
		t.Fatal(err)
	}
	b := mustPending(t, l, 50)
	mustAck(t, l, b.Next())
	seglog.WaitReleases(l)
	segs, _ := logFiles(t, fsys, crashDir)
	if len(segs) > 2 {
		t.Fatalf("%d segments left while held records wait: %v", len(segs), segs)
	}
	if st := l.State(); st.Held != uint64(len(want)) {
		t.Fatalf("held %d, want %d", st.Held, len(want))
	}
	i := 0
	for r, err := range l.HeldRecords() {
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimRight(string(r.Data), "x"); got != want[i] {
			t.Fatalf("held record %d = %q, want %q", i, got, want[i])
		}
		i++
	}
	if err := l.SetAcceptedTypes([]string{"send", "keep"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		b := mustPending(t, l, 50)
		if b.Empty() {
			break
		}
		for _, r := range b.Records {
			got = append(got, strings.TrimRight(string(r.Data), "x"))
		}
		mustAck(t, l, b.Next())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("released %d records %v, want %v", len(got), got, want)
	}
}

// Appenders, a sender and accepted sets that change, concurrently (run
// with -race): every record reaches the peer once, and those of one
// appender and one type in the order they were appended.
func TestHeldConcurrent(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, seglog.MinSegmentSize, seglog.SyncAlways))
	defer l.Close()
	const appenders, each = 4, 200
	done := make(chan struct{})
	errs := make(chan error, appenders+1)
	for a := range appenders {
		go func() {
			for i := range each {
				typ := []string{"a", "b"}[(i*7+a)%3%2]
				if _, err := l.AppendTyped(typ, []byte(fmt.Sprintf("%d %s %04d", a, typ, i))); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				errs <- nil
				return
			default:
			}
			set := []string{"a"}
			if i%2 == 1 {
				set = []string{"a", "b"}
			}
			if err := l.SetAcceptedTypes(set); err != nil {
				errs <- err
				return
			}
		}
	}()
	p := &hcPeer{}
	finished := 0
	for finished < appenders {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
			finished++
		default:
		}
		if _, err := hcExchange(l, t, p, 1+len(p.got)%13); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if err := l.SetAcceptedTypes([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	for {
		more, err := hcExchange(l, t, p, 50)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	if len(p.got) != appenders*each {
		t.Fatalf("the peer got %d records, want %d", len(p.got), appenders*each)
	}
	last := map[string]string{}
	seen := map[string]bool{}
	for _, r := range p.got {
		if seen[r] {
			t.Fatalf("%q reached the peer twice", r)
		}
		seen[r] = true
		key := r[:3]
		if r <= last[key] {
			t.Fatalf("%q after %q", r, last[key])
		}
		last[key] = r
	}
	if st := l.State(); st.Held != 0 || st.PendingCount != 0 {
		t.Fatalf("after delivery: %+v", st)
	}
}

// A held record whose type is accepted again while the log is at its size
// limit (LimitRefuse) stays held, and the next SetAcceptedTypes appends it
// again once there is room.
func TestHeldReleaseAtLimit(t *testing.T) {
	fsys := crashfs.New()
	opts := crashOpts(fsys, seglog.MinSegmentSize, seglog.SyncAlways)
	opts.MaxBytes = 3 * seglog.MinSegmentSize
	l := openCrash(t, opts)
	defer l.Close()
	if err := l.SetAcceptedTypes([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	heldData := []byte(strings.Repeat("held", 1500))
	if _, err := l.AppendTyped("b", heldData); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1000)
	for {
		if _, err := l.AppendTyped("a", big); err != nil {
			if !errors.Is(err, seglog.ErrFull) {
				t.Fatal(err)
			}
			break
		}
	}
	if b := mustPending(t, l, 1); len(b.Records) != 1 || l.State().Held != 1 {
		t.Fatalf("held %d", l.State().Held)
	}
	if err := l.SetAcceptedTypes([]string{"a", "b"}); !errors.Is(err, seglog.ErrFull) {
		t.Fatalf("SetAcceptedTypes at the limit: %v", err)
	}
	if st := l.State(); st.Held != 1 {
		t.Fatalf("after a refused release: %+v", st)
	}
	for {
		b := mustPending(t, l, 5)
		if b.Empty() {
			break
		}
		mustAck(t, l, b.Next())
	}
	// The last batch, kept for a resend, goes with the next answer.
	if _, err := l.AppendTyped("a", nil); err != nil {
		t.Fatal(err)
	}
	mustAck(t, l, mustPending(t, l, 5).Next())
	seglog.WaitReleases(l)
	if err := l.SetAcceptedTypes([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	b := mustPending(t, l, 100)
	if len(b.Records) != 1 || string(b.Records[0].Data) != string(heldData) || l.State().Held != 0 {
		t.Fatalf("after the release: %d records, %+v", len(b.Records), l.State())
	}
}
