package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// gatedWriter takes the first write, then holds every later one until
// opened: a follower whose output is not being read stops reading the
// log, as a slow consumer makes it.
type gatedWriter struct {
	syncBuffer
	mu     sync.Mutex // guards writes
	writes int
	gate   chan struct{}
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	g.writes++
	n := g.writes
	g.mu.Unlock()
	if n > 1 {
		<-g.gate
	}
	return g.syncBuffer.Write(p)
}

func (g *gatedWriter) blocked() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.writes > 1
}

// TestFollowSaysWhatWasReleased: a "dump --follow" that falls behind
// (its output is not read) while the writer appends, acknowledges and
// releases must say, in its output, which offsets were released before it
// could read them: every offset is either printed or inside a "released"
// line ({"released":{...}} with --json), in order, and the exit status
// stays 0 (a release is not damage).
func TestFollowSaysWhatWasReleased(t *testing.T) {
	for _, mode := range []string{"text", "json"} {
		t.Run(mode, func(t *testing.T) {
			dir := buildHealthy(t, 20, seglog.CodecNone)
			l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Sync: seglog.SyncNever, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			out := &gatedWriter{gate: make(chan struct{})}
			var errb syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			args := []string{"dump", "--follow", "--payload", "none", "--poll", "1ms", dir}
			if mode == "json" {
				args = append(args, "--json")
			}
			code := make(chan int, 1)
			go func() { code <- runContext(ctx, args, out, &errb) }()
			waitFor(t, "the first 20 records", func() bool { return strings.Count(out.String(), "\n") >= 20 })

			appendN := func(n int) {
				for range n {
					typ, data := payload(int(l.NextOffset()))
					if _, err := l.AppendRecords(seglog.Record{Type: typ, Data: data}); err != nil {
						t.Fatal(err)
					}
				}
			}
			ackAll := func() {
				for {
					b, err := l.Pending(1000)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := l.Ack(b.Sequence + uint64(len(b.Records))); err != nil {
						t.Fatal(err)
					}
					if len(b.Records) == 0 {
						return
					}
				}
			}
			appendN(1)
			waitFor(t, "the follower to stop on its output", out.blocked)
			appendN(600) // several segments
			ackAll()
			appendN(5)
			ackAll() // releases the 600
			appendN(5)
			first, next := l.FirstOffset(), l.NextOffset()
			if first < 300 {
				t.Fatalf("the writer released only up to %d", first)
			}
			close(out.gate)
			last := fmt.Sprintf("\n%d\t", next-1)
			if mode == "json" {
				last = fmt.Sprintf(`"offset":%d,`, next-1)
			}
			waitFor(t, "the last record", func() bool { return strings.Contains(out.String(), last) })
			cancel()
			if c := <-code; c != exitOK {
				t.Fatalf("dump exited %d: %s", c, errb.String())
			}

			// Every offset once, printed or released, in order.
			at, released := uint64(0), 0
			for i, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
				from, to, isRec := parseFollowLine(t, mode, line)
				if from != at {
					t.Fatalf("line %d: %q starts at offset %d, want %d\n%s", i, line, from, at, out.String())
				}
				if !isRec {
					released++
				}
				at = to
			}
			if at != next {
				t.Fatalf("output ends at offset %d, want %d", at, next)
			}
			if released == 0 {
				t.Fatalf("no released line, although offsets up to %d were released before the follower read them:\n%s", first, out.String())
			}
			t.Logf("%d released lines; stderr: %q", released, errb.String())
		})
	}
}

// parseFollowLine returns the offsets a line of dump output covers, and
// whether it is a record.
func parseFollowLine(t *testing.T, mode, line string) (from, to uint64, isRec bool) {
	t.Helper()
	if mode == "json" {
		var j struct {
			Offset   *uint64 `json:"offset"`
			Released *struct {
				From, To, Count uint64
			} `json:"released"`
		}
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		switch {
		case j.Offset != nil:
			return *j.Offset, *j.Offset + 1, true
		case j.Released != nil && j.Released.To-j.Released.From == j.Released.Count:
			return j.Released.From, j.Released.To, false
		}
		t.Fatalf("unexpected line %q", line)
	}
	if _, err := fmt.Sscanf(line, "released\t[%d, %d)", &from, &to); err == nil {
		return from, to, false
	}
	if _, err := fmt.Sscanf(line, "%d\t", &from); err != nil {
		t.Fatalf("unexpected line %q", line)
	}
	return from, from + 1, true
}
