package inspect

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// ErrNotLog is returned for a directory that holds no segment and no
// checkpoint: not a seglog log, or one never opened.
var ErrNotLog = errors.New("inspect: not a seglog log directory (no segment or checkpoint file)")

// BackupPrefix starts the name of the directories Repair copies files into.
const BackupPrefix = "repair-"

// Dir is what a log directory holds, as listed once.
type Dir struct {
	fs       vfs.FS // what the files are read through
	Path     string
	Segments []SegmentFile // in offset order
	Slots    []string      // checkpoint slot files present
	Orphans  []string      // index files whose segment is gone
	Temps    []string      // stale temporary files (*.tmp)
	Backups  []string      // directories left by earlier repairs
	Dicts    []string      // compression dictionary files
	Other    []string      // anything else, LOCK and the held store excepted
}

// SegmentFile is one segment file of a listing.
type SegmentFile struct {
	Base  uint64
	Name  string // the segment file's name
	Size  int64  // its size when listed
	Index string // its index file's name, "" when there is none
	// NotFile, when not "", says what stands under the segment's name
	// instead of a file ("a directory", ...): nothing in it can be read.
	NotFile string
}

// Path returns the segment file's path in dir.
func (s SegmentFile) Path(dir string) string { return filepath.Join(dir, s.Name) }

// IndexName is the name the segment's index has or would have.
func (s SegmentFile) IndexName() string { return index.FileName(s.Base) }

// ReadDir lists a log directory on the operating system's filesystem. It
// fails with an error matching fs.ErrNotExist for a missing directory and
// ErrNotLog for a directory that is not a log.
func ReadDir(dir string) (*Dir, error) { return readDir(vfs.Default, dir) }

// readDir lists a log directory through fsys. A name's type comes from
// Stat, which follows symbolic links: a link to a segment file is read as
// the segment.
func readDir(fsys vfs.FS, dir string) (*Dir, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	fi, err := fsys.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	// The 20-digit names sort in offset order.
	slices.Sort(names)
	d := &Dir{fs: fsys, Path: dir}
	slots := checkpoint.SlotNames()
	idx := map[uint64]string{}
	for _, n := range names {
		var mode fs.FileMode // 0: a regular file, or gone since the listing
		var size int64
		if fi, err := fsys.Stat(filepath.Join(dir, n)); err == nil {
			mode, size = fi.Mode(), fi.Size()
		}
		switch {
		case mode.IsDir() && strings.HasPrefix(n, BackupPrefix):
			d.Backups = append(d.Backups, n)
		case !mode.IsRegular() && strings.HasSuffix(n, segment.Suffix) && parses(n):
			// Something else under a segment's name: the segment's
			// records cannot be read, which verify and repair must say,
			// not pass over as a stray file.
			b, _ := segment.ParseFileName(n)
			d.Segments = append(d.Segments, SegmentFile{Base: b, Name: n, NotFile: notFile(mode)})
		case mode.IsDir():
			d.Other = append(d.Other, n)
		case strings.HasSuffix(n, segment.Suffix):
			if b, ok := segment.ParseFileName(n); ok {
				d.Segments = append(d.Segments, SegmentFile{Base: b, Name: n, Size: size})
			} else {
				d.Other = append(d.Other, n)
			}
		case strings.HasSuffix(n, index.Suffix):
			if b, ok := segment.ParseBaseName(n, index.Suffix); ok {
				idx[b] = n
			} else {
				d.Other = append(d.Other, n)
			}
		case isDictName(n):
			d.Dicts = append(d.Dicts, n)
		case n == slots[0] || n == slots[1]:
			d.Slots = append(d.Slots, n)
		case strings.HasSuffix(n, ".tmp"):
			d.Temps = append(d.Temps, n)
		case n == seglog.LockFile, n == seglog.HeldFile:
		default:
			d.Other = append(d.Other, n)
		}
	}
	for i := range d.Segments {
		s := &d.Segments[i]
		if n, ok := idx[s.Base]; ok {
			s.Index = n
			delete(idx, s.Base)
		}
	}
	for _, n := range names {
		if b, ok := segment.ParseBaseName(n, index.Suffix); ok && idx[b] == n {
			d.Orphans = append(d.Orphans, n)
		}
	}
	if len(d.Segments) == 0 && len(d.Slots) == 0 {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotLog)
	}
	return d, nil
}

// IsNotExist reports whether err says a file or directory does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func parses(name string) bool {
	_, ok := segment.ParseFileName(name)
	return ok
}

// notFile names a file type that is not a regular file.
func notFile(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
