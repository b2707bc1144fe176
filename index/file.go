package index

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// Encode returns the index file of the segment with base offset base
// holding entries.
func Encode(base uint64, entries []Entry) []byte {
	b := AppendHeader(make([]byte, 0, HeaderSize+len(entries)*EntrySize), base)
	for _, e := range entries {
		b = AppendEntry(b, base, e)
	}
	return b
}

// ReadFile reads and decodes the index file path of the segment with base
// offset base, whose file is size bytes long (at most MaxSegmentSize when
// unknown). As Decode, it returns the longest prefix of entries that
// check, and a *segment.CorruptError, naming path, when decoding stopped
// early; an index larger than its segment is corrupt as a whole. A missing
// file fails with an error matching fs.ErrNotExist; other errors are I/O
// failures.
func ReadFile(fsys vfs.FS, path string, base uint64, size int64) ([]Entry, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n > size {
		return nil, segment.Corruptf(path, 0, "index of %d bytes is larger than its %d-byte segment", n, size)
	}
	b := make([]byte, n)
	m, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b = b[:m] // short only if the file shrank since Size
	entries, err := Decode(b, base, segment.HeaderSize, size)
	var ce *segment.CorruptError
	if errors.As(err, &ce) {
		ce.File = path
	}
	return entries, err
}

// WriteFile writes the index file path of the segment with base offset
// base, replacing any, with perm for a new file. The index is derived data,
// written without fsync by the log; sync makes it durable before WriteFile
// returns (a repair, which keeps no other copy).
func WriteFile(fsys vfs.FS, path string, base uint64, entries []Entry, perm fs.FileMode, sync bool) error {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(Encode(base, entries), 0)
	if err == nil && sync {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// FirstEntry returns the first entry of the index file path, for a segment
// at base offset base, if the file holds one that checks. It reads no
// more than that entry: enough to tell that the segment held records,
// which is what an index left without its segment proves.
func FirstEntry(fsys vfs.FS, path string, base uint64) (Entry, bool) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return Entry{}, false
	}
	defer f.Close()
	b := make([]byte, HeaderSize+EntrySize)
	n, _ := f.ReadAt(b, 0)
	entries, _ := Decode(b[:n], base, segment.HeaderSize, segment.MaxSegmentSize)
	if len(entries) == 0 {
		return Entry{}, false
	}
	return entries[0], true
}
