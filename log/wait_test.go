package log_test

import (
	"context"
	"errors"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// TestWaitPending checks each way WaitPending returns: a record already
// pending, one appended while it waits (under every sync policy), the
// context ending, and Close.
func TestWaitPending(t *testing.T) {
	for _, sync := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncInterval, seglog.SyncNever} {
		t.Run(sync.String(), func(t *testing.T) {
			l, err := seglog.Open(t.TempDir(), &seglog.Options{Sync: sync})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := l.WaitPending(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("WaitPending on an empty log with a cancelled context = %v, want context.Canceled", err)
			}

			done := make(chan error, 1)
			go func() { done <- l.WaitPending(context.Background()) }()
			if _, err := l.Append([]byte("a")); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("WaitPending after an append = %v", err)
			}
			// A record is pending: it returns at once.
			if err := l.WaitPending(context.Background()); err != nil {
				t.Fatalf("WaitPending with a record pending = %v", err)
			}
			b, err := l.PendingBytes(10, 0)
			if err != nil || len(b.Records) != 1 {
				t.Fatalf("PendingBytes = %d records, %v", len(b.Records), err)
			}
			if _, err := l.Ack(b.Next()); err != nil {
				t.Fatal(err)
			}

			go func() { done <- l.WaitPending(context.Background()) }()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, seglog.ErrClosed) {
				t.Fatalf("WaitPending across Close = %v, want ErrClosed", err)
			}
		})
	}
}

// TestWaitPendingRewind checks that an Ack that moves the cursor back
// (the peer lost records) wakes a waiter: records are pending again.
func TestWaitPendingRewind(t *testing.T) {
	l, err := seglog.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 3 {
		if _, err := l.Append([]byte("r")); err != nil {
			t.Fatal(err)
		}
	}
	b, err := l.Pending(10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ack(b.Next()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.WaitPending(context.Background()) }()
	if _, err := l.Ack(1); err != nil { // the peer lost two records
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitPending after a rewind = %v", err)
	}
}
