package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	sinkjs "github.com/seglog/seglog/log/ship/jetstream"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomised tests (0: from the clock)")

// seed returns the seed of a randomised test and prints it.
func seed(t testing.TB) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return s
}

// envInt reads a count from the environment, for the long runs.
func envInt(t testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// natsNode is one NATS server with JetStream, file storage in dir, that
// can be stopped and started again on the same ports and store.
type natsNode struct {
	t      testing.TB
	name   string
	dir    string
	port   int
	cport  int    // cluster port; 0 for a single node
	routes string // the cluster's routes
	srv    *server.Server
}

// freePort reserves a port on 127.0.0.1 and releases it for a server.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (n *natsNode) start() {
	n.t.Helper()
	o := &server.Options{
		ServerName: n.name,
		Host:       "127.0.0.1",
		Port:       n.port,
		JetStream:  true,
		StoreDir:   n.dir,
		NoLog:      true,
		NoSigs:     true,
	}
	if n.cport != 0 {
		o.Cluster = server.ClusterOpts{Name: "seglog", Host: "127.0.0.1", Port: n.cport}
		o.Routes = server.RoutesFromStr(n.routes)
	}
	// A port just released may still be held by the server shut down a
	// moment ago: try again for a while.
	var err error
	for range 50 {
		var s *server.Server
		if s, err = server.NewServer(o); err != nil {
			n.t.Fatal(err)
		}
		go s.Start()
		if s.ReadyForConnections(10 * time.Second) {
			n.srv = s
			n.port = s.Addr().(*net.TCPAddr).Port
			return
		}
		s.Shutdown()
		s.WaitForShutdown()
		err = errors.New("not ready for connections")
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatalf("server %s: %v", n.name, err)
}

func (n *natsNode) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// startNode starts a single-node server with file storage in a temporary
// directory.
func startNode(t testing.TB) *natsNode {
	n := &natsNode{t: t, name: "n0", dir: t.TempDir(), port: server.RANDOM_PORT}
	n.start()
	t.Cleanup(n.stop)
	return n
}

// startCluster starts a cluster of size nodes and waits until every node
// sees the others and JetStream is current everywhere.
func startCluster(t testing.TB, size int) []*natsNode {
	nodes := make([]*natsNode, size)
	var routes []string
	for i := range nodes {
		nodes[i] = &natsNode{t: t, name: fmt.Sprintf("n%d", i), dir: t.TempDir(), port: freePort(t), cport: freePort(t)}
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", nodes[i].cport))
	}
	for _, n := range nodes {
		n.routes = strings.Join(routes, ",")
		n.start()
		t.Cleanup(n.stop)
	}
	waitCluster(t, nodes)
	return nodes
}

// waitCluster waits until every running node has routes to the others and
// JetStream is current on each.
func waitCluster(t testing.TB, nodes []*natsNode) {
	t.Helper()
	for range 600 {
		ok := true
		for _, n := range nodes {
			if n.srv == nil || n.srv.NumRemotes() != len(nodes)-1 || !n.srv.JetStreamIsCurrent() {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the cluster did not form within 30s")
}

func clusterURLs(nodes []*natsNode) string {
	var u []string
	for _, n := range nodes {
		u = append(u, n.url())
	}
	return strings.Join(u, ",")
}

// connect connects a client that reconnects forever, quickly.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// createStream creates the stream, retrying while the cluster has no
// meta leader (requests are then dropped, not answered).
func createStream(t testing.TB, nc *nats.Conn, cfg jetstream.StreamConfig) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage == 0 {
		cfg.Storage = jetstream.FileStorage
	}
	for range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = js.CreateOrUpdateStream(ctx, cfg)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("create stream %s: %v", cfg.Name, err)
}

// recordData is the content of the record at offset: the tests append it
// deterministically, so that a record lost in a crash and appended again
// is the same record.
func recordData(off uint64) []byte {
	b := fmt.Appendf(nil, "record %d ", off)
	for len(b) < 64 {
		b = append(b, byte('a'+off%26))
	}
	return b
}

func recordType(off uint64) string {
	if off%3 == 0 {
		return ""
	}
	return "t" + strconv.FormatUint(off%3, 10)
}

// appendUpTo appends up to n records, deterministically by offset, without
// going past target.
func appendUpTo(l *seglog.Log, n int, target uint64) error {
	next := l.NextOffset()
	var recs []seglog.Record
	for i := 0; i < n && next+uint64(i) < target; i++ {
		off := next + uint64(i)
		recs = append(recs, seglog.Record{Type: recordType(off), Data: recordData(off)})
	}
	if len(recs) == 0 {
		return nil
	}
	_, err := l.AppendRecords(recs...)
	return err
}

// shipOnce runs one Pending→Send→Ack round; it reports whether the batch
// was empty.
func shipOnce(ctx context.Context, l *seglog.Log, s ship.Sink, max int) (bool, error) {
	b, err := l.Pending(max)
	if err != nil {
		return false, err
	}
	if b.Empty() {
		return true, nil
	}
	r, err := s.Send(ctx, b)
	if err != nil {
		return false, err
	}
	if _, err := l.Ack(r.Next); err != nil {
		return false, err
	}
	return false, nil
}

// streamEntry is one message read back from the stream.
type streamEntry struct {
	seq uint64
	sinkjs.Entry
}

// readStream reads every message of the stream in order.
func readStream(t testing.TB, nc *nats.Conn, stream string) []streamEntry {
	return readStreamFiltered(t, nc, stream, "")
}

// readStreamFiltered reads the messages of the stream on the subjects
// filter matches ("" for all), in order.
func readStreamFiltered(t testing.TB, nc *nats.Conn, stream, filter string) []streamEntry {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var st jetstream.Stream
	for range 30 {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		st, err = js.Stream(rctx, stream)
		rcancel()
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	want := st.CachedInfo().State.Msgs
	if filter != "" {
		var info *jetstream.StreamInfo
		for range 30 {
			ictx, icancel := context.WithTimeout(ctx, 2*time.Second)
			info, err = st.Info(ictx, jetstream.WithSubjectFilter(filter))
			icancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		want = 0
		for _, n := range info.State.Subjects {
			want += n
		}
	}
	if want == 0 {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	// While the cluster settles, a request can go unanswered: a short
	// timeout, and again.
	var c jetstream.Consumer
	for range 30 {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		c, err = st.OrderedConsumer(cctx, cfg)
		ccancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	it, err := c.Messages()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	var out []streamEntry
	for uint64(len(out)) < want {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			t.Fatalf("read %s after %d of %d messages: %v", stream, len(out), want, err)
		}
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		e, err := sinkjs.ParseMsg(m.Headers(), bytes.Clone(m.Data()))
		if err != nil {
			t.Fatalf("stream sequence %d: %v", md.Sequence.Stream, err)
		}
		out = append(out, streamEntry{seq: md.Sequence.Stream, Entry: e})
	}
	return out
}

// checkStream checks that the stream holds exactly the records [0, n) of
// the log with identity id, in order, each once, and nothing else.
func checkStream(t testing.TB, got []streamEntry, id string, n uint64) {
	t.Helper()
	bad := 0
	for i, e := range got {
		off := uint64(i)
		if e.Log != id || e.Label != off || e.Offset != off || e.Gap != 0 || e.Type != recordType(off) || !bytes.Equal(e.Data, recordData(off)) {
			t.Errorf("stream message %d (sequence %d): log %s label %d offset %d type %q gap %d data %q; want label and offset %d, data %q",
				i, e.seq, e.Log, e.Label, e.Offset, e.Type, e.Gap, e.Data, off, recordData(off))
			if bad++; bad > 10 {
				t.FailNow()
			}
		}
	}
	if uint64(len(got)) != n {
		t.Fatalf("the stream holds %d messages, want %d", len(got), n)
	}
}

func openLog(t testing.TB, dir string) *seglog.Log {
	t.Helper()
	l, err := seglog.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func logDir(t testing.TB) string { return filepath.Join(t.TempDir(), "log") }

var _ = rand.N[int]
