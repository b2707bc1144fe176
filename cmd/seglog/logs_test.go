package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/testlog"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// The logs the tests run the commands against are built with the library
// in t.TempDir(), the same way every time, so that their bytes and so the
// commands' output are deterministic.

const testSegmentSize = seglog.MinSegmentSize // 16 KiB: a few records roll

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// payload returns the deterministic payload of record i: JSON text, or
// binary bytes for every seventh record.
func payload(i int) (string, []byte) {
	if i%7 == 3 {
		b := make([]byte, 40+i%13)
		for j := range b {
			b[j] = byte(i*31 + j*7)
		}
		return "blob", b
	}
	typ := "event"
	if i%5 == 0 {
		typ = ""
	}
	return typ, []byte(fmt.Sprintf(`{"n":%d,"msg":"hello from record %d","pad":"%s"}`, i, i, strings.Repeat("x", i%50)))
}

// buildHealthy writes a log of n records over several 16 KiB segments,
// some appended one at a time and some in batches, sends and acknowledges
// part of them and stores metadata, and returns its directory.
func buildHealthy(t testing.TB, n int, codec seglog.Codec) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Codec: codec, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; {
		if i%40 == 20 && i+5 <= n {
			var recs []seglog.Record
			for j := range 5 {
				typ, data := payload(i + j)
				recs = append(recs, seglog.Record{Type: typ, Data: data})
			}
			if _, err := l.AppendRecords(recs...); err != nil {
				t.Fatal(err)
			}
			i += 5
			continue
		}
		typ, data := payload(i)
		if _, err := l.AppendRecords(seglog.Record{Type: typ, Data: data}); err != nil {
			t.Fatal(err)
		}
		i++
	}
	if _, err := l.Pending(50); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ack(30); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta("peer", []byte("alpha")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// segmentFiles returns the log's segment file paths in order.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segment.Suffix))
	if err != nil || len(m) == 0 {
		t.Fatalf("no segment in %s: %v", dir, err)
	}
	return m
}

// indexEntries decodes a segment's index.
func indexEntries(t testing.TB, seg string) []index.Entry {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(seg, segment.Suffix) + index.Suffix)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := segment.ParseFileName(filepath.Base(seg))
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	e, err := index.Decode(b, base, segment.HeaderSize, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// flipByte inverts one byte of a file.
func flipByte(t testing.TB, path string, pos int64) {
	t.Helper()
	testlog.XorByte(t, path, pos, 0xff)
}

// tearTail appends the first part of a well-formed frame holding the next
// offsets to the active segment, as a crash in the middle of a write
// leaves it.
func tearTail(t testing.TB, dir string) {
	t.Helper()
	segs := segmentFiles(t, dir)
	active := segs[len(segs)-1]
	l, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	next := l.NextOffset()
	l.Close()
	fi, err := os.Stat(active)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, segment.FrameHeaderSize)
	for i := range 3 {
		_, data := payload(int(next) + i)
		buf = segment.AppendRecord(buf, "event", data)
	}
	h := segment.FrameHeader{Base: next, Count: 3, RawLen: uint32(len(buf) - segment.FrameHeaderSize), Durable: uint32(fi.Size())}
	head, err := os.ReadFile(active)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := segment.ParseFileHeader(active, head)
	if err != nil {
		t.Fatal(err)
	}
	segment.SealFrame(buf, &h, fh.Salt)
	f, err := os.OpenFile(active, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(buf[:len(buf)*3/5]); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// flipInSealed flips a byte in the body of a frame in the middle of the
// first segment.
func flipInSealed(t testing.TB, dir string) {
	t.Helper()
	seg := segmentFiles(t, dir)[0]
	e := indexEntries(t, seg)
	mid := e[len(e)/2]
	flipByte(t, seg, int64(mid.Pos)+segment.FrameHeaderSize+5)
}

// corruptCheckpointSlot damages the slot holding the current state, so
// the older generation in the other slot is used.
func corruptCheckpointSlot(t testing.TB, dir string) {
	t.Helper()
	var best string
	var bestGen uint64
	for _, n := range []string{"checkpoint.0", "checkpoint.1"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil || len(b) < 20 {
			continue
		}
		if g := binary.LittleEndian.Uint64(b[12:]); g >= bestGen {
			best, bestGen = n, g
		}
	}
	if best == "" {
		t.Fatal("no checkpoint slot")
	}
	flipByte(t, filepath.Join(dir, best), 30)
}

// scenarios are the logs the golden tests run every command against.
var scenarios = []struct {
	name   string
	damage func(t testing.TB, dir string)
}{
	{"healthy", func(testing.TB, string) {}},
	{"torn_tail", tearTail},
	{"flipped_byte", flipInSealed},
	{"missing_index", func(t testing.TB, dir string) {
		seg := segmentFiles(t, dir)[0]
		if err := os.Remove(strings.TrimSuffix(seg, segment.Suffix) + index.Suffix); err != nil {
			t.Fatal(err)
		}
	}},
	{"corrupt_checkpoint", corruptCheckpointSlot},
}

func buildScenario(t testing.TB, name string) string {
	t.Helper()
	for _, s := range scenarios {
		if s.name == name {
			dir := buildHealthy(t, 320, seglog.CodecNone)
			s.damage(t, dir)
			return dir
		}
	}
	t.Fatalf("no scenario %q", name)
	return ""
}

// ackPending hands out up to max records and acknowledges them all.
func ackPending(t testing.TB, l *seglog.Log, max int) {
	t.Helper()
	b, err := l.Pending(max)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ack(b.Sequence + uint64(len(b.Records))); err != nil {
		t.Fatal(err)
	}
}
