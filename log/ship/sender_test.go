package ship_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomised tests (0: from the clock)")

func seed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return s
}

// memPeer is a peer that keeps what it receives in memory and answers the
// label it expects next, as a server must. It fails at random: before
// storing (request lost) and after (answer lost).
type memPeer struct {
	mu      sync.Mutex
	rng     *rand.Rand
	stored  []string // one entry per label: record data, or "gap"
	sends   int
	closed  bool
	failing bool
}

func (p *memPeer) Send(ctx context.Context, b seglog.Batch) (ship.Reply, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sends++
	if p.failing && p.rng.IntN(3) == 0 {
		return ship.Reply{}, errors.New("request lost")
	}
	next := uint64(len(p.stored))
	for e := range b.Entries() {
		switch {
		case e.Label > next:
			// A hole: the peer answers where it stands.
		case e.Record != nil && e.Label == next:
			p.stored = append(p.stored, string(e.Record.Data))
			next++
		case e.Gap != nil && e.Label+e.Gap.Count > next:
			for range e.Label + e.Gap.Count - next {
				p.stored = append(p.stored, "gap")
			}
			next = e.Label + e.Gap.Count
		}
	}
	if p.failing && p.rng.IntN(3) == 0 {
		return ship.Reply{}, errors.New("answer lost")
	}
	return ship.Reply{Next: next}, nil
}

func (p *memPeer) Close() error { p.closed = true; return nil }

// TestSenderDeliversEverythingOnce runs a Sender against a peer that
// loses requests and answers, while records are appended, and checks the
// peer ends with every record once, in order.
func TestSenderDeliversEverythingOnce(t *testing.T) {
	s := seed(t)
	l, err := seglog.Open(t.TempDir(), &seglog.Options{SegmentSize: seglog.MinSegmentSize})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peer := &memPeer{rng: rand.New(rand.NewPCG(s, 1)), failing: true}
	const n = 2000
	var resyncs int
	all := make(chan struct{})
	snd := ship.NewSender(l, peer, &ship.Options{
		MaxRecords: 7, MaxBytes: 300,
		MinBackoff: time.Microsecond, MaxBackoff: time.Millisecond,
		OnResync: func(seglog.AckResult) { resyncs++ },
		OnSuccess: func(ex ship.Exchange) {
			if ex.Reply.Next == n {
				close(all)
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- snd.Run(ctx) }()

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range n / 4 {
				if _, err := l.Append(fmt.Appendf(nil, "g%d-%04d", g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-all // the peer confirmed everything
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if resyncs != 0 {
		t.Errorf("%d resyncs against a peer that never lost data", resyncs)
	}
	seen := map[string]bool{}
	last := map[byte]string{}
	for i, d := range peer.stored {
		if seen[d] {
			t.Fatalf("label %d: %q stored twice", i, d)
		}
		seen[d] = true
		if d <= last[d[1]] {
			t.Fatalf("label %d: %q after %q", i, d, last[d[1]])
		}
		last[d[1]] = d
	}
	if len(peer.stored) != n {
		t.Fatalf("peer has %d records, want %d", len(peer.stored), n)
	}
	st := snd.Stats()
	if st.Records != n || st.Pending != 0 || st.Retries == 0 || st.LastError == "" {
		t.Errorf("stats %+v: want %d records, none pending, some retries with an error", st, n)
	}
}

// TestSenderStopsCleanly checks that Run returns nil when its context ends
// while the peer fails, and that a second Run ships the rest.
func TestSenderStopsCleanly(t *testing.T) {
	l, err := seglog.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 10 {
		if _, err := l.Append(fmt.Appendf(nil, "r%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	down := &downSink{}
	ctx, cancel := context.WithCancel(context.Background())
	fails := make(chan struct{})
	snd2 := ship.NewSender(l, down, &ship.Options{
		MinBackoff: time.Microsecond, MaxBackoff: time.Millisecond,
		OnFailure: func(ex ship.Exchange) {
			if ex.Failures == 3 {
				close(fails)
			}
		},
	})
	done := make(chan error, 1)
	go func() { done <- snd2.Run(ctx) }()
	<-fails
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if got := l.State().PendingCount; got != 10 {
		t.Fatalf("pending %d after failed sends, want 10", got)
	}
	peer := &memPeer{}
	ctx, cancel = context.WithCancel(context.Background())
	snd3 := ship.NewSender(l, peer, &ship.Options{OnSuccess: func(ex ship.Exchange) {
		if ex.Reply.Next == 10 {
			cancel()
		}
	}})
	if err := snd3.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(peer.stored) != 10 || peer.stored[9] != "r9" {
		t.Fatalf("peer has %q", peer.stored)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := snd3.Run(context.Background()); !errors.Is(err, seglog.ErrClosed) {
		t.Fatalf("Run on a closed log = %v, want ErrClosed", err)
	}
}

type downSink struct{}

func (downSink) Send(ctx context.Context, b seglog.Batch) (ship.Reply, error) {
	return ship.Reply{}, errors.New("connection refused")
}
func (downSink) Close() error { return nil }
