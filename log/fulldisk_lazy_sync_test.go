package log_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// Full disks under lazy sync: what is already in the files stays
// deliverable and acknowledgeable, and Close reports the records it could
// not write while it syncs and closes everything else.

var lazyPolicies = []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncInterval, seglog.SyncNever}

// TestFullDiskDeliversWhatIsWritten (crashfs): 10 records are written to
// the segment, then the disk fills (every segment and index write fails;
// the checkpoint slots own their blocks, so its saves go on) and 15 more
// are appended, which stay buffered under the lazy policies. Pending must
// hand out the 10 and Ack must acknowledge them; Close must report
// records 10 to 24 as unwritten, matching ENOSPC, after syncing the 10;
// and a power loss then keeps the 10 and the acknowledgement.
func TestFullDiskDeliversWhatIsWritten(t *testing.T) {
	for _, policy := range lazyPolicies {
		t.Run(policy.String(), func(t *testing.T) {
			countInjected(t)
			fsys := crashfs.New()
			opts := func(o *seglog.Options) { o.Sync, o.SyncEvery = policy, time.Hour }
			l := openFS(t, fsys, opts)
			defer l.Close()
			var want [][]byte
			add := func(n int) error {
				for range n {
					d := tracedPayload(uint64(len(want)), 300)
					if _, err := l.Append(d); err != nil {
						return err
					}
					want = append(want, d)
				}
				return nil
			}
			if err := add(10); err != nil {
				t.Fatal(err)
			}
			if err := l.Flush(); err != nil { // written, not synced
				t.Fatal(err)
			}
			var full atomic.Bool
			fsys.SetHook(func(op crashfs.Op) error {
				if full.Load() && op.Kind == crashfs.OpWrite && !strings.Contains(filepath.Base(op.Name), "checkpoint") {
					injectedErr.Add(1)
					return syscall.ENOSPC
				}
				return nil
			})
			full.Store(true)
			err := add(15)
			if policy == seglog.SyncAlways {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("SyncAlways append on a full disk: %v, want ENOSPC", err)
				}
			} else if err != nil {
				t.Fatalf("buffered append on a full disk: %v", err)
			}

			b, err := l.Pending(100)
			if err != nil {
				t.Fatalf("Pending on a full disk: %v", err)
			}
			if len(b.Records) != 10 {
				t.Fatalf("Pending on a full disk handed out %d records, want the 10 in the file", len(b.Records))
			}
			for i, r := range b.Records {
				if r.Offset != uint64(i) || !bytes.Equal(r.Data, want[i]) {
					t.Fatalf("Pending record %d: offset %d, wrong data", i, r.Offset)
				}
			}
			res, err := l.Ack(b.Sequence + 10)
			if err != nil {
				t.Fatalf("Ack on a full disk: %v", err)
			}
			if res.State.Cursor != 10 {
				t.Fatalf("Ack: cursor %d, want 10", res.State.Cursor)
			}
			if _, err := l.Ack(b.Sequence + 10); err != nil { // again: nothing new
				t.Fatalf("second Ack on a full disk: %v", err)
			}

			err = l.Close()
			var ue *seglog.UnwrittenError
			switch {
			case policy == seglog.SyncAlways:
				if err != nil {
					t.Fatalf("Close on a full disk, nothing buffered: %v", err)
				}
			case !errors.As(err, &ue) || !errors.Is(err, syscall.ENOSPC):
				t.Fatalf("Close on a full disk: %v, want an UnwrittenError matching ENOSPC", err)
			case ue.From != 10 || ue.Next != 25:
				t.Fatalf("Close reports records %d to %d unwritten, want 10 to 24", ue.From, ue.Next-1)
			}
			full.Store(false)
			for _, mode := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashRandom} {
				l2 := openFS(t, fsys.Crash(nil, mode), opts)
				st := l2.State()
				if st.Cursor != 10 || st.Next != 10 {
					t.Errorf("after Close and a %v crash: cursor %d, next %d; want 10, 10", mode, st.Cursor, st.Next)
				}
				for o := st.First; o < 10; o++ {
					if r, err := l2.Read(o); err != nil || !bytes.Equal(r.Data, want[o]) {
						t.Errorf("after a %v crash: Read(%d): %v", mode, o, err)
					}
				}
				l2.Close()
			}
		})
	}
}

// TestRealDiskFullLazySync fills a real 1 MiB tmpfs (skipped where it
// cannot be mounted) under each sync policy until an append fails. Then
// everything in the files is delivered by Pending and acknowledged by Ack
// on the full disk, Close fails at most for the records it could not
// write (an UnwrittenError naming them, matching ENOSPC), and once space
// is freed the log reopens at the first unwritten offset with the
// acknowledgement kept.
func TestRealDiskFullLazySync(t *testing.T) {
	for _, policy := range lazyPolicies {
		t.Run(policy.String(), func(t *testing.T) {
			dir, ballast := ballastTmpfs(t)
			opts := &seglog.Options{Logger: quiet, SegmentSize: 4 << 20, Sync: policy, SyncEvery: 2 * time.Millisecond}
			l, err := seglog.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { l.Close() }()
			// One segment larger than the disk: no roll, so under the
			// lazy policies appends go on into the buffer while its
			// writes fail, and only Flush (or Sync) reports ENOSPC.
			var acked [][]byte
			for range 2000 {
				d := tracedPayload(uint64(len(acked)), 2000)
				if _, err = l.Append(d); err != nil {
					break
				}
				acked = append(acked, d)
				if err = l.Flush(); err != nil {
					break
				}
			}
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v, want ENOSPC", err)
			}
			for range 5 { // buffered under the lazy policies
				d := tracedPayload(uint64(len(acked)), 2000)
				if _, err := l.Append(d); err != nil {
					break
				}
				acked = append(acked, d)
			}
			delivered := uint64(0)
			for {
				b, err := l.Pending(50)
				if err != nil {
					if delivered == 0 || !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("Pending on a full tmpfs after %d delivered: %v", delivered, err)
					}
					break // the next record is not in the file
				}
				if len(b.Records) == 0 {
					break
				}
				for i, r := range b.Records {
					if r.Offset != delivered+uint64(i) || !bytes.Equal(r.Data, acked[r.Offset]) {
						t.Fatalf("Pending: record %d at offset %d, wrong", i, r.Offset)
					}
				}
				if _, err := l.Ack(b.Sequence + uint64(len(b.Records))); err != nil {
					t.Fatalf("Ack of offsets %d to %d on a full tmpfs: %v", delivered, delivered+uint64(len(b.Records))-1, err)
				}
				delivered += uint64(len(b.Records))
			}
			if delivered == 0 {
				t.Fatal("nothing was delivered on the full tmpfs")
			}
			t.Logf("%d records appended, %d delivered and acknowledged on the full tmpfs", len(acked), delivered)
			err = l.Close()
			next := uint64(len(acked))
			var ue *seglog.UnwrittenError
			if errors.As(err, &ue) {
				if !errors.Is(err, syscall.ENOSPC) || ue.Next != next || ue.From < delivered {
					t.Fatalf("Close: %v; want records from %d or later to %d, matching ENOSPC", err, delivered, next-1)
				}
				t.Logf("Close: %v", err)
				next = ue.From
			} else if err != nil {
				t.Fatalf("Close on a full tmpfs: %v", err)
			}
			if err := os.Remove(ballast); err != nil {
				t.Fatal(err)
			}
			if l, err = seglog.Open(dir, opts); err != nil {
				t.Fatalf("reopen: %v", err)
			}
			if rec := l.Recovery(); rec.TornBytes != 0 {
				t.Errorf("reopen cut %d torn bytes", rec.TornBytes)
			}
			st := l.State()
			if st.Next != next || st.Cursor != delivered {
				t.Fatalf("reopened: next %d, cursor %d; want %d, %d", st.Next, st.Cursor, next, delivered)
			}
			for o := st.First; o < next; o++ {
				if r, err := l.Read(o); err != nil || !bytes.Equal(r.Data, acked[o]) {
					t.Fatalf("reopened: Read(%d): %v", o, err)
				}
			}
			off, err := l.Append([]byte("after"))
			if err != nil || off != next {
				t.Fatalf("append after reopening: offset %d, %v; want %d", off, err, next)
			}
		})
	}
}
