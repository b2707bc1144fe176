package checkpoint_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/seglog/seglog/checkpoint"
)

var le = binary.LittleEndian

// equalState compares states treating nil and empty values alike.
func equalState(a, b checkpoint.State) bool {
	if a.Sequence != b.Sequence || a.Cursor != b.Cursor || a.First != b.First || len(a.Meta) != len(b.Meta) {
		return false
	}
	for k, v := range a.Meta {
		w, ok := b.Meta[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func bigMeta() map[string][]byte {
	m := map[string][]byte{}
	for i := range 300 {
		m[fmt.Sprintf("key-%04d", i)] = bytes.Repeat([]byte{byte(i)}, i*7)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	// The largest single value that still fits MaxSize with a one-byte key.
	maxValue := checkpoint.MaxSize - checkpoint.MinSize - checkpoint.EntryOverhead - 1
	tests := []struct {
		name string
		gen  uint64
		st   checkpoint.State
	}{
		{"zero", 0, checkpoint.State{}},
		{"fields", 42, checkpoint.State{Sequence: 9, Cursor: 1000, First: 10}},
		{"max values", math.MaxUint64, checkpoint.State{Sequence: math.MaxUint64, Cursor: math.MaxUint64, First: math.MaxUint64}},
		{"cursor equals first", 1, checkpoint.State{Cursor: 5, First: 5}},
		{"dropped range", 1, checkpoint.State{Sequence: 7, Cursor: 5, First: 9}},
		{"dropped range with id", 1, checkpoint.State{Sequence: 7, Cursor: 5, First: 9, ID: [16]byte{1}}},
		{"empty map", 1, checkpoint.State{Meta: map[string][]byte{}}},
		{"empty and nil values", 3, checkpoint.State{Meta: map[string][]byte{"a": {}, "b": nil, "c": []byte("x")}}},
		{"empty key", 3, checkpoint.State{Meta: map[string][]byte{"": []byte("v")}}},
		{"longest key", 3, checkpoint.State{Meta: map[string][]byte{strings.Repeat("k", checkpoint.MaxMetaKey): []byte("v")}}},
		{"binary keys and values", 3, checkpoint.State{Meta: map[string][]byte{"\x00": {0}, "\xff\xfe": {0xff, 0}}}},
		{"big metadata", 8, checkpoint.State{Cursor: 1, Meta: bigMeta()}},
		{"exactly MaxSize", 8, checkpoint.State{Meta: map[string][]byte{"k": make([]byte, maxValue)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := checkpoint.Marshal(tt.gen, tt.st)
			if err != nil {
				t.Fatal(err)
			}
			gen, st, err := checkpoint.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if gen != tt.gen {
				t.Errorf("generation %d, want %d", gen, tt.gen)
			}
			if !equalState(st, tt.st) {
				t.Errorf("state %+v, want %+v", st, tt.st)
			}
			// Normalization: no entries decodes to a nil map; values are
			// never nil.
			if len(tt.st.Meta) == 0 && st.Meta != nil {
				t.Errorf("Meta = %#v, want nil when empty", st.Meta)
			}
			for k, v := range st.Meta {
				if v == nil {
					t.Errorf("value of %q is nil, want empty non-nil", k)
				}
			}
			// The decoded state does not alias the input.
			for i := range b {
				b[i] = 0
			}
			if !equalState(st, tt.st) {
				t.Errorf("decoded state changed with its input")
			}
		})
	}
}

func TestDecodedValuesAreIndependent(t *testing.T) {
	b, err := checkpoint.Marshal(1, checkpoint.State{Meta: map[string][]byte{"a": []byte("12"), "b": []byte("34")}})
	if err != nil {
		t.Fatal(err)
	}
	_, st, err := checkpoint.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(st.Meta["a"], 'X') // must not overwrite "b", which may share the backing array
	if string(st.Meta["b"]) != "34" {
		t.Errorf("appending to one value changed another: b = %q", st.Meta["b"])
	}
}

func TestMarshalDeterministic(t *testing.T) {
	st := checkpoint.State{Cursor: 3, Meta: bigMeta()}
	first, err := checkpoint.Marshal(5, st)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		clone := map[string][]byte{}
		for k, v := range st.Meta { // random iteration order, random insertion order
			clone[k] = v
		}
		b, err := checkpoint.Marshal(5, checkpoint.State{Cursor: 3, Meta: clone})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, first) {
			t.Fatal("Marshal is not deterministic")
		}
	}
	// nil and empty encode identically.
	a, _ := checkpoint.Marshal(1, checkpoint.State{})
	b, _ := checkpoint.Marshal(1, checkpoint.State{Meta: map[string][]byte{}})
	if !bytes.Equal(a, b) {
		t.Error("nil and empty Meta encode differently")
	}
}

func TestMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		st   checkpoint.State
		want error
	}{
		{"key too long", checkpoint.State{Meta: map[string][]byte{strings.Repeat("k", checkpoint.MaxMetaKey+1): nil}}, checkpoint.ErrInvalid},
		{"value too large", checkpoint.State{Meta: map[string][]byte{"k": make([]byte, checkpoint.MaxSize)}}, checkpoint.ErrTooLarge},
		{"one byte over MaxSize", checkpoint.State{Meta: map[string][]byte{"k": make([]byte, checkpoint.MaxSize-checkpoint.MinSize-checkpoint.EntryOverhead)}}, checkpoint.ErrTooLarge},
		{"many small entries", checkpoint.State{Meta: manyKeys(checkpoint.MaxSize / 10)}, checkpoint.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := checkpoint.Marshal(1, tt.st)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if b != nil {
				t.Error("returned bytes with an error")
			}
		})
	}
}

func manyKeys(n int) map[string][]byte {
	m := make(map[string][]byte, n)
	for i := range n {
		m[fmt.Sprint(i)] = []byte("v")
	}
	return m
}

func TestUnmarshalIgnoresTrailingBytes(t *testing.T) {
	st := checkpoint.State{Cursor: 2, Meta: map[string][]byte{"k": []byte("v")}}
	b, _ := checkpoint.Marshal(4, st)
	old, _ := checkpoint.Marshal(3, checkpoint.State{Meta: bigMeta()})
	// A new, short encoding written over an old, long one.
	buf := append([]byte(nil), old...)
	copy(buf, b)
	gen, got, err := checkpoint.Unmarshal(buf)
	if err != nil || gen != 4 || !equalState(got, st) {
		t.Fatalf("got %d %+v %v", gen, got, err)
	}
}

func sample(t *testing.T) []byte {
	t.Helper()
	b, err := checkpoint.Marshal(77, checkpoint.State{
		Sequence: 5, Cursor: 900, First: 100,
		Meta: map[string][]byte{"a": {}, "peer": []byte("srv-1"), "z": {1, 2, 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnmarshalEveryByteFlip(t *testing.T) {
	b := sample(t)
	for _, trailing := range []int{0, 16} { // with and without stale bytes after
		for i := range b {
			for _, mask := range []byte{0x01, 0x10, 0x80, 0xff} {
				c := append(append([]byte(nil), b...), make([]byte, trailing)...)
				c[i] ^= mask
				if _, _, err := checkpoint.Unmarshal(c); err == nil {
					t.Errorf("flip %#02x at offset %d (trailing %d) accepted", mask, i, trailing)
				}
			}
		}
	}
}

func TestUnmarshalEveryTruncation(t *testing.T) {
	b := sample(t)
	for n := range len(b) {
		_, _, err := checkpoint.Unmarshal(b[:n])
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Errorf("truncation to %d bytes: err = %v, want ErrCorrupt", n, err)
		}
	}
}

// entry encodes one metadata entry; vlen overrides the value length field
// when >= 0.
func entry(k, v string, vlen int64) []byte {
	b := []byte{byte(len(k))}
	b = append(b, k...)
	l := uint32(len(v))
	if vlen >= 0 {
		l = uint32(vlen)
	}
	b = le.AppendUint32(b, l)
	return append(b, v...)
}

// raw builds an encoding field by field with a correct length and
// checksum, so that tests reach the checks behind the checksum.
type raw struct {
	version, flags       uint16
	gen, seq, cur, first uint64
	count                uint32
	body                 []byte
	length               int64 // overrides the length field when > 0
}

func (r raw) bytes() []byte {
	b := []byte(checkpoint.Magic)
	b = le.AppendUint16(b, r.version)
	b = le.AppendUint16(b, r.flags)
	n := uint32(checkpoint.MinSize + len(r.body))
	if r.length > 0 {
		n = uint32(r.length)
	}
	b = le.AppendUint32(b, n)
	for _, x := range []uint64{r.gen, r.seq, r.cur, r.first} {
		b = le.AppendUint64(b, x)
	}
	b = le.AppendUint32(b, r.count)
	b = append(b, r.body...)
	return le.AppendUint64(b, xxhash.Sum64(b))
}

func v1(r raw) raw { r.version = checkpoint.FormatVersion; return r }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestUnmarshalRejects(t *testing.T) {
	good := raw{version: 1, count: 1, body: entry("k", "v", -1)}.bytes()
	badSum := append([]byte(nil), good...)
	badSum[len(badSum)-1] ^= 1
	badMagic := append([]byte(nil), good...)
	badMagic[1] = 'X'
	tests := []struct {
		name   string
		b      []byte
		offset int64
		reason string
	}{
		{"empty", nil, 0, "empty"},
		{"short magic", []byte("SG"), 2, "truncated"},
		{"bad magic", badMagic, 0, "bad magic"},
		{"short header", good[:20], 20, "truncated"},
		{"bad checksum", badSum, int64(len(good) - 8), "bad checksum"},
		{"length below minimum", v1(raw{length: 10}).bytes(), checkpoint.OffLength, "outside"},
		{"length above MaxSize", v1(raw{length: checkpoint.MaxSize + 1}).bytes(), checkpoint.OffLength, "outside"},
		{"length beyond bytes", v1(raw{length: 1000}).bytes(), checkpoint.OffLength, "exceeds"},
		{"flags", v1(raw{flags: 2}).bytes(), checkpoint.OffFlags, "flags"},
		{"flag dropped without a dropped range", v1(raw{flags: checkpoint.FlagDropped}).bytes(), checkpoint.OffFlags, "flag dropped"},
		{"cursor before first", v1(raw{cur: 1, first: 2}).bytes(), checkpoint.OffCursor, "cursor 1 before first 2"},
		{"count too large", v1(raw{count: 2, body: entry("k", "v", -1)}).bytes(), checkpoint.OffMetaCount, "cannot fit"},
		{"huge count", v1(raw{count: math.MaxUint32}).bytes(), checkpoint.OffMetaCount, "cannot fit"},
		{"unused bytes without entries", v1(raw{body: []byte{1, 2, 3}}).bytes(), checkpoint.HeaderSize, "unused"},
		{"unused bytes after entries", v1(raw{count: 1, body: cat(entry("k", "v", -1), []byte{0, 0, 0, 0, 0, 0})}).bytes(), checkpoint.HeaderSize + 7, "unused"},
		{"key beyond end", v1(raw{count: 1, body: []byte{200, 'a', 'b', 'c', 'd'}}).bytes(), checkpoint.HeaderSize, "key length 200"},
		{"value beyond end", v1(raw{count: 1, body: entry("k", "v", 2)}).bytes(), checkpoint.HeaderSize + 2, "value length 2"},
		{"huge value length", v1(raw{count: 1, body: entry("k", "v", math.MaxUint32)}).bytes(), checkpoint.HeaderSize + 2, "value length 4294967295"},
		{"truncated value length", v1(raw{count: 2, body: cat(entry("a", "", -1), []byte{1, 'b', 0, 0})}).bytes(), checkpoint.HeaderSize + 8, "truncated value length"},
		{"duplicate keys", v1(raw{count: 2, body: cat(entry("a", "1", -1), entry("a", "2", -1))}).bytes(), checkpoint.HeaderSize + 7, "sorted and unique"},
		{"unsorted keys", v1(raw{count: 2, body: cat(entry("b", "", -1), entry("a", "", -1))}).bytes(), checkpoint.HeaderSize + 6, "sorted and unique"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := checkpoint.Unmarshal(tt.b)
			var ce *checkpoint.CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("err = %v, want a *CorruptError", err)
			}
			if ce.Offset != tt.offset || !strings.Contains(ce.Reason, tt.reason) {
				t.Errorf("got offset %d reason %q, want offset %d reason containing %q", ce.Offset, ce.Reason, tt.offset, tt.reason)
			}
			if want := fmt.Sprintf("offset %d: corrupt: ", tt.offset); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q does not start with %q", err, want)
			}
		})
	}
	if _, _, err := checkpoint.Unmarshal(good); err != nil {
		t.Fatalf("the baseline is rejected: %v", err)
	}
}

func TestUnmarshalUnknownVersion(t *testing.T) {
	b := raw{version: 3}.bytes()
	_, _, err := checkpoint.Unmarshal(b)
	var ve *checkpoint.VersionError
	if !errors.As(err, &ve) || !errors.Is(err, checkpoint.ErrVersion) || ve.Version != 3 {
		t.Fatalf("err = %v, want a *VersionError for version 3", err)
	}
	if errors.Is(err, checkpoint.ErrCorrupt) {
		t.Error("an unknown version is reported as corruption")
	}
	if !strings.Contains(err.Error(), "version 3") {
		t.Errorf("message %q does not name the version", err)
	}
}

// TestUnmarshalHugeClaims checks that length fields are checked against the
// bytes present before anything is allocated from them.
func TestUnmarshalHugeClaims(t *testing.T) {
	inputs := map[string][]byte{
		"huge count":         raw{version: 1, count: math.MaxUint32}.bytes(),
		"huge value length":  raw{version: 1, count: 1, body: entry("k", "v", math.MaxUint32)}.bytes(),
		"huge length":        raw{version: 1, length: math.MaxUint32}.bytes(),
		"MaxSize length":     raw{version: 1, length: checkpoint.MaxSize}.bytes(),
		"many entries fit":   raw{version: 1, count: 100000, body: make([]byte, 50)}.bytes(),
		"count of full body": raw{version: 1, count: 10, body: make([]byte, 50)}.bytes(),
	}
	for name, b := range inputs {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			const runs = 100
			for range runs {
				if _, _, err := checkpoint.Unmarshal(b); err == nil {
					t.Fatal("accepted")
				}
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4096 {
				t.Errorf("allocated %d bytes per call for a %d-byte input", per, len(b))
			}
		})
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, st := range []checkpoint.State{{}, {Cursor: 3, First: 1, Meta: map[string][]byte{"a": {}, "b": []byte("xyz")}}} {
		b, _ := checkpoint.Marshal(9, st)
		f.Add(b)
	}
	f.Add(raw{version: 1, count: math.MaxUint32}.bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		gen, st, err := checkpoint.Unmarshal(b)
		if err != nil {
			var ce *checkpoint.CorruptError
			var ve *checkpoint.VersionError
			if !errors.As(err, &ce) && !errors.As(err, &ve) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		// Anything accepted re-encodes to the same bytes.
		again, err := checkpoint.Marshal(gen, st)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b[:len(again)]) {
			t.Fatalf("re-encoding differs")
		}
		if !reflect.DeepEqual(st.Meta == nil, len(st.Meta) == 0) {
			t.Fatal("empty Meta is not nil")
		}
	})
}
