package exchange_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	"github.com/seglog/seglog/log/ship/exchange"
)

// An agent ships its log to a server; the server keeps the agent's inbox.
func Example() {
	base, _ := os.MkdirTemp("", "seglog-example")
	defer os.RemoveAll(base)

	// The server side: one inbox log per agent under a directory.
	tokens, _ := exchange.NewTokens(map[string]string{"agent-17": "a-long-random-secret-0123"})
	srv, _ := exchange.NewServer(filepath.Join(base, "inboxes"), tokens, nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	// The agent: a log, a client and a sender.
	l, _ := seglog.Open(filepath.Join(base, "outbox"), nil)
	defer l.Close()
	sink, _ := exchange.NewClient(hs.URL, "agent-17", "a-long-random-secret-0123", nil)
	ctx, cancel := context.WithCancel(context.Background())
	snd := ship.NewSender(l, sink, &ship.Options{
		OnSuccess: func(ex ship.Exchange) {
			if ex.Ack.State.PendingCount == 0 {
				cancel() // for the example: stop once everything is delivered
			}
		},
	})
	for _, msg := range []string{"boot", "package-report", "shutdown"} {
		l.AppendRecords(seglog.Record{Type: "event", Data: []byte(msg)})
	}
	if err := snd.Run(ctx); err != nil {
		fmt.Println(err)
	}

	next, _ := srv.Next("agent-17")
	fmt.Println("the server expects label", next)
	inbox, _ := seglog.Open(filepath.Join(base, "inboxes", "agent-17"), &seglog.Options{ReadOnly: true})
	defer inbox.Close()
	for r, err := range inbox.Records(0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(r.Offset, r.Type, string(r.Data))
	}
	// Output:
	// the server expects label 3
	// 0 event boot
	// 1 event package-report
	// 2 event shutdown
}
