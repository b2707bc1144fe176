package log_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/seglog/seglog/checkpoint"
	seglog "github.com/seglog/seglog/log"
)

func sessionAppend(t *testing.T, l *seglog.Log, id, data string, kept bool) error {
	t.Helper()
	next := l.NextOffset()
	_, err := l.AppendWith([]byte(data), seglog.AppendOptions{Session: id, AlwaysKept: kept})
	if err != nil && l.NextOffset() != next {
		t.Fatalf("append refused (%v) but the next offset moved from %d to %d", err, next, l.NextOffset())
	}
	return err
}

// TestStaleSessionAfterResync plays the reference store's use of session
// ids: producers append under their scope's session; when the peer asks
// for a resynchronisation the application ends every session, and a
// producer still holding an old id is refused, also after a restart,
// until it opens a new session.
func TestStaleSessionAfterResync(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	rep, err := l.OpenSession("reporter")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := l.OpenSession("reporter"); err != nil || again != rep {
		t.Fatalf("OpenSession of an open scope = %q, %v; want the same id %q", again, err, rep)
	}
	mon, err := l.OpenSession("monitor")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep) != 32 || mon == rep {
		t.Fatalf("session ids %q, %q", rep, mon)
	}
	if !l.SessionOpen(rep) || !l.SessionOpen(mon) || l.SessionOpen("") || l.SessionOpen("not-an-id") {
		t.Fatal("SessionOpen disagrees with OpenSession")
	}
	want := []seglog.Session{{Scope: "monitor", ID: mon}, {Scope: "reporter", ID: rep}}
	if got := l.Sessions(); !slices.Equal(got, want) {
		t.Fatalf("Sessions() = %v, want %v", got, want)
	}
	for _, id := range []string{rep, mon} {
		if err := sessionAppend(t, l, id, "A", false); err != nil {
			t.Fatalf("append in an open session: %v", err)
		}
	}
	if err := sessionAppend(t, l, "0123456789abcdef0123456789abcdef", "X", false); !errors.Is(err, seglog.ErrSessionEnded) {
		t.Fatalf("append naming an unknown session: %v, want ErrSessionEnded", err)
	}

	// Ending one scope leaves the others.
	if err := l.EndSessions("monitor", "no-such-scope"); err != nil {
		t.Fatal(err)
	}
	if err := sessionAppend(t, l, mon, "B", false); !errors.Is(err, seglog.ErrSessionEnded) {
		t.Fatalf("append in an ended session: %v, want ErrSessionEnded", err)
	}
	if err := sessionAppend(t, l, rep, "B", false); err != nil {
		t.Fatalf("append in a session of another scope: %v", err)
	}

	// The peer answers too high: the application resynchronises and ends
	// every session.
	b := mustPending(t, l, 100)
	res := mustAck(t, l, b.Next()+5)
	if !res.Resync {
		t.Fatalf("Ack too high: %+v, want Resync", res)
	}
	if err := l.EndAllSessions(); err != nil {
		t.Fatal(err)
	}
	// A producer still holding its old id is refused, AlwaysKept or not:
	// its record belongs to a state the peer has dropped.
	if err := sessionAppend(t, l, rep, "stale", true); !errors.Is(err, seglog.ErrSessionEnded) {
		t.Fatalf("append in a session ended by the resync: %v, want ErrSessionEnded", err)
	}
	closeLog(t, l)

	l = openLog(t, dir, nil)
	if err := sessionAppend(t, l, rep, "stale", false); !errors.Is(err, seglog.ErrSessionEnded) {
		t.Fatalf("append in an ended session after a restart: %v, want ErrSessionEnded", err)
	}
	if len(l.Sessions()) != 0 {
		t.Fatalf("sessions after EndAllSessions and a restart: %v", l.Sessions())
	}
	fresh, err := l.OpenSession("reporter")
	if err != nil || fresh == rep {
		t.Fatalf("OpenSession after the resync = %q, %v; want a new id (old %q)", fresh, err, rep)
	}
	if err := sessionAppend(t, l, fresh, "C", false); err != nil {
		t.Fatalf("append in the new session: %v", err)
	}
	closeLog(t, l)
	l = openLog(t, dir, nil)
	if !l.SessionOpen(fresh) || l.SessionOpen(rep) {
		t.Fatal("sessions after a restart: the new one should be open, the old one not")
	}
	if _, err := l.OpenSession(string(make([]byte, 256))); err == nil {
		t.Fatal("OpenSession accepted a 256-byte scope")
	}
	// Every record appended in an open session is there, and only those.
	if got := lettersOf(readAllRecords(t, l)); got != "A A B C" {
		t.Fatalf("records %q, want A A B C", got)
	}
}

// TestSessionLimit checks that sessions are bounded.
func TestSessionLimit(t *testing.T) {
	l := openLog(t, t.TempDir(), &seglog.Options{Sync: seglog.SyncNever})
	for i := range seglog.MaxSessions {
		if _, err := l.OpenSession(string(rune(0x4e00 + i))); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	if _, err := l.OpenSession("one more"); err == nil {
		t.Fatalf("OpenSession past MaxSessions (%d) succeeded", seglog.MaxSessions)
	}
	if _, err := l.OpenSession(string(rune(0x4e00))); err != nil {
		t.Fatalf("OpenSession of an open scope at the limit: %v", err)
	}
}

// TestSessionOverCheckpointSize checks that a session that would take the
// checkpoint over its size is refused with ErrTooLarge, and nothing
// changes.
func TestSessionOverCheckpointSize(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	if err := l.SetMeta("big", make([]byte, checkpoint.MaxSize-200)); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; err == nil && i < 20; i++ {
		_, err = l.OpenSession(fmt.Sprint("scope-", i))
	}
	if !errors.Is(err, seglog.ErrTooLarge) {
		t.Fatalf("OpenSession past the checkpoint's size: %v, want ErrTooLarge", err)
	}
	n := len(l.Sessions())
	closeLog(t, l)
	l = openLog(t, l.Dir(), nil)
	if len(l.Sessions()) != n {
		t.Fatalf("%d sessions after a reopen, %d before", len(l.Sessions()), n)
	}
}
