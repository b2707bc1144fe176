package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/segment"
)

// FuzzCheckpoint decodes arbitrary bytes as a checkpoint. Unmarshal must
// fail with a *CorruptError or *VersionError or return a state that
// Marshal encodes back to exactly the bytes it came from (the encoding is
// canonical), and must never allocate more than a small multiple of its
// input. The input is also read as a state, which must survive a
// Marshal/Unmarshal round trip.
func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("SGCK\x01\x00"))
	f.Add([]byte("SGCK\x02\x00"))
	if b, err := checkpoint.Marshal(3, checkpoint.State{Cursor: 2, ID: [16]byte{1}}); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			gen uint64
			st  checkpoint.State
			err error
		)
		checkAlloc(t, "Unmarshal", 64*uint64(len(b)), func() {
			gen, st, err = checkpoint.Unmarshal(b)
		})
		if err != nil {
			var ce *checkpoint.CorruptError
			var ve *checkpoint.VersionError
			if !errors.As(err, &ce) && !errors.As(err, &ve) {
				t.Fatalf("Unmarshal error %T %v is neither corrupt nor version", err, err)
			}
		} else {
			if st.Cursor < st.First {
				t.Fatalf("Unmarshal accepted cursor %d < first %d", st.Cursor, st.First)
			}
			enc, err := checkpoint.Marshal(gen, st)
			if err != nil {
				t.Fatalf("Marshal of a decoded state: %v", err)
			}
			if !bytes.HasPrefix(b, enc) {
				t.Fatalf("decoded state re-encodes to %x, not a prefix of the input", enc)
			}
		}

		// The input as a state.
		fz := fuzzBytes(b)
		gen = fz.uint64()
		in := checkpoint.State{Sequence: fz.uint64(), First: fz.uint64()}
		in.Cursor = in.First + fz.uint64()%(1<<40)
		if fz.byte()%2 == 1 {
			// A log id: format version 2.
			copy(in.ID[:], fz.bytes(16))
		}
		for n := fz.byte() % 16; n > 0 && fz.len() > 0; n-- {
			if in.Meta == nil {
				in.Meta = map[string][]byte{}
			}
			k := string(fz.bytes(int(fz.byte())))
			in.Meta[k] = bytes.Clone(fz.bytes(int(fz.byte()) * 3))
		}
		enc, err := checkpoint.Marshal(gen, in)
		if in.Cursor < in.First {
			if err == nil {
				t.Fatal("Marshal accepted cursor < first")
			}
			return
		}
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		// Stale bytes after the encoding, as a slot rewritten in place
		// keeps, are ignored.
		g2, out, err := checkpoint.Unmarshal(append(enc, "stale tail"...))
		if err != nil {
			t.Fatalf("Unmarshal of Marshal's output: %v", err)
		}
		if g2 != gen || out.Sequence != in.Sequence || out.Cursor != in.Cursor || out.First != in.First || out.ID != in.ID ||
			!maps.EqualFunc(out.Meta, in.Meta, bytes.Equal) {
			t.Fatalf("round trip: got gen %d %+v, want gen %d %+v", g2, out, gen, in)
		}
		// Any single flipped bit is detected.
		if len(b) > 0 {
			i := int(b[0]) * 7 % len(enc)
			d := bytes.Clone(enc)
			d[i] ^= 1 << (b[len(b)-1] % 8)
			if _, _, err := checkpoint.Unmarshal(d); err == nil {
				t.Fatalf("bit flip at %d of %d not detected", i, len(enc))
			}
		}
	})
}

func checkpointSeeds(t testing.TB) [][]any {
	var seeds [][]any
	fsys, _ := buildLog(t, segment.CodecNone)
	for _, n := range []string{"checkpoint.0", "checkpoint.1"} {
		b, err := fsys.ReadFile(filepath.Join(logDir, n))
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, []any{b})
	}
	enc, err := checkpoint.Marshal(3, checkpoint.State{Sequence: 9, Cursor: 12, First: 10,
		Meta: map[string][]byte{"a": nil, "peer": []byte("example.org"), "z": bytes.Repeat([]byte{1}, 300)}})
	if err != nil {
		t.Fatal(err)
	}
	seeds = append(seeds, []any{enc}, []any{enc[:len(enc)-1]})
	// A length field claiming MaxSize, and one claiming 4 GiB.
	for _, n := range []uint32{checkpoint.MaxSize, 0xFFFFFFFF} {
		d := bytes.Clone(enc)
		binary.LittleEndian.PutUint32(d[8:], n)
		seeds = append(seeds, []any{d})
	}
	// A meta count claiming 2^32-1 entries, with a valid checksum.
	d := bytes.Clone(enc)
	binary.LittleEndian.PutUint32(d[44:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint64(d[len(d)-8:], xxhash.Sum64(d[:len(d)-8]))
	seeds = append(seeds, []any{d})
	return seeds
}
