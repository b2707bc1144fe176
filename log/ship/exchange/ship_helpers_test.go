package exchange_test

import (
	"context"
	"fmt"
	"testing"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	"github.com/seglog/seglog/log/ship/exchange"
)

// shortLog opens a log in a new directory holding n records "r0", "r1"...
// It is closed at the end of the test.
func shortLog(t *testing.T, n int) *seglog.Log {
	t.Helper()
	l, err := seglog.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for i := range n {
		if _, err := l.Append(fmt.Appendf(nil, "r%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// shipTo runs a Sender of l through c, maxRecords records an exchange,
// until the server answers that it expects label n, and checks that srv
// expects n from agent "a".
func shipTo(t *testing.T, srv *exchange.Server, c *exchange.Client, l *seglog.Log, maxRecords int, n uint64) *ship.Sender {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snd := ship.NewSender(l, c, &ship.Options{MaxRecords: maxRecords, OnSuccess: func(ex ship.Exchange) {
		if ex.Reply.Next == n {
			cancel()
		}
	}})
	if err := snd.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if next, err := srv.Next("a"); err != nil || next != n {
		t.Fatalf("server expects %d, %v; want %d", next, err, n)
	}
	return snd
}
