package log_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seglog/seglog/index"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// tornFrames is how many frames at the end of the last segment the
// torn-tail test cuts inside, at every byte.
const tornFrames = 4

// TestTornTailEveryCut builds a log of several 16 KiB segments, then, for
// every byte position inside the last frames of the last segment, cuts a
// copy of it there and reopens: every frame wholly before the cut reads
// back, nothing after it does, the cut is reported through Recovery and
// the logger, and after another reopen appends go on densely.
func TestTornTailEveryCut(t *testing.T) {
	tests := []struct {
		name  string
		codec seglog.Codec
		batch bool // frames of several typed records, by AppendRecords
	}{
		{"one record a frame", seglog.CodecNone, false},
		{"zstd batches", seglog.CodecZstd, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := newRand(t)
			src := t.TempDir()
			opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Codec: tt.codec}
			l := openLog(t, src, opts)
			var want []seglog.Record
			for {
				segs := segmentPaths(t, src)
				if len(segs) >= 3 {
					// Enough frames to cut, the last one compressed when
					// the codec compresses (a small frame may not shrink,
					// and is then stored as it is).
					frames := fileFrames(t, segs[len(segs)-1])
					if len(frames) >= tornFrames+2 && (tt.codec == seglog.CodecNone || frames[len(frames)-1].codec == tt.codec) {
						break
					}
				}
				size := 20 + rng.IntN(200)
				if len(segs) < 3 {
					size = 500 + rng.IntN(2000) // fill the first segments quickly
				}
				if tt.batch {
					var recs []seglog.Record
					for range 1 + rng.IntN(3) {
						recs = append(recs, seglog.Record{Type: fmt.Sprintf("t%d", rng.IntN(3)), Data: recordData(rng, size, true)})
					}
					want = append(want, appendBatch(t, l, recs...)...)
				} else {
					want = append(want, appendRecs(t, l, seglog.Record{Data: recordData(rng, size, false)})...)
				}
			}
			checkLog(t, l, want)
			closeLog(t, l)

			segs := segmentPaths(t, src)
			lastName := filepath.Base(segs[len(segs)-1])
			frames := fileFrames(t, segs[len(segs)-1])
			if tt.codec != seglog.CodecNone && frames[len(frames)-1].codec != tt.codec {
				t.Fatalf("last frame stored with %v, want %v", frames[len(frames)-1].codec, tt.codec)
			}
			lastBase, _ := segment.ParseFileName(lastName)
			size := frames[len(frames)-1].end()
			start := frames[len(frames)-tornFrames].pos

			work := filepath.Join(t.TempDir(), "log")
			for cut := start; cut <= size; cut++ {
				// The sealed segments are read back whole once, at the
				// last cut (no cut), and the last segment at every cut.
				skip := int(lastBase)
				if cut == size {
					skip = 0
				}
				// Frames wholly before the cut survive.
				end, next := int64(segment.HeaderSize), lastBase
				for _, f := range frames {
					if f.end() <= cut {
						end, next = f.end(), f.next()
					}
				}
				copyDir(t, src, work)
				if err := os.Truncate(filepath.Join(work, lastName), cut); err != nil {
					t.Fatal(err)
				}
				if cut%2 == 1 {
					// The index is written without fsync: a crash
					// may leave it empty, and recovery then scans
					// the whole segment.
					if err := os.Truncate(filepath.Join(work, indexOfOffset(lastName)), index.HeaderSize); err != nil {
						t.Fatal(err)
					}
				}
				checkCut(t, work, lastName, opts, want, skip, cut, end, next)
			}
		})
	}
}

// checkCut opens a log whose last segment, lastName, was cut at cut,
// and checks what Open recovered: the records before next, with the bytes
// from end reported torn. It reads back the records from want[skip].
func checkCut(t *testing.T, dir, lastName string, opts *seglog.Options, want []seglog.Record, skip int, cut, end int64, next uint64) {
	t.Helper()
	var logBuf bytes.Buffer
	o := *opts
	o.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	o.FS = fastFS
	l, err := seglog.Open(dir, &o)
	if err != nil {
		t.Fatalf("cut at %d: Open: %v", cut, err)
	}
	rec := l.Recovery()
	torn := cut - end
	path := filepath.Join(dir, lastName)
	if rec.TornBytes != torn || rec.Corrupt != nil {
		t.Fatalf("cut at %d: Recovery %+v, want %d torn bytes from %d", cut, rec, torn, next)
	}
	if torn > 0 {
		if rec.TornFrom != next || rec.File != path {
			t.Fatalf("cut at %d: Recovery %+v, want torn from offset %d in %s", cut, rec, next, path)
		}
		msg := logBuf.String()
		for _, s := range []string{"torn", fmt.Sprintf("bytes=%d", torn), fmt.Sprintf("fromOffset=%d", next), lastName} {
			if !strings.Contains(msg, s) {
				t.Fatalf("cut at %d: log output %q lacks %q", cut, msg, s)
			}
		}
	} else if strings.Contains(logBuf.String(), "torn") {
		t.Fatalf("cut at frame boundary %d: log output %q reports a torn tail", cut, logBuf.String())
	}
	if st, err := os.Stat(path); err != nil || st.Size() != end {
		t.Fatalf("cut at %d: segment is %v bytes (%v) after Open, want %d", cut, st.Size(), err, end)
	}
	checkLogFrom(t, l, want[:next], min(skip, int(next)))
	closeLog(t, l)

	// Reopened, the log is clean, and appends continue from next.
	o.Logger, o.Sync = quiet, seglog.SyncNever
	l, err = seglog.Open(dir, &o)
	if err != nil {
		t.Fatalf("cut at %d: second Open: %v", cut, err)
	}
	defer l.Close()
	if rec := l.Recovery(); rec.TornBytes != 0 || rec.Corrupt != nil {
		t.Fatalf("cut at %d: second Open recovered %+v", cut, rec)
	}
	got := append([]seglog.Record(nil), want[:next]...)
	got = append(got, appendRecs(t, l, seglog.Record{Data: []byte("after")}, seglog.Record{Type: "t", Data: []byte("the cut")})...)
	if got[len(got)-2].Offset != next {
		t.Fatalf("cut at %d: first append after recovery got offset %d, want %d", cut, got[len(got)-2].Offset, next)
	}
	checkLogFrom(t, l, got, min(skip, int(next)))
}

// TestTornSegmentHeader simulates a roll interrupted by a crash: the new
// last segment holds only part of its header. Open drops it, the previous
// segment becomes the active one, and appends go on from where it ends.
func TestTornSegmentHeader(t *testing.T) {
	rng := newRand(t)
	src := t.TempDir()
	opts := &seglog.Options{SegmentSize: seglog.MinSegmentSize, Sync: seglog.SyncNever}
	l := openLog(t, src, opts)
	var want []seglog.Record
	for len(segmentPaths(t, src)) < 2 {
		want = append(want, appendRecs(t, l, seglog.Record{Data: recordData(rng, 300+rng.IntN(500), false)})...)
	}
	closeLog(t, l)
	next := uint64(len(want))
	header := segment.AppendFileHeader(nil, next, 0, segment.NewSalt())
	work := filepath.Join(t.TempDir(), "log")
	for n := 0; n <= segment.HeaderSize; n++ {
		copyDir(t, src, work)
		name := filepath.Join(work, segment.FileName(next))
		if err := os.WriteFile(name, header[:n], 0o640); err != nil {
			t.Fatal(err)
		}
		l, err := seglog.Open(work, quietOpts(opts))
		if err != nil {
			t.Fatalf("header cut to %d bytes: Open: %v", n, err)
		}
		checkLog(t, l, want)
		got := append(append([]seglog.Record(nil), want...), appendRecs(t, l, seglog.Record{Data: []byte("x")})...)
		checkLog(t, l, got)
		closeLog(t, l)
	}
}
