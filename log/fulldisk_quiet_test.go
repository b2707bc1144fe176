package log_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// countingHandler counts the records logged at each message.
type countingHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

// TestFullDiskRetriedQuietly: under SyncNever the background writer
// retries buffered records on a full disk every SyncEvery; the failure is
// logged once, not at every retry, and the records are written once space
// returns.
func TestFullDiskRetriedQuietly(t *testing.T) {
	fsys := crashfs.New()
	h := &countingHandler{n: map[string]int{}}
	l, err := seglog.Open("/quiet", &seglog.Options{FS: fsys, Logger: slog.New(h), Sync: seglog.SyncNever, SyncEvery: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var full atomic.Bool
	var tries atomic.Int64
	full.Store(true)
	fsys.SetHook(func(op crashfs.Op) error {
		if op.Kind == crashfs.OpWrite && full.Load() {
			tries.Add(1)
			return syscall.ENOSPC
		}
		return nil
	})
	if _, err := l.Append([]byte("waiting for space")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); tries.Load() < 20; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d background retries", tries.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if n := h.count("seglog: write failed"); n != 1 {
		t.Errorf("%d retries logged %d write failures, want 1", tries.Load(), n)
	}
	full.Store(false)
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync once space is back: %v", err)
	}
	if r, err := l.Read(0); err != nil || string(r.Data) != "waiting for space" {
		t.Fatalf("Read(0) = %q, %v", r.Data, err)
	}
}
