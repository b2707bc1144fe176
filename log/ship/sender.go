package ship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	seglog "github.com/seglog/seglog/log"
)

// Options configures a Sender. The zero value, and a nil *Options, give the
// defaults stated on each field.
type Options struct {
	// MaxRecords bounds the records of one batch. Default 4096.
	MaxRecords int
	// MaxBytes bounds the payload bytes of one batch; a record larger than
	// it goes alone. Default 4 MiB.
	MaxBytes int
	// MinBackoff is the wait after the first failure in a row; each further
	// failure doubles it, up to MaxBackoff. The wait actually taken is
	// drawn at random between half the step and the step (jitter), so that
	// many agents a server restart failed together do not retry together.
	// Defaults 100ms and 30s.
	MinBackoff time.Duration
	MaxBackoff time.Duration

	// OnResync is called, from Run's goroutine, when an answer made the
	// log resynchronise (AckResult.Resync): the peer and the log
	// disagreed, and messages may be lost or repeated between the two
	// sides. The application resynchronises at its own level.
	OnResync func(seglog.AckResult)
	// OnSuccess is called after each exchange whose answer was applied,
	// and OnFailure after each that failed (no answer, or it could not be
	// applied), both from Run's goroutine. A failure window (give up after
	// failing for so long) is built on them.
	OnSuccess func(Exchange)
	OnFailure func(Exchange)
	// OnAcceptedTypes is called with the peer's accepted types when an
	// answer carries them (Reply.AcceptedTypes non-nil).
	OnAcceptedTypes func([]string)
	// ApplyAcceptedTypes makes the Sender give the peer's accepted types
	// (Reply.AcceptedTypes non-nil) to Log.SetAcceptedTypes, before
	// OnAcceptedTypes: records of other types are then held until the
	// peer accepts them. Default off: the application decides.
	ApplyAcceptedTypes bool
	// NoFailureRecords stops the Sender from recording its exchanges in
	// the log's failure window. By default an exchange that got no answer
	// calls Log.RecordExchangeFailure (with the time of the failure) and
	// one whose answer was applied calls Log.RecordExchangeSuccess, so
	// that Options.FailureWindow of the log works, and the count of the
	// records it refused (Batch.Refused) reaches the peer and is then
	// cleared.
	NoFailureRecords bool

	// Logger receives failures (at Warn, once per run of failures) and
	// resyncs. Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultMaxRecords = 4096
	defaultMaxBytes   = 4 << 20
	defaultMinBackoff = 100 * time.Millisecond
	defaultMaxBackoff = 30 * time.Second
)

func (o *Options) withDefaults() Options {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = defaultMaxRecords
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = defaultMaxBytes
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = defaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = defaultMaxBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return opts
}

// Exchange describes one exchange, for OnSuccess and OnFailure.
type Exchange struct {
	Sequence uint64        // label of the batch's first entry
	Records  int           // records in the batch
	Bytes    int64         // payload bytes of those records
	Gaps     uint64        // labels of the batch taken by gaps
	Duration time.Duration // from taking the batch to applying the answer
	// Stage is where a failure happened: "pending" (taking the batch),
	// "send" (no answer) or "ack" (applying the answer: Ack, and the
	// failure window and accepted types the Sender records); "" on
	// success.
	Stage string
	Err   error
	// Failures counts the failures in a row, this one included; 0 on
	// success.
	Failures int
	Reply    Reply            // the answer, on success
	Ack      seglog.AckResult // what applying it did, on success
	// Shipped and ShippedBytes count the records (and their bytes) that
	// the answer confirmed for the first time.
	Shipped      int
	ShippedBytes int64
	// Refused is the batch's notice of records the log refused during an
	// ended outage (Batch.Refused); 0 if none.
	Refused uint64
}

// Stats are a Sender's counters since it was made.
type Stats struct {
	Records   uint64 // records confirmed by the peer
	Bytes     uint64 // their payload bytes
	GapLabels uint64 // labels of gaps confirmed by the peer
	Batches   uint64 // exchanges whose answer was applied
	Retries   uint64 // failed exchanges (each is retried)
	Resyncs   uint64 // answers that made the log resynchronise
	// Pending is State().PendingCount of the log now.
	Pending uint64
	// Sequence is the label of the next record to send.
	Sequence      uint64
	LastError     string // "" if none yet
	LastErrorAt   time.Time
	LastSuccessAt time.Time
	// Failing counts the failures in a row now; 0 after a success.
	Failing int
}

// Sender ships a log's records to a Sink: it takes batches with
// PendingBytes, sends them and applies the peer's answers with Ack,
// retrying failures with capped exponential backoff and jitter, and waits
// with WaitPending when nothing is pending. It must be the only goroutine
// that calls Pending, PendingBytes and Ack on the log.
type Sender struct {
	log  *seglog.Log
	sink Sink
	opts Options

	running atomic.Bool
	mu      struct {
		sync.Mutex
		stats Stats
	}
}

// NewSender returns a Sender of l's records to sink.
func NewSender(l *seglog.Log, sink Sink, opts *Options) *Sender {
	return &Sender{log: l, sink: sink, opts: opts.withDefaults()}
}

// ErrRunning is returned by Run when the Sender already runs.
var ErrRunning = errors.New("seglog/ship: sender already running")

// Run ships records until ctx ends, and then returns nil: a batch whose
// answer had not been applied is sent again by the next Run (the peer drops
// what it already has), so stopping loses nothing. It returns an error
// only when the log cannot go on: it was closed (seglog.ErrClosed), or a
// failed fsync made it refuse writes (seglog.ErrSyncFailed).
func (s *Sender) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	failures := 0
	for ctx.Err() == nil {
		ex, err := s.exchange(ctx)
		if err == nil && ex.Stage == "" {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return nil // a send cut short by the stop: nothing was applied
		}
		if errors.Is(err, seglog.ErrClosed) || errors.Is(err, seglog.ErrSyncFailed) {
			return err
		}
		failures++
		ex.Err, ex.Failures = err, failures
		s.failed(ex)
		if !sleep(ctx, s.backoff(failures)) {
			return nil
		}
	}
	return nil
}

// exchange takes one batch, sends it and applies the answer. With nothing
// pending it waits for a record and returns a zero Exchange.
func (s *Sender) exchange(ctx context.Context) (Exchange, error) {
	start := time.Now()
	b, err := s.log.PendingBytes(s.opts.MaxRecords, s.opts.MaxBytes)
	if err != nil {
		return Exchange{Stage: "pending"}, fmt.Errorf("take batch: %w", err)
	}
	if b.Empty() && b.Refused == 0 { // a notice of refused records goes alone
		if err := s.log.WaitPending(ctx); err != nil && ctx.Err() == nil {
			return Exchange{Stage: "pending"}, err
		}
		return Exchange{}, nil
	}
	ex := Exchange{Sequence: b.Sequence, Records: len(b.Records), Refused: b.Refused}
	for _, r := range b.Records {
		ex.Bytes += int64(len(r.Data))
	}
	for _, g := range b.Gaps {
		ex.Gaps += g.Count
	}
	reply, err := s.sink.Send(ctx, b)
	if err != nil {
		ex.Stage, ex.Duration = "send", time.Since(start)
		if !s.opts.NoFailureRecords && ctx.Err() == nil {
			if rerr := s.log.RecordExchangeFailure(time.Now()); rerr != nil {
				err = fmt.Errorf("%w (and recording the failure: %v)", err, rerr)
			}
		}
		return ex, fmt.Errorf("send batch %d+%d: %w", b.Sequence, b.Len(), err)
	}
	res, err := s.log.Ack(reply.Next)
	if err == nil && !s.opts.NoFailureRecords {
		// Ends a run of failures, and takes off the notice b carried.
		if err = s.log.RecordExchangeSuccess(); err != nil {
			err = fmt.Errorf("record the success: %w", err)
		}
	}
	if err == nil && s.opts.ApplyAcceptedTypes && reply.AcceptedTypes != nil {
		if err = s.log.SetAcceptedTypes(reply.AcceptedTypes); err != nil {
			err = fmt.Errorf("set the accepted types %q: %w", reply.AcceptedTypes, err)
		}
	}
	ex.Duration = time.Since(start)
	if err != nil {
		ex.Stage = "ack"
		return ex, fmt.Errorf("apply answer %d to batch %d+%d: %w", reply.Next, b.Sequence, b.Len(), err)
	}
	ex.Reply, ex.Ack = reply, res
	var gapLabels uint64
	for e := range b.Entries() {
		if e.Label >= reply.Next {
			break
		}
		if e.Record != nil {
			ex.Shipped++
			ex.ShippedBytes += int64(len(e.Record.Data))
		} else {
			gapLabels += min(e.Gap.Count, reply.Next-e.Label)
		}
	}
	s.mu.Lock()
	st := &s.mu.stats
	st.Records += uint64(ex.Shipped)
	st.Bytes += uint64(ex.ShippedBytes)
	st.GapLabels += gapLabels
	st.Batches++
	st.LastSuccessAt = time.Now()
	st.Failing = 0
	if res.Resync {
		st.Resyncs++
	}
	s.mu.Unlock()
	if res.Resync {
		s.opts.Logger.Warn("seglog/ship: peer and log disagree; resynchronising",
			"dir", s.log.Dir(), "sequence", b.Sequence, "answer", reply.Next, "branch", res.Branch.String())
		if s.opts.OnResync != nil {
			s.opts.OnResync(res)
		}
	}
	if reply.AcceptedTypes != nil && s.opts.OnAcceptedTypes != nil {
		s.opts.OnAcceptedTypes(reply.AcceptedTypes)
	}
	if s.opts.OnSuccess != nil {
		s.opts.OnSuccess(ex)
	}
	return ex, nil
}

func (s *Sender) failed(ex Exchange) {
	s.mu.Lock()
	st := &s.mu.stats
	st.Retries++
	st.LastError = ex.Err.Error()
	st.LastErrorAt = time.Now()
	st.Failing = ex.Failures
	s.mu.Unlock()
	if ex.Failures == 1 {
		s.opts.Logger.Warn("seglog/ship: exchange failed; retrying with backoff", "dir", s.log.Dir(), "err", ex.Err)
	}
	if s.opts.OnFailure != nil {
		s.opts.OnFailure(ex)
	}
}

// backoff returns the wait after the n-th failure in a row: a random
// duration between half and all of MinBackoff*2^(n-1), capped at
// MaxBackoff.
func (s *Sender) backoff(n int) time.Duration {
	d := s.opts.MinBackoff
	for i := 1; i < n && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stats returns the Sender's counters and the log's pending count.
func (s *Sender) Stats() Stats {
	s.mu.Lock()
	st := s.mu.stats
	s.mu.Unlock()
	ls := s.log.State()
	st.Pending, st.Sequence = ls.PendingCount, ls.Sequence
	return st
}
