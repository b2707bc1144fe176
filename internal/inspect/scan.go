package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
	"github.com/seglog/seglog/segment/dict"
)

// Frame is one valid frame of a segment.
type Frame struct {
	Offset uint64 // first offset
	Count  uint32 // records
	Pos    int64  // position in the segment file
	Len    int64  // size, header included
	RawLen uint32 // body size after decompression
	Codec  segment.Codec
	Dict   uint16 // the dictionary the body was compressed with; 0 for none
}

// Next is the offset after the frame's last record.
func (f Frame) Next() uint64 { return f.Offset + uint64(f.Count) }

// Entry is the frame's index entry.
func (f Frame) Entry() index.Entry {
	return index.Entry{Offset: f.Offset, Pos: uint32(f.Pos), Len: uint32(f.Len)}
}

// Damage is a region of a segment that holds no valid frame.
type Damage struct {
	Pos, End int64 // bytes [Pos, End) of the file
	// Offsets are the records the region held: from the offset expected
	// at Pos to the first offset of the valid frame after it (or of the
	// next segment). For a torn tail the end is unknown and irrelevant.
	Offsets Range
	Reason  string
	// Torn is set for a tail that was never proven durable (segment.ScanTail):
	// an interrupted write, or with a live writer one in progress.
	Torn bool
	// Dict is set for a whole frame whose dictionary is missing or
	// damaged: nothing but the dictionary's file can make it readable.
	Dict uint16
}

// Index states.
const (
	IndexOK         = "ok"
	IndexMissing    = "missing"
	IndexInvalid    = "invalid"
	IndexIncomplete = "incomplete"
	IndexMismatch   = "mismatch"
	IndexExtra      = "extra"
)

// SegmentScan is what a full read of one segment found.
type SegmentScan struct {
	SegmentFile
	Active   bool // the last segment listed: the one a writer appends to
	Released bool // wholly before the checkpoint's first offset: not read
	Missing  bool // removed between the listing and the read
	salt     segment.Salt

	// HeaderErr is set when the file header is invalid; nothing else in
	// the file was read. TornHeader says it is the last segment holding
	// no more than a header: a roll interrupted before its header was
	// synced, which holds no record.
	HeaderErr  error
	TornHeader bool

	Frames    []Frame // valid frames, kept when ScanOptions.KeepFrames
	NumFrames int
	Records   uint64 // records in valid frames
	// Next is the offset after the segment's last record, when known:
	// after damage that runs to the end of a sealed segment it is not.
	Next      uint64
	NextKnown bool
	Damage    []Damage

	IndexState   string // IndexOK, IndexMissing, ...
	IndexEntries int    // entries that decode and check
	IndexReason  string

	RawBytes, StoredBytes int64  // frame bodies, decoded and as stored
	Codecs                [3]int // frames per codec
	Stats                 *SegmentStats

	Err error // an I/O error that stopped the read
}

// Corrupt reports whether the segment holds damage that is not a torn tail.
func (s *SegmentScan) Corrupt() bool {
	if s.HeaderErr != nil && !s.TornHeader {
		return true
	}
	for _, d := range s.Damage {
		if !d.Torn {
			return true
		}
	}
	return false
}

// scanner carries what the read of one segment needs.
type scanner struct {
	ctx      context.Context
	fs       vfs.FS
	dir      string
	progress *atomic.Int64
	keep     bool
	stats    bool
	dicts    *dict.Store
}

func (c *scanner) add(n int64) {
	if c.progress != nil {
		c.progress.Add(n)
	}
}

// scanSegment reads a whole segment: every frame's checksums and records,
// and its index.
func (c *scanner) scanSegment(sf SegmentFile, active bool) *SegmentScan {
	s := &SegmentScan{SegmentFile: sf, Active: active, Next: sf.Base, NextKnown: true}
	if sf.NotFile != "" {
		s.Err, s.NextKnown = fmt.Errorf("%s is %s, not a segment file", sf.Name, sf.NotFile), false
		return s
	}
	f, err := c.fs.OpenFile(sf.Path(c.dir), os.O_RDONLY, 0)
	if IsNotExist(err) {
		s.Missing = true
		c.add(sf.Size)
		return s
	}
	if err != nil {
		s.Err, s.NextKnown = err, false
		return s
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		s.Err, s.NextKnown = fmt.Errorf("%s: %w", sf.Path(c.dir), err), false
		return s
	}
	s.Size = size
	if s.salt, s.HeaderErr = readHeader(f, sf); s.HeaderErr != nil {
		c.add(sf.Size)
		s.NextKnown = false
		if active && size <= segment.HeaderSize {
			s.TornHeader, s.NextKnown = true, true
			// Index entries are written only once the header was
			// synced: a segment they name held records.
			entries, _, _ := readIndex(c.fs, c.dir, sf, segment.MaxSegmentSize)
			s.IndexEntries = len(entries)
		}
		return s
	}
	if s.Stats == nil && c.stats {
		s.Stats = newSegmentStats()
	}
	entries, idxErr, idxPresent := readIndex(c.fs, c.dir, sf, size)
	if sf.Index != "" && !idxPresent {
		// Listed, and gone: a live writer released the segment, which it
		// removes before its index.
		if _, err := c.fs.Stat(sf.Path(c.dir)); IsNotExist(err) {
			s.Missing = true
			return s
		}
	}

	// Frames are compared with the index as they are read, up to the
	// first damage: past it the index will be rebuilt in any case.
	var (
		idxAt    int // next entry to compare
		mismatch = -1
		body     segment.Body
		clean    bool // the read reached the end of the file
	)
	// A segment growing under a live writer is read up to its size now.
	sc := segment.NewScanner(f, sf.Name, s.salt, segment.HeaderSize, size, sf.Base)
	if c.dicts != nil {
		sc.SetDicts(c.dicts)
	}
	c.add(segment.HeaderSize)
	for n := 0; ; n++ {
		if n&255 == 0 && c.ctx.Err() != nil {
			s.Err = c.ctx.Err()
			return s
		}
		if sc.Next() {
			h := sc.Header()
			fr := Frame{Offset: h.Base, Count: h.Count, Pos: sc.Pos(), Len: h.Size(), RawLen: h.RawLen, Codec: h.Codec, Dict: h.Dict}
			if err := c.visit(s, fr, sc.Body(), &body); err != nil {
				// A frame whose checksum holds but whose records do not
				// parse: a writer bug or a collision, damage either way.
				q, next, ok := c.damage(s, f, sc.Pos(), fr.Offset, size, entries, err)
				if !ok {
					break
				}
				sc.Reset(f, sf.Name, s.salt, q, size, next)
				continue
			}
			if len(s.Damage) == 0 {
				if idxAt < len(entries) && mismatch < 0 && entries[idxAt] != fr.Entry() {
					mismatch = idxAt
				}
				idxAt++
			}
			continue
		}
		err := sc.Err()
		if err == nil {
			clean = true
			break
		}
		var ce *segment.CorruptError
		var de *segment.DictError
		if errors.As(err, &de) {
			// A whole frame whose dictionary is missing or damaged: its
			// records cannot be read, the frames after it can.
			q, next, ok := c.dictDamage(s, f, de, size)
			if !ok {
				break
			}
			sc.Reset(f, sf.Name, s.salt, q, size, next)
			continue
		}
		if !errors.As(err, &ce) && !errors.Is(err, segment.ErrIncomplete) {
			s.Err = err
			break
		}
		q, next, ok := c.damage(s, f, sc.End(), sc.NextOffset(), size, entries, err)
		if !ok {
			break
		}
		sc.Reset(f, sf.Name, s.salt, q, size, next)
	}
	if clean {
		s.Next, s.NextKnown = sc.NextOffset(), true
	}
	c.checkIndex(s, entries, idxErr, idxPresent, idxAt, mismatch)
	return s
}

// visit records a valid frame, checking its records.
func (c *scanner) visit(s *SegmentScan, fr Frame, raw []byte, body *segment.Body) error {
	if err := segment.CheckBody(raw, fr.Count); err != nil {
		return err
	}
	if s.Stats != nil {
		body.Reset(raw)
		for range fr.Count {
			typ, data, _ := body.Next()
			s.Stats.add(typ, len(data))
		}
	}
	s.NumFrames++
	s.Records += uint64(fr.Count)
	s.RawBytes += int64(fr.RawLen)
	s.StoredBytes += fr.Len - segment.FrameHeaderSize
	if int(fr.Codec) < len(s.Codecs) {
		s.Codecs[fr.Codec]++
	}
	if c.keep {
		s.Frames = append(s.Frames, fr)
	}
	if s.Stats != nil {
		s.Stats.addFrame(fr)
		s.Stats.Frames++
		s.Stats.RawBytes += int64(fr.RawLen)
		s.Stats.StoredBytes += fr.Len - segment.FrameHeaderSize
	}
	c.add(fr.Len)
	return nil
}

// damage records the damage found at position p, where offset next was
// expected, and finds where valid frames resume. It returns the position
// and offset to resume at, or false when nothing valid follows.
func (c *scanner) damage(s *SegmentScan, f io.ReaderAt, p int64, next uint64, size int64, entries []index.Entry, cause error) (int64, uint64, bool) {
	reason := segment.Reason(cause)
	if errors.Is(cause, segment.ErrIncomplete) {
		reason = "frame cut short by the end of the file"
	}
	if zero, err := segment.AllZero(f, p, size); err == nil && zero {
		// Zeros only: space preallocated for frames to come (a crash
		// may leave it after the last frame of a sealed segment too,
		// before the cut at its seal was synced). Whether the frames
		// reach the next segment's base is checked with the listing.
		s.Next, s.NextKnown = next, true
		c.add(size - p)
		return 0, 0, false
	}
	if s.Active {
		// A live writer may have been writing the frame at p when it was
		// read, and have written more since (a preallocated segment's
		// size does not stop the read at what was written): read again.
		if h, ok := segment.ValidFrameAt(f, s.Name, s.salt, p, size); ok && h.Base == next {
			return p, next, true
		}
		// The active segment's tail may be a write that never completed:
		// told apart from damage by the durable watermarks that follow,
		// exactly as the log's recovery does.
		t := segment.ScanTailDicts(f, s.Name, s.salt, source(c.dicts), p, size, next, nil)
		if t.Err != nil {
			s.Err = t.Err
			return 0, 0, false
		}
		if t.Corrupt == nil {
			s.Damage = append(s.Damage, Damage{Pos: p, End: size, Offsets: OpenRange(next), Reason: reason, Torn: true})
			s.Next, s.NextKnown = next, true
			c.add(size - p)
			return 0, 0, false
		}
		reason = t.Corrupt.(*segment.CorruptError).Reason
	}
	q, h, ok := c.resync(f, s.Name, s.salt, p, next, size, entries)
	if !ok {
		d := Damage{Pos: p, End: size, Offsets: OpenRange(next), Reason: reason}
		// A header that checks tells how many records the frame held.
		if hh, err := segment.ReadFrameHeader(f, s.Name, s.salt, p); err == nil && hh.Base == next {
			d.Offsets = MakeRange(next, hh.Next())
		}
		s.Damage = append(s.Damage, d)
		s.NextKnown = false
		c.add(size - p)
		return 0, 0, false
	}
	s.Damage = append(s.Damage, Damage{Pos: p, End: q, Offsets: MakeRange(next, h.Base), Reason: reason})
	c.add(q - p)
	return q, h.Base, true
}

// resync finds the first valid frame after position p holding offsets from
// next on: first where the damaged frame's own header says the next frame
// is, then where the index says, then at any byte position
// (segment.FindValidFrame).
func (c *scanner) resync(f io.ReaderAt, file string, salt segment.Salt, p int64, next uint64, size int64, entries []index.Entry) (int64, segment.FrameHeader, bool) {
	if h, err := segment.ReadFrameHeader(f, file, salt, p); err == nil && h.Base == next {
		q := p + h.Size()
		if hq, ok := segment.ValidFrameAt(f, file, salt, q, size); ok && hq.Base == h.Next() {
			return q, hq, true
		}
	}
	for _, e := range entries {
		if int64(e.Pos) > p && e.Offset >= next {
			if hq, ok := segment.ValidFrameAt(f, file, salt, int64(e.Pos), size); ok && hq.Base == e.Offset {
				return int64(e.Pos), hq, true
			}
			break
		}
	}
	if c.ctx.Err() != nil {
		return 0, segment.FrameHeader{}, false
	}
	return segment.FindValidFrame(f, file, salt, p+1, size, func(_ int64, h *segment.FrameHeader) bool { return h.Base >= next })
}

// readHeader checks a segment's header and returns its salt.
func readHeader(f io.ReaderAt, sf SegmentFile) (segment.Salt, error) {
	fh, err := segment.ReadFileHeader(f, sf.Name, sf.Base)
	return fh.Salt, err
}

// readIndex reads and decodes a segment's index file. present is false
// when there is no index file.
func readIndex(fsys vfs.FS, dir string, sf SegmentFile, size int64) (entries []index.Entry, err error, present bool) {
	if sf.Index == "" {
		return nil, nil, false
	}
	entries, err = index.ReadFile(fsys, filepath.Join(dir, sf.Index), sf.Base, size)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false
	}
	return entries, err, true
}

// checkIndex sets the segment's index state from the comparison of its
// decoded entries with the frames read.
func (c *scanner) checkIndex(s *SegmentScan, entries []index.Entry, decErr error, present bool, compared, mismatch int) {
	s.IndexEntries = len(entries)
	torn := len(s.Damage) > 0 && s.Damage[0].Torn
	switch {
	case !present:
		s.IndexState = IndexMissing
		s.IndexReason = "no index file"
	case mismatch >= 0:
		e := entries[mismatch]
		s.IndexState = IndexMismatch
		s.IndexReason = fmt.Sprintf("entry %d (offset %d at position %d, %d bytes) does not match the frame there", mismatch, e.Offset, e.Pos, e.Len)
	case decErr != nil && !errors.Is(decErr, segment.ErrCorrupt):
		s.IndexState = IndexInvalid
		s.IndexReason = stripDir(decErr.Error(), c.dir)
	case len(s.Damage) > 0 && !torn:
		// Past damage the index is not compared: repair rebuilds it.
		s.IndexState = IndexOK
		if decErr != nil {
			s.IndexState, s.IndexReason = IndexInvalid, segment.Reason(decErr)
		}
	case len(entries) > compared:
		s.IndexState = IndexExtra
		s.IndexReason = fmt.Sprintf("%d entries for %d valid frames", len(entries), compared)
	case decErr != nil:
		s.IndexState = IndexInvalid
		s.IndexReason = fmt.Sprintf("%s (%d of %d frames indexed)", segment.Reason(decErr), len(entries), compared)
	case len(entries) < compared:
		s.IndexState = IndexIncomplete
		s.IndexReason = fmt.Sprintf("%d entries for %d frames", len(entries), compared)
	default:
		s.IndexState = IndexOK
	}
}
