package fuzz

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

var update = flag.Bool("update", false, "rewrite the generated seed corpora under testdata/fuzz")

// quiet swallows the log's recovery reports, which fuzz inputs provoke.
var quiet = slog.New(slog.DiscardHandler)

// logDir is the log directory inside a crashfs.
const logDir = "/log"

var allocSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

// allocBytes returns roughly how many heap bytes fn allocated. The runtime
// counts small objects a span at a time, so the figure may be off by a
// few hundred KiB; it is meant to catch allocations of many MiB.
func allocBytes(fn func()) uint64 {
	metrics.Read(allocSample)
	before := allocSample[0].Value.Uint64()
	fn()
	metrics.Read(allocSample)
	return allocSample[0].Value.Uint64() - before
}

// allocSlack is what any measured call may allocate beyond its own bound:
// the span-granular accounting and the runtime's own bookkeeping.
const allocSlack = 4 << 20

// checkAlloc runs fn and fails if it allocated more than limit bytes (plus
// allocSlack).
func checkAlloc(t *testing.T, what string, limit uint64, fn func()) {
	t.Helper()
	if n := allocBytes(fn); n > limit+allocSlack {
		t.Fatalf("%s allocated %d bytes, over its bound of %d (+%d slack)", what, n, limit, allocSlack)
	}
}

// warmCodecs builds the process-wide zstd and s2 coders, whose one-time
// cost would otherwise be charged to the first input measured.
func warmCodecs() {
	raw := []byte(strings.Repeat("warm up the codecs ", 64))
	for _, c := range []segment.Codec{segment.CodecS2, segment.CodecZstd} {
		out, _ := segment.Compress(c, nil, raw)
		segment.Decompress(c, nil, out, uint32(len(raw)))
	}
}

// corpusEntry encodes one seed in the format of testdata/fuzz files.
func corpusEntry(args ...any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", v)
		case int64:
			fmt.Fprintf(&b, "int64(%d)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		default:
			panic(fmt.Sprintf("corpusEntry: unsupported %T", a))
		}
	}
	return []byte(b.String())
}

// generators lists, per target, the seeds that TestCorpus -update writes.
var generators = map[string]func(t testing.TB) [][]any{
	"FuzzFrame":      frameSeeds,
	"FuzzScan":       scanSeeds,
	"FuzzScanTail":   scanTailSeeds,
	"FuzzIndex":      indexSeeds,
	"FuzzCheckpoint": checkpointSeeds,
	"FuzzOpenDir":    openDirSeeds,
	"FuzzOps":        opsSeeds,
	"FuzzDict":       dictSeeds,
}

// TestCorpus checks that every target has a committed seed corpus, and
// with -update rewrites the generated seeds (files named gen-*; seeds
// found by fuzzing and committed by hand are left alone).
func TestCorpus(t *testing.T) {
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range generators {
			if !yield(k) {
				return
			}
		}
	}) {
		dir := filepath.Join("testdata", "fuzz", name)
		if *update {
			old, _ := filepath.Glob(filepath.Join(dir, "gen-*"))
			for _, f := range old {
				os.Remove(f)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, args := range generators[name](t) {
				b := corpusEntry(args...)
				sum := sha256.Sum256(b)
				if err := os.WriteFile(filepath.Join(dir, "gen-"+hex.EncodeToString(sum[:8])), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(files) < 3 {
			t.Errorf("%s: %d seed files in %s, want at least 3 (go test ./fuzz -run=TestCorpus -update)", name, len(files), dir)
		}
	}
}

// buildLog writes a small log on a fresh crashfs: three segments, the
// first released by acks, records with and without types, and metadata in
// the checkpoint. It returns the filesystem, still holding unsynced index
// writes, and the log's options.
func buildLog(t testing.TB, codec segment.Codec) (*crashfs.FS, *seglog.Options) {
	fsys := crashfs.New()
	opts := &seglog.Options{FS: fsys, Logger: quiet, SegmentSize: seglog.MinSegmentSize, Codec: codec}
	l, err := seglog.Open(logDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		data := []byte(fmt.Sprintf("record %d %s", i, strings.Repeat("abcdefgh", i*3)))
		if i%5 == 4 {
			_, err = l.AppendRecords(seglog.Record{Type: "t", Data: data}, seglog.Record{Data: data[:i]})
		} else {
			_, err = l.Append(data)
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			b, err := l.Pending(8)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Ack(b.Sequence + uint64(len(b.Records))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.SetMeta("peer", []byte("example.org:443")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return fsys, opts
}

// logFiles returns the names of the files in the log directory of fsys.
func logFiles(fsys *crashfs.FS, suffix string) []string {
	names, _ := fsys.ReadDir(logDir)
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			out = append(out, n)
		}
	}
	return out
}
