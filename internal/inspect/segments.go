package inspect

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/vfs"
	"github.com/seglog/seglog/segment"
)

// SegmentInfo describes one segment as a quick read finds it: through its
// index for a sealed segment, by reading the frames after the last indexed
// one. Only the active segment is read whole. Verify reads everything.
type SegmentInfo struct {
	SegmentFile
	Active  bool
	Next    uint64 // offset after the last record read
	Records uint64
	// Index is IndexOK, IndexMissing, IndexInvalid or IndexIncomplete (the
	// quick read does not compare entries with frames: see Verify).
	IndexState   string
	IndexEntries int
	// Problem says what stopped the read short of the end of the file, ""
	// when nothing did. TailBytes are the bytes from there to the end.
	Problem   string
	TailBytes int64
	Torn      bool   // the tail was never proven durable
	Codecs    [3]int // frames per codec (active segment only)
	Missing   bool   // removed since the listing
}

// ListSegments lists the log's segments with a quick read of each.
func ListSegments(dir string) (*Dir, []SegmentInfo, error) {
	d, err := ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	out := make([]SegmentInfo, len(d.Segments))
	for i, sf := range d.Segments {
		out[i] = quickSegment(dir, sf, i == len(d.Segments)-1)
	}
	return d, out, nil
}

func quickSegment(dir string, sf SegmentFile, active bool) SegmentInfo {
	si := SegmentInfo{SegmentFile: sf, Active: active, Next: sf.Base}
	f, err := os.Open(sf.Path(dir))
	if err != nil {
		si.Missing = IsNotExist(err)
		si.Problem = stripDir(err.Error(), dir)
		return si
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		si.Problem = err.Error()
		return si
	}
	size := fi.Size()
	si.Size = size
	salt, err := readHeader(f, sf)
	if err != nil {
		si.Problem, si.TailBytes = "header: "+reasonOf(err), size
		si.Torn = active && size <= segment.HeaderSize
		return si
	}
	entries, decErr, present := readIndex(dir, sf, size)
	si.IndexEntries = len(entries)
	start, next := int64(segment.HeaderSize), sf.Base
	if n := len(entries); n > 0 && !active {
		e := entries[n-1]
		if h, ok := validFrameAt(f, sf.Name, salt, int64(e.Pos), size); ok && h.Base == e.Offset && h.Size() == int64(e.Len) {
			start, next = e.End(), h.Next()
		}
	}
	frames := 0
	t := segment.ScanTail(f, sf.Name, salt, start, size, next, func(pos int64, h *segment.FrameHeader) {
		frames++
		if active && int(h.Codec) < len(si.Codecs) {
			si.Codecs[h.Codec]++
		}
	})
	si.Next, si.Records = t.Next, t.Next-sf.Base
	switch {
	case t.Err != nil:
		si.Problem = stripDir(t.Err.Error(), dir)
	case t.Corrupt != nil:
		si.Problem, si.TailBytes = "damage at "+itoa(t.End)+": "+reasonOf(t.Corrupt), size-t.End
	case t.Torn > 0 && active:
		si.Problem, si.TailBytes, si.Torn = "torn tail at "+itoa(t.End), t.Torn, true
	case t.Torn > 0:
		si.Problem, si.TailBytes = "damage at "+itoa(t.End), t.Torn
	}
	switch {
	case !present:
		si.IndexState = IndexMissing
	case decErr != nil:
		si.IndexState = IndexInvalid
	case len(entries) == 0 && t.End > segment.HeaderSize,
		len(entries) > 0 && entries[len(entries)-1].End() < t.End:
		si.IndexState = IndexIncomplete
	default:
		si.IndexState = IndexOK
	}
	return si
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// LogInfo is the one-screen account of a log.
type LogInfo struct {
	Dir      *Dir
	Segments []SegmentInfo
	Bytes    int64 // segment files
	// Format versions found on disk, 0 where no file of the kind exists.
	SegmentVersion, IndexVersion, CheckpointVersion uint16

	First, Next uint64
	Checkpoint  CheckpointReport
	SavedAt     time.Time // modification time of the current checkpoint slot
	Codecs      [3]int    // frames per codec in the active segment
	Live        bool
}

// ReadInfo gathers the one-screen account of the log in dir.
func ReadInfo(dir string) (*LogInfo, error) {
	d, segs, err := ListSegments(dir)
	if err != nil {
		return nil, err
	}
	li := &LogInfo{Dir: d, Segments: segs}
	if li.Live, err = WriterActive(dir); err != nil {
		return nil, err
	}
	for _, s := range segs {
		li.Bytes += s.Size
	}
	if len(segs) > 0 {
		li.First = segs[0].Base
		last := segs[len(segs)-1]
		li.Next, li.Codecs = last.Next, last.Codecs
		li.SegmentVersion = fileVersion(d.Segments[0].Path(dir), 8)
		for _, s := range d.Segments {
			if s.Index != "" {
				li.IndexVersion = fileVersion(filepath.Join(dir, s.Index), len(index.Magic))
				break
			}
		}
	}
	if len(d.Slots) > 0 {
		ck := &li.Checkpoint
		ck.Present = true
		ck.State, ck.Info, ck.Err = checkpoint.Read(vfs.Default, dir)
		if ck.Err == nil {
			li.First = ck.State.First
			if len(segs) == 0 {
				li.Next = ck.State.First
			}
		}
		cur := ck.Info.File
		if cur == "" {
			cur = filepath.Join(dir, d.Slots[0])
		}
		li.CheckpointVersion = fileVersion(cur, 4)
		if fi, err := os.Stat(cur); err == nil && ck.Info.File != "" {
			li.SavedAt = fi.ModTime()
		}
	}
	return li, nil
}

// fileVersion reads the little-endian uint16 format version at position at.
func fileVersion(path string, at int) uint16 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var b [2]byte
	if _, err := f.ReadAt(b[:], int64(at)); err != nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b[:])
}
