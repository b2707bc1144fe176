package dict_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
	"github.com/seglog/seglog/segment/dict"
)

func TestFileRoundTripAndDamage(t *testing.T) {
	content := bytes.Repeat([]byte("dictionary content "), 50)
	b := dict.Encode(42, content)
	id, got, err := dict.Decode("x.dict", b)
	if err != nil || id != 42 || !bytes.Equal(got, content) {
		t.Fatalf("Decode(Encode) = %d, %d bytes, %v", id, len(got), err)
	}
	// Every flipped byte, every cut, and a byte more are refused as damage.
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		if _, _, err := dict.Decode("x.dict", c); !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("byte %d flipped: %v, want ErrCorrupt", i, err)
		}
	}
	for n := range len(b) {
		if _, _, err := dict.Decode("x.dict", b[:n]); !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("cut to %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
	if _, _, err := dict.Decode("x.dict", append(bytes.Clone(b), 0)); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("a byte more: %v, want ErrCorrupt", err)
	}
}

func TestFileName(t *testing.T) {
	for _, id := range []uint16{1, 7, 65535} {
		got, ok := dict.ParseFileName(dict.FileName(id))
		if !ok || got != id {
			t.Fatalf("ParseFileName(FileName(%d)) = %d, %v", id, got, ok)
		}
	}
	for _, n := range []string{"00000.dict", "1.dict", "65536.dict", "0000a.dict", "00001.dict.tmp", "00001.seg"} {
		if _, ok := dict.ParseFileName(n); ok {
			t.Fatalf("ParseFileName(%q) accepted", n)
		}
	}
}

// Train takes whole records, spread over the sample, within the size.
func TestTrain(t *testing.T) {
	var recs [][]byte
	for i := range 1000 {
		recs = append(recs, segment.AppendRecord(nil, "", fmt.Appendf(nil, "record-%04d-%s", i, bytes.Repeat([]byte("x"), 50))))
	}
	d := dict.Train(recs, 4096)
	if len(d) == 0 || len(d) > 4096 {
		t.Fatalf("dictionary of %d bytes, want 1 to 4096", len(d))
	}
	if !bytes.Contains(d, []byte("record-0999")) || bytes.Contains(d, []byte("record-0998")) {
		t.Fatalf("dictionary does not end with the latest record, or takes neighbours")
	}
	if !bytes.Contains(d, []byte("record-00")) {
		t.Fatalf("dictionary does not reach back to the first records")
	}
	if dict.Train(recs[:1][:0], 4096) != nil {
		t.Fatal("trained from nothing")
	}
}

// A store writes a dictionary whole and finds it again; a missing or
// damaged file is damage naming it.
func TestStore(t *testing.T) {
	dir := t.TempDir()
	s, err := dict.Open(vfs.Default, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("abcdefgh"), 100)
	d, err := s.Add(content, 0o640)
	if err != nil || d.ID != 1 {
		t.Fatalf("Add: %v, %v", d, err)
	}
	if d2, err := s.Add(content, 0o640); err != nil || d2.ID != 2 {
		t.Fatalf("second Add: %v, %v", d2, err)
	}
	s.Close()
	names := []string{dict.FileName(1), dict.FileName(2)}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("%d files in the directory, want the 2 dictionaries (no temporary file)", len(ents))
	}
	if err := os.WriteFile(filepath.Join(dir, dict.FileName(2)), []byte("garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	s, err = dict.Open(vfs.Default, dir, names)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Dict(1); err != nil || !bytes.Equal(got.Content, content) {
		t.Fatalf("Dict(1): %v", err)
	}
	if _, err := s.Dict(2); !errors.Is(err, segment.ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(dict.FileName(2))) {
		t.Fatalf("Dict(2) damaged: %v", err)
	}
	if _, err := s.Dict(3); !errors.Is(err, segment.ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(dict.FileName(3))) {
		t.Fatalf("Dict(3) missing: %v", err)
	}
	if n := s.Newest(); n == nil || n.ID != 1 {
		t.Fatalf("Newest = %v, want the healthy dictionary 1", n)
	}
	// The next id passes the damaged one: an id names one content.
	if d, err := s.Add(content, 0o640); err != nil || d.ID != 3 {
		t.Fatalf("Add after a damaged one: %v, %v", d, err)
	}
}
