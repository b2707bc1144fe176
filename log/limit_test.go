package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
)

// Tests of the size limit (Options.MaxBytes): a log capped at a few
// segments while its server is away, under both policies. Every record
// lost to the limit must come out of Pending as a GapDropped gap with its
// exact labels, and every other record must be delivered.

const limitSegSize = seglog.MinSegmentSize

// limitRecord is the data of the record at offset o: its offset, padded
// so that a segment holds a few dozen records.
func limitRecord(o uint64) []byte {
	return []byte(fmt.Sprintf("record %08d %s", o, strings.Repeat("x", 300)))
}

// limitSegBytes sums the sizes of the segment files in dir.
func limitSegBytes(t testing.TB, fsys vfs.FS, dir string) int64 {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, name := range names {
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		fi, err := fsys.Stat(dir + "/" + name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a released segment deleted in the background meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// limitDrain delivers everything pending to an honest peer that expects
// label expect, checking each entry against the data appended, and
// returns the offsets received as records and those received as dropped
// gaps. A record whose data is wrong, a gap of another reason, or a label
// that does not follow the offsets densely fails the test.
func limitDrain(t testing.TB, l *seglog.Log) (records, dropped []uint64) {
	t.Helper()
	st := l.State()
	shift := st.Sequence - st.Cursor // label - offset, fixed: labels and offsets are both dense
	for range 10000 {
		b := mustPending(t, l, 64)
		if b.Empty() {
			return records, dropped
		}
		for e := range b.Entries() {
			switch {
			case e.Record != nil:
				r := e.Record
				if e.Label != r.Offset+shift {
					t.Fatalf("record at offset %d has label %d, want %d", r.Offset, e.Label, r.Offset+shift)
				}
				if !bytes.Equal(r.Data, limitRecord(r.Offset)) {
					t.Fatalf("record at offset %d holds %.20q", r.Offset, r.Data)
				}
				records = append(records, r.Offset)
			default:
				g := e.Gap
				if g.Reason != seglog.GapDropped || g.Label != g.Offset+shift {
					t.Fatalf("gap %+v: want reason dropped and label %d", *g, g.Offset+shift)
				}
				for o := g.Offset; o < g.End(); o++ {
					dropped = append(dropped, o)
				}
			}
		}
		mustAck(t, l, b.Next())
	}
	t.Fatal("delivery did not end")
	return nil, nil
}

func TestSizeLimitStoppedServer(t *testing.T) {
	for _, policy := range []seglog.LimitPolicy{seglog.LimitRefuse, seglog.LimitDrop} {
		for _, sync := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncInterval} {
			t.Run(policy.String()+"/"+sync.String(), func(t *testing.T) {
				testLimitStoppedServer(t, policy, sync, crashfs.New(), crashDir)
			})
		}
		// On the operating system's filesystem too.
		t.Run(policy.String()+"/always/os", func(t *testing.T) {
			testLimitStoppedServer(t, policy, seglog.SyncAlways, vfs.Default, t.TempDir())
		})
	}
}

func testLimitStoppedServer(t *testing.T, policy seglog.LimitPolicy, sync seglog.SyncPolicy, fsys vfs.FS, dir string) {
	var logs bytes.Buffer
	verifyAtEnd(t, fsys, dir)
	opts := &seglog.Options{FS: fsys, SegmentSize: limitSegSize, Sync: sync}
	opts.MaxBytes = 4 * limitSegSize
	opts.Limit = policy
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	open := func() *seglog.Log {
		l, err := seglog.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	defer func() { l.Close() }()

	// The server is up: 40 records delivered and acknowledged, and kept
	// for a resend (the last batch).
	for o := range uint64(40) {
		if _, err := l.Append(limitRecord(o)); err != nil {
			t.Fatal(err)
		}
	}
	if recs, gaps := limitDrain(t, l); len(recs) != 40 || len(gaps) != 0 {
		t.Fatalf("before the outage: %d records, %d dropped", len(recs), len(gaps))
	}

	// The server stops: 1,000 records (about 5 times the cap) are
	// appended, and the segments never pass the cap.
	var accepted []uint64
	refused := 0
	for range 1000 {
		o := l.NextOffset()
		off, err := l.Append(limitRecord(o))
		switch {
		case err == nil:
			if off != o {
				t.Fatalf("Append returned %d, want %d", off, o)
			}
			accepted = append(accepted, off)
		case policy == seglog.LimitRefuse && errors.Is(err, seglog.ErrFull):
			refused++
		default:
			t.Fatalf("Append at %d: %v", o, err)
		}
		if used := limitSegBytes(t, fsys, dir); used > opts.MaxBytes {
			t.Fatalf("after offset %d: segments hold %d bytes, cap %d", o, used, opts.MaxBytes)
		}
	}
	st := l.State()
	t.Logf("accepted %d, refused %d; state %+v", len(accepted), refused, st)
	switch policy {
	case seglog.LimitRefuse:
		if refused == 0 || st.Refused != uint64(refused) || st.DroppedUnsent != 0 || st.DropPending != 0 {
			t.Fatalf("refuse: %d refused, state %+v", refused, st)
		}
	case seglog.LimitDrop:
		if len(accepted) != 1000 || st.DroppedUnsent == 0 || st.DroppedAcked != 40 || st.DropPending != st.DroppedUnsent {
			t.Fatalf("drop: %d accepted, state %+v (want the 40 acknowledged records dropped first)", len(accepted), st)
		}
		if !strings.Contains(logs.String(), "size limit dropped unsent records") {
			t.Fatalf("no report of the drop in the log output:\n%s", logs.String())
		}
	}

	// A restart while the server is away keeps the dropped range.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open()
	if got := l.State(); got.DropPending != st.DropPending || got.DroppedUnsent != st.DroppedUnsent ||
		got.DroppedAcked != st.DroppedAcked || got.DroppedSegments != st.DroppedSegments {
		t.Fatalf("after a restart: state %+v, want the dropped counts of %+v", got, st)
	}

	// The server is back: every accepted record arrives, or is reported
	// as dropped with its exact labels; the dropped ones are the oldest.
	recs, dropped := limitDrain(t, l)
	if uint64(len(dropped)) != st.DropPending {
		t.Fatalf("%d offsets reported dropped, the log counted %d", len(dropped), st.DropPending)
	}
	all := append(dropped, recs...)
	if len(all) != len(accepted) {
		t.Fatalf("delivered %d records and %d dropped, %d were accepted", len(recs), len(dropped), len(accepted))
	}
	for i, o := range all {
		if o != accepted[i] {
			t.Fatalf("entry %d: offset %d, want %d (dropped %d, records %d)", i, o, accepted[i], len(dropped), len(recs))
		}
	}
	if st := l.State(); st.PendingCount != 0 || st.DropPending != 0 {
		t.Fatalf("after delivery: %+v", st)
	}
	// Refused appends succeed again once the server took the records.
	if _, err := l.Append(limitRecord(l.NextOffset())); err != nil {
		t.Fatalf("Append after delivery: %v", err)
	}
}

// A record that cannot fit under the cap even alone is refused with
// ErrTooLarge, under both policies, and the log goes on.
func TestSizeLimitRecordLargerThanCap(t *testing.T) {
	for _, policy := range []seglog.LimitPolicy{seglog.LimitRefuse, seglog.LimitDrop} {
		fsys := crashfs.New()
		opts := crashOpts(fsys, limitSegSize, seglog.SyncAlways)
		opts.MaxBytes = 2 * limitSegSize
		opts.Limit = policy
		l := openCrash(t, opts)
		appendLetters(t, l, 3)
		_, err := l.Append(make([]byte, 2*limitSegSize))
		if !errors.Is(err, seglog.ErrTooLarge) || !strings.Contains(err.Error(), "MaxBytes") {
			t.Fatalf("%v: Append over the cap: %v", policy, err)
		}
		if st := l.State(); st.DroppedUnsent != 0 || st.Next != 3 {
			t.Fatalf("%v: state after the refused record: %+v", policy, st)
		}
		appendLetters(t, l, 1)
		l.Close()
	}
}

func TestSizeLimitOptions(t *testing.T) {
	for _, o := range []seglog.Options{{MaxBytes: -1}, {MaxBytes: 10}, {MaxBytes: 1 << 20, Limit: 7}, {KeepAcked: -1}, {KeepAckedBytes: -1}} {
		o.FS = crashfs.New()
		if l, err := seglog.Open(crashDir, &o); err == nil {
			l.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

// A server restored from a backup that lacks its last 5,000 messages
// answers 5,000 below the sequence. With only the last batch kept that is
// an ancient answer and the records are lost to it; with a KeepAcked
// window of 5,000 it is a rewind, and the same records come again with
// the same labels.
func TestKeepAckedRestoredServer(t *testing.T) {
	for _, c := range []struct{ keep, keepBytes int64 }{{0, 0}, {5000, 0}, {0, 2 << 20}} {
		keep := c.keep + c.keepBytes // which window, if any
		t.Run(fmt.Sprintf("keep=%d/bytes=%d", c.keep, c.keepBytes), func(t *testing.T) {
			fsys := crashfs.New()
			opts := crashOpts(fsys, limitSegSize, seglog.SyncNever)
			opts.KeepAcked, opts.KeepAckedBytes = c.keep, c.keepBytes
			l := openCrash(t, opts)
			defer l.Close()
			for o := range uint64(10000) {
				if _, err := l.Append(limitRecord(o)); err != nil {
					t.Fatal(err)
				}
			}
			if recs, _ := limitDrain(t, l); len(recs) != 10000 {
				t.Fatalf("delivered %d records", len(recs))
			}
			st := l.State()
			if c.keep > 0 && (st.First != st.Cursor-uint64(keep) || l.FirstOffset() != st.First) {
				t.Fatalf("window: state %+v, want first %d", st, st.Cursor-uint64(keep))
			}
			if c.keepBytes > 0 {
				// Whole segments of 16 KiB within 2 MiB, and the start
				// of the cursor's: about 6,000 records of 330 bytes.
				if kept := st.Cursor - st.First; kept < 5000 || kept > 7000 {
					t.Fatalf("window in bytes keeps %d records: %+v", kept, st)
				}
				seglog.WaitReleases(l)
				if used := limitSegBytes(t, fsys, crashDir); used > c.keepBytes+2*limitSegSize {
					t.Fatalf("window in bytes keeps %d bytes of segments", used)
				}
			}
			res := mustAck(t, l, st.Sequence-5000)
			if keep == 0 {
				if res.Branch != seglog.AckAncient || res.State.Cursor != st.First {
					t.Fatalf("without a window: %v, state %+v", res.Branch, res.State)
				}
				return
			}
			if res.Branch != seglog.AckRewind || res.State.Cursor != 5000 || res.State.Sequence != 5000 {
				t.Fatalf("with a window: %v, state %+v", res.Branch, res.State)
			}
			recs, gaps := limitDrain(t, l)
			if len(recs) != 5000 || len(gaps) != 0 || recs[0] != 5000 {
				t.Fatalf("resent %d records from %v, %d dropped", len(recs), recs[:1], len(gaps))
			}
		})
	}
}

// The size limit drops the KeepAcked window before any unsent record.
func TestSizeLimitDropsWindowFirst(t *testing.T) {
	fsys := crashfs.New()
	opts := crashOpts(fsys, limitSegSize, seglog.SyncAlways)
	opts.MaxBytes, opts.Limit, opts.KeepAcked = 6*limitSegSize, seglog.LimitDrop, 150
	l := openCrash(t, opts)
	defer l.Close()
	for o := range uint64(200) {
		if _, err := l.Append(limitRecord(o)); err != nil {
			t.Fatal(err)
		}
	}
	limitDrain(t, l)
	if st := l.State(); st.Cursor-st.First != 150 {
		t.Fatalf("window of %d records, want 150: %+v", st.Cursor-st.First, st)
	}
	for l.State().DroppedUnsent == 0 {
		before := l.State()
		if _, err := l.Append(limitRecord(l.NextOffset())); err != nil {
			t.Fatal(err)
		}
		st := l.State()
		if st.DroppedUnsent > 0 && before.First < before.Cursor && st.First < before.Cursor {
			t.Fatalf("unsent records dropped while the window [%d, %d) was kept: %+v", st.First, before.Cursor, st)
		}
	}
	if st := l.State(); st.DroppedAcked != 150 {
		t.Fatalf("dropped %d acknowledged records, want the window of 150: %+v", st.DroppedAcked, st)
	}
}

// Concurrent appenders fill a capped log while a peer with outages and
// lost answers takes batches: every offset reaches the peer exactly once,
// as its record or inside a dropped gap, and the cap holds.
func TestSizeLimitConcurrent(t *testing.T) {
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			fsys := crashfs.New()
			opts := crashOpts(fsys, limitSegSize, policy)
			opts.MaxBytes, opts.Limit, opts.KeepAcked = 4*limitSegSize, seglog.LimitDrop, 30
			if policy == seglog.SyncNever {
				opts.KeepAckedBytes = 2 * limitSegSize
			}
			l := openCrash(t, opts)
			defer l.Close()
			const writers, each = 4, 400
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						// The data names no offset: appenders race for them.
						if _, err := l.Append([]byte(strings.Repeat("c", 300))); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			got := map[uint64]string{}
			var expect uint64
			deliver := func(lost bool) {
				b := mustPending(t, l, 1+len(got)%50)
				for e := range b.Entries() {
					n, off, kind := uint64(1), uint64(0), "record"
					if e.Gap != nil {
						if e.Gap.Reason != seglog.GapDropped {
							t.Fatalf("gap %+v", *e.Gap)
						}
						n, off, kind = e.Gap.Count, e.Gap.Offset, "dropped"
					} else {
						off = e.Record.Offset
					}
					if e.Label > expect {
						t.Fatalf("label %d skips %d", e.Label, expect)
					}
					for i := expect - e.Label; i < n; i++ {
						if got[off+i] != "" {
							t.Fatalf("offset %d twice", off+i)
						}
						got[off+i] = kind
					}
					expect = max(expect, e.Label+n)
				}
				if !lost {
					mustAck(t, l, expect)
				}
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			for i := 0; ; i++ {
				select {
				case <-done:
				default:
					if i%40 < 25 { // an outage
						continue
					}
					deliver(i%7 == 0)
					continue
				}
				break
			}
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for range 1000 {
				if l.State().PendingCount == 0 {
					break
				}
				deliver(false)
			}
			st := l.State()
			if st.PendingCount != 0 || st.Next != writers*each {
				t.Fatalf("state %+v", st)
			}
			dropped := uint64(0)
			for o := range st.Next {
				switch got[o] {
				case "":
					t.Fatalf("offset %d never reached the peer", o)
				case "dropped":
					dropped++
				}
			}
			// Records handed out and dropped before their answer came
			// reach the peer as records, and their gap as a duplicate.
			if dropped > st.GapOffsets || st.GapOffsets > st.DroppedUnsent {
				t.Fatalf("%d offsets reached the peer as dropped, the log counts %d dropped unsent and handed out %d gap offsets",
					dropped, st.DroppedUnsent, st.GapOffsets)
			}
			seglog.WaitReleases(l)
			if used := limitSegBytes(t, fsys, crashDir); used > opts.MaxBytes {
				t.Fatalf("segments hold %d bytes, cap %d", used, opts.MaxBytes)
			}
			t.Logf("%d records, %d dropped unsent, %d acknowledged dropped", st.Next, st.DroppedUnsent, st.DroppedAcked)
		})
	}
}
