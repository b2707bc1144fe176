package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/seglog/seglog/log/vfs"
)

// The held store: the file "held" beside the segments keeps the records of
// types the peer does not accept (see held.go), copied out of the segments
// so that those can be released, and what the log needs to label the
// records around them after a restart. Its layout (docs/format.md, "Held
// store"):
//
//	magic "seglogH\x01" (8 bytes), then frames, each:
//	crc u32 | length u32 | kind u8 | payload [length]
//
// little-endian; crc is the CRC-32C (Castagnoli) of length, kind and
// payload. The file is only appended to (and rewritten whole, through
// "held.tmp" and a rename, to drop what is no longer needed); each change
// is fsynced before the log relies on it. Hold and hole frames count once
// a frontier frame follows them. Open reads the frames up to the first
// that does not check, and cuts the rest, and the hold and hole frames no
// frontier frame commits: a write a crash tore counts wholly or not at all.
// HeldFile is the name of the held store's file in a log directory.
const HeldFile = heldFileName

const (
	heldFileName = "held"
	heldTmpName  = "held.tmp"
	heldMagic    = "seglogH\x01"
	heldFrameHdr = 9
	// heldMaxFrame bounds a frame's payload: one record with its offset
	// and type, or an intent naming the offsets of a chunk of them.
	heldMaxFrame = MaxRecordSize + 8 + 1 + MaxTypeLen + 64<<10
)

// Frame kinds. Frozen, like the rest of the format.
const (
	// heldHold: a held record. offset u64 | type length u8 | type | data.
	// Its offset takes no label.
	heldHold byte = 1
	// heldHole: offset u64. The offset of a record released from the
	// store: it still takes no label (written by a rewrite).
	heldHole byte = 2
	// heldFrontier: offset u64. Every offset below it has been judged:
	// it is held if and only if the store says so. Offsets at or above it
	// are judged by the accepted types when Pending reaches them.
	heldFrontier byte = 3
	// heldIntent: at u64 | count u32 | offsets u64 x count. The held
	// records at these offsets are being appended again, as one frame of
	// the log starting at offset at.
	heldIntent byte = 4
	// heldDone: at u64. The intent's frame is in the log: its records are
	// no longer held.
	heldDone byte = 5
	// heldAbort: at u64. The intent's frame is not in the log: its records
	// stay held.
	heldAbort byte = 6
)

var heldCRC = crc32.MakeTable(crc32.Castagnoli)

// heldEntry is a held record: its original offset and type, and where its
// data lies in the store's file.
type heldEntry struct {
	off uint64
	typ string
	pos int64 // of the data in the file
	n   int
}

// heldRelease is an intent not yet followed by its done or abort frame.
type heldRelease struct {
	at   uint64
	offs []uint64
}

// appendHeldFrame appends one frame to b.
func appendHeldFrame(b []byte, kind byte, payload ...[]byte) []byte {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, kind)
	for _, p := range payload {
		b = append(b, p...)
	}
	binary.LittleEndian.PutUint32(b[start:], crc32.Checksum(b[start+4:], heldCRC))
	return b
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func holdFrame(b []byte, off uint64, typ string, data []byte) []byte {
	head := binary.LittleEndian.AppendUint64(nil, off)
	head = append(head, byte(len(typ)))
	head = append(head, typ...)
	return appendHeldFrame(b, heldHold, head, data)
}

func intentFrame(b []byte, at uint64, offs []uint64) []byte {
	p := binary.LittleEndian.AppendUint64(nil, at)
	p = binary.LittleEndian.AppendUint32(p, uint32(len(offs)))
	for _, o := range offs {
		p = binary.LittleEndian.AppendUint64(p, o)
	}
	return appendHeldFrame(b, heldIntent, p)
}

// heldFrame is one decoded frame.
type heldFrame struct {
	kind    byte
	off     uint64 // hold, hole, frontier; at for intent, done, abort
	typ     string
	dataPos int64 // hold: position of the data in the file
	dataLen int
	offs    []uint64 // intent
}

// parseHeldFrame decodes the frame at pos of b (the whole file), returning
// it and its size, or an error saying what is wrong.
func parseHeldFrame(b []byte, pos int64) (heldFrame, int64, error) {
	rest := b[pos:]
	if len(rest) < heldFrameHdr {
		return heldFrame{}, 0, fmt.Errorf("%d bytes left, short of a frame header", len(rest))
	}
	n := int64(binary.LittleEndian.Uint32(rest[4:]))
	if n > heldMaxFrame || n > int64(len(rest)-heldFrameHdr) {
		return heldFrame{}, 0, fmt.Errorf("frame of %d bytes, %d left", n, len(rest)-heldFrameHdr)
	}
	size := heldFrameHdr + n
	if crc32.Checksum(rest[4:size], heldCRC) != binary.LittleEndian.Uint32(rest) {
		return heldFrame{}, 0, errors.New("checksum mismatch")
	}
	f := heldFrame{kind: rest[8]}
	p := rest[heldFrameHdr:size]
	short := func() error { return fmt.Errorf("frame of kind %d with a payload of %d bytes", f.kind, len(p)) }
	switch f.kind {
	case heldHold:
		if len(p) < 9 || len(p) < 9+int(p[8]) {
			return heldFrame{}, 0, short()
		}
		tl := int(p[8])
		f.off, f.typ = binary.LittleEndian.Uint64(p), string(p[9:9+tl])
		f.dataPos, f.dataLen = pos+heldFrameHdr+9+int64(tl), len(p)-9-tl
	case heldHole, heldFrontier, heldDone, heldAbort:
		if len(p) != 8 {
			return heldFrame{}, 0, short()
		}
		f.off = binary.LittleEndian.Uint64(p)
	case heldIntent:
		if len(p) < 12 {
			return heldFrame{}, 0, short()
		}
		f.off = binary.LittleEndian.Uint64(p)
		c := int(binary.LittleEndian.Uint32(p[8:]))
		if len(p) != 12+8*c {
			return heldFrame{}, 0, short()
		}
		for i := range c {
			f.offs = append(f.offs, binary.LittleEndian.Uint64(p[12+8*i:]))
		}
	default:
		return heldFrame{}, 0, fmt.Errorf("unknown frame kind %d", f.kind)
	}
	return f, size, nil
}

// heldContents is what a store's frames say, replayed.
type heldContents struct {
	entries  []heldEntry // held records, in offset order
	holes    []uint64    // every offset without a label, sorted
	frontier uint64
	intent   *heldRelease
	end      int64 // end of the last good frame
	torn     error // why the frames stop before the end of the file, if they do
}

// readHeldStore reads the store's file. A missing file is an empty store.
func (l *Log) readHeldStore() (heldContents, error) {
	var c heldContents
	path := l.path(heldFileName)
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("seglog: held store: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return c, fmt.Errorf("seglog: held store: %w", err)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("seglog: held store: %w", err)
	}
	if len(b) < len(heldMagic) {
		// A creation a crash cut short: nothing was relied on yet.
		c.torn = fmt.Errorf("a header of %d bytes", len(b))
		return c, nil
	}
	if string(b[:len(heldMagic)]) != heldMagic {
		return c, &CorruptError{File: path, Offset: 0, Reason: "not a held store (bad magic; seglog repair rebuilds the store from the frames that verify)"}
	}
	// Hold and hole frames count once a frontier frame follows them:
	// each write that holds records ends with one, so a write a crash
	// tore counts wholly or not at all.
	pos := int64(len(heldMagic))
	var uncommitted []heldFrame
	committed := pos
	for pos < size {
		fr, n, err := parseHeldFrame(b, pos)
		if err != nil {
			if next := heldFramesToEnd(b, pos+1); next >= 0 {
				// Frames that verify follow, up to the end of the file:
				// not a write a crash tore (the last one), but damage to
				// bytes the log relied on.
				return c, &CorruptError{File: path, Offset: pos,
					Reason: fmt.Sprintf("held store frame: %v (a frame that verifies follows at byte %d; seglog repair rebuilds the store from the frames that verify)", err, next)}
			}
			c.torn = fmt.Errorf("at byte %d: %v", pos, err)
			break
		}
		pos += n
		if c.replay(fr, &uncommitted) {
			committed = pos
		}
	}
	if len(uncommitted) > 0 && c.torn == nil {
		c.torn = fmt.Errorf("at byte %d: %d frames of a write without its frontier frame", committed, len(uncommitted))
	}
	c.end = committed
	return c, nil
}

// replay applies fr by the store's commit rule: hold and hole frames are
// kept in uncommitted and take effect only with the frontier frame that
// follows them, which commits the write. It reports whether the store's
// committed end moves past fr.
func (c *heldContents) replay(fr heldFrame, uncommitted *[]heldFrame) bool {
	switch fr.kind {
	case heldHold, heldHole:
		*uncommitted = append(*uncommitted, fr)
		return false
	case heldFrontier:
		for _, h := range *uncommitted {
			c.apply(h)
		}
		*uncommitted = (*uncommitted)[:0]
	}
	c.apply(fr)
	return true
}

// apply replays one frame.
func (c *heldContents) apply(fr heldFrame) {
	addHole := func(off uint64) {
		if i, found := slices.BinarySearch(c.holes, off); !found {
			c.holes = slices.Insert(c.holes, i, off)
		}
	}
	switch fr.kind {
	case heldHold:
		c.entries = append(c.entries, heldEntry{off: fr.off, typ: fr.typ, pos: fr.dataPos, n: fr.dataLen})
		addHole(fr.off)
	case heldHole:
		addHole(fr.off)
	case heldFrontier:
		c.frontier = max(c.frontier, fr.off)
	case heldIntent:
		c.intent = &heldRelease{at: fr.off, offs: fr.offs}
	case heldDone:
		if c.intent != nil && c.intent.at == fr.off {
			c.entries = slices.DeleteFunc(c.entries, func(e heldEntry) bool { return slices.Contains(c.intent.offs, e.off) })
		}
		c.intent = nil
	case heldAbort:
		c.intent = nil
	}
}

// heldWrite appends frames to the store's file and fsyncs it, creating the
// file (durably) first if there is none. l.held.io is held.
func (l *Log) heldWrite(frames []byte) error {
	h := &l.held
	if h.err != nil {
		return h.err
	}
	if h.f == nil {
		if err := l.heldCreate(); err != nil {
			return err
		}
	}
	if _, err := h.f.WriteAt(frames, h.end); err != nil {
		// The bytes past h.end are overwritten by the next write, and
		// cut by the next Open. Cut them now, so that frames of this
		// write a shorter next one leaves behind are not taken for
		// damage to the store.
		h.f.Truncate(h.end)
		return fmt.Errorf("seglog: held store %s: write at %d: %w", h.f.Name(), h.end, err)
	}
	if err := h.f.Sync(); err != nil {
		h.err = fmt.Errorf("%w: held store %s: %v", ErrSyncFailed, h.f.Name(), err)
		return h.err
	}
	h.end += int64(len(frames))
	return nil
}

// heldCreate creates an empty store, durably.
func (l *Log) heldCreate() error {
	h := &l.held
	path := l.path(heldFileName)
	f, err := l.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, l.opts.FileMode)
	if err != nil {
		return fmt.Errorf("seglog: held store: %w", err)
	}
	if _, err := f.WriteAt([]byte(heldMagic), 0); err != nil {
		f.Close()
		return fmt.Errorf("seglog: held store %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("seglog: held store %s: %w", path, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		f.Close()
		return fmt.Errorf("seglog: held store: %w", err)
	}
	h.f, h.end = f, int64(len(heldMagic))
	return nil
}

// heldOpenFile opens the store's file for writing after Open read it, and
// cuts a torn tail. l.held.io is held, or Open is running.
func (l *Log) heldOpenFile(c heldContents) error {
	h := &l.held
	path := l.path(heldFileName)
	if c.end == 0 {
		if c.torn != nil {
			// A header a crash cut: remove it; the next write creates
			// the store again.
			if err := l.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("seglog: held store: %w", err)
			}
		}
		return nil
	}
	f, err := l.fs.OpenFile(path, os.O_RDWR, l.opts.FileMode)
	if err != nil {
		return fmt.Errorf("seglog: held store: %w", err)
	}
	if c.torn != nil {
		l.logger.Warn("seglog: held store: cut a torn tail", "file", path, "offset", c.end, "reason", c.torn.Error())
		if err := f.Truncate(c.end); err == nil {
			err = f.Sync()
		} else {
			f.Close()
			return fmt.Errorf("seglog: held store %s: cut at %d: %w", path, c.end, err)
		}
	}
	h.f, h.end = f, c.end
	return nil
}

// heldReadData reads a held record's data from the store.
func (l *Log) heldReadData(e heldEntry) ([]byte, error) {
	b := make([]byte, e.n)
	if _, err := l.held.f.ReadAt(b, e.pos); err != nil {
		return nil, fmt.Errorf("seglog: held store %s: read at %d: %w", l.held.f.Name(), e.pos, err)
	}
	return b, nil
}

// heldRewrite replaces the store with one holding only what is still
// needed: the held records, the offsets of released records at or after
// lo (below it no label is computed any more), and the frontier. It goes
// through a temporary file, fsynced, renamed over the store, and the
// directory fsynced: a crash leaves the old store or the new one.
// l.held.io is held; no intent is open.
func (l *Log) heldRewrite(lo uint64) error {
	h := &l.mu.held
	l.mu.Lock()
	entries, holes, frontier := slices.Clone(h.entries), slices.Clone(h.holes), h.frontier
	l.mu.Unlock()
	b := []byte(heldMagic)
	var kept []heldEntry
	for _, e := range entries {
		data, err := l.heldReadData(e)
		if err != nil {
			return err
		}
		pos := int64(len(b))
		b = holdFrame(b, e.off, e.typ, data)
		kept = append(kept, heldEntry{off: e.off, typ: e.typ, pos: pos + heldFrameHdr + 9 + int64(len(e.typ)), n: e.n})
	}
	var keptHoles []uint64
	for _, o := range holes {
		if o < lo && !slices.ContainsFunc(entries, func(e heldEntry) bool { return e.off == o }) {
			continue
		}
		keptHoles = append(keptHoles, o)
		if !slices.ContainsFunc(entries, func(e heldEntry) bool { return e.off == o }) {
			b = appendHeldFrame(b, heldHole, u64(o))
		}
	}
	b = appendHeldFrame(b, heldFrontier, u64(frontier))
	tmp := l.path(heldTmpName)
	f, err := l.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, l.opts.FileMode)
	if err != nil {
		return fmt.Errorf("seglog: held store: %w", err)
	}
	if _, err = f.WriteAt(b, 0); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = l.fs.Rename(tmp, l.path(heldFileName))
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("seglog: held store: rewrite: %w", err)
	}
	l.held.f.Close()
	l.held.f, l.held.end, h.dead = f, int64(len(b)), 0
	l.mu.Lock()
	h.entries, h.holes = kept, keptHoles
	l.mu.Unlock()
	return nil
}

// HeldStoreInfo describes a log's held store as ReadHeldStore finds it.
type HeldStoreInfo struct {
	Present  bool   // the file exists
	Bytes    int64  // its size
	Held     int    // held records
	Frontier uint64 // offsets below it have been judged
	// Torn, when not empty, says why the frames stop before the end of
	// the file, at byte TornAt: a write a crash tore, which a writer's
	// Open cuts.
	Torn   string
	TornAt int64
	// Intent is set when an append of held records again awaits its
	// outcome (a writer's Open settles it by what the log holds).
	Intent bool
}

// ReadHeldStore reads the held store of the log in dir without opening
// the log, for verification tools. A store that is not one (a wrong
// magic) is an error matching ErrCorrupt.
func ReadHeldStore(dir string) (HeldStoreInfo, error) { return ReadHeldStoreFS(vfs.Default, dir) }

// ReadHeldStoreFS is ReadHeldStore for a log on the filesystem fsys
// (Options.FS; nil is vfs.Default).
func ReadHeldStoreFS(fsys vfs.FS, dir string) (HeldStoreInfo, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	l := &Log{dir: dir, fs: fsys}
	c, err := l.readHeldStore()
	if err != nil {
		return HeldStoreInfo{}, err
	}
	info := HeldStoreInfo{Held: len(c.entries), Frontier: c.frontier, TornAt: c.end, Intent: c.intent != nil}
	if fi, err := fsys.Stat(l.path(heldFileName)); err == nil {
		info.Present, info.Bytes = true, fi.Size()
	}
	if c.torn != nil {
		info.Torn = c.torn.Error()
	}
	return info, nil
}
