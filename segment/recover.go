package segment

import (
	"errors"
	"fmt"
	"io"
)

// Tail is the outcome of scanning the tail of the active segment.
type Tail struct {
	End  int64  // position after the last valid frame
	Next uint64 // offset after the last valid frame
	// Torn is the number of bytes after End that belong to no valid frame
	// and were never proven durable: an interrupted write, safe to cut.
	Torn int64
	// Zero is the number of zero bytes that fill the file from End to its
	// size when nothing else follows the last valid frame: space a writer
	// preallocated for frames to come. It is not part of the log and
	// needs no cut.
	Zero int64
	// Corrupt is set when the scan stopped at damage that a later frame
	// proves had been synced: data was lost after it was made durable, and
	// cutting there would drop acknowledged records.
	Corrupt error
	// Err is an I/O error that stopped the scan.
	Err error
}

// ScanTail scans a segment whose salt is salt from pos (a frame boundary
// holding offset next) to size, calling onFrame for each valid frame, and
// classifies whatever follows the last valid frame: zeros only (Zero), a
// torn write (Torn) or damage (Corrupt). It tells a torn tail from damage
// by the Durable field of frames: see FrameHeader. Only frames that verify
// with salt count, as data and as proof.
func ScanTail(f io.ReaderAt, file string, salt Salt, pos, size int64, next uint64, onFrame func(pos int64, h *FrameHeader)) Tail {
	return ScanTailDicts(f, file, salt, nil, pos, size, next, onFrame)
}

// ScanTailDicts is ScanTail for a segment whose frames may name
// dictionaries, found in dicts. A frame whose dictionary is missing or
// damaged stops the scan with Err set to the *DictError: the frame is
// whole, so it is neither torn nor cut.
func ScanTailDicts(f io.ReaderAt, file string, salt Salt, dicts DictSource, pos, size int64, next uint64, onFrame func(pos int64, h *FrameHeader)) Tail {
	s := NewScanner(f, file, salt, pos, size, next)
	s.SetDicts(dicts)
	badBody := false
	for s.Next() {
		if err := CheckBody(s.Body(), s.hdr.Count); err != nil {
			s.err = Corruptf(file, s.Pos(), "%v", err)
			badBody = true
			break
		}
		if onFrame != nil {
			onFrame(s.Pos(), s.Header())
		}
	}
	t := Tail{End: s.End(), Next: s.NextOffset()}
	if badBody {
		// The scanner has moved past the frame; the damage starts at it.
		t.End, t.Next = s.Pos(), s.Header().Base
	}
	err := s.Err()
	if err == nil || t.End >= size {
		return t
	}
	var ce *CorruptError
	var de *DictError
	if errors.As(err, &de) || !errors.Is(err, ErrIncomplete) && !errors.As(err, &ce) {
		t.Err = err
		return t
	}
	if zero, zerr := allZero(f, t.End, size); zerr != nil {
		t.Err = fmt.Errorf("%s: read at %d: %w", file, t.End, zerr)
		return t
	} else if zero {
		t.Zero = size - t.End
		return t
	}
	if proof, ok := durableAfter(f, file, salt, t.End, size, t.Next); ok {
		t.Corrupt = Corruptf(file, t.End, "%v; the frame at %d proves this region was synced", Reason(err), proof)
		return t
	}
	t.Torn = size - t.End
	return t
}

// durableAfter looks for a valid frame after the damage at position p, at
// which offset next was expected, whose Durable watermark is past p. Only a
// frame the writer could have written later qualifies: its offsets follow
// next, and its watermark does not pass its own position. (A frame inside a
// torn record's payload could still pass for one; recovery then refuses
// the log rather than risk cutting synced records.)
func durableAfter(f io.ReaderAt, file string, salt Salt, p, size int64, next uint64) (int64, bool) {
	q, _, ok := FindFrame(f, file, salt, p+1, size, func(q int64, h *FrameHeader) bool {
		return int64(h.Durable) > p && int64(h.Durable) <= q && h.Base > next
	})
	return q, ok
}

// FindFrame returns the first valid frame at or after position from that
// accept takes: to resynchronise after damage, or to look for proof that a
// region was synced. Candidates are found by the cheap header checksum at
// every byte position, then confirmed by the frame checksum; both must
// verify with the file's salt. Runs of zeros, as preallocation leaves,
// are skipped: a frame header is never all zero (its count is at least 1).
func FindFrame(f io.ReaderAt, file string, salt Salt, from, size int64, accept func(pos int64, h *FrameHeader) bool) (int64, FrameHeader, bool) {
	const chunk = 1 << 20
	buf := make([]byte, chunk+FrameHeaderSize)
	var body []byte
	for base := from; base+FrameHeaderSize <= size; base += chunk {
		n, _ := f.ReadAt(buf[:min(int64(len(buf)), size-base)], base)
		for i := 0; i+FrameHeaderSize <= n && i < chunk; i++ {
			if buf[i] == 0 {
				j := i
				for j < n && buf[j] == 0 {
					j++
				}
				// Headers starting before j-FrameHeaderSize+1 are all zero.
				if k := j - FrameHeaderSize + 1; k > i {
					i = k - 1
					continue
				}
			}
			q := base + int64(i)
			h, err := ParseFrameHeader(file, q, buf[i:i+FrameHeaderSize], salt)
			if err != nil || !accept(q, &h) || q+h.Size() > size {
				continue
			}
			if cap(body) < int(h.BodyLen) {
				body = make([]byte, h.BodyLen)
			}
			body = body[:h.BodyLen]
			if _, err := f.ReadAt(body, q+FrameHeaderSize); err != nil {
				continue
			}
			if VerifyFrame(file, q, &h, buf[i:i+FrameHeaderSize], body, salt) == nil {
				return q, h, true
			}
		}
	}
	return 0, FrameHeader{}, false
}

// AllZero reports whether the bytes of f from pos to size are all zero:
// preallocated space, after the last frame of a segment.
func AllZero(f io.ReaderAt, pos, size int64) (bool, error) { return allZero(f, pos, size) }

// allZero reports whether the bytes of f from pos to size are all zero.
func allZero(f io.ReaderAt, pos, size int64) (bool, error) {
	buf := make([]byte, min(size-pos, 256<<10))
	for pos < size {
		n := min(int64(len(buf)), size-pos)
		m, err := f.ReadAt(buf[:n], pos)
		for _, c := range buf[:m] {
			if c != 0 {
				return false, nil
			}
		}
		if int64(m) < n {
			if err == nil || errors.Is(err, io.EOF) {
				return true, nil // shorter than reported: nothing follows
			}
			return false, err
		}
		pos += n
	}
	return true, nil
}
