package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seglog/seglog/internal/inspect"
	"github.com/seglog/seglog/internal/testlog"
	seglog "github.com/seglog/seglog/log"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// liveWriter appends to a log in the background until stopped; every
// ackEvery records (0: never) it acknowledges a batch of at most
// pendingMax records, so that old segments are released and deleted, and
// the checkpoint, the segment list and the active segment all change.
// stop returns the number of records appended.
func liveWriter(t *testing.T, l *seglog.Log, ackEvery, pendingMax int) (stop func() uint64) {
	t.Helper()
	return testlog.StartWriter(t, l, ackEvery, pendingMax, func(next uint64) seglog.Record {
		typ, data := payload(int(next))
		return seglog.Record{Type: typ, Data: data}
	}).Stop
}

// TestLiveWriter runs every read-only command against a log that a writer
// in the same process is appending to and releasing from: each must exit
// 0, and verify must find nothing worse than info.
func TestLiveWriter(t *testing.T) {
	dir := buildHealthy(t, 100, seglog.CodecNone)
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Sync: seglog.SyncNever, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stop := liveWriter(t, l, 150, 1000)
	deadline := time.Now().Add(2 * time.Second)
	rounds := 0
	for rounds < 3 || time.Now().Before(deadline) {
		rounds++
		for _, args := range [][]string{
			{"info", dir},
			{"segments", dir},
			{"dump", "--count", "200", dir},
			{"stats", dir},
			{"verify", dir},
			{"verify", "--json", dir},
		} {
			r := seglogCmd(t, args...)
			r.wantCode(t, exitOK)
			if args[0] == "verify" && !strings.Contains(r.stdout, "writer") {
				t.Errorf("verify does not say a writer is live:\n%s", r)
			}
			if args[0] == "info" && !strings.Contains(r.stdout, "a process holds the lock") {
				t.Errorf("info does not say a writer holds the lock:\n%s", r)
			}
		}
	}
	n := stop()
	st := l.State()
	t.Logf("%d rounds of commands while %d records were appended; the log now keeps [%d, %d)", rounds, n, st.First, st.Next)
	if st.First == 0 {
		t.Error("the writer released nothing: the test did not exercise trims")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seglogCmd(t, "verify", dir).wantCode(t, exitOK)
}

// TestTornTailLiveWriter: a partial frame at the end of the active
// segment while a writer holds the lock is a write in progress (info,
// exit 0); without the writer it is a torn tail (warning, exit 1).
func TestTornTailLiveWriter(t *testing.T) {
	dir := buildScenario(t, "torn_tail")
	lock, err := inspect.LockWriter(dir) // stands for the writer, which would cut the tail on open
	if err != nil {
		t.Fatal(err)
	}
	r := seglogCmd(t, "verify", dir)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "info     00000000000000000296.seg:2430  write_in_progress") {
		t.Errorf("no write in progress reported:\n%s", r)
	}
	lock.Close()
	r = seglogCmd(t, "verify", dir)
	r.wantCode(t, exitProblems)
	if !strings.Contains(r.stdout, "warning  00000000000000000296.seg:2430  torn_tail") {
		t.Errorf("no torn tail reported:\n%s", r)
	}
}

// TestFollow: dump --follow prints every record a concurrent writer
// appends exactly once and in order, across segment rolls, and stops when
// its context is cancelled.
func TestFollow(t *testing.T) {
	l, f := startFollow(t, seglog.SyncAlways, "--follow", "--json", "--poll", "1ms")
	dir, out, errb := f.dir, &f.out, &f.errb
	lines := func() int { return strings.Count(out.String(), "\n") }
	waitFor(t, "the existing records", func() bool { return lines() >= 20 })

	const total = 600 // 16 KiB segments hold about 150 of these records
	segsBefore := len(segmentFiles(t, dir))
	for i := 20; i < total; i++ {
		typ, data := payload(i)
		if _, err := l.AppendRecords(seglog.Record{Type: typ, Data: data}); err != nil {
			t.Fatal(err)
		}
		if i%97 == 0 {
			// Let the follower catch up now and then, so that it also
			// reads the active segment as it grows.
			waitFor(t, fmt.Sprintf("record %d", i), func() bool { return lines() > i })
		}
	}
	if rolls := len(segmentFiles(t, dir)) - segsBefore; rolls < 2 {
		t.Fatalf("only %d segment rolls", rolls)
	}
	waitFor(t, "every record", func() bool { return lines() >= total })
	f.stop(t)
	checkDumped(t, out.String(), 0, total)
	if errb.String() != "" {
		t.Errorf("stderr: %s", errb.String())
	}
}

// checkDumped checks that JSON dump output holds records [from, to), each
// once, in order, with the right payloads.
func checkDumped(t *testing.T, out string, from, to int) {
	t.Helper()
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != to-from {
		t.Fatalf("%d records printed, want %d", len(got), to-from)
	}
	for i, line := range got {
		var rec jsonRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		typ, data := payload(from + i)
		want, _ := encodePayload(data, payloadAuto, true)
		if rec.Offset != uint64(from+i) || rec.Type != typ || rec.Payload != want {
			t.Fatalf("line %d is %s, want offset %d", i, line, from+i)
		}
	}
}

// TestFollowTrims: records released by the writer while the follower is
// behind are reported on stderr, never printed twice or out of order.
func TestFollowTrims(t *testing.T) {
	l, f := startFollow(t, seglog.SyncNever, "-f", "--json", "--payload", "none", "--poll", "1ms")
	out, errb := &f.out, &f.errb
	stop := liveWriter(t, l, 150, 1000)
	waitFor(t, "a release", func() bool { return l.FirstOffset() > 600 })
	n := stop()
	next := l.NextOffset()
	waitFor(t, "the last record", func() bool { return strings.Contains(out.String(), fmt.Sprintf(`"offset":%d,`, next-1)) })
	f.stop(t)
	prev := int64(-1)
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(line, `{"released":`) {
			continue // checked by TestFollowSaysWhatWasReleased
		}
		var rec jsonRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if int64(rec.Offset) <= prev {
			t.Fatalf("offset %d after %d", rec.Offset, prev)
		}
		prev = int64(rec.Offset)
	}
	t.Logf("%d appended; stderr: %q", n, errb.String())
}

// TestFollowTimeout: --follow-timeout ends a follow on a quiet log.
func TestFollowTimeout(t *testing.T) {
	dir := buildHealthy(t, 30, seglog.CodecNone)
	r := seglogCmd(t, "dump", "--follow", "--follow-timeout", "50ms", "--poll", "5ms", "--json", dir)
	r.wantCode(t, exitOK)
	checkDumped(t, r.stdout, 0, 30)
	r = seglogCmd(t, "dump", "--follow", "--count", "5", "--from", "10", "--json", dir)
	r.wantCode(t, exitOK)
	checkDumped(t, r.stdout, 10, 15)
}

// follower is a "seglog dump" with the given flags running on a log of 20
// records that a writer in this process holds open.
type follower struct {
	dir       string
	out, errb syncBuffer
	cancel    context.CancelFunc
	code      chan int
}

func startFollow(t *testing.T, policy seglog.SyncPolicy, flags ...string) (*seglog.Log, *follower) {
	t.Helper()
	f := &follower{dir: buildHealthy(t, 20, seglog.CodecNone), code: make(chan int, 1)}
	l, err := seglog.Open(f.dir, &seglog.Options{SegmentSize: testSegmentSize, Sync: policy, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	t.Cleanup(cancel)
	args := append(append([]string{"dump"}, flags...), f.dir)
	go func() { f.code <- runContext(ctx, args, &f.out, &f.errb) }()
	return l, f
}

// stop cancels the follower and checks that it exited 0.
func (f *follower) stop(t *testing.T) {
	t.Helper()
	f.cancel()
	if c := <-f.code; c != exitOK {
		t.Fatalf("dump exited %d: %s", c, f.errb.String())
	}
}
