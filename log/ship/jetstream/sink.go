package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
)

// Options configures a Sink. LogID and Subject are required.
type Options struct {
	// Stream is the stream's name. Empty: the stream bound to the subject,
	// looked up at the first resynchronisation.
	Stream string
	// Subject is the subject the records are published to; "{agent}" in it
	// is replaced by Agent. It must be bound to the stream, and it is part
	// of the log's identity in the stream: the same log must keep it.
	Subject string
	// Agent is the agent's name, for the subject template.
	Agent string
	// LogID is the log's identity (Log.ID), carried by every message and
	// used to recognise this log's messages in the stream.
	LogID string
	// Window bounds the publishes awaiting their acknowledgement. Default
	// 4096. A shared stream has one at a time, whatever Window says.
	Window int
	// SharedStream says that other writers (other agents) publish to the
	// stream too. Each publish then expects the last sequence of the
	// sink's subject (Nats-Expected-Last-Subject-Sequence) instead of the
	// stream's: it needs its predecessor's sequence, so the publishes go
	// one at a time, a round trip each. Without it, the sink expects the
	// stream's last sequence and pipelines, which is fast when it is the
	// stream's only writer, and makes no progress while others write.
	SharedStream bool
	// NoMsgID leaves out the Nats-Msg-Id header. Exactness does not need
	// it (the expected sequences alone refuse every copy); without it the
	// stream keeps no de-duplication entry per message, which is cheaper
	// at high rates. With it, a resend within the stream's duplicate
	// window is also dropped by the server.
	NoMsgID bool
	// AckTimeout bounds the wait for one publish's acknowledgement (and for
	// a free slot in the window). Default 5s; a short one keeps a failover
	// fast when the client is connected to a server that lost the leader.
	AckTimeout time.Duration
	// RequestTimeout bounds each JetStream API request of a
	// resynchronisation (while a stream has no leader, requests are
	// dropped, not answered). Default 2s.
	RequestTimeout time.Duration
}

// Sink appends batches to a JetStream stream. It implements ship.Sink;
// like every Sink, it is used by one goroutine at a time.
type Sink struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	opts    Options
	subject string
	stream  string

	// synced is set when lastSeq and next reflect the stream: after a
	// resynchronisation, and after every batch whose publishes all
	// succeeded. Any failure clears it.
	synced bool
	// lastSeq is the expectation of the next publish: the stream's last
	// sequence, or with SharedStream the sequence of the last message on
	// the subject (0 if none).
	lastSeq uint64
	// known is set when the stream holds a message of this log; next is
	// then the label after it.
	known bool
	next  uint64
}

var _ ship.Sink = (*Sink)(nil)

// New returns a Sink publishing over nc, which the caller keeps and closes
// after the Sink.
func New(nc *nats.Conn, opts Options) (*Sink, error) {
	if opts.LogID == "" {
		return nil, errors.New("jetstream sink: no log id")
	}
	if opts.Subject == "" {
		return nil, errors.New("jetstream sink: no subject")
	}
	subject := strings.ReplaceAll(opts.Subject, "{agent}", opts.Agent)
	if strings.ContainsAny(subject, "*> \t\r\n") || strings.HasPrefix(subject, ".") || strings.HasSuffix(subject, ".") || strings.Contains(subject, "..") {
		return nil, fmt.Errorf("jetstream sink: subject %q is not a literal subject", subject)
	}
	if opts.Window <= 0 {
		opts.Window = 4096
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 5 * time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 2 * time.Second
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(opts.Window),
		jetstream.WithPublishAsyncTimeout(opts.AckTimeout),
		jetstream.WithDefaultTimeout(opts.RequestTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("jetstream sink: %w", err)
	}
	return &Sink{nc: nc, js: js, opts: opts, subject: subject, stream: opts.Stream}, nil
}

// Subject returns the subject the sink publishes to.
func (s *Sink) Subject() string { return s.subject }

// Send publishes the entries of b the stream does not hold yet, and
// answers the next label the stream expects of this log.
func (s *Sink) Send(ctx context.Context, b seglog.Batch) (ship.Reply, error) {
	if !s.synced {
		if err := s.resync(ctx); err != nil {
			return ship.Reply{}, err
		}
	}
	from := b.Sequence
	if s.known {
		from = s.next
	}
	if b.Refused > 0 {
		// The notice of refused records goes first, whatever the stream
		// already holds of the batch.
		if err := s.publishNotice(ctx, from, b.Refused); err != nil {
			return ship.Reply{}, err
		}
	}
	if s.known {
		if b.Sequence > s.next {
			// The stream lacks labels before the batch: ask for them.
			return ship.Reply{Next: s.next}, nil
		}
		if b.Next() <= s.next {
			// All of it is in the stream already (a resend).
			return ship.Reply{Next: b.Next()}, nil
		}
	}
	err := s.publish(ctx, b, from)
	if err == nil {
		return ship.Reply{Next: b.Next()}, nil
	}
	// Some publishes failed or got no answer: the stream may hold any
	// prefix of them. Ask it.
	s.synced = false
	if rerr := s.resync(ctx); rerr != nil {
		return ship.Reply{}, fmt.Errorf("%w (and resynchronising: %v)", err, rerr)
	}
	if !s.known || s.next <= from {
		// Nothing went in (a full stream, another writer, no leader):
		// the error, so that the sender backs off before trying again.
		return ship.Reply{}, err
	}
	return ship.Reply{Next: s.answer(b)}, nil
}

// answer is the reply to b after a resynchronisation: the stream's next
// label for this log, within what b covers, so that the log's cursor
// never passes records it did not hand out.
func (s *Sink) answer(b seglog.Batch) uint64 {
	switch {
	case !s.known:
		return b.Sequence
	case s.next > b.Next():
		return b.Next()
	}
	return s.next
}

// publish sends the entries of b from label from on, pipelined, and waits
// for every acknowledgement. It returns nil only when each message was
// stored right after its predecessor.
func (s *Sink) publish(ctx context.Context, b seglog.Batch, from uint64) error {
	if s.opts.SharedStream {
		return s.publishShared(ctx, b, from)
	}
	futures := make([]pending, 0, len(b.Records)+len(b.Gaps))
	var perr error
	expect := s.lastSeq
	for e := range b.Entries() {
		m, end := s.message(e, from)
		if m == nil {
			continue
		}
		f, err := s.js.PublishMsgAsync(m,
			jetstream.WithExpectLastSequence(expect),
			jetstream.WithStallWait(s.opts.AckTimeout),
		)
		if err != nil {
			perr = fmt.Errorf("jetstream sink: publish label %s: %w", m.Header.Get(HeaderLabel), err)
			break
		}
		expect++
		futures = append(futures, pending{f: f, seq: expect, end: end})
	}
	// Every acknowledgement is awaited, even after a failure, so that the
	// window is empty when the next batch starts.
	var first error
	ok := true
	for _, p := range futures {
		select {
		case a := <-p.f.Ok():
			if a.Sequence != p.seq {
				// A duplicate stored elsewhere: the stream is not where
				// the sink thought.
				ok = false
				if first == nil {
					first = fmt.Errorf("jetstream sink: label %s acknowledged at stream sequence %d (duplicate %t), expected %d", p.f.Msg().Header.Get(HeaderLabel), a.Sequence, a.Duplicate, p.seq)
				}
				continue
			}
			if ok {
				s.lastSeq, s.next, s.known = a.Sequence, p.end, true
			}
		case err := <-p.f.Err():
			ok = false
			if first == nil {
				first = fmt.Errorf("jetstream sink: publish label %s: %w", p.f.Msg().Header.Get(HeaderLabel), err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if perr != nil && first == nil {
		first = perr
	}
	return first
}

// publishShared publishes one message at a time, each expecting the
// sequence its predecessor on the subject got.
func (s *Sink) publishShared(ctx context.Context, b seglog.Batch, from uint64) error {
	for e := range b.Entries() {
		m, end := s.message(e, from)
		if m == nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, s.opts.AckTimeout)
		a, err := s.js.PublishMsg(pctx, m,
			jetstream.WithExpectLastSequencePerSubject(s.lastSeq),
		)
		cancel()
		if err != nil {
			return fmt.Errorf("jetstream sink: publish label %s: %w", m.Header.Get(HeaderLabel), err)
		}
		if a.Duplicate {
			// The stream had it already: the sink's view is stale.
			return fmt.Errorf("jetstream sink: label %s is a duplicate of stream sequence %d", m.Header.Get(HeaderLabel), a.Sequence)
		}
		s.lastSeq, s.next, s.known = a.Sequence, end, true
	}
	return nil
}

// publishNotice publishes the notice that the log refused n records,
// labelled label (the label of the entry after it), expecting the last
// sequence as the entries do.
func (s *Sink) publishNotice(ctx context.Context, label, n uint64) error {
	opt := jetstream.WithExpectLastSequence(s.lastSeq)
	if s.opts.SharedStream {
		opt = jetstream.WithExpectLastSequencePerSubject(s.lastSeq)
	}
	pctx, cancel := context.WithTimeout(ctx, s.opts.AckTimeout)
	a, err := s.js.PublishMsg(pctx, s.notice(label, n), opt)
	cancel()
	if err != nil {
		s.synced = false
		return fmt.Errorf("jetstream sink: publish the notice of %d refused records: %w", n, err)
	}
	s.lastSeq = a.Sequence
	if !s.known {
		s.known, s.next = true, label
	}
	return nil
}

type pending struct {
	f   jetstream.PubAckFuture
	seq uint64 // stream sequence it must get
	end uint64 // label after it
}

// Close releases the sink's publishing state; the connection stays open.
func (s *Sink) Close() error {
	s.js.CleanupPublisher()
	return nil
}

// IsWrongLastSequence reports whether err is JetStream refusing a publish
// whose expected last sequence did not match the stream.
func IsWrongLastSequence(err error) bool {
	var jerr jetstream.JetStreamError
	if !errors.As(err, &jerr) || jerr.APIError() == nil {
		return false
	}
	c := jerr.APIError().ErrorCode
	return c == jetstream.JSErrCodeStreamWrongLastSequence || c == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
