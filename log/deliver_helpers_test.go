package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// Helpers of the delivery tests (deliver*_test.go, model*_test.go,
// crash_ack_test.go): logs on a crashfs.FS in crashDir, records named by
// letters as in the reference docs, Pending and Ack that fail the test on
// error, and checks of the files a release leaves.

// crashOpts returns options for a log on fsys with quiet logging.
func crashOpts(fsys *crashfs.FS, segSize int64, policy seglog.SyncPolicy) *seglog.Options {
	return &seglog.Options{FS: fsys, SegmentSize: segSize, Sync: policy, Logger: quiet}
}

// openCrash opens the log in crashDir on fsys, failing the test on error.
func openCrash(t testing.TB, opts *seglog.Options) *seglog.Log {
	t.Helper()
	l, err := seglog.Open(crashDir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	verifyAtEnd(t, opts.FS, crashDir)
	return l
}

// letterOf names the record at offset o as the reference docs do: A for
// offset 0, B for 1, and so on.
func letterOf(o uint64) string {
	if o < 26 {
		return string(rune('A' + o))
	}
	return fmt.Sprintf("#%d", o)
}

// appendLetters appends n records whose data is their letter.
func appendLetters(t testing.TB, l *seglog.Log, n int) {
	t.Helper()
	for range n {
		next := l.NextOffset()
		off, err := l.Append([]byte(letterOf(next)))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if off != next {
			t.Fatalf("Append returned offset %d, want %d", off, next)
		}
	}
}

// lettersOf returns the letters of records.
func lettersOf(recs []seglog.Record) string {
	var b strings.Builder
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(r.Data)
	}
	return b.String()
}

// batchLetters describes a batch as "seq N: X Y Z" and checks that its
// records have consecutive offsets.
func batchLetters(t testing.TB, b seglog.Batch) string {
	t.Helper()
	for i, r := range b.Records {
		if i > 0 && r.Offset != b.Records[i-1].Offset+1 {
			t.Fatalf("batch offsets not consecutive: %d after %d", r.Offset, b.Records[i-1].Offset)
		}
	}
	return fmt.Sprintf("seq %d: %s", b.Sequence, lettersOf(b.Records))
}

// mustPending calls Pending and fails the test on error.
func mustPending(t testing.TB, l *seglog.Log, max int) seglog.Batch {
	t.Helper()
	b, err := l.Pending(max)
	if err != nil {
		t.Fatalf("Pending(%d): %v", max, err)
	}
	return b
}

// mustAck calls Ack and fails the test on error.
func mustAck(t testing.TB, l *seglog.Log, n uint64) seglog.AckResult {
	t.Helper()
	res, err := l.Ack(n)
	if err != nil {
		t.Fatalf("Ack(%d): %v", n, err)
	}
	return res
}

// readAllRecords returns every record Records yields from offset 0, with copies
// of their data.
func readAllRecords(t testing.TB, l *seglog.Log) []seglog.Record {
	t.Helper()
	var out []seglog.Record
	for r, err := range l.Records(0) {
		if err != nil {
			t.Fatalf("Records: %v", err)
		}
		r.Data = bytes.Clone(r.Data)
		out = append(out, r)
	}
	return out
}

// checkReleased checks that no read returns a record before the first
// kept offset.
func checkReleased(t testing.TB, l *seglog.Log) {
	t.Helper()
	first := l.FirstOffset()
	if first == 0 {
		return
	}
	for _, o := range []uint64{0, first / 2, first - 1} {
		if r, err := l.Read(o); !errors.Is(err, seglog.ErrOutOfRange) {
			t.Fatalf("Read(%d) below first offset %d = (%d, %v), want ErrOutOfRange", o, first, r.Offset, err)
		}
	}
	for r, err := range l.Records(0) {
		if err == nil && r.Offset < first {
			t.Fatalf("Records(0) yielded offset %d below first offset %d", r.Offset, first)
		}
		break
	}
}

// logFiles lists the segment bases and the index bases in dir of fsys.
func logFiles(t testing.TB, fsys *crashfs.FS, dir string) (segs, idxs []uint64) {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	for _, n := range names {
		if b, ok := segment.ParseFileName(n); ok {
			segs = append(segs, b)
		}
		if strings.HasSuffix(n, index.Suffix) && len(n) == 20+len(index.Suffix) {
			var b uint64
			if _, err := fmt.Sscanf(n[:20], "%d", &b); err == nil {
				idxs = append(idxs, b)
			}
		}
	}
	return segs, idxs
}

// checkFiles checks that no segment file lies wholly before first (the
// next segment starts at or before it) and that no index file has lost
// its segment. It returns the number of segment files.
func checkFiles(t testing.TB, fsys *crashfs.FS, dir string, first uint64) int {
	t.Helper()
	n, err := checkFilesErr(t, fsys, dir, first, false)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkFilesErr is checkFiles returning its finding. With lingerOK, the
// oldest segment may lie wholly before first if the next one starts
// exactly there: a segment that was still the active one when a release
// reached its end is sealed by a later append, and goes at the next state
// save or Open.
func checkFilesErr(t testing.TB, fsys *crashfs.FS, dir string, first uint64, lingerOK bool) (int, error) {
	t.Helper()
	segs, idxs := logFiles(t, fsys, dir)
	for i := 0; i+1 < len(segs); i++ {
		if lingerOK && i == 0 && segs[1] == first {
			continue
		}
		if segs[i+1] <= first {
			return 0, fmt.Errorf("segment %d lies wholly before the first offset %d (segments %v)", segs[i], first, segs)
		}
	}
	for _, b := range idxs {
		if !slices.Contains(segs, b) {
			return 0, fmt.Errorf("index file %d has no segment (segments %v)", b, segs)
		}
	}
	return len(segs), nil
}
