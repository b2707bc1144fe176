package dict

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// Store holds the dictionaries of one log directory. It is a
// segment.DictSource: a frame's dictionary is loaded from its file on
// first use and kept. Its methods are safe for concurrent use.
type Store struct {
	fs  vfs.FS
	dir string

	mu      sync.Mutex
	loaded  map[uint16]*entry
	maxID   uint16 // the largest id listed or written, healthy or not
	newest  *segment.Dict
	written bool // a dictionary was added since Open
}

type entry struct {
	d   *segment.Dict
	err error
}

// Info describes one dictionary file.
type Info struct {
	ID   uint16
	File string
	Size int   // content bytes
	Err  error // why it cannot be used; nil when healthy
}

// Open lists the dictionary files among names (a listing of dir) and loads
// them. A damaged one is remembered, not returned: frames that name it fail
// to decode, and Newest skips it. Only an I/O error that stops the reading
// of a file is returned.
func Open(fsys vfs.FS, dir string, names []string) (*Store, error) {
	s := &Store{fs: fsys, dir: dir, loaded: make(map[uint16]*entry)}
	var ids []uint16
	for _, n := range names {
		if id, ok := ParseFileName(n); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := s.load(id)
		s.loaded[id] = e
		s.maxID = id
		if e.d != nil {
			s.newest = e.d
		}
	}
	return s, nil
}

// RemoveTemps removes the temporary files of dictionaries whose writing a
// crash interrupted: no frame names them.
func RemoveTemps(fsys vfs.FS, dir string, names []string) {
	for _, n := range names {
		if filepath.Ext(n) == ".tmp" && len(n) > len(TempSuffix) && n[len(n)-len(TempSuffix):] == TempSuffix {
			fsys.Remove(filepath.Join(dir, n))
		}
	}
}

// Path returns the path of dictionary id's file.
func (s *Store) Path(id uint16) string { return filepath.Join(s.dir, FileName(id)) }

func (s *Store) load(id uint16) *entry {
	path := s.Path(id)
	b, err := ReadFile(s.fs, path)
	if err != nil {
		return &entry{err: err}
	}
	fid, content, err := Decode(path, b)
	if err == nil && fid != id {
		err = corrupt(path, 12, "file holds dictionary %d", fid)
	}
	if err != nil {
		return &entry{err: err}
	}
	d, err := segment.NewDict(id, content)
	if err != nil {
		return &entry{err: corrupt(path, HeaderSize, "%v", err)}
	}
	return &entry{d: d}
}

// ReadFile reads a dictionary file, refusing one larger than the format
// allows before reading it. A missing file is reported as damage: only a
// dictionary some frame names is looked for.
func ReadFile(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, corrupt(path, 0, "dictionary file missing")
	}
	if err != nil {
		return nil, fmt.Errorf("seglog: dictionary: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("seglog: dictionary %s: %w", path, err)
	}
	if size > HeaderSize+segment.MaxDictSize {
		return nil, corrupt(path, 0, "dictionary file of %d bytes, over the %d limit", size, HeaderSize+segment.MaxDictSize)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("seglog: dictionary %s: %w", path, err)
	}
	return b, nil
}

// Dict returns dictionary id, loading it on first use (a reader following
// a live writer meets dictionaries written after it opened). Damaged or
// missing, it returns an error matching segment.ErrCorrupt that names the
// file; a missing file is looked for again on the next call.
func (s *Store) Dict(id uint16) (*segment.Dict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.loaded[id]
	if !ok || e.d == nil && errors.Is(e.err, fs.ErrNotExist) {
		e = s.load(id)
		if e.d != nil || !isMissing(e.err) {
			s.loaded[id] = e
		}
	}
	return e.d, e.err
}

func isMissing(err error) bool {
	var ce *segment.CorruptError
	return errors.As(err, &ce) && ce.Reason == "dictionary file missing"
}

// Newest returns the newest healthy dictionary, nil if none.
func (s *Store) Newest() *segment.Dict {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newest
}

// Any reports whether the directory holds or held dictionaries: segments
// are then written in the format version that names them.
func (s *Store) Any() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxID > 0
}

// List describes the dictionaries listed at Open and written since, in id
// order.
func (s *Store) List() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Info
	for id, e := range s.loaded {
		i := Info{ID: id, File: s.Path(id), Err: e.err}
		if e.d != nil {
			i.Size = len(e.d.Content)
		}
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b Info) int { return int(a.ID) - int(b.ID) })
	return out
}

// Add writes content as a new dictionary, durably, and makes it the
// newest: written to a temporary file, fsynced, renamed to its name, and
// the directory fsynced. Only then may a frame name it.
func (s *Store) Add(content []byte, perm fs.FileMode) (*segment.Dict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxID == MaxID {
		return nil, fmt.Errorf("seglog: dictionary ids exhausted (%d)", MaxID)
	}
	id := s.maxID + 1
	d, err := segment.NewDict(id, content)
	if err != nil {
		return nil, fmt.Errorf("seglog: dictionary: %w", err)
	}
	path := s.Path(id)
	tmp := filepath.Join(s.dir, fmt.Sprintf("%05d%s", id, TempSuffix))
	if err := writeFile(s.fs, tmp, Encode(id, content), perm); err != nil {
		s.fs.Remove(tmp)
		return nil, fmt.Errorf("seglog: write dictionary %s: %w", path, err)
	}
	if err := s.fs.Rename(tmp, path); err != nil {
		s.fs.Remove(tmp)
		return nil, fmt.Errorf("seglog: write dictionary %s: %w", path, err)
	}
	// From here the id is taken, whatever happens: it is never given again.
	s.maxID = id
	if err := s.fs.SyncDir(s.dir); err != nil {
		return nil, fmt.Errorf("seglog: write dictionary %s: %w", path, err)
	}
	s.loaded[id] = &entry{d: d}
	s.newest = d
	s.written = true
	return d, nil
}

func writeFile(fsys vfs.FS, path string, b []byte, perm fs.FileMode) error {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Close releases the dictionaries' decoders.
func (s *Store) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.loaded {
		if e.d != nil {
			e.d.Close()
		}
	}
}
