package jetstream_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestLeaderChange ships into an R3 stream of a three-node cluster and
// shuts the stream's leader down mid-shipping, then restarts it, several
// times (SEGLOG_NATS_LEADER_CYCLES, default 2); the stream must hold every
// record exactly once, in order.
func TestLeaderChange(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a three-node cluster: not in -short")
	}
	cycles := envInt(t, "SEGLOG_NATS_LEADER_CYCLES", 2)
	rng := rand.New(rand.NewPCG(seed(t), 3))
	nodes := startCluster(t, 3)
	nc := connect(t, clusterURLs(nodes))
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}, Replicas: 3, Duplicates: 500 * time.Millisecond})

	l := openLog(t, logDir(t))
	defer l.Close()
	s := newSink(t, nc, l, 256)
	const perCycle = 4000

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(cycles)*30*time.Second)
	defer cancel()
	// The shipper appends while the test cycles, then ships the rest.
	sh := startCycleShipper(ctx, l, s, rand.New(rand.NewPCG(rng.Uint64(), 4)))
	for c := range cycles {
		sh.waitShipped(t, uint64(c)*perCycle+uint64(rng.IntN(perCycle/2)))
		leader := streamLeader(t, ctx, nodes)
		at := l.State().Cursor
		leader.stop()
		// A new leader takes over: shipping goes on without the old one.
		sh.waitShipped(t, at+perCycle/4)
		leader.start()
		waitCluster(t, nodes)
		t.Logf("cycle %d: leader %s shut down at cursor %d and restarted", c, leader.name, at)
	}
	failures := sh.finish(t)
	target := l.NextOffset()
	t.Logf("%d records, %d failed sends", target, failures)
	checkStream(t, readStream(t, nc, "SHIP"), l.ID().String(), target)
}

// streamLeader returns the node leading the stream SHIP, waiting for one.
func streamLeader(t *testing.T, ctx context.Context, nodes []*natsNode) *natsNode {
	t.Helper()
	for ctx.Err() == nil {
		for _, n := range nodes {
			if n.srv != nil && n.srv.JetStreamIsStreamLeader("$G", "SHIP") {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no stream leader")
	return nil
}
