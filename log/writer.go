package log

import (
	"errors"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// frameTarget is the size, header and uncompressed body, at which the open
// frame is cut.
// Larger frames compress better and cost less per record; smaller ones
// make a random Read decode less: a Read at random copies and checks a
// whole frame, and does so for a 16 KiB frame in well under half the time
// of a 32 KiB one (docs/benchmarks.md). Uncompressed frames are cut at
// 16 KiB; compressed ones, which the codec shrinks, at 32 KiB.
const (
	frameTarget           = 16 << 10
	frameTargetCompressed = 32 << 10
)

// frameTargetFor returns the frame target of a codec.
func frameTargetFor(c segment.Codec) int {
	if c == segment.CodecNone {
		return frameTarget
	}
	return frameTargetCompressed
}

// flushThreshold is the buffered size at which an appender writes the
// buffer out under SyncInterval and SyncNever.
const flushThreshold = 1 << 20

// maxBuffered bounds what appends may buffer while writes fail (a full
// disk): past it, Append returns the write error.
const maxBuffered = 64 << 20

// writer builds frames for the active segment and writes them. Its fields
// are guarded by Log.mu, except that the goroutine holding the I/O
// handover (Log.beginIOLocked) uses f, idx and idxBuf with the lock
// released.
type writer struct {
	seg   *segFile
	f     vfs.File
	idx   vfs.File // nil once an index write failed: Open rebuilds it
	codec segment.Codec
	salt  segment.Salt // the segment file's, covered by every frame's checksums
	// dict compresses frames when set (dict.go): only in a segment file
	// of the version that lets frames name one.
	dict *segment.Dict
	// sample gathers records to train a dictionary from (dict.go); nil
	// when the log is not training one.
	sample *dictSample

	size    int64 // bytes in the file
	durable int64 // bytes known to be on stable storage
	end     int64 // size plus every cut frame not yet written
	// alloc is the file's size when it holds zero-filled, synced space
	// past size (see prealloc.go); at most size otherwise.
	alloc    int64
	prealloc bool  // keep preallocated space ahead of size
	filling  bool  // a background fill is under way from fillFrom
	fillFrom int64 // writes must stay below it while filling
	idxN     int   // entries in the index file

	buf     []byte        // cut frames not yet written, then the open frame
	entries []index.Entry // one per cut frame in buf
	open    int           // start of the open frame in buf; -1 if none
	hdr     segment.FrameHeader
	// prevSynced is set once the previous segment is known durable; the
	// frames cut from then on carry FrameFlagPrevSynced.
	prevSynced bool
	// recorded is set when the segment itself says that the previous one
	// is durable: its header, or a frame carrying FrameFlagPrevSynced.
	// Until then, Open checks the previous segment whole.
	recorded bool

	spareBuf     []byte
	spareEntries []index.Entry
	scratch      []byte // compression output
	idxBuf       []byte // index encoding, used by the I/O goroutine
}

func newWriter(s *segFile, f, idx vfs.File, codec segment.Codec, size int64, idxN int) *writer {
	return &writer{seg: s, f: f, idx: idx, codec: codec, salt: s.fileSalt(), size: size, durable: size, end: size, alloc: size, idxN: idxN, open: -1, prevSynced: true}
}

// openSize is the size the open frame has now, header included.
func (w *writer) openSize() int {
	if w.open < 0 {
		return 0
	}
	return len(w.buf) - w.open
}

// needsRoll reports whether a record of recSize encoded bytes must go to a
// new segment. An empty segment takes any record.
func (w *writer) needsRoll(recSize int, segSize int64) bool {
	if w.end == segment.HeaderSize && w.open < 0 {
		return false
	}
	grow := int64(recSize)
	if w.open < 0 {
		grow += segment.FrameHeaderSize
	}
	return w.end+int64(w.openSize())+grow > segSize
}

func (w *writer) add(typ string, data []byte, off uint64) {
	if w.open >= 0 && w.openSize()+segment.RecordSize(typ, data) > segment.MaxFrameBody {
		w.cut()
	}
	if w.open < 0 {
		w.open = len(w.buf)
		w.buf = append(w.buf, make([]byte, segment.FrameHeaderSize)...)
		w.hdr = segment.FrameHeader{Base: off}
	}
	n := len(w.buf)
	w.buf = segment.AppendRecord(w.buf, typ, data)
	w.hdr.Count++
	if w.sample != nil {
		w.sample.add(w.buf[n:])
	}
}

// cut closes the open frame: compresses its body if that helps, and seals
// its header with the durable watermark.
func (w *writer) cut() {
	if w.open < 0 {
		return
	}
	raw := w.buf[w.open+segment.FrameHeaderSize:]
	h := &w.hdr
	h.RawLen = uint32(len(raw))
	h.Durable = uint32(w.durable)
	h.Codec = segment.CodecNone
	h.Dict = 0
	h.Flags = 0
	if w.prevSynced {
		h.Flags = segment.FrameFlagPrevSynced
		w.recorded = true
	}
	if w.codec != segment.CodecNone {
		out, dictID, ok := segment.CompressDict(w.codec, w.dict, w.scratch, raw)
		w.scratch = out[:0]
		if ok {
			w.buf = append(w.buf[:w.open+segment.FrameHeaderSize], out...)
			h.Codec, h.Dict = w.codec, dictID
		}
	}
	segment.SealFrame(w.buf[w.open:], h, w.salt)
	size := int64(len(w.buf) - w.open)
	w.entries = append(w.entries, index.Entry{Offset: h.Base, Pos: uint32(w.end), Len: uint32(size)})
	w.end += size
	w.open = -1
}

// take hands the cut frames to the I/O goroutine. The open frame must be
// cut first.
func (w *writer) take() ([]byte, []index.Entry) {
	b, e := w.buf, w.entries
	w.buf, w.entries = w.spareBuf[:0], w.spareEntries[:0]
	if w.buf == nil {
		// Appends go on while b is written: give them a buffer as large
		// as b at once rather than growing one to that size again.
		w.buf = make([]byte, 0, min(cap(b), 4*flushThreshold))
	}
	w.spareBuf, w.spareEntries = nil, nil
	return b, e
}

// inherit takes over the buffers of the writer of the segment just sealed,
// which has written everything, so that a roll does not grow new ones.
func (w *writer) inherit(old *writer) {
	w.buf, w.spareBuf = old.buf[:0], old.spareBuf
	w.entries, w.spareEntries = old.entries[:0], old.spareEntries
	w.scratch, w.idxBuf = old.scratch, old.idxBuf
	if old.sample != nil {
		w.sample, old.sample = old.sample, nil
	}
	old.buf, old.spareBuf, old.entries, old.spareEntries, old.scratch, old.idxBuf = nil, nil, nil, nil, nil, nil
}

// recycle returns written buffers for reuse, dropping very large ones.
func (w *writer) recycle(b []byte, e []index.Entry) {
	if cap(b) <= 4*flushThreshold { // appends write inline past 2 MiB
		w.spareBuf = b[:0]
	}
	w.spareEntries = e[:0]
}

// requeue puts back frames whose write failed, ahead of anything buffered
// since, so they are written again in order.
func (w *writer) requeue(b []byte, e []index.Entry) {
	if len(w.buf) == 0 && w.spareBuf == nil {
		w.spareBuf = w.buf[:0] // the buffer take gave out, unused: keep it
	}
	if w.open >= 0 {
		w.open += len(b)
	}
	w.buf = append(b, w.buf...)
	w.entries = append(e, w.entries...)
}

// discard drops every frame not yet written, for SyncAlways after a failed
// write: their appenders are told, and their offsets are given again.
func (w *writer) discard() {
	w.buf, w.entries, w.open = w.buf[:0], w.entries[:0], -1
	w.end = w.size
}

// writeOut writes frames at pos and their index entries, and fsyncs the
// segment if doSync. It runs without Log.mu. Index errors are not returned:
// the index is derived data, and a failed index write only disables it.
func (w *writer) writeOut(b []byte, entries []index.Entry, pos int64, doSync bool) (writeErr, syncErr error) {
	if len(b) > 0 {
		if _, err := w.f.WriteAt(b, pos); err != nil {
			return err, nil
		}
		if wb, ok := w.f.(vfs.Writeback); ok && !doSync {
			// Buffered policies: have the kernel write these bytes out
			// now, while appends go on, so that the fsync of a seal, a
			// Sync or Close finds little left to do (RocksDB's
			// bytes_per_sync). A failure here costs only that.
			_ = wb.StartWriteback(pos, int64(len(b)))
		}
	}
	if w.idx != nil && len(entries) > 0 {
		w.idxBuf = w.idxBuf[:0]
		for _, e := range entries {
			w.idxBuf = index.AppendEntry(w.idxBuf, w.seg.base, e)
		}
		if _, err := w.idx.WriteAt(w.idxBuf, int64(index.HeaderSize+w.idxN*index.EntrySize)); err != nil {
			w.idx.Close()
			w.idx = nil
		} else {
			w.idxN += len(entries)
		}
	}
	if doSync {
		if err := w.f.Sync(); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (w *writer) close() error {
	var err error
	if w.idx != nil {
		err = w.idx.Close()
	}
	return errors.Join(err, w.f.Close())
}
