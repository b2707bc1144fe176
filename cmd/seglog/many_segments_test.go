package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/seglog/seglog/internal/testlog"
	"github.com/seglog/seglog/log/vfs"
)

var scaleSegments = flag.Int("scale.segments", 4000, "segments in the largest log of TestManySegmentsInfoVerify (the docs' figures use 300000)")

// readSyscalls returns the read system calls this process has made, from
// /proc/self/io, or -1 where that is not available.
func readSyscalls() int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "syscr: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// cliWork is what one run of a command over a log of n segments cost.
type cliWork struct {
	reads  int64  // read system calls
	allocs uint64 // heap allocations
}

func measureCLI(t *testing.T, args ...string) (result, cliWork) {
	t.Helper()
	r0, a0 := readSyscalls(), mallocs()
	res := seglogCmd(t, args...)
	w := cliWork{reads: readSyscalls() - r0, allocs: mallocs() - a0}
	return res, w
}

// TestManySegmentsInfoVerify runs info and verify over logs of n/4 and n
// one-record segments (-scale.segments; 4,000 by default) and counts their
// work: read system calls and heap allocations. Both must grow no faster
// than the number of segments (1.5 times its ratio is allowed for noise);
// a cost per segment on a per-segment path would make them grow with its
// square. The library's reads are measured in package log
// (TestManySegmentsLinear).
func TestManySegmentsInfoVerify(t *testing.T) {
	big := *scaleSegments
	if testing.Short() {
		big = min(big, 2000)
	}
	sizes := []int{big / 4, big}
	var info, verify []cliWork
	for _, n := range sizes {
		dir := t.TempDir()
		if err := testlog.WriteTinySegments(vfs.Default, dir, n, 1, uint64(n/2)); err != nil {
			t.Fatal(err)
		}
		res, w := measureCLI(t, "info", "--json", dir)
		res.wantCode(t, 0)
		var j jsonInfo
		if err := json.Unmarshal([]byte(res.stdout), &j); err != nil {
			t.Fatalf("info --json: %v\n%s", err, res.stdout)
		}
		if j.Segments.Count != n || j.NextOffset != uint64(n) || len(j.Problems) != 0 || j.Delivery == nil || j.Delivery.Pending != uint64(n-n/2) {
			t.Fatalf("info over %d segments: %d segments, next %d, problems %q, delivery %+v", n, j.Segments.Count, j.NextOffset, j.Problems, j.Delivery)
		}
		info = append(info, w)
		res, v := measureCLI(t, "verify", "--json", dir)
		res.wantCode(t, 0)
		verify = append(verify, v)
		t.Logf("%d segments: info %d read calls, %d allocations; verify %d read calls, %d allocations", n, w.reads, w.allocs, v.reads, v.allocs)
	}
	ratio := float64(sizes[1]) / float64(sizes[0])
	for _, c := range []struct {
		name string
		ws   []cliWork
	}{{"info", info}, {"verify", verify}} {
		if c.ws[0].reads >= 0 && c.ws[1].reads >= 0 {
			if g := float64(c.ws[1].reads) / float64(max(c.ws[0].reads, 1)); g > 1.5*ratio {
				t.Errorf("%s: read calls grew %.1f times for %.0f times the segments", c.name, g, ratio)
			}
		}
		if g := float64(c.ws[1].allocs) / float64(max(c.ws[0].allocs, 1)); g > 1.5*ratio {
			t.Errorf("%s: allocations grew %.1f times for %.0f times the segments", c.name, g, ratio)
		}
	}
}
