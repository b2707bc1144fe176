package log_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	seglog "github.com/seglog/seglog/log"
)

// TestKill9 runs a child process (this test binary, as TestKillHelper)
// that appends and acknowledges under SyncAlways and reports, after each
// call returns, the offset or the delivery state it got. The parent kills
// it with SIGKILL at random moments, reopens the log, and checks that every
// reported offset reads back intact, that the delivery state is at least
// the last one reported, and that nothing else is in the log; then it
// starts a new child on the same directory.

var (
	killCount   = flag.Int("kill.count", 500, "SIGKILLs TestKill9 aims for (20 with -short)")
	killBudget  = flag.Duration("kill.time", 60*time.Second, "time TestKill9 may take at most")
	killSegment = flag.Int64("kill.segment", seglog.MinSegmentSize, "segment size of TestKill9's log (above 1 MiB, the preallocated space is filled in the background)")
)

const (
	killDirEnv  = "SEGLOG_RELIAB_KILL_DIR"
	killSeedEnv = "SEGLOG_RELIAB_KILL_SEED"
	killSegEnv  = "SEGLOG_RELIAB_KILL_SEGMENT"
	killPrefix  = "seglog-kill "
)

// killPayload is the record at offset off: its content depends only on
// the offset, so a child re-appending at an offset a crash cut writes the
// same record, and any record in the log can be checked.
func killPayload(off uint64) []byte {
	return tracedPayload(off, 100+int(off*7919%1500))
}

// killState is the delivery state a child reported.
type killState struct{ seq, cursor, first uint64 }

func TestKill9(t *testing.T) {
	if testing.Short() && *killCount == 500 {
		*killCount = 20
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 9))
	dir := t.TempDir()
	verifyAtEnd(t, nil, dir) // after the last kill and recovery
	start := time.Now()

	var (
		kills, appends, acks, metas int
		torn, tornBytes             int64
		reported                    = map[uint64]bool{}
		last                        killState
		lastMeta                    int
		maxNext                     uint64
	)
	for kills < *killCount && time.Since(start) < *killBudget {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), killDirEnv+"="+dir, killSeedEnv+"="+strconv.FormatUint(rng.Uint64(), 10),
			killSegEnv+"="+strconv.FormatInt(*killSegment, 10))
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if s, ok := strings.CutPrefix(sc.Text(), killPrefix); ok {
					lines <- s
				}
			}
			close(lines)
		}()
		// Kill after a random number of reports (0: during start-up and
		// recovery), a random fraction of a millisecond into the next call.
		wait := rng.IntN(80)
		if rng.IntN(8) == 0 {
			wait = 0
		}
		var got []string
		for len(got) < wait {
			s, ok := <-lines
			if !ok {
				break
			}
			got = append(got, s)
		}
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		for s := range lines { // what the child reported before dying
			got = append(got, s)
		}
		werr := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("child exited by itself (%v) after %d reports: %q", werr, len(got), got)
		}
		kills++
		for _, s := range got {
			f := strings.Fields(s)
			switch f[0] {
			case "append":
				off, _ := strconv.ParseUint(f[1], 10, 64)
				reported[off] = true
				appends++
			case "ack":
				var st killState
				fmt.Sscan(strings.Join(f[1:], " "), &st.seq, &st.cursor, &st.first)
				if st.seq < last.seq || st.first < last.first {
					t.Fatalf("a child reported state %+v after %+v", st, last)
				}
				last = st
				acks++
			case "meta":
				lastMeta, _ = strconv.Atoi(f[1])
				metas++
			case "ready":
			default:
				t.Fatalf("child: %s", s)
			}
		}
		next, cut := killVerify(t, dir, kills, reported, last, lastMeta)
		maxNext = max(maxNext, next)
		if cut > 0 {
			torn++
			tornBytes += cut
		}
	}
	t.Logf("seed %d: %d SIGKILLs survived in %v; %d appends, %d acks and %d metadata saves reported; log reached offset %d; %d recoveries cut a torn tail (%d bytes in all)",
		seed, kills, time.Since(start).Round(time.Millisecond), appends, acks, metas, maxNext, torn, tornBytes)
	if kills < *killCount && !testing.Short() && kills < 200 {
		t.Errorf("only %d kills within %v, want at least 200", kills, *killBudget)
	}
}

// killVerify opens the log a killed child left and checks it against
// what the children reported. It returns the log's next offset and the
// torn bytes recovery cut.
func killVerify(t *testing.T, dir string, kill int, reported map[uint64]bool, last killState, lastMeta int) (uint64, int64) {
	t.Helper()
	l, err := seglog.Open(dir, &seglog.Options{Logger: quiet, SegmentSize: *killSegment})
	if err != nil {
		t.Fatalf("kill %d: open: %v", kill, err)
	}
	defer l.Close()
	st := l.State()
	if st.Sequence < last.seq || st.First < last.first || st.Cursor < last.cursor {
		t.Fatalf("kill %d: state seq %d cursor %d first %d, behind the last acknowledged %+v", kill, st.Sequence, st.Cursor, st.First, last)
	}
	if v, _ := l.Meta("n"); lastMeta > 0 {
		if n, _ := strconv.Atoi(string(v)); n < lastMeta {
			t.Fatalf("kill %d: metadata %q, behind the last saved %d", kill, v, lastMeta)
		}
	}
	for off := range reported {
		if off < st.First {
			delete(reported, off) // released by an acknowledged Ack
			continue
		}
		if off >= st.Next {
			t.Fatalf("kill %d: reported offset %d lost: the log ends at %d", kill, off, st.Next)
		}
	}
	want := st.First
	for rec, err := range l.Records(st.First) {
		if err != nil {
			t.Fatalf("kill %d: scan: %v", kill, err)
		}
		if rec.Offset != want || !bytes.Equal(rec.Data, killPayload(rec.Offset)) {
			t.Fatalf("kill %d: offset %d (want %d) does not hold the record appended there", kill, rec.Offset, want)
		}
		want++
	}
	if want != st.Next {
		t.Fatalf("kill %d: scan ended at %d, the log at %d", kill, want, st.Next)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("kill %d: close: %v", kill, err)
	}
	return st.Next, l.Recovery().TornBytes
}

// TestKillHelper is the child of TestKill9; run by itself it does nothing.
func TestKillHelper(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("the child process of TestKill9")
	}
	seed, _ := strconv.ParseUint(os.Getenv(killSeedEnv), 10, 64)
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, killPrefix+"error "+format+"\n", args...)
		os.Exit(3)
	}
	say := func(format string, args ...any) {
		// One write per report, made after the call returned.
		os.Stdout.WriteString(killPrefix + fmt.Sprintf(format, args...) + "\n")
	}
	segSize, _ := strconv.ParseInt(os.Getenv(killSegEnv), 10, 64)
	l, err := seglog.Open(dir, &seglog.Options{Logger: quiet, SegmentSize: segSize})
	if err != nil {
		fail("open: %v", err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	meta := 0
	if v, ok := l.Meta("n"); ok {
		meta, _ = strconv.Atoi(string(v))
	}
	say("ready")
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		next := l.NextOffset()
		switch c := rng.IntN(100); {
		case c < 70:
			off, err := l.Append(killPayload(next))
			if err != nil || off != next {
				fail("append: offset %d (want %d), %v", off, next, err)
			}
			say("append %d", off)
		case c < 80:
			n := 1 + rng.IntN(5)
			if rng.IntN(8) == 0 {
				n = 50 + rng.IntN(250) // a write of up to ~0.5 MiB: a kill may land inside it
			}
			recs := make([]seglog.Record, n)
			for i := range recs {
				recs[i].Data = killPayload(next + uint64(i))
			}
			off, err := l.AppendRecords(recs...)
			if err != nil || off != next {
				fail("append records: offset %d (want %d), %v", off, next, err)
			}
			for i := range recs {
				say("append %d", off+uint64(i))
			}
		case c < 95:
			b, err := l.Pending(1 + rng.IntN(40))
			if err != nil {
				fail("pending: %v", err)
			}
			res, err := l.Ack(b.Sequence + uint64(len(b.Records)))
			if err != nil {
				fail("ack: %v", err)
			}
			say("ack %d %d %d", res.State.Sequence, res.State.Cursor, res.State.First)
		default:
			meta++
			if err := l.SetMeta("n", []byte(strconv.Itoa(meta))); err != nil {
				fail("set meta: %v", err)
			}
			say("meta %d", meta)
		}
	}
	l.Close()
	fail("not killed within 30s")
}
