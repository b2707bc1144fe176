package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// TestReadAheadDamage walks a log by offset with Read, as a reader that
// reads ahead several frames at once does, over a frame whose body was
// flipped in the middle of the run: the records before it and after it
// read right, its own fail with ErrCorrupt, whatever the codec and
// whether records carry types.
func TestReadAheadDamage(t *testing.T) {
	for _, codec := range []seglog.Codec{seglog.CodecNone, seglog.CodecZstd} {
		for _, typed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/typed=%v", codec, typed), func(t *testing.T) {
				dir := t.TempDir()
				segSize, n := int64(256<<10), 3000
				if codec != seglog.CodecNone {
					segSize, n = 64<<10, 20000 // the records compress well
				}
				l := openLog(t, dir, &seglog.Options{Codec: codec, Sync: seglog.SyncNever, SegmentSize: segSize})
				var want []seglog.Record
				for i := range n {
					r := seglog.Record{Data: fmt.Appendf(nil, "record %d %s", i, bytes.Repeat([]byte{byte('a' + i%26)}, 100+i%50))}
					if typed && i%3 == 0 {
						r.Type = fmt.Sprintf("t%d", i%5)
					}
					off, err := l.AppendTyped(r.Type, r.Data)
					if err != nil {
						t.Fatal(err)
					}
					r.Offset = off
					want = append(want, r)
				}
				closeLog(t, l)
				segs := segmentPaths(t, dir)
				if len(segs) < 2 {
					t.Fatalf("%d segments, want the damage in a sealed one", len(segs))
				}
				seg := segs[0]
				frames := fileFrames(t, seg)
				if len(frames) < 6 {
					t.Fatalf("%d frames, want at least 6", len(frames))
				}
				bad := frames[3]
				b, err := os.ReadFile(seg)
				if err != nil {
					t.Fatal(err)
				}
				b[bad.pos+bad.size/2] ^= 0x40
				if err := os.WriteFile(seg, b, 0o640); err != nil {
					t.Fatal(err)
				}
				verifyExpectDamage(t, dir)
				l = openLog(t, dir, &seglog.Options{ReadOnly: true})
				for pass := range 2 { // the second from the frame cache
					for _, w := range want {
						r, err := l.Read(w.Offset)
						inBad := w.Offset >= bad.base && w.Offset < bad.next()
						switch {
						case inBad && !errors.Is(err, seglog.ErrCorrupt):
							t.Fatalf("pass %d: Read(%d) in the damaged frame: %v, want ErrCorrupt", pass, w.Offset, err)
						case !inBad && err != nil:
							t.Fatalf("pass %d: Read(%d): %v", pass, w.Offset, err)
						case !inBad && (!bytes.Equal(r.Data, w.Data) || r.Type != w.Type || r.Offset != w.Offset):
							t.Fatalf("pass %d: Read(%d) = %q %q, want %q %q", pass, w.Offset, r.Type, r.Data, w.Type, w.Data)
						}
					}
				}
			})
		}
	}
}
