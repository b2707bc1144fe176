package inspect

import (
	"fmt"
	"slices"

	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
	"github.com/seglog/seglog/segment/dict"
)

// CodeDictCorrupt reports a compression dictionary file that is damaged:
// the frames that name it cannot be read.
const CodeDictCorrupt = "dictionary_corrupt"

// DictReport is what the check of one dictionary file found.
type DictReport struct {
	ID   uint16
	File string
	Size int   // content bytes
	Err  error // damage; nil when healthy
}

// DictStats counts the frames compressed with one dictionary.
type DictStats struct {
	Frames      int
	RawBytes    int64 // their bodies decoded
	StoredBytes int64 // their bodies as stored
}

// Ratio is decoded over stored bytes of the frames.
func (d *DictStats) Ratio() float64 {
	if d.StoredBytes == 0 {
		return 1
	}
	return float64(d.RawBytes) / float64(d.StoredBytes)
}

func isDictName(n string) bool {
	_, ok := dict.ParseFileName(n)
	return ok
}

// openDicts loads the dictionaries of the log in dir, through fsys.
func openDicts(fsys vfs.FS, dir string, names []string) *dict.Store {
	s, err := dict.Open(fsys, dir, names)
	if err != nil {
		return nil
	}
	return s
}

// source returns s as a segment.DictSource, nil (not a typed nil) when s is.
func source(s *dict.Store) segment.DictSource {
	if s == nil {
		return nil
	}
	return s
}

// checkDicts loads and checks every dictionary file listed, reporting the
// damaged ones, and returns the store the segments are read with.
func (r *Report) checkDicts(emit func(Finding)) *dict.Store {
	s := openDicts(r.Dir.fs, r.Dir.Path, r.Dir.Dicts)
	if s == nil {
		return nil
	}
	for _, i := range s.List() {
		r.Dicts = append(r.Dicts, DictReport{ID: i.ID, File: dict.FileName(i.ID), Size: i.Size, Err: i.Err})
		if i.Err != nil {
			emit(Finding{Severity: Error, Code: CodeDictCorrupt, File: dict.FileName(i.ID),
				Message: fmt.Sprintf("%s: the frames compressed with dictionary %d cannot be read until the file is restored (repair cannot rebuild it)", segment.Reason(i.Err), i.ID)})
		}
	}
	slices.SortFunc(r.Dicts, func(a, b DictReport) int { return int(a.ID) - int(b.ID) })
	return s
}

// dictDamage records a frame whose dictionary is missing or damaged, and
// returns where the frames after it start.
func (c *scanner) dictDamage(s *SegmentScan, f vfs.File, de *segment.DictError, size int64) (int64, uint64, bool) {
	h, err := segment.ReadFrameHeader(f, s.Name, s.salt, de.Offset)
	if err != nil {
		s.Err = err
		return 0, 0, false
	}
	end := de.Offset + h.Size()
	s.Damage = append(s.Damage, Damage{Pos: de.Offset, End: end, Offsets: MakeRange(h.Base, h.Next()),
		Reason: fmt.Sprintf("frame compressed with dictionary %d: %s (restore %s to read it; repair never cuts the log for it)", de.ID, segment.Reason(de.Err), dict.FileName(de.ID)), Dict: de.ID})
	c.add(h.Size())
	if end >= size {
		s.Next, s.NextKnown = h.Next(), true
		return 0, 0, false
	}
	return end, h.Next(), true
}

// addFrame counts a frame compressed with a dictionary.
func (s *SegmentStats) addFrame(fr Frame) {
	if fr.Dict == 0 {
		if fr.Codec != segment.CodecNone {
			s.NoDict.Frames++
			s.NoDict.RawBytes += int64(fr.RawLen)
			s.NoDict.StoredBytes += fr.Len - segment.FrameHeaderSize
		}
		return
	}
	if s.Dicts == nil {
		s.Dicts = map[uint16]*DictStats{}
	}
	d := s.Dicts[fr.Dict]
	if d == nil {
		d = &DictStats{}
		s.Dicts[fr.Dict] = d
	}
	d.Frames++
	d.RawBytes += int64(fr.RawLen)
	d.StoredBytes += fr.Len - segment.FrameHeaderSize
}

func (d *DictStats) add(o *DictStats) {
	d.Frames += o.Frames
	d.RawBytes += o.RawBytes
	d.StoredBytes += o.StoredBytes
}
