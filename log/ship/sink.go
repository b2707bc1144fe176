package ship

import (
	"context"

	seglog "github.com/seglog/seglog/log"
)

// Sink is the peer side of an exchange, as the Sender sees it: it delivers
// one labelled batch (its records and its gaps) and returns the peer's
// answer. A Sink is used by one goroutine at a time.
//
// Send returns an error when it has no answer (the request or its answer
// was lost, the peer is down): the Sender then retries the same records,
// possibly as a smaller or larger batch, and the peer must drop what it
// already has. An answer is the peer's next-expected label; it is applied
// with Log.Ack whatever its value, so a Sink never second-guesses it.
type Sink interface {
	Send(ctx context.Context, b seglog.Batch) (Reply, error)
	Close() error
}

// Reply is a peer's answer to a batch.
type Reply struct {
	// Next is the label the peer expects next.
	Next uint64
	// AcceptedTypes, when non-nil, is the set of record types the peer
	// accepts from now on (for held types); nil leaves it unchanged.
	AcceptedTypes []string
}
