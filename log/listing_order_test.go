package log_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// reversedFS lists directories in reverse order: vfs.FS promises no order,
// and crashfs sorts its listings.
type reversedFS struct{ *crashfs.FS }

func (r reversedFS) ReadDir(dir string) ([]string, error) {
	names, err := r.FS.ReadDir(dir)
	slices.Reverse(names)
	return names, err
}

// TestListingOrder runs a log whose directory listings come in reverse
// order: a writer across rolls, releases and reopens, and a reader
// following it with Refresh, from before and after a release.
func TestListingOrder(t *testing.T) {
	fsys := reversedFS{crashfs.New()}
	const dir = "/ordered"
	opts := &seglog.Options{FS: fsys, SegmentSize: seglog.MinSegmentSize}
	w := openLog(t, dir, opts)
	ro := openLog(t, dir, &seglog.Options{FS: fsys, ReadOnly: true})
	var want []seglog.Record
	for round := range 12 {
		for i := range 40 {
			want = append(want, appendRecs(t, w, seglog.Record{Data: fmt.Appendf(nil, "round %d record %d %0300d", round, i, i)})...)
		}
		if round%3 == 2 { // release what was sent two rounds ago
			b, err := w.Pending(60)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Ack(b.Sequence + uint64(len(b.Records))); err != nil {
				t.Fatal(err)
			}
		}
		if round == 6 {
			closeLog(t, w)
			w = openLog(t, dir, opts)
		}
		seglog.WaitReleases(w)
		if err := ro.Refresh(); err != nil {
			t.Fatalf("round %d: Refresh: %v", round, err)
		}
		kept := want[w.FirstOffset()-want[0].Offset:]
		checkLog(t, w, kept)
		checkLog(t, ro, kept)
		checkLog(t, openLog(t, dir, &seglog.Options{FS: fsys, ReadOnly: true}), kept)
	}
	if len(segmentPaths(t, dir)) > 0 {
		t.Fatal("test bug: the log should be in the crashfs, not on disk")
	}
}
