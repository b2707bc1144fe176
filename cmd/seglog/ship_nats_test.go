package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	sinkjs "github.com/seglog/seglog/log/ship/jetstream"
)

// startNATS runs a single-node NATS server with JetStream in-process, file
// storage in a temporary directory; with a certificate and key, it
// requires TLS.
func startNATS(t *testing.T, certKey ...string) string {
	t.Helper()
	o := &natsserver.Options{
		ServerName: "seglog-test", Host: "127.0.0.1", Port: natsserver.RANDOM_PORT,
		JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	}
	if len(certKey) == 2 {
		tc, err := natsserver.GenTLSConfig(&natsserver.TLSConfigOpts{CertFile: certKey[0], KeyFile: certKey[1]})
		if err != nil {
			t.Fatal(err)
		}
		o.TLSConfig, o.TLS = tc, true
	}
	s, err := natsserver.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return fmt.Sprintf("127.0.0.1:%d", s.Addr().(*net.TCPAddr).Port)
}

// TestShipNATS ships a log with "seglog ship --drain" into a stream that
// --create-stream makes, twice, and reads the stream: every record once,
// in order, with the log's id as "seglog info" shows it.
func TestShipNATS(t *testing.T) {
	addr := startNATS(t)
	const n = 700
	dir := agentLog(t, n)
	to := "nats://" + addr + "/seglog.{agent}"
	for range 2 {
		r := seglogCmd(t, "--json", "ship", dir, "--to", to, "--agent", "web-1", "--create-stream", "--drain", "--max-records", "97", "--window", "50")
		r.wantCode(t, exitOK)
	}
	r := seglogCmd(t, "--json", "info", dir)
	r.wantCode(t, exitOK)
	var info jsonInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.ID) != 32 {
		t.Fatalf("info id %q", info.ID)
	}

	ctx, st := natsStream(t, "SEGLOG_seglog_web-1", "nats://"+addr)
	if got := st.CachedInfo().State.Msgs; got != n {
		t.Fatalf("the stream holds %d messages, want %d", got, n)
	}
	for i := range n {
		m, err := st.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		e, err := sinkjs.ParseMsg(m.Header, m.Data)
		typ, data := payload(i)
		if err != nil || m.Subject != "seglog.web-1" || e.Log != info.ID || e.Label != uint64(i) || e.Offset != uint64(i) || e.Type != typ || !bytes.Equal(e.Data, data) {
			t.Fatalf("message %d on %s: %+v, %v", i, m.Subject, e, err)
		}
	}
}

// natsStream connects to the NATS server at url and opens the JetStream
// stream name; the context it returns serves further requests until the
// end of the test.
func natsStream(t *testing.T, name, url string, opts ...nats.Option) (context.Context, jetstream.Stream) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, st
}

// TestShipNATSTLS ships over tls:// to a server with a self-signed
// certificate, trusted with --ca; without it, --create-stream fails.
func TestShipNATSTLS(t *testing.T) {
	cert, key := selfSigned(t)
	addr := startNATS(t, cert, key)
	dir := agentLog(t, 50)
	// Without --ca the server's certificate is not trusted: no stream.
	seglogCmd(t, "ship", dir, "--to", "tls://"+addr+"/seglog.tls", "--create-stream", "--timeout", "1s", "--drain").wantCode(t, exitProblems)
	seglogCmd(t, "ship", dir, "--to", "tls://"+addr+"/seglog.tls", "--ca", cert, "--create-stream", "--drain").wantCode(t, exitOK)
	_, st := natsStream(t, "SEGLOG_seglog_tls", "tls://"+addr, nats.RootCAs(cert))
	if got := st.CachedInfo().State.Msgs; got != 50 {
		t.Fatalf("the stream holds %d messages, want 50", got)
	}
}

func TestShipNATSRefusals(t *testing.T) {
	dir := agentLog(t, 3)
	for _, args := range [][]string{
		{"--to", "nats://127.0.0.1:4222"},
		{"--to", "nats://127.0.0.1:4222/"},
		{"--to", "nats://127.0.0.1:4222/a.{agent}"},
		{"--to", "nats://127.0.0.1:4222/a", "--replicas", "2"},
		{"--to", "nats://127.0.0.1:4222/a", "--window", "0"},
		{"--to", "nats://127.0.0.1:4222/a", "--tls-cert", "x"},
	} {
		r := seglogCmd(t, append([]string{"ship", dir}, args...)...)
		if r.code != exitUsage {
			t.Errorf("ship %s: exit %d, want %d (%s)", strings.Join(args, " "), r.code, exitUsage, r.stderr)
		}
	}
}
