package log_test

import (
	"bytes"
	"sync"
	"testing"

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
