package log_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// checkCrashRecords checks that the records of l, from first on, are
// crashRecord of their offsets, one offset after the other, and returns
// the offset after the last one.
func checkCrashRecords(t *testing.T, what string, l *seglog.Log, first uint64) uint64 {
	t.Helper()
	o := first
	for r, err := range l.Records(0) {
		if err != nil {
			t.Fatalf("%s: Records: %v", what, err)
		}
		if r.Offset != o || !bytes.Equal(r.Data, crashRecord(o)) {
			t.Fatalf("%s: Records yielded offset %d (%.8q), want %d", what, r.Offset, r.Data, o)
		}
		o++
	}
	return o
}

// concurrently runs f(0) to f(n-1) at the same time, waits for them and
// returns the first error, in the order of g.
func concurrently(n int, f func(g int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for g := range n {
		wg.Go(func() { errs[g] = f(g) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// crashDuringOpen crashes Open of the log that survivor holds after each
// of its first steps, opens what survived each of those crashes with
// opts and checks it with check. It returns the number of recoveries
// checked. detail adds to the message of an Open that fails.
func crashDuringOpen(t *testing.T, what, detail string, survivor *crashfs.FS, rng *rand.Rand, steps int,
	opts func(*crashfs.FS) *seglog.Options, check func(what string, l *seglog.Log, fsys *crashfs.FS)) int {
	t.Helper()
	for m := 0; m < steps; m++ {
		c := survivor.Crash(nil, crashfs.CrashKeepAll)
		c.CrashAfter(m)
		if l, err := seglog.Open(crashDir, opts(c)); err == nil {
			l.Close()
		}
		s := c.Crash(rng, crashfs.CrashRandom)
		l, err := seglog.Open(crashDir, opts(s))
		if err != nil {
			t.Fatalf("%s, then Open crashed at its step %d%s: Open: %v", what, m, detail, err)
		}
		check(fmt.Sprintf("%s, then Open crashed at its step %d", what, m), l, s)
		l.Close()
	}
	return steps
}

// twoRounds is a crash workload's run: it opens the log, does round,
// reopens the log, does round again and finishes the run.
func twoRounds(r *crashRun, round func() error) error {
	if err := r.open(); err != nil {
		return err
	}
	if err := round(); err != nil {
		return err
	}
	if err := r.reopen(); err != nil {
		return err
	}
	if err := round(); err != nil {
		return err
	}
	return finishRun(r)
}
