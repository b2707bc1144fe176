package log_test

import (
	"bytes"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// TestPendingBytesBoundsTheBatch checks that PendingBytes stops before the
// record that would pass the byte bound, and still hands out a record larger
// than the bound on its own, so that delivery never stalls on it.
func TestPendingBytesBoundsTheBatch(t *testing.T) {
	l, err := seglog.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, n := range []int{100, 100, 100, 1000, 10} {
		if _, err := l.Append(bytes.Repeat([]byte{'x'}, n)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := l.PendingBytes(10, 250)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 2 {
		t.Fatalf("PendingBytes(10, 250) gave %d records, want 2", len(b.Records))
	}
	if _, err := l.Ack(b.Next()); err != nil {
		t.Fatal(err)
	}
	b, err = l.PendingBytes(10, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 1 || b.Records[0].Offset != 2 {
		t.Fatalf("PendingBytes(10, 50) gave %d records from %v, want record 2 alone", len(b.Records), b.Records)
	}
	if _, err := l.Ack(b.Next()); err != nil {
		t.Fatal(err)
	}
	b, err = l.PendingBytes(10, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 1 || len(b.Records[0].Data) != 1000 {
		t.Fatalf("a record over the byte bound must be handed out alone, got %d records", len(b.Records))
	}
	if _, err := l.PendingBytes(0, 50); err == nil {
		t.Fatal("PendingBytes(0, 50) did not fail")
	}
}
