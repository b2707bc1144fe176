package log_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// TestModelOutOfOrderWriteback replays what TestModel first found under
// SyncNever: buffered writes reach the disk out of order, a later frame
// and its index entry survive a crash while an earlier frame does not, and
// recovery must not trust the index past the durable watermark (Open then
// reported records it could not read). Every crash must leave a log whose
// every record reads back.
func TestModelOutOfOrderWriteback(t *testing.T) {
	fsys := crashfs.New()
	l := openCrash(t, crashOpts(fsys, 0, seglog.SyncNever))
	defer l.Close()
	for i := range 3 {
		if _, err := l.Append(bytes.Repeat([]byte{byte('A' + i)}, 100)); err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	bad := 0
	for seed := range uint64(200) {
		s := fsys.Crash(rand.New(rand.NewPCG(seed, 0)), crashfs.CrashRandom)
		l2, err := seglog.Open(crashDir, crashOpts(s, 0, seglog.SyncNever))
		if err != nil {
			t.Logf("seed %d: Open: %v", seed, err)
			bad++
			continue
		}
		for o := l2.FirstOffset(); o < l2.NextOffset(); o++ {
			if _, err := l2.Read(o); err != nil {
				t.Logf("seed %d: next %d: Read(%d): %v", seed, l2.NextOffset(), o, err)
				bad++
				break
			}
		}
		l2.Close()
	}
	if bad > 0 {
		t.Fatalf("%d of 200 crashes recovered a log that cannot be read", bad)
	}
}
