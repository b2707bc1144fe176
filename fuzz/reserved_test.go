package fuzz

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/seglog/seglog/checkpoint"
)

// FuzzReserved decodes arbitrary bytes as each of the log's own metadata
// entries. ParseReserved must fail with a *CorruptError or return a state
// that Apply encodes back to exactly the same bytes, and must not allocate
// more than a small multiple of its input.
func FuzzReserved(f *testing.F) {
	r := checkpoint.Reserved{
		Failure:  &checkpoint.Failure{First: time.Unix(1, 2), Last: time.Unix(3, 4), Refused: 5},
		Refused:  6,
		Sessions: []checkpoint.Session{{Scope: "a", ID: [16]byte{1}}, {Scope: "b", ID: [16]byte{2}}},
		Accepted: []string{"", "metrics"}, AcceptedSet: true,
	}
	meta := map[string][]byte{}
	if err := r.Apply(meta); err != nil {
		f.Fatal(err)
	}
	for i, k := range []string{checkpoint.KeyFailure, checkpoint.KeyRefused, checkpoint.KeySessions, checkpoint.KeyAccepted} {
		f.Add(uint8(i), meta[k])
	}
	f.Add(uint8(2), []byte{0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		key := []string{checkpoint.KeyFailure, checkpoint.KeyRefused, checkpoint.KeySessions, checkpoint.KeyAccepted}[which%4]
		in := map[string][]byte{key: b}
		var (
			got checkpoint.Reserved
			err error
		)
		checkAlloc(t, "ParseReserved", 4*uint64(len(b))+256, func() {
			got, err = checkpoint.ParseReserved(checkpoint.State{Meta: in})
		})
		if err != nil {
			var ce *checkpoint.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseReserved error %T %v is not a CorruptError", err, err)
			}
			return
		}
		out := map[string][]byte{}
		if err := got.Apply(out); err != nil {
			t.Fatalf("Apply of a decoded state: %v", err)
		}
		// An entry whose value means "empty" (no session, a zero count)
		// is left out by Apply; otherwise the bytes come back.
		if v, ok := out[key]; ok && !bytes.Equal(v, b) || !ok && len(out) != 0 {
			t.Fatalf("round trip of %s: %x, got %x", key, b, out)
		}
	})
}
