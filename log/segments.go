package log

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// segFile is one segment as the log tracks it. Sealed segments open their
// file and load their index on first read, and stay loaded within bounds
// on open files and index memory (see maxLoaded, maxLoadedIndex and loadedSegments), so
// that reads at random over a warm log open nothing, while memory and
// descriptors do not grow with the log.
type segFile struct {
	base    uint64
	path    string
	idxPath string

	mu       sync.Mutex
	f        vfs.File      // read handle; for the active segment, the writer's
	entries  []index.Entry // sealed: loaded index, unless packed; active: guarded by Log.mu
	packed   *packedIndex  // sealed: the loaded index, packed
	size     int64         // sealed: file size when loaded
	refs     int           // readers using f
	retired  bool          // evicted or removed: close f when refs drops to 0
	removed  bool          // released from the log: never load again
	lastUsed atomic.Uint64 // clock for eviction
	// salt is the file's segment.Salt, set when its header is read or
	// written: every frame's checksums cover it.
	salt atomic.Uint32
	// version is the file's segment format version, set with salt: only
	// a version 3 file may hold frames that name a dictionary.
	version atomic.Uint32
	// indexBytes is the memory of entries when loadedSegments.add
	// counted it; guarded by loadedSegments.mu.
	indexBytes int64

	// diskBytes is a sealed segment's file size for Options.MaxBytes,
	// 0 until read; sealedAt its modification time for Options.MaxAge,
	// zero until read. Guarded by Log.mu.
	diskBytes int64
	sealedAt  time.Time
}

// fileSalt returns the salt of the segment file's current life.
func (s *segFile) fileSalt() segment.Salt { return segment.Salt(s.salt.Load()) }

func newSegFile(dir string, base uint64) *segFile {
	return &segFile{
		base:    base,
		path:    filepath.Join(dir, segment.FileName(base)),
		idxPath: filepath.Join(dir, index.FileName(base)),
	}
}

// maxLoaded bounds the sealed segments holding an open file and a loaded
// index at once, and maxLoadedIndex the memory of their indexes: with the
// default 64 MiB segments and uncompressed frames of 16 KiB (8 bytes of
// packed index each), a log of 12 GiB stays loaded whole, in 192
// descriptors and 6 MiB of index.
// Tests lower them.
var (
	maxLoaded            = 256
	maxLoadedIndex int64 = 6 << 20
)

// entryBytes is the memory of one loaded index entry.
const entryBytes = int64(unsafe.Sizeof(index.Entry{}))

// acquireSealed returns the segment's read handle and index, loading them
// if needed. The caller must release.
func (l *Log) acquireSealed(s *segFile) (vfs.File, frameIndex, error) {
	s.mu.Lock()
	if s.removed {
		s.mu.Unlock()
		if l.readClosed.Load() {
			return nil, frameIndex{}, ErrClosed
		}
		return nil, frameIndex{}, ErrOutOfRange
	}
	// An evicted segment still open for another reader is tracked again.
	loadedNow := s.retired && s.f != nil
	if s.f == nil {
		if err := l.loadSealed(s); err != nil {
			s.mu.Unlock()
			return nil, frameIndex{}, err
		}
		loadedNow = true
	}
	s.retired = false
	s.refs++
	s.lastUsed.Store(l.loaded.clock.Add(1))
	f, idx := s.f, s.frameIndex()
	s.mu.Unlock()
	if loadedNow {
		l.loaded.add(s)
	}
	return f, idx, nil
}

func (s *segFile) release() {
	s.mu.Lock()
	s.refs--
	if s.refs == 0 && s.retired && s.f != nil {
		s.f.Close()
		s.f, s.entries, s.packed = nil, nil, nil
	}
	s.mu.Unlock()
}

// frameIndex returns the segment's index for reads. s.mu is held.
func (s *segFile) frameIndex() frameIndex {
	return frameIndex{entries: s.entries, packed: s.packed}
}

// pack packs the index of a sealed segment. s.mu is held.
func (s *segFile) pack() {
	if s.packed == nil && s.entries != nil {
		if p := packIndex(s.base, s.entries); p != nil {
			s.packed, s.entries = p, nil
		}
	}
}

// retire drops the segment's handle and index once no reader uses them.
// It returns the error of closing the handle, if it closed it.
func (s *segFile) retire() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = true
	var err error
	if s.refs == 0 && s.f != nil {
		err = s.f.Close()
		s.f, s.entries, s.packed = nil, nil, nil
	}
	return err
}

// loadSealed opens a sealed segment and loads its index, rebuilding the
// index from the segment when it does not cover the whole file.
// s.mu is held.
func (l *Log) loadSealed(s *segFile) error {
	f, err := l.fs.OpenFile(s.path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && l.follow == nil {
			// The writer holds the lock and deletes only what it released:
			// the file was deleted behind its back.
			return &CorruptError{File: s.path, Offset: 0, Reason: "segment file missing"}
		}
		return fmt.Errorf("seglog: open segment: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return fmt.Errorf("seglog: %s: %w", s.path, err)
	}
	if err := checkHeader(f, s); err != nil {
		f.Close()
		return err
	}
	entries, ok := l.readIndex(s, size)
	if !ok {
		entries, err = l.rebuildIndex(f, s, size)
		if err != nil {
			f.Close()
			return err
		}
	}
	s.f, s.entries, s.size = f, entries, size
	s.pack()
	return nil
}

func checkHeader(f vfs.File, s *segFile) error {
	_, err := readHeader(f, s)
	return err
}

// readHeader checks a segment's file header and returns its flags.
func readHeader(f vfs.File, s *segFile) (uint16, error) {
	fh, err := segment.ReadFileHeader(f, s.path, s.base)
	if err != nil {
		return 0, err
	}
	s.salt.Store(uint32(fh.Salt))
	s.version.Store(uint32(fh.Version))
	return fh.Flags, nil
}

// readIndex loads a sealed segment's index and reports whether it covers
// every byte of the segment.
func (l *Log) readIndex(s *segFile, size int64) ([]index.Entry, bool) {
	entries, err := index.ReadFile(l.fs, s.idxPath, s.base, size)
	if err != nil {
		return entries, false
	}
	if len(entries) == 0 {
		// A segment with no frame yet, as a roll leaves it: its index is
		// whole when it is the bare header.
		return nil, size == segment.HeaderSize
	}
	return entries, entries[len(entries)-1].End() == size
}

// rebuildIndex scans a whole sealed segment and rewrites its index file
// (unless the log is read-only). Damage does not stop it: the scan
// resynchronises at the next valid frame, so that only the damaged
// frames' records become unreadable. An index with such a gap is kept in
// memory only, since the index format has no gaps.
func (l *Log) rebuildIndex(f vfs.File, s *segFile, size int64) ([]index.Entry, error) {
	var entries []index.Entry
	pos, next, damaged := int64(segment.HeaderSize), s.base, false
	for pos < size {
		tail := segment.ScanTailDicts(f, s.path, s.fileSalt(), l.dicts, pos, size, next, func(pos int64, h *segment.FrameHeader) {
			entries = append(entries, index.Entry{Offset: h.Base, Pos: uint32(pos), Len: uint32(h.Size())})
		})
		if tail.Err != nil {
			return nil, tail.Err
		}
		if tail.End+tail.Zero >= size {
			break
		}
		// A sealed segment was synced whole before the next one was
		// created: anything short of its end is damage.
		damaged = true
		l.logger.Error("seglog: damaged frame in sealed segment", "file", s.path, "position", tail.End, "offset", tail.Next)
		q, h, ok := segment.FindFrame(f, s.path, s.fileSalt(), tail.End+1, size, func(_ int64, h *segment.FrameHeader) bool { return h.Base > tail.Next })
		if !ok {
			break
		}
		pos, next = q, h.Base
	}
	if len(entries) == 0 {
		return nil, &CorruptError{File: s.path, Offset: segment.HeaderSize, Reason: "sealed segment holds no valid frame"}
	}
	if l.follow == nil && !damaged {
		if err := l.writeIndex(s, entries); err != nil {
			l.logger.Warn("seglog: cannot rewrite index", "file", s.idxPath, "err", err)
		}
	}
	l.logger.Info("seglog: rebuilt segment index", "file", s.idxPath, "frames", len(entries))
	return entries, nil
}

func (l *Log) writeIndex(s *segFile, entries []index.Entry) error {
	return index.WriteFile(l.fs, s.idxPath, s.base, entries, l.opts.FileMode, false)
}

// loadedSegments is the set of sealed segments holding an open file and
// a loaded index, bounded by maxLoaded and maxLoadedIndex: the least
// recently used are retired past the bounds. It has its own lock, taken
// after Log.mu and before any segFile.mu.
type loadedSegments struct {
	mu         sync.Mutex
	segs       []*segFile
	indexBytes int64         // memory of the loaded segments' indexes
	clock      atomic.Uint64 // ticks at each acquire, for segFile.lastUsed
}

// add records that s was loaded (or sealed, for the segment a roll just
// sealed) and retires the least recently used sealed segments beyond
// maxLoaded and maxLoadedIndex.
func (c *loadedSegments) add(s *segFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.mu.Lock()
	s.pack() // sealed by a roll: its entries are final
	s.indexBytes = s.frameIndex().bytes()
	s.mu.Unlock()
	c.segs = append(c.segs, s)
	c.indexBytes += s.indexBytes
	for len(c.segs) > maxLoaded || (len(c.segs) > 1 && c.indexBytes > maxLoadedIndex) {
		oldest := 0
		for i, x := range c.segs {
			if x.lastUsed.Load() < c.segs[oldest].lastUsed.Load() {
				oldest = i
			}
		}
		victim := c.segs[oldest]
		c.segs = append(c.segs[:oldest], c.segs[oldest+1:]...)
		c.indexBytes -= victim.indexBytes
		victim.retire()
	}
}
