package inspect

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
	"github.com/seglog/seglog/segment/dict"
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
	return listSegments(vfs.Default, dir)
}

func listSegments(fsys vfs.FS, dir string) (*Dir, []SegmentInfo, error) {
	d, err := readDir(fsys, dir)
	if err != nil {
		return nil, nil, err
	}
	out := make([]SegmentInfo, len(d.Segments))
	dicts := openDicts(d.fs, dir, d.Dicts)
	defer dicts.Close()
	for i, sf := range d.Segments {
		out[i] = quickSegment(d.fs, dir, sf, i == len(d.Segments)-1, dicts)
	}
	return d, out, nil
}

func quickSegment(fsys vfs.FS, dir string, sf SegmentFile, active bool, dicts *dict.Store) SegmentInfo {
	si := SegmentInfo{SegmentFile: sf, Active: active, Next: sf.Base}
	if sf.NotFile != "" {
		si.Problem = sf.NotFile + ", not a segment file: none of its records can be read"
		return si
	}
	f, err := fsys.OpenFile(sf.Path(dir), os.O_RDONLY, 0)
	if err != nil {
		si.Missing = IsNotExist(err)
		si.Problem = stripDir(err.Error(), dir)
		return si
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		si.Problem = stripDir(err.Error(), dir)
		return si
	}
	si.Size = size
	salt, err := readHeader(f, sf)
	if err != nil {
		si.Problem, si.TailBytes = "header: "+segment.Reason(err), size
		si.Torn = active && size <= segment.HeaderSize
		return si
	}
	entries, decErr, present := readIndex(fsys, dir, sf, size)
	si.IndexEntries = len(entries)
	start, next := int64(segment.HeaderSize), sf.Base
	if n := len(entries); n > 0 && !active {
		e := entries[n-1]
		if h, ok := segment.ValidFrameAt(f, sf.Name, salt, int64(e.Pos), size); ok && h.Base == e.Offset && h.Size() == int64(e.Len) {
			start, next = e.End(), h.Next()
		}
	}
	frames := 0
	t := segment.ScanTailDicts(f, sf.Name, salt, source(dicts), start, size, next, func(pos int64, h *segment.FrameHeader) {
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
		si.Problem, si.TailBytes = "damage at "+itoa(t.End)+": "+segment.Reason(t.Corrupt), size-t.End
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
	// LostTail, when not "", says that segments are missing from the end
	// of the log while an index still names their records.
	LostTail string
	// Note, when not "", says that a live writer kept changing the log
	// while it was read, so that the figures come from different moments
	// (and how they were made to agree).
	Note string
}

// snapshotTries bounds the readings ReadInfo takes of a log whose writer
// keeps changing it.
const snapshotTries = 30

// ReadInfo gathers the one-screen account of the log in dir. With a live
// writer it takes a consistent snapshot: the checkpoint is read after the
// segments (the writer saves a state only once the records it names are
// on disk, and deletes segments only after saving the state that releases
// them), and the reading is taken again while the two disagree: the
// cursor past the end read, a segment gone that the state keeps, a segment
// being created, or a frame being written. If they never agree, the last
// reading is clamped to a possible state and says so in Note.
func ReadInfo(dir string) (*LogInfo, error) {
	live, err := WriterActive(dir)
	if err != nil {
		return nil, err
	}
	var li *LogInfo
	for try := 0; ; try++ {
		if li, err = readInfoOnce(dir, live); err != nil {
			return nil, err
		}
		why := li.disagreement()
		if why == "" || !live {
			return li, nil
		}
		if try+1 == snapshotTries {
			li.clamp(why)
			return li, nil
		}
		// A roll fsyncs the new segment and the directory: give the
		// writer a moment, more at each try (at most 0.5 s in all).
		time.Sleep(time.Duration(try+1) * time.Millisecond)
	}
}

// disagreement says why a reading of a live log is not one moment of it,
// or "" when it is.
func (li *LogInfo) disagreement() string {
	ck := li.Checkpoint
	if ck.Present && ck.Err == nil && ck.State.Cursor > li.Next {
		return fmt.Sprintf("the checkpoint's cursor %d is past the end read, %d", ck.State.Cursor, li.Next)
	}
	for i, s := range li.Segments {
		switch {
		case s.Missing:
			return s.Name + " was removed while the log was read"
		case s.Active && s.Torn:
			return s.Name + " was being written"
		case i+1 < len(li.Segments) && s.Problem == "" && s.Next != li.Segments[i+1].Base && !li.released(i+1):
			return s.Name + " was still growing when the next segment was read"
		}
	}
	return ""
}

// released reports whether the checkpoint has released every record
// before segment i: the segments before it may be gone or going.
func (li *LogInfo) released(i int) bool {
	ck := li.Checkpoint
	return ck.Present && ck.Err == nil && li.Segments[i].Base <= ck.State.First
}

// clamp makes a reading that never agreed a possible state, and notes it.
func (li *LogInfo) clamp(why string) {
	li.Note = fmt.Sprintf("a writer kept changing the log while it was read (%s); the figures come from moments a few milliseconds apart", why)
	if n := len(li.Segments); n > 1 && li.Segments[n-1].Active && li.Segments[n-1].Torn && li.Segments[n-1].Size <= segment.HeaderSize {
		// A segment being created holds no record yet.
		li.Segments = li.Segments[:n-1]
		li.Segments[n-2].Active = true
		li.Next = li.Segments[n-2].Next
	}
	if ck := &li.Checkpoint; ck.Present && ck.Err == nil && ck.State.Cursor > li.Next {
		li.Next = ck.State.Cursor
		li.Note += fmt.Sprintf("; the next offset is shown as the checkpoint's cursor, %d, which was on disk when the checkpoint was saved", li.Next)
	}
}

// readInfoOnce reads the log once: the segments, then the checkpoint.
func readInfoOnce(dir string, live bool) (*LogInfo, error) {
	d, segs, err := ListSegments(dir)
	if err != nil {
		return nil, err
	}
	li := &LogInfo{Dir: d, Segments: segs, Live: live}
	if len(d.Slots) > 0 {
		ck := &li.Checkpoint
		ck.Present = true
		ck.State, ck.Info, ck.Err = checkpoint.Read(d.fs, dir)
		if live && ck.Err == nil {
			// Segments a release deleted while they were listed: the
			// checkpoint read since no longer keeps them.
			kept := segs[:0]
			for i, s := range segs {
				if s.Missing && i+1 < len(segs) && segs[i+1].Base <= ck.State.First {
					continue
				}
				kept = append(kept, s)
			}
			li.Segments = kept
			segs = kept
		}
	}
	if ck := li.Checkpoint; !live && ck.Present && ck.Err == nil && len(segs) > 0 {
		// A "torn tail" holding offsets the checkpoint names is damage:
		// they were acknowledged, so durable (Verify does the same). With
		// a live writer the checkpoint, read last, may be newer.
		last := &segs[len(segs)-1]
		if claim := max(ck.State.Cursor, ck.State.First); last.Torn && last.Next < claim && last.Size > segment.HeaderSize {
			last.Torn = false
			last.Problem = fmt.Sprintf("damage at %d where offset %d starts: the checkpoint (cursor %d) says it was durable, so no torn write", last.Size-last.TailBytes, last.Next, ck.State.Cursor)
		}
	}
	for _, s := range segs {
		li.Bytes += s.Size
	}
	if len(segs) > 0 {
		li.First = segs[0].Base
		last := segs[len(segs)-1]
		li.Next, li.Codecs = last.Next, last.Codecs
		li.SegmentVersion = fileVersion(d.fs, segs[0].Path(dir), 8)
		for _, s := range segs {
			if s.Index != "" {
				li.IndexVersion = fileVersion(d.fs, filepath.Join(dir, s.Index), len(index.Magic))
				break
			}
		}
	}
	if !live {
		first := li.First
		if ck := li.Checkpoint; ck.Present && ck.Err == nil {
			first = ck.State.First
		}
		for _, n := range d.Orphans {
			if f := lostTail(d, first, n); f != nil {
				li.LostTail = f.File + ": " + f.Message
			}
		}
	}
	if ck := &li.Checkpoint; ck.Present {
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
		li.CheckpointVersion = fileVersion(d.fs, cur, 4)
		if fi, err := d.fs.Stat(cur); err == nil && ck.Info.File != "" {
			li.SavedAt = fi.ModTime()
		}
	}
	return li, nil
}

// fileVersion reads the little-endian uint16 format version at position at.
func fileVersion(fsys vfs.FS, path string, at int) uint16 {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
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
