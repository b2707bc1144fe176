package checkpoint_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seglog/seglog/checkpoint"
)

func reservedSample() checkpoint.Reserved {
	return checkpoint.Reserved{
		Failure: &checkpoint.Failure{
			First:   time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC),
			Last:    time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC),
			Refused: 42,
		},
		Refused: 7,
		Sessions: []checkpoint.Session{
			{Scope: "", ID: [16]byte{1}},
			{Scope: "monitor", ID: [16]byte{2, 3}},
			{Scope: strings.Repeat("s", checkpoint.MaxMetaKey), ID: [16]byte{15: 0xff}},
		},
	}
}

// throughCheckpoint encodes a checkpoint of generation gen holding meta
// and returns the state decoded from it.
func throughCheckpoint(t *testing.T, gen uint64, meta map[string][]byte) checkpoint.State {
	t.Helper()
	b, err := checkpoint.Marshal(gen, checkpoint.State{Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	_, st, err := checkpoint.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestReservedRoundTrip encodes the reserved state into metadata beside
// the application's, through a whole checkpoint encoding, and back.
func TestReservedRoundTrip(t *testing.T) {
	for _, r := range []checkpoint.Reserved{{}, reservedSample(), {Refused: 1}, {Sessions: reservedSample().Sessions[1:2]}} {
		meta := map[string][]byte{"app": []byte("v"), "zz": nil}
		if err := r.Apply(meta); err != nil {
			t.Fatal(err)
		}
		st := throughCheckpoint(t, 3, meta)
		got, err := checkpoint.ParseReserved(st)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) && !(len(got.Sessions) == 0 && len(r.Sessions) == 0 && got.Failure == r.Failure && got.Refused == r.Refused) {
			t.Fatalf("round trip: got %+v, want %+v", got, r)
		}
		// Empty parts leave no entry.
		n := 2
		for _, present := range []bool{r.Failure != nil, r.Refused > 0, len(r.Sessions) > 0} {
			if present {
				n++
			}
		}
		if len(st.Meta) != n {
			t.Fatalf("%d entries for %+v, want %d", len(st.Meta), r, n)
		}
		for k := range st.Meta {
			if checkpoint.IsReserved(k) != (k != "app" && k != "zz") {
				t.Fatalf("IsReserved(%q) wrong", k)
			}
		}
	}
}

// TestDroppedRoundTrip checks that the size limit's drop record decodes to
// what was encoded, through a whole checkpoint, and that Apply leaves it.
func TestDroppedRoundTrip(t *testing.T) {
	d := checkpoint.Dropped{MaxBytes: 1 << 40, Unsent: 7, Acked: 1 << 33, Segments: 3}
	meta := map[string][]byte{checkpoint.KeyDropped: d.Marshal()}
	if err := (checkpoint.Reserved{Refused: 2}).Apply(meta); err != nil {
		t.Fatal(err)
	}
	st := throughCheckpoint(t, 1, meta)
	got, err := checkpoint.ParseReserved(st)
	if err != nil {
		t.Fatal(err)
	}
	if got.Dropped == nil || *got.Dropped != d || got.Refused != 2 {
		t.Fatalf("got %+v (dropped %+v), want dropped %+v and refused 2", got, got.Dropped, d)
	}
}

// TestReservedCorrupt checks that a reserved value that does not decode is
// a *CorruptError whose offset is where the value's problem lies in the
// encoding, and that random values never panic.
func TestReservedCorrupt(t *testing.T) {
	r := reservedSample()
	meta := map[string][]byte{"app": []byte("v")}
	if err := r.Apply(meta); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		key   string
		value []byte
		at    int // offset of the problem inside the value
	}{
		{checkpoint.KeyFailure, meta[checkpoint.KeyFailure][:23], 0},
		{checkpoint.KeyRefused, []byte{1, 2, 3}, 0},
		{checkpoint.KeyDropped, make([]byte, 31), 0},
		{checkpoint.KeySessions, []byte{1}, 0},
		{checkpoint.KeySessions, []byte{5, 0, 0}, 0},
		{checkpoint.KeySessions, append(bytes.Clone(meta[checkpoint.KeySessions]), 9), len(meta[checkpoint.KeySessions])},
	}
	// The latest failure before the first.
	bad := bytes.Clone(meta[checkpoint.KeyFailure])
	copy(bad[8:16], make([]byte, 8))
	cases = append(cases, struct {
		key   string
		value []byte
		at    int
	}{checkpoint.KeyFailure, bad, 8})
	for _, c := range cases {
		m := map[string][]byte{}
		for k, v := range meta {
			m[k] = v
		}
		m[c.key] = c.value
		b, err := checkpoint.Marshal(1, checkpoint.State{Meta: m})
		if err != nil {
			t.Fatal(err)
		}
		_, st, err := checkpoint.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		_, err = checkpoint.ParseReserved(st)
		var ce *checkpoint.CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), c.key) {
			t.Fatalf("%s = %x: error %v, want a CorruptError naming the key", c.key, c.value, err)
		}
		// The offset points into the value, as encoded.
		start := bytes.Index(b, append([]byte(c.key), le.AppendUint32(nil, uint32(len(c.value)))...)) + len(c.key) + 4
		if ce.Offset != int64(start+c.at) {
			t.Fatalf("%s = %x: offset %d, want %d (value at %d): %v", c.key, c.value, ce.Offset, start+c.at, start, err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		v := make([]byte, rng.IntN(80))
		for i := range v {
			v[i] = byte(rng.IntN(4)) // small numbers make plausible counts and lengths
		}
		for _, k := range []string{checkpoint.KeyFailure, checkpoint.KeyRefused, checkpoint.KeySessions, checkpoint.KeyDropped} {
			checkpoint.ParseReserved(checkpoint.State{Meta: map[string][]byte{k: v}})
		}
	}
}

// TestMarshalSessionsInvalid checks the refusals of MarshalSessions.
func TestMarshalSessionsInvalid(t *testing.T) {
	for _, ss := range [][]checkpoint.Session{
		{{Scope: "b"}, {Scope: "a"}},
		{{Scope: "a"}, {Scope: "a"}},
		{{Scope: strings.Repeat("x", checkpoint.MaxMetaKey+1)}},
	} {
		if _, err := checkpoint.MarshalSessions(ss); !errors.Is(err, checkpoint.ErrInvalid) {
			t.Fatalf("MarshalSessions(%v) = %v, want ErrInvalid", ss, err)
		}
	}
}
