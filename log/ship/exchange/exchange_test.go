package exchange_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	"github.com/seglog/seglog/log/ship/exchange"
)

const (
	secretA = "secret-of-agent-a-0123456789"
	secretB = "secret-of-agent-b-0123456789"
)

func newServer(t *testing.T, opts *exchange.ServerOptions) (*exchange.Server, *httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	tokens, err := exchange.NewTokens(map[string]string{"a": secretA, "b": secretB})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := exchange.NewServer(dir, tokens, opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv, hs, dir
}

func newClient(t *testing.T, url, agent, token string) *exchange.Client {
	t.Helper()
	c, err := exchange.NewClient(url, agent, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// inbox reads an agent's inbox read-only, as any seglog command does
// while the server runs.
func inbox(t *testing.T, dir, agent string) []seglog.Record {
	t.Helper()
	l, err := seglog.Open(filepath.Join(dir, agent), &seglog.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var recs []seglog.Record
	for r, err := range l.Records(l.FirstOffset()) {
		if err != nil {
			t.Fatal(err)
		}
		r.Data = bytes.Clone(r.Data)
		recs = append(recs, r)
	}
	return recs
}

func rec(typ, data string) seglog.Record { return seglog.Record{Type: typ, Data: []byte(data)} }

// TestExchangeStoresEachLabelOnce sends batches with records and gaps,
// again, overlapping, and past the end, and checks the answers and that
// the inbox holds each label once at the offset equal to it, gaps as
// marker records.
func TestExchangeStoresEachLabelOnce(t *testing.T) {
	_, hs, dir := newServer(t, nil)
	c := newClient(t, hs.URL, "a", secretA)
	ctx := context.Background()
	bin := string([]byte{0, 1, 0xff, '\n', 0})
	b1 := seglog.Batch{
		Sequence: 0,
		Records:  []seglog.Record{{Offset: 0, Type: "t1", Data: []byte("r0")}, {Offset: 1, Data: []byte(bin)}, {Offset: 5, Type: "t2", Data: nil}},
		Gaps:     []seglog.Gap{{Offset: 2, Count: 3, Label: 2, Reason: seglog.GapDamaged, Detail: "seg 0 at 99"}},
	}
	want := b1.Next()
	for i := range 3 { // the same batch again stores nothing more
		reply, err := c.Send(ctx, b1)
		if err != nil {
			t.Fatal(err)
		}
		if reply.Next != want {
			t.Fatalf("send %d: answer %d, want %d", i, reply.Next, want)
		}
	}
	// A batch starting past the end: nothing stored, the answer says where to resume.
	reply, err := c.Send(ctx, seglog.Batch{Sequence: 10, Records: []seglog.Record{rec("x", "lost")}})
	if err != nil || reply.Next != want {
		t.Fatalf("batch past the end: answer %d, %v; want %d", reply.Next, err, want)
	}
	// Overlapping: labels 4, 5 held, 6 and 7 new, then a dropped gap.
	b2 := seglog.Batch{Sequence: 4, Records: []seglog.Record{{Offset: 10, Data: []byte("dup4")}, {Offset: 11, Data: []byte("dup5")}, {Offset: 12, Type: "t3", Data: []byte("r6")}, {Offset: 13, Data: []byte("r7")}},
		Gaps: []seglog.Gap{{Offset: 14, Count: 2, Label: 8, Reason: seglog.GapDropped}}}
	reply, err = c.Send(ctx, b2)
	if err != nil || reply.Next != 10 {
		t.Fatalf("overlapping batch: answer %d, %v; want 10", reply.Next, err)
	}

	got := inbox(t, dir, "a")
	wantTypes := []string{"t1", "", exchange.GapType, exchange.GapType, exchange.GapType, "t2", "t3", "", exchange.GapType, exchange.GapType}
	wantData := []string{"r0", bin, "", "", "", "", "r6", "r7", "", ""}
	if len(got) != len(wantTypes) {
		t.Fatalf("inbox holds %d records, want %d: %v", len(got), len(wantTypes), got)
	}
	for i, r := range got {
		if r.Offset != uint64(i) || r.Type != wantTypes[i] {
			t.Fatalf("inbox record %d: offset %d type %q, want type %q", i, r.Offset, r.Type, wantTypes[i])
		}
		if r.Type == exchange.GapType {
			var m struct {
				Reason string
				First  uint64
				Count  uint64
				Detail string
			}
			if err := json.Unmarshal(r.Data, &m); err != nil {
				t.Fatalf("gap marker %d: %v", i, err)
			}
			if (i < 5 && (m.Reason != "damaged" || m.First != 2 || m.Count != 3)) || (i >= 8 && (m.Reason != "dropped" || m.First != 8 || m.Count != 2)) {
				t.Fatalf("gap marker %d: %+v", i, m)
			}
			if (i == 2) != (m.Detail != "") {
				t.Fatalf("gap marker %d: detail %q (only a gap's first label carries it)", i, m.Detail)
			}
			continue
		}
		if string(r.Data) != wantData[i] {
			t.Fatalf("inbox record %d: %q, want %q", i, r.Data, wantData[i])
		}
	}
}

// TestExchangeGapBudget checks that a gap over MaxGapLabels is stored in
// parts, each answer stopping inside it, and the rest comes with the
// next sends.
func TestExchangeGapBudget(t *testing.T) {
	_, hs, dir := newServer(t, &exchange.ServerOptions{MaxGapLabels: 4})
	c := newClient(t, hs.URL, "a", secretA)
	b := seglog.Batch{Sequence: 0, Gaps: []seglog.Gap{{Offset: 0, Count: 10, Reason: seglog.GapDropped}}, Records: []seglog.Record{{Offset: 10, Data: []byte("after")}}}
	var answers []uint64
	for range 3 {
		reply, err := c.Send(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, reply.Next)
	}
	if fmt.Sprint(answers) != "[4 8 11]" {
		t.Fatalf("answers %v, want [4 8 11]", answers)
	}
	got := inbox(t, dir, "a")
	if len(got) != 11 || string(got[10].Data) != "after" || got[9].Type != exchange.GapType {
		t.Fatalf("inbox %v", got)
	}
}

// TestSenderOverHTTP ships a log through a Sender, the Client and the
// Server, and checks the inbox is a copy of it.
func TestSenderOverHTTP(t *testing.T) {
	srv, hs, dir := newServer(t, nil)
	l, err := seglog.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 5000
	for i := range n {
		if _, err := l.AppendRecords(seglog.Record{Type: fmt.Sprintf("t%d", i%3), Data: fmt.Appendf(nil, "record %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	snd := shipTo(t, srv, newClient(t, hs.URL, "a", secretA), l, 700, n)
	for i, r := range inbox(t, dir, "a") {
		if r.Type != fmt.Sprintf("t%d", i%3) || string(r.Data) != fmt.Sprintf("record %d", i) {
			t.Fatalf("inbox record %d: %q %q", i, r.Type, r.Data)
		}
	}
	if st := snd.Stats(); st.Records != n || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestExchangeAnswersNoFurtherThanTheBatch checks that when the inbox
// already holds labels past a resent batch (a larger batch from an
// earlier run of the agent), the answer stops at the batch's end, so the
// agent's log applies it as a normal acknowledgement, not a too-high one.
func TestExchangeAnswersNoFurtherThanTheBatch(t *testing.T) {
	_, hs, dir := newServer(t, nil)
	c := newClient(t, hs.URL, "a", secretA)
	l := shortLog(t, 10)
	// A first run sends all ten; its answer is lost.
	big, err := l.PendingBytes(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	// The next run sends four.
	small, err := l.PendingBytes(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.Send(context.Background(), small)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Next != 4 {
		t.Fatalf("answer %d to a resent batch of 4 whose labels the inbox holds up to 10, want 4", reply.Next)
	}
	res, err := l.Ack(reply.Next)
	if err != nil || res.Resync {
		t.Fatalf("Ack(%d) = %+v, %v; want a normal acknowledgement", reply.Next, res, err)
	}
	rest, err := l.PendingBytes(100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if reply, err = c.Send(context.Background(), rest); err != nil || reply.Next != 10 {
		t.Fatalf("answer %d, %v to the rest; want 10", reply.Next, err)
	}
	if got := inbox(t, dir, "a"); len(got) != 10 || string(got[9].Data) != "r9" {
		t.Fatalf("inbox %v", got)
	}
}

// TestAcceptedTypes checks that the types a server accepts reach the
// Sender's OnAcceptedTypes, and that no field means no call.
func TestAcceptedTypes(t *testing.T) {
	for _, types := range [][]string{{"package-report", "event"}, nil} {
		_, hs, _ := newServer(t, &exchange.ServerOptions{AcceptedTypes: func(agent string) []string {
			if agent != "a" {
				t.Errorf("AcceptedTypes(%q)", agent)
			}
			return types
		}})
		l, err := seglog.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append([]byte("x")); err != nil {
			t.Fatal(err)
		}
		var got []string
		calls := 0
		ctx, cancel := context.WithCancel(context.Background())
		snd := ship.NewSender(l, newClient(t, hs.URL, "a", secretA), &ship.Options{
			OnAcceptedTypes: func(ts []string) { got = ts; calls++ },
			OnSuccess:       func(ship.Exchange) { cancel() },
		})
		if err := snd.Run(ctx); err != nil {
			t.Fatal(err)
		}
		l.Close()
		if fmt.Sprint(got) != fmt.Sprint(types) || (types == nil) != (calls == 0) {
			t.Fatalf("OnAcceptedTypes got %q in %d calls, want %q", got, calls, types)
		}
	}
}

// TestServerLostItsInbox ships to a server, then to one that lost its
// inbox: the first answer, 0, is older than what the agent keeps, so the
// log resynchronises (OnResync), and what it still keeps (the last batch
// and what came after) is shipped again from label 0.
func TestServerLostItsInbox(t *testing.T) {
	l := shortLog(t, 10)
	run := func(url string, until uint64) (resyncs int) {
		ctx, cancel := context.WithCancel(context.Background())
		snd := ship.NewSender(l, newClient(t, url, "a", secretA), &ship.Options{
			MaxRecords: 4,
			Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnResync:   func(seglog.AckResult) { resyncs++ },
			OnSuccess: func(ex ship.Exchange) {
				if ex.Reply.Next == until && ex.Ack.State.PendingCount == 0 {
					cancel()
				}
			},
		})
		if err := snd.Run(ctx); err != nil {
			t.Fatal(err)
		}
		return resyncs
	}
	_, first, _ := newServer(t, nil)
	if n := run(first.URL, 10); n != 0 {
		t.Fatalf("%d resyncs with a healthy server", n)
	}
	if _, err := l.Append([]byte("r10")); err != nil {
		t.Fatal(err)
	}
	_, second, dir := newServer(t, nil) // an empty inbox: the server lost its disk
	if n := run(second.URL, 3); n != 1 {
		t.Fatalf("%d resyncs with a server that lost its inbox, want 1", n)
	}
	var got []string
	for _, r := range inbox(t, dir, "a") {
		got = append(got, string(r.Data))
	}
	if fmt.Sprint(got) != "[r8 r9 r10]" {
		t.Fatalf("new inbox %q, want the last batch kept (r8 r9) and r10", got)
	}
}
