package jetstream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	seglog "github.com/seglog/seglog/log"
	sinkjs "github.com/seglog/seglog/log/ship/jetstream"
)

// The shipping process of TestKillShipper is this test binary run again
// with these variables set.
const (
	envChildDir    = "SEGLOG_JS_CHILD_DIR"
	envChildURL    = "SEGLOG_JS_CHILD_URL"
	envChildTarget = "SEGLOG_JS_CHILD_TARGET"
	envChildSeed   = "SEGLOG_JS_CHILD_SEED"
	envChildMode   = "SEGLOG_JS_CHILD_MODE" // "ship" or "server"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envChildMode) {
	case "ship":
		os.Exit(runShipper())
	case "server":
		os.Exit(runServerChild())
	}
	os.Exit(m.Run())
}

// runShipper appends records to the log, deterministically by offset, up
// to the target, and ships them, until everything is shipped. It never
// gives up on a failed Send: the test kills it, or it finishes.
func runShipper() int {
	dir, url := os.Getenv(envChildDir), os.Getenv(envChildURL)
	target, err1 := strconv.ParseUint(os.Getenv(envChildTarget), 10, 64)
	sd, err2 := strconv.ParseUint(os.Getenv(envChildSeed), 10, 64)
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "shipper: bad target or seed")
		return 2
	}
	rng := rand.New(rand.NewPCG(sd, 1))
	l, err := seglog.Open(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shipper:", err)
		return 2
	}
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.Timeout(2*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "shipper:", err)
		return 2
	}
	s, err := sinkjs.New(nc, sinkjs.Options{
		Subject:    "seglog.{agent}",
		Agent:      "a1",
		LogID:      l.ID().String(),
		Window:     1 + rng.IntN(512),
		AckTimeout: 2 * time.Second,
		NoMsgID:    rng.IntN(2) == 0, // exactness must not depend on it
		// One run in three expects the subject's last sequence, one
		// publish at a time, as on a shared stream.
		SharedStream: rng.IntN(3) == 0,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "shipper:", err)
		return 2
	}
	ctx := context.Background()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		if l.State().PendingCount < 2000 {
			if err := appendUpTo(l, 1+rng.IntN(300), target); err != nil {
				fmt.Fprintln(os.Stderr, "shipper: append:", err)
				return 2
			}
		}
		empty, err := shipOnce(ctx, l, s, 1+rng.IntN(200))
		// Paced, so that the test's kills fall mid-shipping.
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if empty && l.NextOffset() >= target {
			s.Close()
			nc.Close()
			if err := l.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "shipper: close:", err)
				return 2
			}
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "shipper: not done after 3 minutes")
	return 3
}

// startShipper starts the shipping process.
func startShipper(t *testing.T, dir, url string, target, sd uint64) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envChildMode+"=ship",
		envChildDir+"="+dir,
		envChildURL+"="+url,
		envChildTarget+"="+strconv.FormatUint(target, 10),
		envChildSeed+"="+strconv.FormatUint(sd, 10),
	)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func pause(rng *rand.Rand, max time.Duration) {
	time.Sleep(time.Duration(rng.Int64N(int64(max))))
}

// TestKillShipper kills the shipping process with SIGKILL and stops and
// restarts the NATS server at random moments, many times; then the stream
// must hold every record of the log exactly once, in order, and nothing
// else. SEGLOG_NATS_CYCLES sets the number of cycles (default 12).
func TestKillShipper(t *testing.T) {
	t.Parallel() // mostly waiting: it runs beside the cluster tests
	cycles := envInt(t, "SEGLOG_NATS_CYCLES", 12)
	rng := rand.New(rand.NewPCG(seed(t), 2))
	node := startNode(t)
	nc := connect(t, node.url())
	// A short duplicate window: message ids alone would let copies in.
	createStream(t, nc, jetstream.StreamConfig{Name: "SHIP", Subjects: []string{"seglog.>"}, Duplicates: 200 * time.Millisecond})
	dir := logDir(t)
	const perCycle = 3000
	target := uint64(cycles) * perCycle
	kills, restarts := 0, 0
	for c := range cycles {
		// Each run has more to append; it is killed before it is done,
		// most of the time.
		cmd := startShipper(t, dir, node.url(), uint64(c+1)*perCycle, rng.Uint64())
		pause(rng, 400*time.Millisecond)
		switch rng.IntN(3) {
		case 0: // the shipper dies
		case 1: // the server stops and comes back while the shipper runs
			node.stop()
			pause(rng, 300*time.Millisecond)
			node.start()
			restarts++
			pause(rng, 300*time.Millisecond)
		case 2: // both: the shipper dies while the server is down
			node.stop()
			pause(rng, 200*time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			node.start()
			restarts++
		}
		cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err == nil {
			t.Logf("cycle %d: the shipper had finished", c)
		} else {
			kills++
		}
	}
	// The last run ships what is left.
	cmd := startShipper(t, dir, node.url(), target, rng.Uint64())
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the last shipper: %v", err)
	}
	t.Logf("%d cycles: %d shipper kills, %d server restarts, %d records", cycles, kills, restarts, target)
	l := openLog(t, dir)
	id := l.ID().String()
	if st := l.State(); st.PendingCount != 0 || st.Next != target {
		t.Errorf("log state %+v, want everything shipped up to %d", st, target)
	}
	l.Close()
	checkStream(t, readStream(t, nc, "SHIP"), id, target)
}
