package testlog

import (
	"os"
	"testing"
)

// XorByte xors the byte at pos of the file path with x, in place.
func XorByte(t testing.TB, path string, pos int64, x byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= x
	if _, err := f.WriteAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
}
