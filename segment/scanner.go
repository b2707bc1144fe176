package segment

import (
	"errors"
	"fmt"
	"io"
)

// ErrIncomplete reports a frame that extends past the end of the scanned
// region: the tail of a write that was interrupted or is still under way.
var ErrIncomplete = errors.New("incomplete frame")

// IncompleteError locates an incomplete frame.
type IncompleteError struct {
	File   string
	Offset int64
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("%s: offset %d: incomplete frame", e.File, e.Offset)
}

// Unwrap makes IncompleteError match ErrIncomplete.
func (e *IncompleteError) Unwrap() error { return ErrIncomplete }

// scanChunk is how much a Scanner reads at a time: large enough that the
// read syscalls cost little beside the copy and the checksum.
const scanChunk = 1 << 20

// Scanner reads the frames of one segment file in order, checking each
// frame's checksum and offset continuity and decompressing its body.
type Scanner struct {
	f    io.ReaderAt
	file string
	salt Salt
	// dicts gives the dictionaries frames name; nil when there are none.
	dicts DictSource
	pos   int64  // position of the next frame
	end   int64  // the scan stops here
	next  uint64 // expected base offset of the next frame

	buf    []byte // read window
	bufPos int64  // file position of buf[0]
	raw    []byte // decompression buffer

	framePos int64
	hdr      FrameHeader
	body     []byte // decoded body of the current frame
	err      error
}

// NewScanner returns a scanner over f, a file with salt salt, from
// position pos up to end, whose first frame must start at offset next.
func NewScanner(f io.ReaderAt, file string, salt Salt, pos, end int64, next uint64) *Scanner {
	s := &Scanner{}
	s.Reset(f, file, salt, pos, end, next)
	return s
}

// Reset reuses the scanner (and its buffers) for another scan.
func (s *Scanner) Reset(f io.ReaderAt, file string, salt Salt, pos, end int64, next uint64) {
	s.f, s.file, s.salt, s.pos, s.end, s.next = f, file, salt, pos, end, next
	s.buf = s.buf[:0]
	s.bufPos = 0
	s.err = nil
}

// SetDicts sets where the scanner finds the dictionaries frames name.
// Without one, a frame naming a dictionary stops the scan with a
// *DictError.
func (s *Scanner) SetDicts(d DictSource) { s.dicts = d }

// window returns the n bytes at pos, reading ahead into the buffer.
func (s *Scanner) window(pos int64, n int) ([]byte, error) {
	if pos >= s.bufPos && pos+int64(n) <= s.bufPos+int64(len(s.buf)) {
		i := int(pos - s.bufPos)
		return s.buf[i : i+n], nil
	}
	if pos+int64(n) > s.end {
		return nil, &IncompleteError{File: s.file, Offset: s.framePos}
	}
	want := int64(max(n, scanChunk))
	want = min(want, s.end-pos)
	if int64(cap(s.buf)) < want {
		s.buf = make([]byte, want)
	}
	m, err := s.f.ReadAt(s.buf[:want], pos)
	s.buf, s.bufPos = s.buf[:m], pos
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, &IncompleteError{File: s.file, Offset: s.framePos}
		}
		return nil, fmt.Errorf("%s: read at %d: %w", s.file, pos, err)
	}
	return s.buf[:n], nil
}

// Next advances to the next frame. It returns false at the end of the scan
// or on an error, which Err then reports.
func (s *Scanner) Next() bool {
	if s.err != nil || s.pos >= s.end {
		return false
	}
	s.framePos = s.pos
	hb, err := s.window(s.pos, FrameHeaderSize)
	if err != nil {
		s.err = err
		return false
	}
	h, err := ParseFrameHeader(s.file, s.pos, hb, s.salt)
	if err != nil {
		s.err = err
		return false
	}
	if h.Base != s.next {
		s.err = Corruptf(s.file, s.pos, "frame starts at offset %d, want %d", h.Base, s.next)
		return false
	}
	fb, err := s.window(s.pos, int(h.Size()))
	if err != nil {
		s.err = err
		return false
	}
	hb, body := fb[:FrameHeaderSize], fb[FrameHeaderSize:]
	if err := VerifyFrame(s.file, s.pos, &h, hb, body, s.salt); err != nil {
		s.err = err
		return false
	}
	d, err := LookupDict(s.dicts, s.file, s.pos, &h)
	if err != nil {
		s.err = err
		return false
	}
	raw, err := DecompressDict(h.Codec, d, s.raw, body, h.RawLen)
	if err != nil {
		s.err = Corruptf(s.file, s.pos, "%v", err)
		return false
	}
	if h.Codec != CodecNone {
		s.raw = raw
	}
	s.hdr, s.body = h, raw
	s.pos += h.Size()
	s.next = h.Next()
	return true
}

// Header returns the current frame's header.
func (s *Scanner) Header() *FrameHeader { return &s.hdr }

// Pos returns the current frame's position in the file.
func (s *Scanner) Pos() int64 { return s.framePos }

// Body returns the current frame's decoded body. It is valid until the next
// call to Next.
func (s *Scanner) Body() []byte { return s.body }

// End returns the position after the last frame read.
func (s *Scanner) End() int64 { return s.pos }

// NextOffset returns the offset after the last frame read.
func (s *Scanner) NextOffset() uint64 { return s.next }

// Err returns the error that stopped the scan, nil at a clean end.
// Damage matches ErrCorrupt; a frame cut short by the end matches ErrIncomplete.
func (s *Scanner) Err() error { return s.err }

// CheckBody walks a decoded body and checks that it holds exactly count
// well-formed records.
func CheckBody(raw []byte, count uint32) error {
	var b Body
	b.Reset(raw)
	for i := uint32(0); i < count; i++ {
		if _, _, err := b.Next(); err != nil {
			return fmt.Errorf("record %d of %d: %w", i, count, err)
		}
	}
	if b.Len() != 0 {
		return fmt.Errorf("%d bytes after the last record", b.Len())
	}
	return nil
}
