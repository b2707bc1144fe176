package jetstream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A NATS server in a child process (this test binary run again), so that
// the test can kill it with SIGKILL: a crash, not a shutdown that hands
// its leaderships over first.
const (
	envSrvName   = "SEGLOG_JS_SRV_NAME"
	envSrvPort   = "SEGLOG_JS_SRV_PORT"
	envSrvCPort  = "SEGLOG_JS_SRV_CPORT"
	envSrvRoutes = "SEGLOG_JS_SRV_ROUTES"
	envSrvDir    = "SEGLOG_JS_SRV_DIR"
)

// runServerChild runs one clustered server until it is killed.
func runServerChild() int {
	port, err1 := strconv.Atoi(os.Getenv(envSrvPort))
	cport, err2 := strconv.Atoi(os.Getenv(envSrvCPort))
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "server child: bad ports")
		return 2
	}
	o := &server.Options{
		ServerName: os.Getenv(envSrvName),
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   os.Getenv(envSrvDir),
		NoLog:      true,
		NoSigs:     true,
		Cluster:    server.ClusterOpts{Name: "seglog", Host: "127.0.0.1", Port: cport},
		Routes:     server.RoutesFromStr(os.Getenv(envSrvRoutes)),
	}
	s, err := server.NewServer(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server child:", err)
		return 2
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "server child: not ready")
		return 2
	}
	select {} // until killed
}

type procNode struct {
	name, dir   string
	port, cport int
	routes      string
	cmd         *exec.Cmd
}

func (n *procNode) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envChildMode+"=server",
		envSrvName+"="+n.name,
		envSrvPort+"="+strconv.Itoa(n.port),
		envSrvCPort+"="+strconv.Itoa(n.cport),
		envSrvRoutes+"="+n.routes,
		envSrvDir+"="+n.dir,
	)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd = cmd
}

func (n *procNode) kill() {
	if n.cmd != nil {
		n.cmd.Process.Signal(syscall.SIGKILL)
		n.cmd.Wait()
		n.cmd = nil
	}
}

// TestLeaderKill is TestLeaderChange with the stream leader killed with
// SIGKILL: the others elect a new leader after the election timeout, and
// publishes in flight to the dead one get no acknowledgement. Each cycle
// kills the leader mid-shipping and restarts it (SEGLOG_NATS_KILL_CYCLES,
// default 1: each costs an election timeout).
func TestLeaderKill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a three-node cluster in child processes: not in -short")
	}
	cycles := envInt(t, "SEGLOG_NATS_KILL_CYCLES", 1)
	rng := rand.New(rand.NewPCG(seed(t), 5))
	nodes := make([]*procNode, 3)
	var routes, urls []string
	for i := range nodes {
		nodes[i] = &procNode{name: fmt.Sprintf("k%d", i), dir: t.TempDir(), port: freePort(t), cport: freePort(t)}
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", nodes[i].cport))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", nodes[i].port))
	}
	for _, n := range nodes {
		n.routes = strings.Join(routes, ",")
		n.start(t)
		t.Cleanup(n.kill)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}, Replicas: 3, Duplicates: 500 * time.Millisecond})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	l := openLog(t, logDir(t))
	defer l.Close()
	s := newSink(t, nc, l, 256)
	const perCycle = 3000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(cycles)*time.Minute)
	defer cancel()
	// The shipper appends while the test cycles, then ships the rest.
	sh := startCycleShipper(ctx, l, s, rand.New(rand.NewPCG(rng.Uint64(), 6)))
	// clusterInfo asks for the stream's cluster state, retrying while
	// there is no leader to answer.
	clusterInfo := func() *jetstream.ClusterInfo {
		t.Helper()
		for ctx.Err() == nil {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := js.Stream(rctx, "SHIP")
			rcancel()
			if err == nil && st.CachedInfo().Cluster != nil && st.CachedInfo().Cluster.Leader != "" {
				return st.CachedInfo().Cluster
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("the stream has no leader")
		return nil
	}
	for c := range cycles {
		sh.waitShipped(t, uint64(c)*perCycle+uint64(rng.IntN(perCycle/2)))
		leader := clusterInfo().Leader
		var victim *procNode
		for _, n := range nodes {
			if n.name == leader {
				victim = n
			}
		}
		if victim == nil {
			t.Fatalf("leader %q is no node of the test", leader)
		}
		at := l.State().Cursor
		victim.kill()
		// The two others elect a leader; shipping goes on.
		sh.waitShipped(t, at+perCycle/4)
		victim.start(t)
		// Wait until the restarted node has caught up, so that the next
		// kill leaves a majority that holds everything.
		for ok := false; !ok; {
			ci := clusterInfo()
			ok = len(ci.Replicas) == 2
			for _, r := range ci.Replicas {
				ok = ok && r.Current && !r.Offline
			}
			if !ok {
				time.Sleep(50 * time.Millisecond)
			}
		}
		t.Logf("cycle %d: leader %s killed at cursor %d and restarted", c, leader, at)
	}
	failures := sh.finish(t)
	target := l.NextOffset()
	t.Logf("%d records, %d failed sends", target, failures)
	checkStream(t, readStream(t, nc, "SHIP"), l.ID().String(), target)
}
