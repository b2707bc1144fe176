package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/seglog/seglog/log/vfs"
)

// Slot file names inside the checkpoint directory.
const (
	slot0Name = "checkpoint.0"
	slot1Name = "checkpoint.1"
)

// SlotNames returns the names of the two slot files a store keeps in its
// directory, for tools that list, copy aside or remove them.
func SlotNames() [2]string { return [2]string{slot0Name, slot1Name} }

// Info describes where a store's state lives.
type Info struct {
	// File is the slot file holding the current state, or "" when no slot
	// holds one and the state is the zero State (slots never written, or
	// whose only write was torn). A store created for writing holds the
	// zero state at generation 0 in both slots (see reserve), so File names
	// a slot from then on.
	File string
	// Generation of the current state; 0 for the zero state written when
	// the slots were created (Save never writes generation 0).
	Generation uint64
	// Torn, if not nil, is a slot found non-empty but invalid by Open and
	// ignored: the remains of a save interrupted by a crash. It is worth a
	// log line; the slot is overwritten by the next Save. It describes the
	// files as Open found them and is not cleared by Save.
	Torn *CorruptError
}

// Store holds the checkpoint of one log directory. Its methods are safe
// for concurrent use. It takes no lock on the directory: the caller (the
// log, which holds the directory lock) guarantees a single writer.
type Store struct {
	mu       sync.Mutex
	names    [2]string
	files    [2]vfs.File // nil for a read-only store, and after Close
	readOnly bool
	closed   bool
	cur      int // slot holding the current state; the next Save writes 1-cur
	valid    bool
	gen      uint64
	st       State
	torn     *CorruptError
}

// Open loads the checkpoint in dir, which must exist, and returns the store
// and its current state.
//
// Both slots are read. A slot that is absent or empty has never been
// written. Of the valid slots, the one with the highest generation holds
// the state. Because Save only ever writes the slot not holding the current
// state, at most one slot can be mid-write at a crash, so:
//
//   - no slot written: the state is the zero State (a fresh log);
//   - a non-empty slot that fails to decode next to a valid or never-written
//     slot is a torn save: it is ignored and reported in Info.Torn, and the
//     state is the other slot's (the zero State if it was never written,
//     since then the torn save was the very first one);
//   - both slots non-empty and invalid cannot result from a crash: Open
//     fails with an error matching ErrCorrupt that names both files;
//   - two valid slots with the same generation but different contents
//     likewise cannot, and fail with ErrCorrupt;
//   - a slot in an unknown format version fails Open with ErrVersion
//     whatever the other slot holds, rather than silently fall back to an
//     older state (a downgrade after a newer seglog wrote the checkpoint).
//
// Unless readOnly, Open then creates the missing slot files with perm so
// that Save never creates a file, and fsyncs dir (always, so that slot files created
// by a process that died before its own directory sync become durable).
// Nothing is modified when Open fails.
//
// A read-only store reads the files and keeps none open; its Save fails
// with ErrReadOnly.
func Open(fsys vfs.FS, dir string, perm fs.FileMode, readOnly bool) (*Store, State, error) {
	return open(fsys, dir, perm, readOnly)
}

func open(fsys vfs.FS, dir string, perm fs.FileMode, readOnly bool) (*Store, State, error) {
	fi, err := fsys.Stat(dir)
	if err != nil {
		return nil, State{}, fmt.Errorf("checkpoint: %w", err)
	}
	if !fi.IsDir() {
		return nil, State{}, fmt.Errorf("checkpoint: %s: not a directory", dir)
	}
	s := &Store{
		names:    [2]string{filepath.Join(dir, slot0Name), filepath.Join(dir, slot1Name)},
		readOnly: readOnly,
	}
	flag := os.O_RDONLY
	if !readOnly {
		flag = os.O_RDWR
	}
	var slots [2]slot
	for i, name := range s.names {
		f, err := fsys.OpenFile(name, flag, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // never written
		}
		if err != nil {
			s.closeFiles()
			return nil, State{}, fmt.Errorf("checkpoint: %w", err)
		}
		s.files[i] = f
		if slots[i], err = readSlot(f, name); err != nil {
			s.closeFiles()
			return nil, State{}, err
		}
	}
	if err := s.choose(slots); err != nil {
		s.closeFiles()
		return nil, State{}, err
	}
	if readOnly {
		if err := s.closeFiles(); err != nil {
			return nil, State{}, fmt.Errorf("checkpoint: %w", err)
		}
	} else if err := s.prepare(fsys, dir, perm); err != nil {
		s.closeFiles()
		return nil, State{}, err
	}
	return s, s.State(), nil
}

// Read loads the checkpoint in dir without modifying anything, for
// inspecting a live log: it is Open read-only followed by Close. If a Save
// is in progress, Read may find the slot being written torn (reported in
// Info.Torn) and return the previous state.
func Read(fsys vfs.FS, dir string) (State, Info, error) {
	s, st, err := Open(fsys, dir, 0, true)
	if err != nil {
		return State{}, Info{}, err
	}
	return st, s.Info(), s.Close()
}

// slot is what one slot file holds.
type slot struct {
	written bool   // non-empty
	enc     []byte // the valid encoding, exactly its length
	gen     uint64
	st      State
	err     error // decode error, if written and invalid
}

// readSlot reads and decodes a slot file. Only I/O failures are returned;
// decode failures are recorded in the slot.
func readSlot(f vfs.File, name string) (slot, error) {
	size, err := f.Size()
	if err != nil {
		return slot{}, fmt.Errorf("checkpoint: %s: %w", name, err)
	}
	// A valid encoding is never longer than MaxSize, so neither is the read.
	b := make([]byte, min(max(size, 0), MaxSize))
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return slot{}, fmt.Errorf("checkpoint: read %s: %w", name, err)
	}
	b = b[:n] // short only if the file shrank since Size
	if len(b) == 0 {
		return slot{}, nil
	}
	sl := slot{written: true}
	sl.gen, sl.st, sl.err = Unmarshal(b)
	switch e := sl.err.(type) {
	case nil:
		sl.enc = b[:le.Uint32(b[offLength:])]
	case *CorruptError:
		e.File = name
	case *VersionError:
		e.File = name
	}
	return sl, nil
}

// choose picks the current slot as documented on Open.
func (s *Store) choose(sl [2]slot) error {
	for _, x := range sl {
		if _, ok := x.err.(*VersionError); ok {
			return x.err
		}
	}
	ok0, ok1 := sl[0].written && sl[0].err == nil, sl[1].written && sl[1].err == nil
	switch {
	case ok0 && ok1:
		switch {
		case sl[0].gen > sl[1].gen:
			s.cur = 0
		case sl[1].gen > sl[0].gen:
			s.cur = 1
		case bytes.Equal(sl[0].enc, sl[1].enc):
			s.cur = 0
		default:
			return &CorruptError{File: s.names[1], Offset: offGeneration, Reason: fmt.Sprintf(
				"generation %d also in %s with different contents", sl[1].gen, s.names[0])}
		}
		s.valid = true
	case ok0 || ok1:
		s.cur = 0
		if ok1 {
			s.cur = 1
		}
		s.valid = true
		s.torn, _ = sl[1-s.cur].err.(*CorruptError)
	case sl[0].written && sl[1].written:
		return fmt.Errorf("%w; %w", sl[0].err, sl[1].err)
	case sl[0].written:
		s.cur = 1
		s.torn, _ = sl[0].err.(*CorruptError)
	case sl[1].written:
		s.cur = 0
		s.torn, _ = sl[1].err.(*CorruptError)
	default:
		// Fresh: the first Save goes to slot 0.
		s.cur = 1
	}
	if s.valid {
		s.gen, s.st = sl[s.cur].gen, sl[s.cur].st
	}
	return nil
}

// prepare creates the missing slot files and syncs the directory.
func (s *Store) prepare(fsys vfs.FS, dir string, perm fs.FileMode) error {
	for i, name := range s.names {
		if s.files[i] != nil {
			continue
		}
		f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, perm)
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		s.files[i] = f
		if err := reserve(f, name); err != nil {
			return err
		}
	}
	if s.valid {
		// The state may have been written by a process that died before
		// its fsync: make it durable before the caller acts on it (the
		// log deletes the segments it releases).
		if err := s.files[s.cur].Sync(); err != nil {
			return fmt.Errorf("checkpoint: sync %s: %w", s.names[s.cur], err)
		}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("checkpoint: sync %s: %w", dir, err)
	}
	return nil
}

// reserveSize is the room given to an empty slot file when it is created.
const reserveSize = 4096

// reserve fills an empty slot file with the zero state, generation 0,
// padded to reserveSize, and syncs it. Saves up to that size then rewrite
// blocks the file already has, so a log whose disk has filled can still
// save the Ack that frees space. Decoding ignores the padding, and a slot
// at generation 0 never wins over a saved state; a crash here leaves at
// most this one slot torn, which Open treats as never written.
func reserve(f vfs.File, name string) error {
	size, err := f.Size()
	if err != nil || size > 0 {
		return err
	}
	b, err := Marshal(0, State{})
	if err != nil {
		return err
	}
	b = append(b, make([]byte, reserveSize-len(b))...)
	if _, err := f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("checkpoint: reserve %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("checkpoint: reserve %s: %w", name, err)
	}
	return nil
}

func (s *Store) closeFiles() error {
	var first error
	for i, f := range s.files {
		if f == nil {
			continue
		}
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
		s.files[i] = nil
	}
	return first
}

// Save makes st the current state, durably: it encodes st with the next
// generation, writes it at offset 0 of the slot not holding the current
// state (the file is not truncated; stale bytes after the encoding are
// ignored on load) and fsyncs that file, once. The state is durable when
// Save returns nil.
//
// On error the store keeps its previous state and generation, and the next
// Save writes the same slot again, so a half-written slot never replaces the
// good one. A failed Save is indeterminate, as any failed fsync is: its
// state may still reach the disk and be loaded by a later Open, so callers
// must not act on it (for example delete segments below st.First) until a
// Save succeeds.
//
// Save keeps its own copy of st: the caller may modify st.Meta afterwards.
func (s *Store) Save(st State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.readOnly:
		return ErrReadOnly
	case s.gen == math.MaxUint64:
		return fmt.Errorf("checkpoint: generation %d exhausted", s.gen)
	}
	gen := s.gen + 1
	b, err := Marshal(gen, st)
	if err != nil {
		return err
	}
	// Decoding our own output both checks it and yields a private copy.
	_, saved, err := Unmarshal(b)
	if err != nil {
		return fmt.Errorf("checkpoint: internal error: encoding does not decode: %w", err)
	}
	next := 1 - s.cur
	f, name := s.files[next], s.names[next]
	if _, err := f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync %s: %w", name, err)
	}
	s.cur, s.valid, s.gen, s.st = next, true, gen, saved
	return nil
}

// State returns the last state saved or loaded. Its Meta is a new map (nil
// if there is no metadata) whose values share memory with the store: the
// map may be modified, the value bytes must not be.
func (s *Store) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Meta = maps.Clone(s.st.Meta)
	return st
}

// Generation returns the generation of the current state, 0 if none was
// ever saved. Each successful Save increments it by one.
func (s *Store) Generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// Info describes the current slot and what Open found.
func (s *Store) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := Info{Generation: s.gen, Torn: s.torn}
	if s.valid {
		in.File = s.names[s.cur]
	}
	return in
}

// Close releases the slot files. It is safe to call more than once; calls
// after the first return nil. State, Generation and Info keep working.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.closeFiles(); err != nil {
		return fmt.Errorf("checkpoint: close: %w", err)
	}
	return nil
}
