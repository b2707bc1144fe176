package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// What FuzzOpenDir does with its input: the first byte picks a placement
// (modulo openModes), the rest are the file's bytes.
const (
	openSegAlone     = iota // the only file: 00000000000000000000.seg
	openCkptAlone           // the only file: checkpoint.0
	openActiveIdx           // beside a valid log: the active segment's index
	openSealedIdx           // beside a valid log: a sealed segment's index
	openCurrentCkpt         // beside a valid log: the slot holding the state
	openTailGarbage         // appended to the active segment of a valid log
	openActiveSeg           // replaces the active segment of a valid log
	openActiveDamage        // XORed into the active segment at a position
	openStraySeg            // a segment file after the active one
	openSealedSeg           // replaces a sealed segment of a valid log
	openModes
)

// The valid log the placements start from, built once per process.
var base struct {
	once    sync.Once
	fs      *crashfs.FS
	records []seglog.Record
	first   uint64
	next    uint64
	segs    []string
	ckpt    string // slot file holding the current state
}

func loadBase(t testing.TB) {
	base.once.Do(func() {
		warmCodecs()
		fsys, opts := buildLog(t, segment.CodecNone)
		base.fs = fsys
		o := *opts
		o.FS = fsys.Crash(nil, crashfs.CrashKeepAll)
		l, err := seglog.Open(logDir, &o)
		if err != nil {
			t.Fatal(err)
		}
		base.first, base.next = l.FirstOffset(), l.NextOffset()
		for rec, err := range l.Records(0) {
			if err != nil {
				t.Fatal(err)
			}
			rec.Data = bytes.Clone(rec.Data)
			base.records = append(base.records, rec)
		}
		l.Close()
		base.segs = logFiles(fsys, segment.Suffix)
		if len(base.segs) < 2 {
			t.Fatalf("base log has %d segments, want a sealed one", len(base.segs))
		}
		_, info, err := checkpoint.Read(fsys, logDir)
		if err != nil {
			t.Fatal(err)
		}
		base.ckpt = info.File
	})
}

// FuzzOpenDir opens a log directory holding the input as one of its files
// (see the open* placements). Open must return an error or a usable log,
// never panic, and allocate within bounds. When the input only replaces
// derived data (an index) or adds a torn tail, the log's records must all
// come back unchanged. A log that opens must take a new append.
func FuzzOpenDir(f *testing.F) {
	f.Add([]byte{openSegAlone})
	f.Add([]byte{openActiveIdx})
	f.Fuzz(func(t *testing.T, in []byte) {
		loadBase(t)
		if len(in) == 0 {
			return
		}
		mode, b := int(in[0])%openModes, in[1:]
		fsys := crashfs.New()
		if mode != openSegAlone && mode != openCkptAlone {
			fsys = base.fs.Crash(nil, crashfs.CrashKeepAll)
		}
		if err := place(fsys, mode, b); err != nil {
			t.Skip(err) // e.g. a position past the file's end
		}
		checkAlloc(t, "Open and scan", 32*uint64(len(b))+8<<20, func() {
			openAndCheck(t, fsys, mode)
		})
	})
}

func place(fsys *crashfs.FS, mode int, b []byte) error {
	path := func(n string) string { return filepath.Join(logDir, n) }
	active, sealed := base.segs[len(base.segs)-1], base.segs[0]
	idxOf := func(seg string) string { return seg[:20] + index.Suffix }
	switch mode {
	case openSegAlone:
		if err := fsys.MkdirAll(logDir, 0o755); err != nil {
			return err
		}
		return fsys.WriteFile(path(segment.FileName(0)), b)
	case openCkptAlone:
		if err := fsys.MkdirAll(logDir, 0o755); err != nil {
			return err
		}
		return fsys.WriteFile(path("checkpoint.0"), b)
	case openActiveIdx:
		return fsys.WriteFile(path(idxOf(active)), b)
	case openSealedIdx:
		return fsys.WriteFile(path(idxOf(sealed)), b)
	case openCurrentCkpt:
		return fsys.WriteFile(base.ckpt, b)
	case openTailGarbage:
		old, err := fsys.ReadFile(path(active))
		if err != nil {
			return err
		}
		return fsys.WriteFile(path(active), append(old, b...))
	case openActiveSeg:
		return fsys.WriteFile(path(active), b)
	case openActiveDamage:
		if len(b) < 2 {
			return fmt.Errorf("no position")
		}
		old, err := fsys.ReadFile(path(active))
		if err != nil {
			return err
		}
		at := int(b[0])<<8 | int(b[1])
		for i, x := range b[2:] {
			if at+i < len(old) {
				old[at+i] ^= x
			}
		}
		return fsys.WriteFile(path(active), old)
	case openStraySeg:
		return fsys.WriteFile(path(segment.FileName(base.next)), b)
	case openSealedSeg:
		return fsys.WriteFile(path(sealed), b)
	}
	return fmt.Errorf("unknown mode %d", mode)
}

func openAndCheck(t *testing.T, fsys *crashfs.FS, mode int) {
	opts := &seglog.Options{FS: fsys, Logger: quiet, SegmentSize: seglog.MinSegmentSize}
	l, err := seglog.Open(logDir, opts)
	intact := mode == openActiveIdx || mode == openSealedIdx || mode == openTailGarbage
	if err != nil {
		if intact && !(mode == openTailGarbage && errors.Is(err, seglog.ErrCorrupt)) {
			t.Fatalf("mode %d: Open failed on a log whose records are intact: %v", mode, err)
		}
		return
	}
	defer l.Close()
	st := l.State()
	if st.First > st.Cursor || st.Cursor > st.Next || st.PendingCount != st.Next-st.Cursor {
		t.Fatalf("mode %d: state out of order: %+v", mode, st)
	}
	var got []seglog.Record
	var scanErr error
	n := 0
	for rec, err := range l.Records(st.First) {
		if n++; n > 100000 {
			t.Fatalf("mode %d: Records does not end", mode)
		}
		if err != nil {
			if !errors.Is(err, seglog.ErrCorrupt) && !errors.Is(err, seglog.ErrOutOfRange) {
				t.Fatalf("mode %d: Records error %v is not corruption", mode, err)
			}
			scanErr = err
			continue
		}
		if rec.Offset < st.First || rec.Offset >= st.Next {
			t.Fatalf("mode %d: Records returned offset %d outside [%d, %d)", mode, rec.Offset, st.First, st.Next)
		}
		if len(got) > 0 && rec.Offset <= got[len(got)-1].Offset {
			t.Fatalf("mode %d: Records returned offset %d after %d", mode, rec.Offset, got[len(got)-1].Offset)
		}
		rec.Data = bytes.Clone(rec.Data)
		got = append(got, rec)
	}
	if intact {
		if scanErr != nil || st.First != base.first || st.Next != base.next {
			t.Fatalf("mode %d: log [%d, %d) with error %v, want [%d, %d) intact", mode, st.First, st.Next, scanErr, base.first, base.next)
		}
		want := slices.DeleteFunc(slices.Clone(base.records), func(r seglog.Record) bool { return r.Offset < st.First })
		if len(got) != len(want) {
			t.Fatalf("mode %d: %d records, want %d", mode, len(got), len(want))
		}
		for i := range got {
			if got[i].Offset != want[i].Offset || got[i].Type != want[i].Type || !bytes.Equal(got[i].Data, want[i].Data) {
				t.Fatalf("mode %d: record %d differs", mode, got[i].Offset)
			}
		}
	}
	data := []byte("appended after open")
	off, err := l.Append(data)
	if err != nil {
		t.Fatalf("mode %d: Append on an opened log: %v", mode, err)
	}
	if off != st.Next {
		t.Fatalf("mode %d: Append got offset %d, want %d", mode, off, st.Next)
	}
	rec, err := l.Read(off)
	if err != nil || !bytes.Equal(rec.Data, data) {
		t.Fatalf("mode %d: read back the new record: %q, %v", mode, rec.Data, err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("mode %d: Close: %v", mode, err)
	}
}

func openDirSeeds(t testing.TB) [][]any {
	loadBase(t)
	var seeds [][]any
	read := func(n string) []byte {
		b, err := base.fs.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	active := read(filepath.Join(logDir, base.segs[len(base.segs)-1]))
	sealedIdx := read(filepath.Join(logDir, base.segs[0][:20]+index.Suffix))
	ckpt := read(base.ckpt)
	first := read(filepath.Join(logDir, base.segs[0]))
	// Seeds are kept to a few KiB so that minimizing stays cheap.
	first = first[:min(len(first), 1200)]
	with := func(mode int, b []byte) []any { return []any{append([]byte{byte(mode)}, b...)} }
	seeds = append(seeds,
		with(openSegAlone, first),
		with(openSegAlone, first[:len(first)-9]),
		with(openSegAlone, segment.AppendFileHeader(nil, 0, 0, fuzzSalt)),
		with(openCkptAlone, ckpt),
		with(openActiveIdx, sealedIdx),
		with(openSealedIdx, sealedIdx[:len(sealedIdx)-16]),
		with(openCurrentCkpt, ckpt[:30]),
		with(openTailGarbage, active[segment.HeaderSize:segment.HeaderSize+60]),
		with(openActiveSeg, active[:min(len(active), 1200)]),
		with(openActiveDamage, []byte{0, 40, 0xFF}),
		with(openStraySeg, segment.AppendFileHeader(nil, base.next, 0, fuzzSalt)),
		with(openSealedSeg, first[:100]),
	)
	return seeds
}
