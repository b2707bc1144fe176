package log_test

// The package's test helpers, one set for every test file: the seed flag
// (-seed), the quiet logger, opening and closing a log, records to append
// and checks of what a log holds, and the files of a log. The crash
// workload (crash_workload_test.go) and the delivery helpers
// (deliver_helpers_test.go) build on them.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seglog/seglog/internal/testlog"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// seedFlag is the seed of every randomised test in the package.
var seedFlag = flag.Uint64("seed", 0, "seed of the randomised tests; 0 picks one from the clock")

// testSeed returns the seed of a randomised test and logs it with the
// flag that replays it.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed=%d)", seed, seed)
	return seed
}

// newRand returns the test's random source, seeded by testSeed.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := testSeed(t)
	return rand.New(rand.NewPCG(seed, seed^0x5eed))
}

// quiet discards the log's recovery and error reports, which the tests
// provoke by the thousand.
var quiet = slog.New(slog.DiscardHandler)

// crashDir is the log directory of the tests that run on a crashfs.FS.
const crashDir = "/log"

// openLog opens a log, quiet unless opts names a logger, and closes it at
// the end of the test.
func openLog(t testing.TB, dir string, opts *seglog.Options) *seglog.Log {
	t.Helper()
	o := quietOpts(opts)
	l, err := seglog.Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	verifyAtEnd(t, o.FS, dir)
	t.Cleanup(func() { l.Close() })
	return l
}

func quietOpts(opts *seglog.Options) *seglog.Options {
	var o seglog.Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	return &o
}

func closeLog(t testing.TB, l *seglog.Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// recordData returns n bytes for the record at offset off: random, or
// compressible text when compressible. Records differ by offset and the
// seed, so a record read from the wrong place does not match.
func recordData(rng *rand.Rand, n int, compressible bool) []byte {
	b := make([]byte, n)
	if compressible {
		word := []byte("seglog-" + string(rune('a'+rng.IntN(26))) + " ")
		for i := range b {
			b[i] = word[i%len(word)]
		}
		if n > 0 {
			b[rng.IntN(n)] = byte(rng.Uint32())
		}
		return b
	}
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := i; j < min(i+8, n); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return b
}

// appendRecs appends recs, one Append each for untyped records and one
// AppendRecords for typed ones, and returns them with their offsets.
func appendRecs(t testing.TB, l *seglog.Log, recs ...seglog.Record) []seglog.Record {
	t.Helper()
	out := make([]seglog.Record, len(recs))
	for i, r := range recs {
		var off uint64
		var err error
		if r.Type == "" {
			off, err = l.Append(r.Data)
		} else {
			off, err = l.AppendRecords(r)
		}
		if err != nil {
			t.Fatalf("append record %d: %v", i, err)
		}
		out[i] = seglog.Record{Offset: off, Type: r.Type, Data: r.Data}
	}
	return out
}

// appendBatch appends recs as one AppendRecords call.
func appendBatch(t testing.TB, l *seglog.Log, recs ...seglog.Record) []seglog.Record {
	t.Helper()
	first, err := l.AppendRecords(recs...)
	if err != nil {
		t.Fatalf("AppendRecords(%d records): %v", len(recs), err)
	}
	out := make([]seglog.Record, len(recs))
	for i, r := range recs {
		out[i] = seglog.Record{Offset: first + uint64(i), Type: r.Type, Data: r.Data}
	}
	return out
}

func sameRecord(got, want seglog.Record) bool {
	return got.Offset == want.Offset && got.Type == want.Type && bytes.Equal(got.Data, want.Data)
}

func describeRecord(r seglog.Record) string {
	d := r.Data
	if len(d) > 16 {
		d = d[:16]
	}
	return fmt.Sprintf("{offset %d type %q len %d data %q...}", r.Offset, r.Type, len(r.Data), d)
}

// checkLog is the consistency check every storage-core test ends with:
// the log holds exactly want (offsets from FirstOffset, dense), every
// record reads back through Read and through Records from the start and
// from the middle, and reads outside the log are out of range.
func checkLog(t testing.TB, l *seglog.Log, want []seglog.Record) {
	t.Helper()
	checkLogFrom(t, l, want, 0)
}

// checkLogFrom is checkLog reading back only want[skip:]: for tests that
// check many states of a log whose start does not change.
func checkLogFrom(t testing.TB, l *seglog.Log, want []seglog.Record, skip int) {
	t.Helper()
	first, next := l.FirstOffset(), l.NextOffset()
	if len(want) > 0 && want[0].Offset != first {
		t.Fatalf("FirstOffset %d, want %d", first, want[0].Offset)
	}
	if got := next - first; got != uint64(len(want)) {
		t.Fatalf("log holds [%d, %d): %d records, want %d", first, next, got, len(want))
	}
	for i, w := range want[skip:] {
		if w.Offset != first+uint64(skip+i) {
			t.Fatalf("test bug: want[%d] has offset %d, not %d", skip+i, w.Offset, first+uint64(skip+i))
		}
		got, err := l.Read(w.Offset)
		if err != nil {
			t.Fatalf("Read(%d): %v", w.Offset, err)
		}
		if !sameRecord(got, w) {
			t.Fatalf("Read(%d) = %s, want %s", w.Offset, describeRecord(got), describeRecord(w))
		}
	}
	if _, err := l.Read(next); !errors.Is(err, seglog.ErrOutOfRange) {
		t.Fatalf("Read(NextOffset %d): %v, want ErrOutOfRange", next, err)
	}
	if first > 0 {
		if _, err := l.Read(first - 1); !errors.Is(err, seglog.ErrOutOfRange) {
			t.Fatalf("Read(FirstOffset-1): %v, want ErrOutOfRange", err)
		}
	}
	froms := []int{skip, skip + (len(want)-skip)/2}
	if froms[1] == froms[0] || froms[1] == len(want) {
		froms = froms[:1]
	}
	for _, from := range froms {
		i := from
		for r, err := range l.Records(first + uint64(from)) {
			if err != nil {
				t.Fatalf("Records(%d): at %d: %v", first+uint64(from), first+uint64(i), err)
			}
			if i >= len(want) {
				t.Fatalf("Records(%d) yields %s past the end %d", first+uint64(from), describeRecord(r), next)
			}
			if !sameRecord(r, want[i]) {
				t.Fatalf("Records(%d) yields %s, want %s", first+uint64(from), describeRecord(r), describeRecord(want[i]))
			}
			i++
		}
		if i != len(want) {
			t.Fatalf("Records(%d) stopped at %d, want %d", first+uint64(from), first+uint64(i), next)
		}
	}
}

// segmentPaths lists the segment files of dir in offset order.
func segmentPaths(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segment.Suffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// fileFrame is a frame found in a segment file.
type fileFrame struct {
	pos, size int64
	base      uint64
	count     uint32
	codec     segment.Codec
}

func (f fileFrame) end() int64          { return f.pos + f.size }
func (f fileFrame) next() uint64        { return f.base + uint64(f.count) }
func (f fileFrame) holds(o uint64) bool { return o >= f.base && o < f.next() }

// readSegmentHeader reads the segment file path and parses its header.
func readSegmentHeader(t testing.TB, path string) ([]byte, segment.FileHeader) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := segment.ParseFileHeader(path, b)
	if err != nil {
		t.Fatal(err)
	}
	return b, fh
}

// fileFrames scans a segment file and returns its frames; the file must be
// whole, bar zeros after the last frame (preallocated space, in the
// active segment of an open log).
func fileFrames(t testing.TB, path string) []fileFrame {
	t.Helper()
	b, fh := readSegmentHeader(t, path)
	var fs []fileFrame
	s := segment.NewScanner(bytes.NewReader(b), path, fh.Salt, segment.HeaderSize, int64(len(b)), fh.Base)
	for s.Next() {
		h := s.Header()
		fs = append(fs, fileFrame{pos: s.Pos(), size: h.Size(), base: h.Base, count: h.Count, codec: h.Codec})
	}
	if s.Err() != nil && len(bytes.TrimRight(b[s.End():], "\x00")) != 0 {
		t.Fatalf("scanning %s: %v", path, s.Err())
	}
	return fs
}

// copyDir makes dst a copy of the log directory src, rewriting only
// the files that differ, so that a test can restore a directory for each
// of many cases cheaply.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o750); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	keep := map[string]bool{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		keep[e.Name()] = true
		want, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dst, e.Name())
		if have, err := os.ReadFile(name); err == nil && bytes.Equal(have, want) {
			continue
		}
		if err := os.WriteFile(name, want, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range have {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(dst, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// xorByte xors the byte at pos of a file with x.
func xorByte(t testing.TB, path string, pos int64, x byte) {
	t.Helper()
	testlog.XorByte(t, path, pos, x)
}

// mustCorrupt checks that err matches ErrCorrupt and is a
// *CorruptError naming file at position pos (pos < 0: any position).
func mustCorrupt(t testing.TB, err error, file string, pos int64) {
	t.Helper()
	if !errors.Is(err, seglog.ErrCorrupt) {
		t.Fatalf("error %v, want ErrCorrupt", err)
	}
	var ce *seglog.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) carries no *CorruptError", err, err)
	}
	if ce.File != file || (pos >= 0 && ce.Offset != pos) {
		t.Fatalf("corruption reported at %s:%d, want %s:%d (%v)", ce.File, ce.Offset, file, pos, err)
	}
	if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), strconv.FormatInt(ce.Offset, 10)) {
		t.Fatalf("message %q does not name the file and position", err)
	}
}

// noSyncFS is the operating system's filesystem with fsync turned
// into a no-op. Tests that open a log hundreds of times to check recovery
// logic use it: what they check does not depend on the disk's cache, and
// fsync latency, which varies with the machine's load, would dominate.
type noSyncFS struct{ vfs.FS }

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error { return nil }

func (f noSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{file}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

var fastFS vfs.FS = noSyncFS{vfs.Default}
