package log_test

import (
	"bytes"
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
