package log_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
	"github.com/seglog/seglog/segment/dict"
)

// dictType is a long record type tag: the payloads of the reliability
// tests are random letters, which zstd's fastest level stores as they
// are, so it is the tag, found in the dictionary, that makes a frame of
// one record shrink and name the dictionary.
var dictType = "inventory/" + strings.Repeat("package-report.", 14)

// dictAppend appends one record tagged dictType, as crashRun.append does.
func dictAppend(r *crashRun, size int) error {
	id, rec := r.newRecord(dictType, size)
	off, err := r.l.AppendRecords(seglog.Record{Type: rec.typ, Data: rec.data})
	if err != nil {
		return err
	}
	if r.opts.Sync == seglog.SyncAlways {
		r.h.synced(off + 1)
	}
	return r.h.ack(off, id)
}

// dictWorkload trains two dictionaries on demand, with appends before and
// after each, across rolls and a reopen: every write, sync, rename and
// directory sync of writing a dictionary, and the first frames that name
// it, is a crash point.
// DictionarySample is set (so segments are started in the format that
// names dictionaries) but too large to be reached here: the trainings are
// the explicit, synchronous ones.
var dictWorkload = runWorkload{
	name: "dictionary",
	opts: seglog.Options{Codec: seglog.CodecZstd, DictionarySample: 16 << 20},
	run: func(r *crashRun) error {
		return twoRounds(r, func() error {
			for range 12 {
				if err := dictAppend(r, 300+r.rng.IntN(300)); err != nil {
					return err
				}
			}
			if _, err := r.l.TrainDictionary(); err != nil {
				return err
			}
			for range 12 {
				if err := dictAppend(r, 300+r.rng.IntN(300)); err != nil {
					return err
				}
			}
			return nil
		})
	},
	covers: func(r *crashRun) error {
		names, err := r.fs.ReadDir(crashDir)
		if err != nil {
			return err
		}
		ids := dictFrames(r.fs, crashDir, names)
		if !ids[1] || !ids[2] {
			return fmt.Errorf("frames name dictionaries %v, want 1 and 2", ids)
		}
		return nil
	},
}

// dictFrames returns the dictionary ids that frames in dir name.
func dictFrames(fsys vfs.FS, dir string, names []string) map[uint16]bool {
	ids := map[uint16]bool{}
	store, err := dict.Open(fsys, dir, names)
	if err != nil {
		return ids
	}
	defer store.Close()
	for _, n := range names {
		base, ok := segment.ParseFileName(n)
		if !ok {
			continue
		}
		f, err := fsys.OpenFile(filepath.Join(dir, n), os.O_RDONLY, 0)
		if err != nil {
			continue
		}
		size, _ := f.Size()
		var hb [segment.HeaderSize]byte
		f.ReadAt(hb[:], 0)
		fh, err := segment.ParseFileHeader(n, hb[:])
		if err == nil {
			sc := segment.NewScanner(f, n, fh.Salt, segment.HeaderSize, size, base)
			sc.SetDicts(store)
			for sc.Next() {
				ids[sc.Header().Dict] = true
			}
		}
		f.Close()
	}
	return ids
}

// TestCrashEveryStepDictionary is TestCrashEveryStep for the writing and
// adoption of trained dictionaries.
func TestCrashEveryStepDictionary(t *testing.T) {
	seed := testSeed(t)
	points, recoveries := crashEveryIOStep(t, dictWorkload, seed)
	t.Logf("%s: %d crash points, %d recoveries checked", dictWorkload.name, points, recoveries)
}

var osFS = vfs.Default
