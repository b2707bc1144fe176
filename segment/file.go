package segment

import (
	"errors"
	"fmt"
	"io"
)

// ReadFileHeader reads and checks the header of the segment file f, named
// file in errors, whose name says it holds base offset base. A file too
// short for a header, an invalid header or one for another base offset is
// a *CorruptError; other errors are I/O failures.
func ReadFileHeader(f io.ReaderAt, file string, base uint64) (FileHeader, error) {
	var h [HeaderSize]byte
	n, err := f.ReadAt(h[:], 0)
	if n < len(h) {
		if err == nil || errors.Is(err, io.EOF) {
			return FileHeader{}, Corruptf(file, int64(n), "short header: %d of %d bytes", n, HeaderSize)
		}
		return FileHeader{}, fmt.Errorf("%s: read header: %w", file, err)
	}
	fh, err := ParseFileHeader(file, h[:])
	if err != nil {
		return FileHeader{}, err
	}
	if fh.Base != base {
		return FileHeader{}, Corruptf(file, 16, "header base offset %d does not match the file name", fh.Base)
	}
	return fh, nil
}

// ReadFrameHeader reads and checks the frame header at position pos (see
// ParseFrameHeader).
func ReadFrameHeader(f io.ReaderAt, file string, salt Salt, pos int64) (FrameHeader, error) {
	var b [FrameHeaderSize]byte
	n, err := f.ReadAt(b[:], pos)
	if n < len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			return FrameHeader{}, &IncompleteError{File: file, Offset: pos}
		}
		return FrameHeader{}, fmt.Errorf("%s: read at %d: %w", file, pos, err)
	}
	return ParseFrameHeader(file, pos, b[:], salt)
}

// ValidFrameAt reports whether a whole valid frame starts at position pos
// of a file of size bytes: header and frame checksums, decompression and
// record framing, everything a Scanner checks of a frame but its offset.
func ValidFrameAt(f io.ReaderAt, file string, salt Salt, pos, size int64) (FrameHeader, bool) {
	h, err := ReadFrameHeader(f, file, salt, pos)
	if err != nil || pos+h.Size() > size {
		return h, false
	}
	b := make([]byte, h.Size())
	if _, err := f.ReadAt(b, pos); err != nil {
		return h, false
	}
	body := b[FrameHeaderSize:]
	if VerifyFrame(file, pos, &h, b, body, salt) != nil {
		return h, false
	}
	if h.Dict != 0 {
		// Its records are checked with the dictionary when the frame is
		// read; its checksums are enough to resynchronise on it.
		return h, true
	}
	raw, err := Decompress(h.Codec, nil, body, h.RawLen)
	if err != nil || CheckBody(raw, h.Count) != nil {
		return h, false
	}
	return h, true
}

// FindValidFrame is FindFrame for a frame that ValidFrameAt accepts too:
// the first whole, valid frame at or after position from that accept
// takes, to resynchronise a read after damage.
func FindValidFrame(f io.ReaderAt, file string, salt Salt, from, size int64, accept func(pos int64, h *FrameHeader) bool) (int64, FrameHeader, bool) {
	for from+FrameHeaderSize <= size {
		q, _, ok := FindFrame(f, file, salt, from, size, accept)
		if !ok {
			break
		}
		if h, ok := ValidFrameAt(f, file, salt, q, size); ok {
			return q, h, true
		}
		from = q + 1
	}
	return 0, FrameHeader{}, false
}
