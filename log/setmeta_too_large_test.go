package log_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/seglog/seglog/checkpoint"
	seglog "github.com/seglog/seglog/log"
)

// TestSetMetaTooLarge: a metadata value (or key) over the limit fails with
// an error matching ErrTooLarge, as an oversized record does, and changes
// nothing: the value before stays, and the log takes the next save.
func TestSetMetaTooLarge(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	if err := l.SetMeta("peer", []byte("before")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key string
		value     []byte
	}{
		{"value over the checkpoint's size", "peer", make([]byte, checkpoint.MaxSize)},
		{"key over MaxMetaKey", strings.Repeat("k", checkpoint.MaxMetaKey+1), []byte("v")},
	} {
		err := l.SetMeta(tc.key, tc.value)
		if !errors.Is(err, seglog.ErrTooLarge) {
			t.Errorf("%s: SetMeta: %v, want an error matching ErrTooLarge", tc.name, err)
		}
	}
	if v, ok := l.Meta("peer"); !ok || !bytes.Equal(v, []byte("before")) {
		t.Fatalf("after the failed SetMeta: %q, %v; want the value before", v, ok)
	}
	if err := l.SetMeta("peer", []byte("after")); err != nil {
		t.Fatalf("SetMeta after the failures: %v", err)
	}
	if err := l.SetMeta("", []byte("v")); err == nil || errors.Is(err, seglog.ErrTooLarge) {
		t.Errorf("SetMeta with an empty key: %v; want an error that is not ErrTooLarge", err)
	}
}
