package exchange

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

var crashSeed = flag.Uint64("crash.seed", 0, "seed of TestServerCrashEveryStep (0: from the clock)")

// crashServer is a server whose inboxes live on fsys.
func crashServer(t *testing.T, fsys *crashfs.FS) *Server {
	t.Helper()
	tokens, err := NewTokens(map[string]string{"a": secretA})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer("/inboxes", tokens, &ServerOptions{
		LogOptions: &seglog.Options{FS: fsys, SegmentSize: seglog.MinSegmentSize, Logger: quiet()}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// sendTo posts b to srv in-process and returns the status and the answer.
func sendTo(t *testing.T, srv *Server, b seglog.Batch) (int, uint64) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/agents/a/batches", bytes.NewReader(compress(t, body(t, b))))
	req.Header.Set("Authorization", "Bearer "+secretA)
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("Content-Encoding", "zstd")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	var ans struct{ Next uint64 }
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
			t.Fatal(err)
		}
	}
	return w.Code, ans.Next
}

// crashBatch is labels [from, to) of the test's agent: records, and a gap
// over labels 7 and 8.
func crashBatch(from, to uint64) seglog.Batch {
	b := seglog.Batch{Sequence: from}
	for lb := from; lb < to; lb++ {
		switch {
		case lb == 7:
			b.Gaps = append(b.Gaps, seglog.Gap{Offset: lb, Count: 2, Reason: seglog.GapDamaged, Detail: "test"})
		case lb == 8:
		default:
			b.Records = append(b.Records, seglog.Record{Offset: lb, Type: "t", Data: crashData(lb)})
		}
	}
	return b
}

// crashData is label lb's payload: 3000 bytes, so that the first batch
// nearly fills a 16 KiB segment and the second rolls to a new one.
func crashData(lb uint64) []byte {
	return append(fmt.Appendf(nil, "record %03d: ", lb), bytes.Repeat([]byte{byte(lb)}, 2988)...)
}

// TestServerCrashEveryStep stores a batch that overlaps what the inbox
// holds (rolling to a new segment), crashes the machine at every I/O step
// of it, and checks what each crash leaves: the inbox holds all of the new labels or none, all
// of them if the batch was answered, each at its offset; and a server
// started on the survivor answers the resent batch and ends with every
// label once.
func TestServerCrashEveryStep(t *testing.T) {
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -crash.seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	build := func() (*crashfs.FS, *Server) {
		fsys := crashfs.New()
		srv := crashServer(t, fsys)
		if code, next := sendTo(t, srv, crashBatch(0, 5)); code != 200 || next != 5 {
			t.Fatalf("first batch: %d %d", code, next)
		}
		return fsys, srv
	}
	const end = 13
	second := crashBatch(3, end)

	fsys, srv := build()
	before := fsys.Ops()
	if code, next := sendTo(t, srv, second); code != 200 || next != end {
		t.Fatalf("uninterrupted second batch: %d %d", code, next)
	}
	steps := fsys.Ops() - before
	srv.Close()

	recoveries := 0
	for n := 0; n <= steps; n++ {
		fsys, srv := build()
		fsys.CrashAfter(n)
		code, next := sendTo(t, srv, second)
		if code == 200 && next != end {
			t.Fatalf("crash point %d: answered %d, want %d", n, next, end)
		}
		for _, mode := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashRandom, crashfs.CrashKeepAll, crashfs.CrashTorn, crashfs.CrashTorn} {
			what := fmt.Sprintf("crash point %d of %d (%v), answer %d", n, steps, mode, code)
			survivor := fsys.Crash(rng, mode)
			after := crashServer(t, survivor)
			held, err := after.Next("a")
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if (held != 5 && held != end) || (code == 200 && held != end) {
				t.Fatalf("%s: the inbox holds labels [0, %d)", what, held)
			}
			if code, next := sendTo(t, after, second); code != 200 || next != end {
				t.Fatalf("%s: resent batch answered %d %d", what, code, next)
			}
			checkCrashInbox(t, what, after)
			after.Close()
			recoveries++
		}
		srv.Close()
	}
	t.Logf("%d crash points, %d recoveries", steps+1, recoveries)
}

// checkCrashInbox checks the inbox holds labels [0, 13) once each, as
// crashBatch makes them.
func checkCrashInbox(t *testing.T, what string, srv *Server) {
	t.Helper()
	in, err := srv.inbox("a")
	if err != nil {
		t.Fatal(err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	var got []string
	for r, err := range in.log.Records(0) {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r.Type == GapType {
			got = append(got, "gap")
			continue
		}
		got = append(got, string(r.Data[:min(len(r.Data), 12)]))
	}
	want := []string{}
	for lb := range 13 {
		if lb == 7 || lb == 8 {
			want = append(want, "gap")
			continue
		}
		want = append(want, string(crashData(uint64(lb))[:12]))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: inbox\n%q\nwant\n%q", what, got, want)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
