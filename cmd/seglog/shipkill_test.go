package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	"github.com/seglog/seglog/log/ship/exchange"
)

var shipKillSeed = flag.Uint64("shipkill.seed", 0, "seed of TestShipKill (0: from the clock)")

// shipKills is the number of SIGKILLs TestShipKill deals: 20 by default,
// SEGLOG_SHIP_KILLS for a longer run.
func shipKills(t *testing.T) int {
	if s := os.Getenv("SEGLOG_SHIP_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("SEGLOG_SHIP_KILLS=%q: want a positive number", s)
		}
		return n
	}
	return 20
}

const (
	agentEnv        = "SEGLOG_SHIPKILL_AGENT" // DIR|URL|TOKENFILE|GEN
	agentGoroutines = 4
	agentPerGo      = 400 // appends per goroutine per run of the agent
)

// agentRecord is the deterministic record that agent run gen's goroutine g
// appends i-th: a unique id, a type, and binary bytes derived from the id.
func agentRecord(gen, g, i int) seglog.Record {
	id := fmt.Sprintf("%d-%d-%d", gen, g, i)
	data := []byte(id + "|")
	r := rand.New(rand.NewPCG(uint64(gen)<<32|uint64(g)<<20|uint64(i), 7))
	for range r.IntN(200) {
		data = append(data, byte(r.Uint32()))
	}
	return seglog.Record{Type: "t" + strconv.Itoa(i%3), Data: data}
}

// parseAgentRecord returns the gen, goroutine and index a record's data
// names, and whether the record is exactly what agentRecord makes for them.
func parseAgentRecord(r seglog.Record) (gen, g, i int, ok bool) {
	id, _, found := bytes.Cut(r.Data, []byte("|"))
	if !found {
		return 0, 0, 0, false
	}
	if _, err := fmt.Sscanf(string(id), "%d-%d-%d", &gen, &g, &i); err != nil {
		return 0, 0, 0, false
	}
	want := agentRecord(gen, g, i)
	return gen, g, i, want.Type == r.Type && bytes.Equal(want.Data, r.Data)
}

// TestShipKillAgentHelper is the agent of TestShipKill, run in a child
// process: it appends from several goroutines, printing "ok OFFSET ID"
// for each append that returned, and ships with a Sender in the same
// process, until it is killed.
func TestShipKillAgentHelper(t *testing.T) {
	spec := os.Getenv(agentEnv)
	if spec == "" {
		t.Skip("the agent of TestShipKill")
	}
	f := strings.Split(spec, "|")
	dir, url, tokenFile := f[0], f[1], f[2]
	gen, _ := strconv.Atoi(f[3])
	secret, err := os.ReadFile(tokenFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: seglog.MinSegmentSize, Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent open:", err)
		os.Exit(3)
	}
	c, err := exchange.NewClient(url, "agent1", strings.TrimSpace(string(secret)), &exchange.ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	snd := ship.NewSender(l, c, &ship.Options{MaxRecords: 50, MinBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: quietLogger()})
	go snd.Run(context.Background())
	var mu sync.Mutex
	for g := range agentGoroutines {
		go func() {
			for i := range agentPerGo {
				off, err := l.AppendRecords(agentRecord(gen, g, i))
				if err != nil {
					fmt.Fprintln(os.Stderr, "agent append:", err)
					return
				}
				mu.Lock()
				os.Stdout.WriteString(fmt.Sprintf("ok %d %d-%d-%d\n", off, gen, g, i))
				mu.Unlock()
			}
		}()
	}
	select {} // until killed
}

// lossyProxy forwards requests to the current server, dropping requests,
// dropping answers after the server stored the batch, delaying,
// duplicating, replaying old requests late (reordering) and answering 500.
type lossyProxy struct {
	target atomic.Value // string: host:port of the server, "" while down
	mu     sync.Mutex
	rng    *rand.Rand
	saved  [][]byte
	header http.Header
	path   string
	wg     sync.WaitGroup
	faults map[string]int
	client *http.Client
}

func (p *lossyProxy) forward(path string, h http.Header, body []byte) (int, []byte, error) {
	target, _ := p.target.Load().(string)
	if target == "" {
		return 0, nil, fmt.Errorf("server down")
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+target+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for _, k := range []string{"Authorization", "Content-Type", "Content-Encoding"} {
		req.Header.Set(k, h.Get(k))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (p *lossyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	p.mu.Lock()
	roll := p.rng.IntN(100)
	delay := time.Duration(p.rng.IntN(20)) * time.Millisecond
	var replay []byte
	if len(p.saved) > 0 && p.rng.IntN(8) == 0 {
		k := p.rng.IntN(len(p.saved))
		replay = p.saved[k]
		p.saved = append(p.saved[:k], p.saved[k+1:]...)
	}
	if roll >= 90 && len(p.saved) < 4 {
		p.saved = append(p.saved, body) // replayed later, after newer batches
	}
	p.mu.Unlock()
	if replay != nil {
		p.count("replay")
		p.wg.Go(func() { p.forward(r.URL.Path, r.Header, replay) })
	}
	drop := func() {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
	}
	switch {
	case roll < 10:
		p.count("drop request")
		drop()
		return
	case roll < 17:
		p.count("500 before")
		http.Error(w, "injected", http.StatusInternalServerError)
		return
	case roll < 27:
		p.count("drop answer")
		p.forward(r.URL.Path, r.Header, body)
		drop()
		return
	case roll < 33:
		p.count("500 after")
		p.forward(r.URL.Path, r.Header, body)
		http.Error(w, "injected", http.StatusInternalServerError)
		return
	case roll < 41:
		p.count("duplicate")
		p.forward(r.URL.Path, r.Header, body)
	case roll < 55:
		p.count("delay")
		time.Sleep(delay) // a slow network; nothing waits on it
	}
	code, b, err := p.forward(r.URL.Path, r.Header, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func (p *lossyProxy) count(fault string) {
	p.mu.Lock()
	p.faults[fault]++
	p.mu.Unlock()
}

// proc is a child process whose stdout lines the test collects.
type proc struct {
	name  string
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	err   error
	errb  syncBuffer
}

func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, lines: make(chan string, 1<<16), done: make(chan struct{})}
	cmd.Stderr = &p.errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		p.err = cmd.Wait()
		close(p.lines)
		close(p.done)
	}()
	return p
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// TestShipKill runs an agent (appending from several goroutines and
// shipping with a Sender), "seglog ship" and "seglog serve" as real
// processes, through a lossy proxy, and SIGKILLs each of them at random
// moments. Then it ships what is left and checks that the agent's inbox
// holds every record whose Append returned exactly once, at the label
// equal to its offset, with its type and payload, and nothing else.
func TestShipKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	seed := *shipKillSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	kills := shipKills(t)
	t.Logf("seed %d (rerun with -shipkill.seed %d), %d kills", seed, seed, kills)
	rng := rand.New(rand.NewPCG(seed, 0))

	base := t.TempDir()
	bin := filepath.Join(base, "seglog")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	agentDir, inboxes := filepath.Join(base, "agent"), filepath.Join(base, "inboxes")
	tokens, secretFile := filepath.Join(base, "tokens"), filepath.Join(base, "secret")
	if err := os.WriteFile(tokens, []byte("agent1 "+testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The agent's log exists before anyone ships it.
	if l, err := seglog.Open(agentDir, &seglog.Options{SegmentSize: seglog.MinSegmentSize}); err != nil {
		t.Fatal(err)
	} else if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	proxy := &lossyProxy{rng: rand.New(rand.NewPCG(seed, 1)), faults: map[string]int{},
		client: &http.Client{Timeout: 10 * time.Second}}
	proxy.target.Store("")
	ps := httptest.NewServer(proxy)
	defer func() {
		ps.Close()
		proxy.wg.Wait()
	}()

	var server *proc
	startServer := func() {
		server = startProc(t, "serve", exec.Command(bin, "--json", "serve", "--listen", "127.0.0.1:0", "--dir", inboxes, "--tokens", tokens))
		line, ok := <-server.lines
		var ev struct{ Address string }
		if !ok || json.Unmarshal([]byte(line), &ev) != nil || ev.Address == "" {
			server.kill()
			t.Fatalf("serve did not start: %q %v\n%s", line, server.err, server.errb.String())
		}
		if _, _, err := net.SplitHostPort(ev.Address); err != nil {
			t.Fatal(err)
		}
		proxy.target.Store(ev.Address)
	}
	killServer := func() {
		proxy.target.Store("")
		server.kill()
	}
	startServer()
	defer func() { server.kill() }()

	confirmed := map[uint64]string{} // agent offset -> id whose Append returned
	var collectErr error             // set by collect, read once its goroutine is done
	collect := func(p *proc) {
		for line := range p.lines {
			var off uint64
			var id string
			if _, err := fmt.Sscanf(line, "ok %d %s", &off, &id); err != nil {
				collectErr = fmt.Errorf("agent printed %q", line)
				continue
			}
			if prev, dup := confirmed[off]; dup && collectErr == nil {
				collectErr = fmt.Errorf("offset %d returned twice: %s and %s", off, prev, id)
			}
			confirmed[off] = id
		}
	}

	dealt, gen, interrupted := map[string]int{}, 0, 0
	total := func() int { return dealt["agent"] + dealt["ship"] + dealt["serve"] }
	for total() < kills {
		var p *proc
		if rng.IntN(10) < 7 {
			gen++
			cmd := exec.Command(os.Args[0], "-test.run=^TestShipKillAgentHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%s|%d", agentEnv, agentDir, ps.URL, secretFile, gen))
			p = startProc(t, "agent", cmd)
		} else {
			p = startProc(t, "ship", exec.Command(bin, "ship", agentDir, "--to", ps.URL, "--agent", "agent1",
				"--token-file", secretFile, "--max-records", "37", "--retry-min", "1ms", "--retry-max", "50ms", "--status-every", "0"))
		}
		var lines sync.WaitGroup
		if p.name == "agent" {
			lines.Go(func() { collect(p) })
		}
		// The server dies at a random moment of one phase in three.
		life := time.Duration(20+rng.IntN(400)) * time.Millisecond
		serverAt := time.Duration(-1)
		if rng.IntN(3) == 0 {
			serverAt = time.Duration(rng.Int64N(int64(life)))
		}
		phase := time.NewTimer(life)
		var serverTimer <-chan time.Time
		if serverAt >= 0 {
			serverTimer = time.After(serverAt)
		}
	wait:
		for {
			select {
			case <-serverTimer:
				killServer()
				dealt["serve"]++
				startServer()
				serverTimer = nil
			case <-phase.C:
				break wait
			case <-p.done:
				t.Fatalf("%s exited by itself: %v\n%s", p.name, p.err, p.errb.String())
			}
		}
		if p.name == "ship" && rng.IntN(4) == 0 && strings.Contains(p.errb.String(), "seglog: shipping") {
			// Interrupted rather than killed, once it has said it is
			// shipping (so its signal handler is in place): it must exit 0.
			p.cmd.Process.Signal(syscall.SIGINT)
			<-p.done
			if p.err != nil {
				t.Fatalf("seglog ship interrupted: %v\n%s", p.err, p.errb.String())
			}
			interrupted++
		} else {
			p.kill()
			dealt[p.name]++
		}
		lines.Wait()
		if collectErr != nil {
			t.Fatal(collectErr)
		}
		if s := p.errb.String(); strings.Contains(s, "panic") || strings.Contains(s, "DATA RACE") {
			t.Fatalf("%s:\n%s", p.name, s)
		}
	}

	// Ship what is left, through the same lossy proxy.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "ship", agentDir, "--to", ps.URL, "--agent", "agent1", "--token-file", secretFile,
		"--drain", "--retry-min", "1ms", "--retry-max", "50ms", "--status-every", "0").CombinedOutput()
	if err != nil {
		t.Fatalf("final ship --drain: %v\n%s", err, out)
	}
	killServer()
	t.Logf("kills: %v; ship runs interrupted (exit 0): %d; agent runs %d; confirmed appends %d; proxy faults %v",
		dealt, interrupted, gen, len(confirmed), proxy.faults)

	agent, err := seglog.Open(agentDir, &seglog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	st := agent.State()
	agent.Close()
	if st.PendingCount != 0 || st.Sequence != st.Next {
		t.Fatalf("agent after the final ship: %+v, want nothing pending and the label equal to the offset", st)
	}
	in, err := seglog.Open(filepath.Join(inboxes, "agent1"), &seglog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if in.FirstOffset() != 0 || in.NextOffset() != st.Next {
		t.Fatalf("inbox holds offsets [%d, %d), the agent appended [0, %d)", in.FirstOffset(), in.NextOffset(), st.Next)
	}
	seen := map[string]uint64{}
	last := map[[2]int]int{} // (gen, goroutine) -> last index seen
	n := uint64(0)
	for r, err := range in.Records(0) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Offset != n {
			t.Fatalf("inbox offset %d after %d records", r.Offset, n)
		}
		n++
		gen, g, i, ok := parseAgentRecord(r)
		if !ok {
			t.Fatalf("inbox offset %d: %q %q is no record the agent appended", r.Offset, r.Type, r.Data)
		}
		id := fmt.Sprintf("%d-%d-%d", gen, g, i)
		if prev, dup := seen[id]; dup {
			t.Fatalf("record %s stored twice, at %d and %d", id, prev, r.Offset)
		}
		seen[id] = r.Offset
		k := [2]int{gen, g}
		if prev, ok := last[k]; (ok && i != prev+1) || (!ok && i != 0) {
			t.Fatalf("inbox offset %d: record %s after index %d of its goroutine (order or loss)", r.Offset, id, prev)
		}
		last[k] = i
		if want, ok := confirmed[r.Offset]; ok && want != id {
			t.Fatalf("inbox offset %d holds %s, the agent's Append returned %s there", r.Offset, id, want)
		}
	}
	for off, id := range confirmed {
		if got, ok := seen[id]; !ok || got != off {
			t.Fatalf("appended record %s (offset %d) is not in the inbox (found at %d, %v)", id, off, got, ok)
		}
	}
	t.Logf("inbox: %d records, each once and in order; %d of them confirmed to the appender", n, len(confirmed))
	if len(confirmed) == 0 {
		t.Fatal("no append returned: the test proved nothing")
	}
}
