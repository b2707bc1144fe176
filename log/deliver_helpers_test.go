package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// Helpers shared by the delivery tests (deliver*_test.go, model*_test.go,
// crash_ack_test.go). Their names start with dl so that they cannot clash
// with the helpers of the package's other test files.

// dlDir is the log directory inside a crashfs.FS.
const dlDir = "/log"

// dlQuiet discards the log's recovery and error reports, which crash
// tests provoke by the thousand.
var dlQuiet = slog.New(slog.DiscardHandler)

// dlOpts returns options for a log on fsys with quiet logging.
func dlOpts(fsys *crashfs.FS, segSize int64, policy seglog.SyncPolicy) *seglog.Options {
	return &seglog.Options{FS: fsys, SegmentSize: segSize, Sync: policy, Logger: dlQuiet}
}

// dlOpen opens the log in dlDir on fsys, failing the test on error.
func dlOpen(t testing.TB, opts *seglog.Options) *seglog.Log {
	t.Helper()
	l, err := seglog.Open(dlDir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	verifyAtEnd(t, opts.FS, dlDir)
	return l
}

// dlLetter names the record at offset o as the reference docs do: A for
// offset 0, B for 1, and so on.
func dlLetter(o uint64) string {
	if o < 26 {
		return string(rune('A' + o))
	}
	return fmt.Sprintf("#%d", o)
}

// dlAppendLetters appends n records whose data is their letter.
func dlAppendLetters(t testing.TB, l *seglog.Log, n int) {
	t.Helper()
	for range n {
		next := l.NextOffset()
		off, err := l.Append([]byte(dlLetter(next)))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if off != next {
			t.Fatalf("Append returned offset %d, want %d", off, next)
		}
	}
}

// dlLetters returns the letters of records.
func dlLetters(recs []seglog.Record) string {
	var b strings.Builder
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(r.Data)
	}
	return b.String()
}

// dlBatchLetters describes a batch as "seq N: X Y Z" and checks that its
// records have consecutive offsets.
func dlBatchLetters(t testing.TB, b seglog.Batch) string {
	t.Helper()
	for i, r := range b.Records {
		if i > 0 && r.Offset != b.Records[i-1].Offset+1 {
			t.Fatalf("batch offsets not consecutive: %d after %d", r.Offset, b.Records[i-1].Offset)
		}
	}
	return fmt.Sprintf("seq %d: %s", b.Sequence, dlLetters(b.Records))
}

// dlPending calls Pending and fails the test on error.
func dlPending(t testing.TB, l *seglog.Log, max int) seglog.Batch {
	t.Helper()
	b, err := l.Pending(max)
	if err != nil {
		t.Fatalf("Pending(%d): %v", max, err)
	}
	return b
}

// dlAck calls Ack and fails the test on error.
func dlAck(t testing.TB, l *seglog.Log, n uint64) seglog.AckResult {
	t.Helper()
	res, err := l.Ack(n)
	if err != nil {
		t.Fatalf("Ack(%d): %v", n, err)
	}
	return res
}

// dlAll returns every record Records yields from offset 0, with copies
// of their data.
func dlAll(t testing.TB, l *seglog.Log) []seglog.Record {
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

// dlCheckReleased checks that no read returns a record before the first
// kept offset.
func dlCheckReleased(t testing.TB, l *seglog.Log) {
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

// dlFiles lists the segment bases and the index bases in dir of fsys.
func dlFiles(t testing.TB, fsys *crashfs.FS, dir string) (segs, idxs []uint64) {
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

// dlCheckFiles checks that no segment file lies wholly before first (the
// next segment starts at or before it) and that no index file has lost
// its segment. It returns the number of segment files.
func dlCheckFiles(t testing.TB, fsys *crashfs.FS, dir string, first uint64) int {
	t.Helper()
	n, err := dlFilesErr(t, fsys, dir, first, false)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// dlFilesErr is dlCheckFiles returning its finding. With lingerOK, the
// oldest segment may lie wholly before first if the next one starts
// exactly there: a segment that was still the active one when a release
// reached its end is sealed by a later append, and goes at the next state
// save or Open.
func dlFilesErr(t testing.TB, fsys *crashfs.FS, dir string, first uint64, lingerOK bool) (int, error) {
	t.Helper()
	segs, idxs := dlFiles(t, fsys, dir)
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
