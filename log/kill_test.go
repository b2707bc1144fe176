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
// that appends, acknowledges, saves metadata (and, under the buffered
// policies, syncs, flushes and takes batches) and reports, after each call
// returns, the offset, the delivery state or the offsets it now knows are
// safe. The parent kills it with SIGKILL at random moments, reopens the
// log, and checks exactly the claim of the child's sync policy for the
// death of a process (not of the machine); then it starts a new child on
// the same directory. One subtest per policy.
//
// The claim, per policy, for a process killed with SIGKILL:
//
//   - every policy: the log opens and, once recovered, verifies clean;
//     its offsets from First to Next are dense and each holds the record
//     appended at that offset (so no record is duplicated, none damaged,
//     and an offset that survived was never given to another record); the
//     delivery state and the
//     metadata are at least those of the last Ack and SetMeta that
//     returned; records lost are a suffix of what was appended.
//   - SyncAlways: every Append and AppendRecords that returned nil survives.
//   - SyncInterval and SyncNever: every record below the offset covered by
//     the last returned Sync (all records appended before it), Flush (all
//     records appended before it, handed to the kernel, which outlives the
//     process), Pending (the records it returned) or Ack (the records below
//     the new cursor) survives. Appends that returned nil after the last
//     such call may be lost (they may still be in the process's buffer);
//     their offsets are then given again to the next appends. The parent
//     counts how often that happens: it is what the policies trade away.

var (
	killCount   = flag.Int("kill.count", 0, "SIGKILLs TestKill9 aims for per sync policy (0: 500 under SyncAlways and 30 under each buffered policy; 20 and 10 with -short)")
	killBudget  = flag.Duration("kill.time", 60*time.Second, "time each policy of TestKill9 may take at most")
	killSegment = flag.Int64("kill.segment", seglog.MinSegmentSize, "segment size of TestKill9's log (above 1 MiB, the preallocated space is filled in the background)")
)

const (
	killDirEnv  = "SEGLOG_RELIAB_KILL_DIR"
	killSeedEnv = "SEGLOG_RELIAB_KILL_SEED"
	killSegEnv  = "SEGLOG_RELIAB_KILL_SEGMENT"
	killSyncEnv = "SEGLOG_RELIAB_KILL_SYNC"
	killEvery   = "SEGLOG_RELIAB_KILL_SYNC_EVERY"
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
	for _, mode := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncInterval, seglog.SyncNever} {
		t.Run(mode.String(), func(t *testing.T) { testKill9(t, mode) })
	}
}

func testKill9(t *testing.T, mode seglog.SyncPolicy) {
	count := *killCount
	switch {
	case count > 0:
	case mode == seglog.SyncAlways && testing.Short():
		count = 20
	case mode == seglog.SyncAlways:
		count = 500
	case testing.Short():
		count = 10
	default:
		count = 30
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 9+uint64(mode)))
	dir := t.TempDir()
	verifyAtEnd(t, nil, dir) // after the last kill and recovery
	start := time.Now()

	var (
		kills, appends, acks, metas, syncs int
		torn, tornBytes                    int64
		lossKills, lost                    uint64 // kills that lost appends, and how many
		safe                               uint64 // records below it must survive
		last                               killState
		lastMeta                           int
		maxNext                            uint64
	)
	for kills < count && time.Since(start) < *killBudget {
		every := []time.Duration{time.Millisecond, 5 * time.Millisecond, 100 * time.Millisecond}[rng.IntN(3)]
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), killDirEnv+"="+dir, killSeedEnv+"="+strconv.FormatUint(rng.Uint64(), 10),
			killSegEnv+"="+strconv.FormatInt(*killSegment, 10),
			killSyncEnv+"="+strconv.Itoa(int(mode)), killEvery+"="+every.String())
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
		var appended uint64 // one past the last offset an append returned
		for _, s := range got {
			f := strings.Fields(s)
			switch f[0] {
			case "append":
				off, _ := strconv.ParseUint(f[1], 10, 64)
				appended = max(appended, off+1)
				if mode == seglog.SyncAlways {
					safe = max(safe, off+1)
				}
				appends++
			case "safe":
				n, _ := strconv.ParseUint(f[1], 10, 64)
				safe = max(safe, n)
				syncs++
			case "ack":
				var st killState
				fmt.Sscan(strings.Join(f[1:], " "), &st.seq, &st.cursor, &st.first)
				if st.seq < last.seq || st.first < last.first {
					t.Fatalf("a child reported state %+v after %+v", st, last)
				}
				last = st
				safe = max(safe, st.cursor) // Ack made the records below its cursor durable
				acks++
			case "meta":
				lastMeta, _ = strconv.Atoi(f[1])
				metas++
			case "ready":
			default:
				t.Fatalf("child: %s", s)
			}
		}
		next, cut := killVerify(t, dir, mode, kills, safe, last, lastMeta)
		maxNext = max(maxNext, next)
		if cut > 0 {
			torn++
			tornBytes += cut
		}
		if appended > next {
			lossKills++
			lost += appended - next
		}
	}
	t.Logf("%v, seed %d: %d SIGKILLs survived in %v; %d appends, %d acks, %d syncs/flushes/batches and %d metadata saves reported; log reached offset %d; %d recoveries cut a torn tail (%d bytes in all); %d kills lost %d unsynced appends",
		mode, seed, kills, time.Since(start).Round(time.Millisecond), appends, acks, syncs, metas, maxNext, torn, tornBytes, lossKills, lost)
	if mode == seglog.SyncAlways && lost > 0 {
		t.Errorf("SyncAlways lost %d appends that had returned", lost)
	}
	if kills < count && !testing.Short() && kills < min(count, 200) {
		t.Errorf("only %d kills within %v, want at least %d", kills, *killBudget, min(count, 200))
	}
}

// killVerify opens the log a killed child left and checks it against
// what the children reported: every record below safe is there, the
// delivery state and metadata are at least the last reported, and every
// record holds what was appended at its offset. It returns the log's next
// offset and the torn bytes recovery cut.
func killVerify(t *testing.T, dir string, mode seglog.SyncPolicy, kill int, safe uint64, last killState, lastMeta int) (uint64, int64) {
	t.Helper()
	l, err := seglog.Open(dir, &seglog.Options{Logger: quiet, SegmentSize: *killSegment, Sync: mode})
	if err != nil {
		t.Fatalf("kill %d: open: %v", kill, err)
	}
	defer l.Close()
	st := l.State()
	if st.Sequence < last.seq || st.First < last.first || st.Cursor < last.cursor {
		t.Fatalf("kill %d: state seq %d cursor %d first %d, behind the last acknowledged %+v", kill, st.Sequence, st.Cursor, st.First, last)
	}
	if st.Cursor > st.Next || st.First > st.Next {
		t.Fatalf("kill %d: state cursor %d first %d past the end of the log %d", kill, st.Cursor, st.First, st.Next)
	}
	if v, _ := l.Meta("n"); lastMeta > 0 {
		if n, _ := strconv.Atoi(string(v)); n < lastMeta {
			t.Fatalf("kill %d: metadata %q, behind the last saved %d", kill, v, lastMeta)
		}
	}
	if st.Next < safe {
		t.Fatalf("kill %d: the log ends at %d, but records up to %d were reported safe", kill, st.Next, safe)
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
	// The verifier after each recovery under the buffered policies; under
	// SyncAlways, with its 500 kills, after every 25th (and after the last).
	if mode != seglog.SyncAlways || kill%25 == 0 {
		if err := verifyLog(nil, dir); err != nil {
			t.Fatalf("kill %d: after recovery: %v", kill, err)
		}
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
	mode, _ := strconv.Atoi(os.Getenv(killSyncEnv))
	every, _ := time.ParseDuration(os.Getenv(killEvery))
	l, err := seglog.Open(dir, &seglog.Options{Logger: quiet, SegmentSize: segSize, Sync: seglog.SyncPolicy(mode), SyncEvery: every})
	if err != nil {
		fail("open: %v", err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	meta := 0
	if v, ok := l.Meta("n"); ok {
		meta, _ = strconv.Atoi(string(v))
	}
	ops := 100
	if seglog.SyncPolicy(mode) != seglog.SyncAlways {
		ops = 115 // and syncs, flushes and batches that are not acknowledged
	}
	say("ready")
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		next := l.NextOffset()
		switch c := rng.IntN(ops); {
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
		case c < 100:
			meta++
			if err := l.SetMeta("n", []byte(strconv.Itoa(meta))); err != nil {
				fail("set meta: %v", err)
			}
			say("meta %d", meta)
		case c < 105: // Sync covers every record appended before it
			if err := l.Sync(); err != nil {
				fail("sync: %v", err)
			}
			say("safe %d", next)
		case c < 110: // Flush hands every record appended before it to the kernel
			if err := l.Flush(); err != nil {
				fail("flush: %v", err)
			}
			say("safe %d", next)
		default: // Pending makes the records it returns durable
			b, err := l.Pending(1 + rng.IntN(40))
			if err != nil {
				fail("pending: %v", err)
			}
			if n := len(b.Records); n > 0 {
				say("safe %d", b.Records[n-1].Offset+1)
			}
		}
	}
	l.Close()
	fail("not killed within 30s")
}
