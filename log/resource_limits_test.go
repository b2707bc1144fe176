package log_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// The resource-limit tests hand the log data whose length fields claim far
// more than it holds, or than memory allows, and check that each gets a
// clear error or a documented recovery while the allocation stays bounded
// (measured as runtime.MemStats.TotalAlloc, an upper bound on the peak).

// allocatedBy returns the bytes fn allocated on the heap.
func allocatedBy(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// rawFrameHeader encodes a frame header with the given fields and a valid
// header checksum for a file of the given salt; the frame checksum covers body.
func rawFrameHeader(salt segment.Salt, bodyLen, rawLen uint32, base uint64, count uint32, codec segment.Codec, body []byte) []byte {
	h := make([]byte, segment.FrameHeaderSize)
	binary.LittleEndian.PutUint32(h[0:], bodyLen)
	binary.LittleEndian.PutUint32(h[4:], rawLen)
	binary.LittleEndian.PutUint64(h[8:], base)
	binary.LittleEndian.PutUint32(h[16:], count)
	h[24] = byte(codec)
	s := binary.LittleEndian.AppendUint32(nil, uint32(salt))
	binary.LittleEndian.PutUint32(h[28:], uint32(xxhash.Sum64(append(s, h[:28]...))))
	var d xxhash.Digest
	d.Reset()
	d.Write(s)
	d.Write(h[:32])
	d.Write(body)
	binary.LittleEndian.PutUint64(h[32:], d.Sum64())
	return h
}

// validFrame seals a frame of one record at offset base with the given
// durable watermark, for a file of the given salt.
func validFrame(salt segment.Salt, base uint64, durable uint32) []byte {
	body := segment.AppendRecord(nil, "", []byte("proof"))
	b := append(make([]byte, segment.FrameHeaderSize), body...)
	segment.SealFrame(b, &segment.FrameHeader{Base: base, Count: 1, RawLen: uint32(len(body)), Durable: durable}, salt)
	return b
}

// TestLimitHostileFrames puts frames with hostile lengths into a log: at
// the end of the active segment with nothing after them (a torn tail for
// all recovery can tell), followed by a valid frame that proves them synced
// (damage, which Open must refuse), and at the end of a sealed segment
// (found by the first read there).
func TestLimitHostileFrames(t *testing.T) {
	zeros := make([]byte, segment.MaxFrameBody)
	zbomb, _ := segment.Compress(segment.CodecZstd, nil, zeros) // 64 MiB of zeros in a few KiB
	s2len := binary.AppendUvarint(nil, 1<<32-1)                 // an s2 body claiming 4 GiB
	s2len = append(s2len, 0, 0, 0)
	recBomb := binary.AppendUvarint([]byte{0}, 1<<60) // a record claiming 2^60 bytes
	frames := []struct {
		name  string
		frame func(salt segment.Salt, base uint64) []byte
		bound uint64 // allocation allowed beyond the small fixed costs
	}{
		{"header-claims-4GiB", func(salt segment.Salt, base uint64) []byte {
			return rawFrameHeader(salt, 0xFFFFFFF0, 0xFFFFFFF0, base, 1, segment.CodecNone, nil)
		}, 0},
		{"header-claims-limit", func(salt segment.Salt, base uint64) []byte {
			return rawFrameHeader(salt, segment.MaxFrameBody, segment.MaxFrameBody, base, 1, segment.CodecNone, nil)
		}, 0},
		{"zstd-64MiB-claims-100B", func(salt segment.Salt, base uint64) []byte {
			return append(rawFrameHeader(salt, uint32(len(zbomb)), 100, base, 1, segment.CodecZstd, zbomb), zbomb...)
		}, 1 << 20},
		{"zstd-64MiB-claims-64MiB", func(salt segment.Salt, base uint64) []byte {
			// Legal lengths: the body decodes to what the header says,
			// but it is not one record. MaxFrameBody is the bound.
			return append(rawFrameHeader(salt, uint32(len(zbomb)), segment.MaxFrameBody, base, 1, segment.CodecZstd, zbomb), zbomb...)
		}, 2 * segment.MaxFrameBody},
		{"s2-claims-4GiB", func(salt segment.Salt, base uint64) []byte {
			return append(rawFrameHeader(salt, uint32(len(s2len)), 100, base, 1, segment.CodecS2, s2len), s2len...)
		}, 0},
		{"record-claims-2^60", func(salt segment.Salt, base uint64) []byte {
			return append(rawFrameHeader(salt, uint32(len(recBomb)), uint32(len(recBomb)), base, 1, segment.CodecNone, recBomb), recBomb...)
		}, 0},
	}
	const fixed = 12 << 20 // scan buffers, the index, the log itself
	for _, fr := range frames {
		for _, place := range []string{"tail", "proven", "sealed"} {
			t.Run(fr.name+"/"+place, func(t *testing.T) {
				fsys := crashfs.New()
				l := openFS(t, fsys, nil)
				if place != "tail" { // a torn tail, which recovery cuts
					verifyExpectDamage(t, crashDir)
				}
				n := 3
				if place == "sealed" {
					n = 20 // two segments
				}
				for i := range n {
					if _, err := l.Append(tracedPayload(uint64(i), 1500)); err != nil {
						t.Fatal(err)
					}
				}
				next := l.NextOffset()
				l.Close()
				segs, _ := fsys.ReadDir(crashDir)
				var target string
				var base uint64
				for _, s := range segs {
					if b, ok := segment.ParseFileName(s); ok {
						if place != "sealed" || target == "" {
							target = filepath.Join(crashDir, s)
						} else if base == 0 {
							base = b // the sealed segment's frames end where the next begins
						}
					}
				}
				if place != "sealed" {
					base = next
				}
				old, _ := fsys.ReadFile(target)
				fh, err := segment.ParseFileHeader(target, old)
				if err != nil {
					t.Fatal(err)
				}
				data := append(old, fr.frame(fh.Salt, base)...)
				if place == "proven" {
					data = append(data, validFrame(fh.Salt, base+1, uint32(len(data)))...)
				}
				if err := fsys.WriteFile(target, data); err != nil {
					t.Fatal(err)
				}

				var openErr, readErr error
				var bogus string
				var rec seglog.Recovery
				got := allocatedBy(func() {
					l2, err := seglog.Open(crashDir, &seglog.Options{FS: fsys, Logger: quiet, SegmentSize: seglog.MinSegmentSize})
					if openErr = err; err != nil {
						return
					}
					defer l2.Close()
					rec = l2.Recovery()
					want := uint64(0)
					for rec, err := range l2.Records(0) {
						if err != nil {
							readErr = err
							continue
						}
						if id, ok := parseTraced(rec.Data); !ok || id != rec.Offset || rec.Offset != want {
							bogus = fmt.Sprintf("offset %d (after %d) holds %d bytes that were not appended there", rec.Offset, want-1, len(rec.Data))
						}
						want = rec.Offset + 1
					}
				})
				if got > fixed+fr.bound {
					t.Errorf("allocated %d MiB, bound %d MiB", got>>20, (fixed+fr.bound)>>20)
				}
				switch place {
				case "tail":
					if openErr != nil || rec.TornBytes == 0 {
						t.Errorf("unproven frame at the tail: Open %v, %d torn bytes; want it cut as a torn tail", openErr, rec.TornBytes)
					}
				case "proven":
					if !errors.Is(openErr, seglog.ErrCorrupt) {
						t.Errorf("frame proven synced: Open %v, want ErrCorrupt", openErr)
					}
				case "sealed":
					if openErr != nil || !errors.Is(readErr, seglog.ErrCorrupt) {
						t.Errorf("frame in a sealed segment: Open %v, reading %v; want reads to fail with ErrCorrupt", openErr, readErr)
					}
				}
				if bogus != "" {
					t.Errorf("Records: %s", bogus)
				}
				t.Logf("allocated %d KiB; open: %v; read: %v", got>>10, openErr, readErr)
			})
		}
	}
}

// TestLimitStrayFiles opens a log whose directory holds thousands of files
// that are not the log's: they are ignored, except index files without a
// segment, which Open removes; memory stays small.
func TestLimitStrayFiles(t *testing.T) {
	dir := t.TempDir()
	opts := &seglog.Options{Logger: quiet, SegmentSize: seglog.MinSegmentSize}
	l, err := seglog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := l.Append(tracedPayload(uint64(i), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	const n = 3000
	for i := range n {
		names := []string{
			fmt.Sprintf("junk-%d", i),
			fmt.Sprintf("%020d.seg.tmp", i),
			fmt.Sprintf("%d.seg", i), // not 20 digits: not a segment
		}
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 500 { // orphan indexes, far past the log's end
		os.WriteFile(filepath.Join(dir, index.FileName(1_000_000+uint64(i))), []byte("x"), 0o644)
	}
	var l2 *seglog.Log
	got := allocatedBy(func() {
		l2, err = seglog.Open(dir, opts)
	})
	if err != nil {
		t.Fatalf("open beside %d stray files: %v", 3*n+500, err)
	}
	defer l2.Close()
	if got > 32<<20 {
		t.Errorf("open allocated %d MiB", got>>20)
	}
	for i := range 50 {
		rec, err := l2.Read(uint64(i))
		if id, ok := parseTraced(rec.Data); err != nil || !ok || id != uint64(i) {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	names, _ := os.ReadDir(dir)
	var junk, orphans int
	for _, e := range names {
		switch {
		case strings.HasPrefix(e.Name(), "junk-"):
			junk++
		case strings.HasPrefix(e.Name(), "00000000000001"):
			orphans++
		}
	}
	if junk != n || orphans != 0 {
		t.Errorf("after Open: %d junk files (want %d untouched), %d orphan indexes (want removed)", junk, n, orphans)
	}
	t.Logf("Open beside %d stray files allocated %d KiB", 3*n+500, got>>10)
}

// TestLimitCheckpointPastEnd gives the log a checkpoint that keeps records
// the log does not have: past its end, or before its first segment. Open
// refuses it with an error matching ErrCorrupt that says so, rather than
// invent or skip records.
func TestLimitCheckpointPastEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   checkpoint.State
		want string
	}{
		{"cursor-past-end", checkpoint.State{Sequence: 1, Cursor: 500, First: 0}, "past the end"},
		{"first-past-end", checkpoint.State{Sequence: 1, Cursor: 1 << 40, First: 1 << 40}, "past the end"},
		{"max", checkpoint.State{Sequence: ^uint64(0), Cursor: ^uint64(0), First: ^uint64(0)}, "past the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := crashfs.New()
			l := openFS(t, fsys, nil)
			verifyExpectDamage(t, crashDir)
			for i := range 10 {
				if _, err := l.Append(tracedPayload(uint64(i), 100)); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			enc, err := checkpoint.Marshal(1<<20, tc.st)
			if err != nil {
				t.Fatal(err)
			}
			if err := fsys.WriteFile(filepath.Join(crashDir, "checkpoint.0"), enc); err != nil {
				t.Fatal(err)
			}
			_, err = seglog.Open(crashDir, &seglog.Options{FS: fsys, Logger: quiet})
			if !errors.Is(err, seglog.ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open with a checkpoint %+v over a log of 10 records: %v, want ErrCorrupt saying %q", tc.st, err, tc.want)
			}
		})
	}
	// A checkpoint keeping records from before the first segment: the
	// segment holding them is missing.
	fsys := crashfs.New()
	l := openFS(t, fsys, nil)
	verifyExpectDamage(t, crashDir)
	for i := range 40 {
		if _, err := l.Append(tracedPayload(uint64(i), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	names, _ := fsys.ReadDir(crashDir)
	fsys.Remove(filepath.Join(crashDir, names[slicesIndexFunc(names, func(n string) bool { return strings.HasSuffix(n, segment.Suffix) })]))
	if _, err := seglog.Open(crashDir, &seglog.Options{FS: fsys, Logger: quiet}); !errors.Is(err, seglog.ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Open with the first segment missing: %v, want ErrCorrupt saying it is missing", err)
	}
}

func slicesIndexFunc(s []string, f func(string) bool) int {
	for i, x := range s {
		if f(x) {
			return i
		}
	}
	return -1
}

// TestLimitHugeFiles makes the index and a checkpoint slot files of
// 256 MiB (sparse, on the real filesystem): the index is longer than its
// segment and is rebuilt, the slot is read no further than the largest
// valid checkpoint, and memory stays small.
func TestLimitHugeFiles(t *testing.T) {
	dir := t.TempDir()
	opts := &seglog.Options{Logger: quiet, SegmentSize: seglog.MinSegmentSize}
	l, err := seglog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := l.Append(tracedPayload(uint64(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SetMeta("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for _, name := range []string{index.FileName(0), "checkpoint.1"} {
		if err := os.Truncate(filepath.Join(dir, name), 256<<20); err != nil {
			t.Fatal(err)
		}
	}
	var l2 *seglog.Log
	got := allocatedBy(func() {
		l2, err = seglog.Open(dir, opts)
	})
	if err != nil {
		t.Fatalf("open with huge index and slot files: %v", err)
	}
	defer l2.Close()
	if got > 16<<20 {
		t.Errorf("open allocated %d MiB", got>>20)
	}
	if v, _ := l2.Meta("k"); string(v) != "v" || l2.NextOffset() != 5 {
		t.Errorf("state after open: meta %q, next %d", v, l2.NextOffset())
	}
	if !l2.Recovery().IndexRebuilt {
		t.Errorf("a 256 MiB index for a small segment was not rebuilt")
	}
	t.Logf("Open with a 256 MiB index and a 256 MiB checkpoint slot allocated %d KiB", got>>10)
}
