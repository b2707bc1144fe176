package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/seglog/seglog/log/vfs"
)

// Repair of the held store, for verification tools (seglog repair): bring
// a store in line with a log cut short, and rebuild a damaged one from the
// frames that still verify.

// HeldLost is a stretch of the held store's file a repair skips.
type HeldLost struct {
	From   int64  `json:"from"` // byte range of the file
	To     int64  `json:"to"`
	Reason string `json:"reason"` // why its frames do not verify
}

// HeldRecord names a held record.
type HeldRecord struct {
	Offset uint64 `json:"offset"`
	Type   string `json:"type"`
	Bytes  int    `json:"bytes"`
}

// HeldRepair is what RepairHeldStoreFS does, or would do, to a store.
type HeldRepair struct {
	// Needed says the store must be rewritten: it has damage, or it
	// reaches past the end of the log.
	Needed bool
	// Damaged are the stretches of the file whose frames do not verify
	// and that are followed by frames that do (mid-file damage); the
	// records and offsets they held are lost to the rewrite. A torn tail
	// (nothing verifies after it) is in Torn instead.
	Damaged []HeldLost
	Torn    *HeldLost
	// Kept are the held records the rewritten store keeps.
	Kept int
	// PastEnd are the held records whose offsets lie at or past the end
	// of the log: the log no longer has the offsets they were held at
	// (they are given again to the next appends), so the rewritten store
	// cannot keep them at those offsets. Their data is in the copy of the
	// store the repair takes first.
	PastEnd []HeldRecord
	// Frontier is the store's frontier, NewFrontier the rewritten one's
	// (at most the end of the log).
	Frontier, NewFrontier uint64
	// Intent says an interrupted re-append of held records is dropped:
	// its frame lay past the end of the log, so its records stay held.
	Intent bool
	// Holes are the offsets without a label dropped because they lie past
	// the end of the log.
	Holes int
}

// salvageHeld replays the frames of a store's file b that verify,
// skipping over damage to the next frame that verifies.
func salvageHeld(b []byte) (heldContents, []HeldLost, *HeldLost) {
	var c heldContents
	var lost []HeldLost
	pos := int64(len(heldMagic))
	if int64(len(b)) < pos {
		return c, nil, &HeldLost{From: 0, To: int64(len(b)), Reason: "short header"}
	}
	if string(b[:len(heldMagic)]) != heldMagic {
		lost = append(lost, HeldLost{From: 0, To: pos, Reason: "bad magic"})
	}
	var uncommitted []heldFrame
	size := int64(len(b))
	committed := pos
	for pos < size {
		fr, n, err := parseHeldFrame(b, pos)
		if err != nil {
			next := nextHeldFrame(b, pos+1)
			if next < 0 {
				t := &HeldLost{From: committed, To: size, Reason: fmt.Sprintf("at byte %d: %v", pos, err)}
				return c, lost, t
			}
			lost = append(lost, HeldLost{From: pos, To: next, Reason: err.Error()})
			pos = next
			continue
		}
		pos += n
		if c.replay(fr, &uncommitted) {
			committed = pos
		}
	}
	if len(uncommitted) > 0 {
		return c, lost, &HeldLost{From: committed, To: size, Reason: fmt.Sprintf("%d frames of a write without its frontier frame", len(uncommitted))}
	}
	return c, lost, nil
}

// nextHeldFrame returns the first position at or after from where a frame
// verifies, or -1.
func nextHeldFrame(b []byte, from int64) int64 {
	for p := from; p+heldFrameHdr <= int64(len(b)); p++ {
		if _, _, err := parseHeldFrame(b, p); err == nil {
			return p
		}
	}
	return -1
}

// heldFramesToEnd returns the first position at or after from where
// frames that verify follow one another up to the end of b exactly, or -1.
// That proves what lies before it was damaged after it was written: a
// torn write is the last thing in the file, and a frame embedded in a
// record's data that a tear cut would not chain to the end.
func heldFramesToEnd(b []byte, from int64) int64 {
	for p := from; p+heldFrameHdr <= int64(len(b)); p++ {
		q := p
		for q < int64(len(b)) {
			_, n, err := parseHeldFrame(b, q)
			if err != nil {
				break
			}
			q += n
		}
		if q == int64(len(b)) && q > p {
			return p
		}
	}
	return -1
}

// RepairHeldStoreFS plans, and with apply carries out, the repair of the
// held store of the log in dir whose records end at offset end (the next
// offset an append gets): the store is rewritten from the frames that
// verify, without the held records, offsets and re-append intent that lie
// at or past end, and with its frontier at most end. The rewrite goes
// through a temporary file renamed over the store, both fsynced. The
// caller holds the writer's lock and has copied the store aside. A log
// without a store needs nothing.
func RepairHeldStoreFS(fsys vfs.FS, dir string, end uint64, apply bool) (HeldRepair, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	var hr HeldRepair
	l := &Log{dir: dir, fs: fsys}
	path := l.path(heldFileName)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return hr, nil
	}
	if err != nil {
		return hr, fmt.Errorf("seglog: held store: %w", err)
	}
	size, err := f.Size()
	if err == nil {
		b := make([]byte, size)
		if _, err = f.ReadAt(b, 0); errors.Is(err, io.EOF) {
			err = nil
		}
		f.Close()
		if err != nil {
			return hr, fmt.Errorf("seglog: held store %s: %w", path, err)
		}
		return repairHeld(l, b, end, apply)
	}
	f.Close()
	return hr, fmt.Errorf("seglog: held store %s: %w", path, err)
}

func repairHeld(l *Log, b []byte, end uint64, apply bool) (HeldRepair, error) {
	c, lost, torn := salvageHeld(b)
	hr := HeldRepair{Damaged: lost, Torn: torn, Frontier: c.frontier, NewFrontier: min(c.frontier, end)}
	hr.Needed = len(lost) > 0 || c.frontier > end
	out := []byte(heldMagic)
	for _, e := range c.entries {
		data := b[e.pos : e.pos+int64(e.n)]
		if e.off >= end {
			hr.PastEnd = append(hr.PastEnd, HeldRecord{Offset: e.off, Type: e.typ, Bytes: e.n})
			hr.Needed = true
			continue
		}
		hr.Kept++
		out = holdFrame(out, e.off, e.typ, data)
	}
	for _, o := range c.holes {
		if o >= end {
			hr.Holes++
			hr.Needed = true
			continue
		}
		if !slices.ContainsFunc(c.entries, func(e heldEntry) bool { return e.off == o }) {
			out = appendHeldFrame(out, heldHole, u64(o))
		}
	}
	out = appendHeldFrame(out, heldFrontier, u64(hr.NewFrontier))
	if in := c.intent; in != nil {
		if in.at+uint64(len(in.offs)) > end || slices.ContainsFunc(in.offs, func(o uint64) bool { return o >= end }) {
			// Its frame is not in the log any more: its records stay
			// held (those still in the store).
			hr.Intent, hr.Needed = true, true
		} else {
			out = intentFrame(out, in.at, in.offs) // Open settles it
		}
	}
	if !hr.Needed || !apply {
		return hr, nil
	}
	tmp := l.path(heldTmpName)
	f, err := l.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return hr, fmt.Errorf("seglog: held store: %w", err)
	}
	if _, err = f.WriteAt(out, 0); err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = l.fs.Rename(tmp, l.path(heldFileName))
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		return hr, fmt.Errorf("seglog: held store: rewrite: %w", err)
	}
	return hr, nil
}
