package ship_test

import (
	"context"
	"fmt"
	"os"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
)

// printer is a Sink that prints each batch and answers as a peer that
// stored it all: the label after the batch.
type printer struct{}

func (printer) Send(ctx context.Context, b seglog.Batch) (ship.Reply, error) {
	for e := range b.Entries() {
		if e.Record != nil {
			fmt.Printf("label %d: %s\n", e.Label, e.Record.Data)
		} else {
			fmt.Printf("labels %d to %d: a gap (%s)\n", e.Label, e.Label+e.Gap.Count-1, e.Gap.Reason)
		}
	}
	return ship.Reply{Next: b.Next()}, nil
}

func (printer) Close() error { return nil }

// A Sender drives the delivery protocol over any Sink: here one that
// prints what it is sent.
func ExampleSender() {
	dir, _ := os.MkdirTemp("", "seglog-example")
	defer os.RemoveAll(dir)
	l, _ := seglog.Open(dir, nil)
	defer l.Close()
	l.Append([]byte("hello"))
	l.Append([]byte("world"))

	ctx, cancel := context.WithCancel(context.Background())
	snd := ship.NewSender(l, printer{}, &ship.Options{
		OnSuccess: func(ex ship.Exchange) { cancel() }, // one exchange, for the example
	})
	snd.Run(ctx)
	st := snd.Stats()
	fmt.Printf("shipped %d records, %d pending\n", st.Records, st.Pending)
	// Output:
	// label 0: hello
	// label 1: world
	// shipped 2 records, 0 pending
}
