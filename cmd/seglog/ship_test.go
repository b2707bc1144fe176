package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	seglog "github.com/seglog/seglog/log"
)

const testSecret = "agent-one-secret-0123456789"

// server is a "seglog serve" running in-process.
type server struct {
	url, addr  string
	metricsURL string // set when serve runs with --metrics
	dir        string
	stop       func() result
}

// startServe runs "seglog serve" in-process on 127.0.0.1 with the agent
// "agent1" and returns once it listens.
func startServe(t *testing.T, extra ...string) *server {
	t.Helper()
	base := t.TempDir()
	tokens := filepath.Join(base, "tokens")
	if err := os.WriteFile(tokens, []byte("# test agents\nagent1 "+testSecret+"\n\nagent2 agent-two-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &server{dir: filepath.Join(base, "inboxes")}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb syncBuffer
	done := make(chan int, 1)
	args := append([]string{"serve", "--json", "--listen", "127.0.0.1:0", "--dir", s.dir, "--tokens", tokens}, extra...)
	go func() {
		done <- runContext(ctx, args, pw, &errb)
		pw.Close()
	}()
	out := bufio.NewReader(pr)
	line, err := out.ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve printed no address: %v; stderr: %s; exit %d", err, errb.String(), <-done)
	}
	var ev struct{ Event, Address, URL string }
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Event != "listening" {
		t.Fatalf("serve's first line %q: %v", line, err)
	}
	s.url, s.addr = ev.URL, ev.Address
	if slices.Contains(extra, "--metrics") {
		line, err := out.ReadString('\n')
		var mev struct{ Event, URL string }
		if err != nil || json.Unmarshal([]byte(line), &mev) != nil || mev.Event != "metrics" {
			cancel()
			t.Fatalf("serve --metrics: second line %q: %v; stderr: %s", line, err, errb.String())
		}
		s.metricsURL = mev.URL
	}
	go io.Copy(io.Discard, out)
	stopped := false
	s.stop = func() result {
		if !stopped {
			stopped = true
			cancel()
			return result{code: <-done, stderr: errb.String()}
		}
		return result{}
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// agentLog makes a log of n records, typed and binary, none sent yet.
func agentLog(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "agent")
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		typ, data := payload(i)
		if _, err := l.AppendRecords(seglog.Record{Type: typ, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tokenFile(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkInbox reads an inbox through the seglog commands, while the
// server runs, and checks it holds records 0..n-1 of payload, in order.
func checkInbox(t *testing.T, dir string, n int) {
	t.Helper()
	r := seglogCmd(t, "--json", "info", dir)
	r.wantCode(t, exitOK)
	var info jsonInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatal(err)
	}
	if info.NextOffset != uint64(n) || info.FirstOffset != 0 {
		t.Fatalf("inbox info: offsets [%d, %d), want [0, %d)", info.FirstOffset, info.NextOffset, n)
	}
	for _, cmd := range []string{"dump", "export"} {
		r := seglogCmd(t, cmd, dir)
		r.wantCode(t, exitOK)
		if lines := strings.Count(r.stdout, "\n"); lines != n {
			t.Fatalf("%s of the inbox printed %d lines, want %d", cmd, lines, n)
		}
	}
	l, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	i := 0
	for rec, err := range l.Records(0) {
		if err != nil {
			t.Fatal(err)
		}
		typ, data := payload(i)
		if rec.Offset != uint64(i) || rec.Type != typ || !bytes.Equal(rec.Data, data) {
			t.Fatalf("inbox record %d: offset %d type %q data %q, want type %q data %q", i, rec.Offset, rec.Type, rec.Data, typ, data)
		}
		i++
	}
	if i != n {
		t.Fatalf("inbox holds %d records, want %d", i, n)
	}
}

// TestShipServe ships a log with "seglog ship --drain" to "seglog serve",
// over http and over https with a self-signed certificate, and reads the
// inbox with the other commands while the server runs.
func TestShipServe(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		name := "http"
		if tlsOn {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			var extra, shipExtra []string
			if tlsOn {
				cert, key := selfSigned(t)
				extra = []string{"--tls-cert", cert, "--tls-key", key}
				shipExtra = []string{"--ca", cert}
			}
			srv := startServe(t, append(extra, "--metrics", "127.0.0.1:0")...)
			if tlsOn != strings.HasPrefix(srv.url, "https://") {
				t.Fatalf("server URL %s", srv.url)
			}
			const n = 700
			dir := agentLog(t, n)
			args := append([]string{"--json", "ship", dir, "--to", srv.url, "--agent", "agent1", "--token-file", tokenFile(t, testSecret),
				"--drain", "--max-records", "97", "--retry-min", "1ms", "--retry-max", "10ms"}, shipExtra...)
			r := seglogCmd(t, args...)
			r.wantCode(t, exitOK)
			var last jsonShipStatus
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
				t.Fatalf("last status line %q: %v", lines[len(lines)-1], err)
			}
			if last.Event != "exit" || last.Records != n || last.Pending != 0 || last.Sequence != n {
				t.Fatalf("last status %+v", last)
			}
			checkInbox(t, filepath.Join(srv.dir, "agent1"), n)

			// Shipping again sends nothing and exits at once.
			again := append([]string{"ship", dir, "--to", srv.url, "--agent", "agent1", "--token-file", tokenFile(t, testSecret), "--drain"}, shipExtra...)
			seglogCmd(t, again...).wantCode(t, exitOK)

			metrics := getURL(t, srv.metricsURL)
			if !strings.Contains(metrics, `seglog_serve_records_total{agent="agent1"} 700`) {
				t.Fatalf("metrics lack the stored records:\n%s", grepLines(metrics, "seglog_"))
			}
			// The agents' listener serves the exchange only: the metrics
			// name every agent and are not for the network it faces.
			if code := getStatus(t, srv, "/metrics"); code != http.StatusNotFound {
				t.Fatalf("GET /metrics on the agents' listener: status %d, want 404", code)
			}
			if r := srv.stop(); r.code != exitOK {
				t.Fatalf("serve exited %d: %s", r.code, r.stderr)
			}
			checkInbox(t, filepath.Join(srv.dir, "agent1"), n)
		})
	}
}

// TestShipRefusals checks ship's usage errors and that a wrong secret is
// retried, not taken for delivered: interrupted, ship exits 0 with
// everything still pending.
func TestShipRefusals(t *testing.T) {
	srv := startServe(t)
	dir := agentLog(t, 10)
	tf := tokenFile(t, testSecret)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"ship", dir, "--to", "ftp://x", "--agent", "agent1", "--token-file", tf}, exitUsage},
		{[]string{"ship", dir, "--to", srv.url, "--token-file", tf}, exitUsage},
		{[]string{"ship", dir, "--to", srv.url, "--agent", "../agent1", "--token-file", tf}, exitUsage},
		{[]string{"ship", dir, "--to", srv.url, "--agent", "agent1", "--token-file", filepath.Join(dir, "none")}, exitUsage},
		{[]string{"ship", filepath.Join(dir, "none"), "--to", srv.url, "--agent", "agent1", "--token-file", tf}, exitOpen},
	} {
		seglogCmd(t, c.args...).wantCode(t, c.code)
	}
	// A log another process (here, this one) writes cannot be shipped.
	w, err := seglog.Open(dir, &seglog.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	seglogCmd(t, "ship", dir, "--to", srv.url, "--agent", "agent1", "--token-file", tf).wantCode(t, exitLocked)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"--json", "ship", dir, "--to", srv.url, "--agent", "agent2", "--token-file", tf,
			"--retry-min", "1ms", "--retry-max", "5ms", "--status-every", "1ms", "--metrics", "127.0.0.1:0"}, &out, &errb)
	}()
	waitFor(t, "a refused exchange", func() bool { return strings.Contains(out.String(), "401") })
	var ev struct{ Event, URL string }
	if err := json.Unmarshal([]byte(strings.SplitN(out.String(), "\n", 2)[0]), &ev); err != nil || ev.Event != "metrics" {
		t.Fatalf("first line of ship --json --metrics: %q, %v", out.String(), err)
	}
	resp, err := http.Get(ev.URL)
	if err != nil {
		t.Fatal(err)
	}
	scraped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`seglog_ship_retries_total{stage="send"}`, "seglog_log_pending_records 10", "seglog_log_appended_records_total 10"} {
		if !strings.Contains(string(scraped), m) {
			t.Errorf("ship's /metrics lacks %s:\n%s", m, grepLines(string(scraped), "seglog_"))
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("interrupted ship exited %d: %s", code, errb.String())
	}
	l, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if st := l.State(); st.PendingCount != 10 || st.Sequence != 0 {
		t.Fatalf("after refused exchanges the log's state is %+v, want all 10 pending", st)
	}
	if _, err := os.Stat(filepath.Join(srv.dir, "agent2")); err == nil {
		t.Fatal("a refused agent got an inbox")
	}
}

// getURL returns the body of a GET of url, which must answer 200.
func getURL(t *testing.T, url string) string {
	t.Helper()
	resp, err := testClient(url).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

// getStatus returns the status of an unauthenticated GET of path on the
// server's agents' listener.
func getStatus(t *testing.T, srv *server, path string) int {
	t.Helper()
	resp, err := testClient(srv.url).Get(srv.url + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// testClient is an HTTP client for url, skipping certificate checks for
// the tests' self-signed https servers.
func testClient(url string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = nil
	if strings.HasPrefix(url, "https") {
		tr.TLSClientConfig = insecureForTest()
	}
	return &http.Client{Transport: tr}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key,
// PEM, and returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "seglog test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// insecureForTest skips certificate checks, only to scrape the test
// server's metrics.
func insecureForTest() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

// TestServeReloadsTokens adds an agent to the tokens file, sends SIGHUP,
// and ships as that agent.
func TestServeReloadsTokens(t *testing.T) {
	srv := startServe(t)
	tokens := filepath.Join(filepath.Dir(srv.dir), "tokens")
	const secret3 = "agent-three-secret-0123456789"
	f, err := os.OpenFile(tokens, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("agent3 " + secret3 + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// ship retries the 401s it gets until the server has read the file.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := agentLog(t, 5)
	seglogCtx(t, ctx, "ship", dir, "--to", srv.url, "--agent", "agent3", "--token-file", tokenFile(t, secret3),
		"--drain", "--retry-min", "1ms", "--retry-max", "20ms").wantCode(t, exitOK)
	checkInbox(t, filepath.Join(srv.dir, "agent3"), 5)
}
