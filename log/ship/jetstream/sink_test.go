package jetstream_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	seglog "github.com/seglog/seglog/log"
	sinkjs "github.com/seglog/seglog/log/ship/jetstream"
)

func newSink(t testing.TB, nc *nats.Conn, l *seglog.Log, window int) *sinkjs.Sink {
	t.Helper()
	s, err := sinkjs.New(nc, sinkjs.Options{
		Subject:    "seglog.{agent}",
		Agent:      "a1",
		LogID:      l.ID().String(),
		Window:     window,
		AckTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// shipAll ships until nothing is pending; every Send must succeed.
func shipAll(t testing.TB, l *seglog.Log, s *sinkjs.Sink, max int) {
	t.Helper()
	for range 100000 {
		empty, err := shipOnce(context.Background(), l, s, max)
		if err != nil {
			t.Fatal(err)
		}
		if empty {
			return
		}
	}
	t.Fatal("shipping does not end")
}

func TestShipInOrder(t *testing.T) {
	node := startNode(t)
	nc := connect(t, node.url())
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}})
	l := openLog(t, logDir(t))
	defer l.Close()
	if l.ID().IsZero() {
		t.Fatal("a new log has no id")
	}
	s := newSink(t, nc, l, 64)
	if s.Subject() != "seglog.a1" {
		t.Fatalf("subject %q", s.Subject())
	}
	if err := appendUpTo(l, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	shipAll(t, l, s, 300)
	checkStream(t, readStream(t, nc, "SHIP"), l.ID().String(), 1000)
	// More, through the same sink, in other batch sizes.
	if err := appendUpTo(l, 555, 1555); err != nil {
		t.Fatal(err)
	}
	shipAll(t, l, s, 7)
	checkStream(t, readStream(t, nc, "SHIP"), l.ID().String(), 1555)
}

// TestGapNotices: a gap becomes one notice covering its labels; a resend
// of the batch, or of a part of it, appends nothing.
func TestGapNotices(t *testing.T) {
	node := startNode(t)
	nc := connect(t, node.url())
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}})
	s, err := sinkjs.New(nc, sinkjs.Options{Subject: "seglog.g", LogID: "00112233445566778899aabbccddeeff"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := seglog.Batch{
		Sequence: 10,
		Records:  []seglog.Record{{Offset: 5, Type: "x", Data: []byte("a")}, {Offset: 9, Data: []byte("b")}},
		Gaps:     []seglog.Gap{{Offset: 6, Count: 3, Label: 11, Reason: seglog.GapDamaged, Detail: "seg 6: bad checksum"}},
	}
	ctx := context.Background()
	for i := range 3 {
		r, err := s.Send(ctx, b)
		if err != nil || r.Next != 15 {
			t.Fatalf("send %d: next %d, err %v; want 15", i, r.Next, err)
		}
	}
	// A fresh sink (a restarted agent) resending a part of the batch.
	s2, err := sinkjs.New(nc, sinkjs.Options{Subject: "seglog.g", LogID: "00112233445566778899aabbccddeeff"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r, err := s2.Send(ctx, seglog.Batch{Sequence: 10, Records: b.Records[:1]}); err != nil || r.Next != 11 {
		t.Fatalf("resend of a part: next %d, err %v; want 11", r.Next, err)
	}
	// A batch past what the stream holds is answered with what it lacks.
	if r, err := s2.Send(ctx, seglog.Batch{Sequence: 20, Records: []seglog.Record{{Offset: 15}}}); err != nil || r.Next != 15 {
		t.Fatalf("batch past the stream: next %d, err %v; want 15", r.Next, err)
	}
	got := readStream(t, nc, "SHIP")
	if len(got) != 3 {
		t.Fatalf("%d messages, want 3: %+v", len(got), got)
	}
	want := []sinkjs.Entry{
		{Label: 10, Offset: 5, Type: "x", Data: []byte("a")},
		{Label: 11, Offset: 6, Gap: 3, Reason: "damaged", Detail: "seg 6: bad checksum"},
		{Label: 14, Offset: 9, Data: []byte("b")},
	}
	for i, w := range want {
		g := got[i].Entry
		if g.Log != "00112233445566778899aabbccddeeff" || g.Label != w.Label || g.Offset != w.Offset || g.Type != w.Type ||
			string(g.Data) != string(w.Data) || g.Gap != w.Gap || g.Reason != w.Reason || g.Detail != w.Detail {
			t.Errorf("message %d: %+v, want %+v", i, g, w)
		}
	}
}

// TestResendAfterDuplicateWindow: an agent that crashed after publishing
// a batch and before acknowledging it resends the batch after the
// stream's duplicate window has passed; nothing is appended twice.
func TestResendAfterDuplicateWindow(t *testing.T) {
	const window = time.Second
	node := startNode(t)
	nc := connect(t, node.url())
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>", "control.>"}, Duplicates: window})
	dir := logDir(t)
	l := openLog(t, dir)
	id := l.ID().String()
	if err := appendUpTo(l, 300, 300); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, nc, l, 32)
	b, err := l.Pending(200)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Send(context.Background(), b); err != nil || r.Next != 200 {
		t.Fatalf("send: next %d, err %v", r.Next, err)
	}
	// The crash: no Ack.
	s.Close()
	l.Close()

	// Past the window, a message id alone no longer stops a copy: the
	// control subject shows it.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.Publish(ctx, "control.x", nil, jetstream.WithMsgID("control")); err != nil {
		t.Fatal(err)
	}
	// Wait until the window has passed: a resend of the control message
	// is no longer a duplicate.
	for i := 0; ; i++ {
		time.Sleep(window / 4)
		a, err := js.Publish(ctx, "control.x", nil, jetstream.WithMsgID("control"))
		if err != nil {
			t.Fatal(err)
		}
		if !a.Duplicate {
			break
		}
		if i == 100 {
			t.Fatal("the duplicate window never passes")
		}
	}

	l = openLog(t, dir)
	defer l.Close()
	if l.ID().String() != id {
		t.Fatalf("id %s after reopening, was %s", l.ID(), id)
	}
	if st := l.State(); st.Cursor != 0 {
		t.Fatalf("cursor %d after the crash, want 0", st.Cursor)
	}
	s = newSink(t, nc, l, 32)
	shipAll(t, l, s, 70)
	var ours []streamEntry
	for _, e := range readStreamAll(t, nc) {
		if e.Log == id {
			ours = append(ours, e)
		}
	}
	checkStream(t, ours, id, 300)
}

// readStreamAll reads the stream SHIP, control messages (which carry no
// log header) left out.
func readStreamAll(t testing.TB, nc *nats.Conn) []streamEntry {
	return readStreamFiltered(t, nc, "SHIP", "seglog.>")
}

// TestNewLogSameSubject: a log re-created after a wipe has a new id; the
// stream takes its records after the old log's, from its first label.
func TestNewLogSameSubject(t *testing.T) {
	node := startNode(t)
	nc := connect(t, node.url())
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}})
	l := openLog(t, logDir(t))
	if err := appendUpTo(l, 10, 10); err != nil {
		t.Fatal(err)
	}
	shipAll(t, l, newSink(t, nc, l, 8), 4)
	old := l.ID().String()
	l.Close()
	l2 := openLog(t, logDir(t))
	defer l2.Close()
	if l2.ID().String() == old {
		t.Fatal("two logs with one id")
	}
	if err := appendUpTo(l2, 5, 5); err != nil {
		t.Fatal(err)
	}
	shipAll(t, l2, newSink(t, nc, l2, 8), 4)
	got := readStream(t, nc, "SHIP")
	checkStream(t, got[:10], old, 10)
	checkStream(t, got[10:], l2.ID().String(), 5)
}

// TestSharedStream: agents share one stream, each on its own subject, and
// ship at the same time, through a server restart; each subject holds its
// log's records exactly once, in order.
func TestSharedStream(t *testing.T) {
	const agents, n = 3, 1500
	node := startNode(t)
	nc := connect(t, node.url())
	createStream(t, nc, jetstream.StreamConfig{Name: "FLEET", Subjects: []string{"fleet.>"}, Duplicates: 200 * time.Millisecond})
	logs := make([]*seglog.Log, agents)
	errs := make([]error, agents)
	var wg sync.WaitGroup
	halfway := make(chan struct{}, agents)
	for i := range logs {
		l := openLog(t, logDir(t))
		defer l.Close()
		logs[i] = l
		s, err := sinkjs.New(nc, sinkjs.Options{Subject: "fleet.{agent}", Agent: fmt.Sprintf("a%d", i), LogID: l.ID().String(), SharedStream: true, AckTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			signalled := false
			for ctx.Err() == nil {
				if err := appendUpTo(l, 50, n); err != nil {
					errs[i] = err
					return
				}
				empty, err := shipOnce(ctx, l, s, 100)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if !signalled && l.State().Cursor >= n/2 {
					halfway <- struct{}{}
					signalled = true
				}
				if empty && l.NextOffset() >= n {
					return
				}
			}
			errs[i] = ctx.Err()
		})
	}
	<-halfway
	node.stop()
	node.start()
	wg.Wait()
	for i, l := range logs {
		if errs[i] != nil {
			t.Fatalf("agent %d: %v", i, errs[i])
		}
		checkStream(t, readStreamFiltered(t, nc, "FLEET", fmt.Sprintf("fleet.a%d", i)), l.ID().String(), n)
	}
}

// TestFullStream: a stream that refuses new messages (Discard new) gets
// what fits, in order; then Send fails, so that the sender backs off,
// until there is room again.
func TestFullStream(t *testing.T) {
	node := startNode(t)
	nc := connect(t, node.url())
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}, MaxMsgs: 10, Discard: jetstream.DiscardNew})
	l := openLog(t, logDir(t))
	defer l.Close()
	if err := appendUpTo(l, 25, 25); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, nc, l, 8)
	ctx := context.Background()
	if empty, err := shipOnce(ctx, l, s, 25); empty || err != nil {
		t.Fatalf("first batch: empty %v, err %v", empty, err)
	}
	if st := l.State(); st.Cursor != 10 {
		t.Fatalf("cursor %d after the stream filled, want 10", st.Cursor)
	}
	if _, err := shipOnce(ctx, l, s, 25); err == nil {
		t.Fatal("Send into a full stream succeeded")
	}
	checkStream(t, readStream(t, nc, "SHIP"), l.ID().String(), 10)
	// Room again: the rest goes in, after the first ten.
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}, MaxMsgs: 100, Discard: jetstream.DiscardNew})
	shipAll(t, l, s, 25)
	checkStream(t, readStream(t, nc, "SHIP"), l.ID().String(), 25)
}

// TestOddTypes: a record type is any bytes; it reaches the stream and
// back whole, whatever a header value may hold.
func TestOddTypes(t *testing.T) {
	node := startNode(t)
	nc := connect(t, node.url())
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}})
	s, err := sinkjs.New(nc, sinkjs.Options{Subject: "seglog.o", LogID: "00112233445566778899aabbccddeeff"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	types := []string{"plain", "a b", " lead", "trail ", `"quoted"`, "line\r\nbreak: x", "\xff\x00bin", "ünï", "tab\there"}
	b := seglog.Batch{Gaps: []seglog.Gap{{Offset: uint64(len(types)), Count: 1, Label: uint64(len(types)), Reason: seglog.GapDropped, Detail: "two\nlines"}}}
	for i, typ := range types {
		b.Records = append(b.Records, seglog.Record{Offset: uint64(i), Type: typ, Data: []byte{byte(i)}})
	}
	if r, err := s.Send(context.Background(), b); err != nil || r.Next != b.Next() {
		t.Fatalf("send: next %d, err %v", r.Next, err)
	}
	got := readStream(t, nc, "SHIP")
	if len(got) != len(types)+1 {
		t.Fatalf("%d messages, want %d", len(got), len(types)+1)
	}
	for i, typ := range types {
		if got[i].Type != typ || got[i].Label != uint64(i) {
			t.Errorf("message %d: type %q label %d, want %q", i, got[i].Type, got[i].Label, typ)
		}
	}
	if g := got[len(types)]; g.Gap != 1 || g.Detail != "two\nlines" || g.Reason != "dropped" {
		t.Errorf("gap notice %+v", g)
	}
}

// TestRecordOverMaxPayload: a record the server cannot take (over its
// max_payload) is an error on every try, and nothing goes in after it.
func TestRecordOverMaxPayload(t *testing.T) {
	node := startNode(t)
	nc := connect(t, node.url())
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}})
	s, err := sinkjs.New(nc, sinkjs.Options{Subject: "seglog.big", LogID: "00112233445566778899aabbccddeeff"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := seglog.Batch{Records: []seglog.Record{{Offset: 0, Data: []byte("small")}, {Offset: 1, Data: make([]byte, nc.MaxPayload()+1)}, {Offset: 2, Data: []byte("after")}}}
	ctx := context.Background()
	r, err := s.Send(ctx, b)
	if err != nil || r.Next != 1 {
		t.Fatalf("first send: next %d, err %v; want 1 (the small record went in)", r.Next, err)
	}
	for range 2 {
		if _, err := s.Send(ctx, seglog.Batch{Sequence: 1, Records: b.Records[1:]}); err == nil || !strings.Contains(err.Error(), "payload") {
			t.Fatalf("send of the large record: %v", err)
		}
	}
	if got := readStream(t, nc, "SHIP"); len(got) != 1 {
		t.Fatalf("%d messages in the stream, want 1", len(got))
	}
}
