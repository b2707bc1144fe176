package exchange_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	"github.com/seglog/seglog/log/ship/exchange"
)

// The Sender over the HTTP exchange, with the log's failure window and
// held types: a sender facing a dead server records the failures in the
// log; after an outage past the window, the records the log refused are
// reported to the server (which stores the count) once an exchange
// succeeds; and the server's accepted types, applied by the Sender, hold
// records of the other type until the server accepts it, when they arrive
// after the others, each once.
func TestOutageAndHeldTypesOverHTTP(t *testing.T) {
	var accepted atomic.Pointer[[]string]
	accepted.Store(&[]string{"metrics"})
	srv, hs, dir := newServer(t, &exchange.ServerOptions{
		AcceptedTypes: func(string) []string { return *accepted.Load() },
		Logger:        slog.New(slog.DiscardHandler),
	})
	l, err := seglog.Open(t.TempDir(), &seglog.Options{FailureWindow: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// A dead server: the Sender records the failures in the log.
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()
	ctx, cancel := context.WithCancel(context.Background())
	fails := 0
	snd := ship.NewSender(l, newClient(t, deadURL, "a", secretA), &ship.Options{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		OnFailure: func(ex ship.Exchange) {
			if fails++; fails == 3 {
				cancel()
			}
		}})
	if _, err := l.AppendTyped("metrics", []byte("m0")); err != nil {
		t.Fatal(err)
	}
	if err := snd.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if f := l.Failures(); f.First.IsZero() || f.Refusing {
		t.Fatalf("after failed exchanges: %+v", f)
	}
	// The outage lasts past the window: appends are refused and counted.
	if err := l.RecordExchangeFailure(time.Now().Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := l.AppendTyped("metrics", []byte("lost")); !errors.Is(err, seglog.ErrOutage) {
			t.Fatalf("append during the outage: %v", err)
		}
	}

	// The server is back. The first answer ends the outage and sets the
	// accepted types; the next batch carries the notice.
	run := func(stop func(ship.Exchange) bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		snd := ship.NewSender(l, newClient(t, hs.URL, "a", secretA), &ship.Options{ApplyAcceptedTypes: true, MinBackoff: time.Millisecond,
			OnSuccess: func(ex ship.Exchange) {
				if stop(ex) {
					cancel()
				}
			}})
		if err := snd.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if ctx.Err() == context.DeadlineExceeded {
			t.Fatal("the sender did not reach its goal")
		}
	}
	run(func(ex ship.Exchange) bool { return ex.Refused > 0 })
	if n, err := srv.Refused("a"); err != nil || n != 3 {
		t.Fatalf("server's count of refused records: %d, %v; want 3", n, err)
	}
	if f := l.Failures(); !f.First.IsZero() || f.Unreported != 0 || f.Refusing {
		t.Fatalf("after the notice was answered: %+v", f)
	}
	if got := l.AcceptedTypes(); !slices.Equal(got, []string{"metrics"}) {
		t.Fatalf("accepted types %q", got)
	}

	// Records of the type the server does not accept are held.
	for i, typ := range []string{"inventory", "metrics", "inventory", "metrics"} {
		if _, err := l.AppendTyped(typ, []byte{typ[0], byte('1' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	run(func(ex ship.Exchange) bool { return l.State().PendingCount == 0 })
	if st := l.State(); st.Held == 0 {
		t.Fatalf("nothing held: %+v", st)
	}
	accepted.Store(&[]string{"inventory", "metrics"})
	if _, err := l.AppendTyped("metrics", []byte("m5")); err != nil {
		t.Fatal(err)
	}
	run(func(ex ship.Exchange) bool { st := l.State(); return st.Held == 0 && st.PendingCount == 0 })

	var got []string
	for _, r := range inbox(t, dir, "a") {
		got = append(got, string(r.Data))
	}
	want := "m0 m2 m4 m5 i1 i3"
	if strings.Join(got, " ") != want {
		t.Fatalf("inbox %q, want %q", strings.Join(got, " "), want)
	}
}
