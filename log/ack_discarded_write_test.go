package log_test

import (
	"strings"
	"syscall"
	"testing"
	"testing/synctest"

	"github.com/seglog/seglog/internal/vfs/crashfs"
)

// TestAckAfterDiscardedWrite: under SyncAlways a failed write gives
// its offsets back. An Ack that counted those records (no Pending since the
// last Ack, so "sent" falls back to the pending count) and waited for them
// to become durable must not then save a cursor past the end of the log:
// Open would refuse that checkpoint, and the next record appended would
// take the offset the peer was said to have, and never be sent.
func TestAckAfterDiscardedWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := crashfs.New()
		l, err := openProc(t, fsys, nil) // SyncAlways
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for i := range 3 {
			if _, err := l.Append(procPayload(i)); err != nil {
				t.Fatal(err)
			}
		}
		release := make(chan struct{})
		fsys.SetHook(func(op crashfs.Op) error {
			if op.Kind == crashfs.OpWrite && strings.HasSuffix(op.Name, ".seg") {
				<-release
				return syscall.ENOSPC
			}
			return nil
		})
		appendErr := make(chan error)
		go func() {
			_, err := l.Append(procPayload(3))
			appendErr <- err
		}()
		synctest.Wait() // the append's write is under way
		ackErr := make(chan error)
		go func() {
			_, err := l.Ack(4) // the peer has 0..3, it says
			ackErr <- err
		}()
		synctest.Wait() // the Ack waits for record 3 to be durable
		close(release)
		if err := <-appendErr; err == nil {
			t.Fatal("append on a full disk returned no error")
		}
		err = <-ackErr
		fsys.SetHook(nil)
		st := l.State()
		if st.Cursor > st.Next || st.First > st.Next {
			t.Errorf("after the Ack (err %v): cursor %d, first %d past the end of the log %d", err, st.Cursor, st.First, st.Next)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, err := openProc(t, fsys, nil)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		l2.Close()
	})
}
