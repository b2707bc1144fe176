// Package testlog builds log directories for tests that need more
// segments than appending could make in reasonable time: the segment,
// index and checkpoint files are written directly, in the format the log
// writes them.
package testlog

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// Record returns the payload of the record at offset o in a log built by
// WriteTinySegments.
func Record(o uint64) []byte { return fmt.Appendf(nil, "record %d", o) }

// WriteTinySegments writes a closed log of n segments into dir on fsys,
// each holding perSegment records in one frame, with its index, and a
// checkpoint with its cursor at cursor. Every file is as the log writes
// it, so that Open, reads, verify and info find a healthy log.
func WriteTinySegments(fsys vfs.FS, dir string, n, perSegment int, cursor uint64) error {
	if err := fsys.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	var seg, idx []byte
	for i := range n {
		base := uint64(i * perSegment)
		salt := segment.NewSalt()
		seg = segment.AppendFileHeader(seg[:0], base, 0, salt)
		pos := len(seg)
		seg = append(seg, make([]byte, segment.FrameHeaderSize)...)
		for o := base; o < base+uint64(perSegment); o++ {
			seg = segment.AppendRecord(seg, "", Record(o))
		}
		h := segment.FrameHeader{
			Base: base, Count: uint32(perSegment),
			RawLen:  uint32(len(seg) - pos - segment.FrameHeaderSize),
			Durable: uint32(pos), Codec: segment.CodecNone, Flags: segment.FrameFlagPrevSynced,
		}
		segment.SealFrame(seg[pos:], &h, salt)
		idx = index.AppendHeader(idx[:0], base)
		idx = index.AppendEntry(idx, base, index.Entry{Offset: base, Pos: uint32(pos), Len: uint32(len(seg) - pos)})
		if err := writeFile(fsys, filepath.Join(dir, segment.FileName(base)), seg); err != nil {
			return err
		}
		if err := writeFile(fsys, filepath.Join(dir, index.FileName(base)), idx); err != nil {
			return err
		}
	}
	st, _, err := checkpoint.Open(fsys, dir, 0o640, false)
	if err != nil {
		return err
	}
	if err := st.Save(checkpoint.State{Sequence: cursor, Cursor: cursor}); err != nil {
		st.Close()
		return err
	}
	return st.Close()
}

func writeFile(fsys vfs.FS, name string, b []byte) error {
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
