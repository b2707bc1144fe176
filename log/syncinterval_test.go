package log_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// TestSyncIntervalSyncs: under SyncInterval, appends become durable within
// about one period without any call to Sync: a crash that loses everything
// unsynced keeps them once the period has passed.
func TestSyncIntervalSyncs(t *testing.T) {
	fsys := crashfs.New()
	opts := &seglog.Options{FS: fsys, Sync: seglog.SyncInterval, SyncEvery: 5 * time.Millisecond}
	verifyAtEnd(t, fsys, "/log")
	l, err := seglog.Open("/log", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 100
	for i := range n {
		if _, err := l.Append(fmt.Appendf(nil, "record %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		survivor := fsys.Crash(nil, crashfs.CrashLoseUnsynced)
		r, err := seglog.Open("/log", &seglog.Options{FS: survivor, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		got := r.NextOffset()
		if got == n {
			rec, err := r.Read(n - 1)
			if err != nil || string(rec.Data) != fmt.Sprintf("record %d", n-1) {
				t.Fatalf("after the periodic sync: Read(%d) = %q, %v", n-1, rec.Data, err)
			}
			r.Close()
			return
		}
		r.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records durable %v after the appends, with SyncEvery %v", got, n, 5*time.Second, opts.SyncEvery)
		}
		time.Sleep(time.Millisecond)
	}
}
