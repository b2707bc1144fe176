package log_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// The crash tests run a storage workload on a crashfs, crash the simulated
// machine at every mutating I/O step in turn (CrashAfter(n) for n = 0, 1,
// 2, ... until the workload completes untouched), and recover each crash
// point under every CrashMode. After recovery, checkHistory holds: every
// record whose Append returned reads back identical, every state call that
// returned is in the state, nothing that was never appended appears, and
// the log takes new appends. Under the torn and random modes the recovery
// itself is crashed once more at a random step before the final recovery.
//
// The delivery protocol's own crash tests are in crash_ack_test.go.

// runWorkload is one storage workload.
type runWorkload struct {
	name string
	opts seglog.Options
	run  func(r *crashRun) error
	// covers checks, after a run that no crash interrupted, that the
	// workload exercised what it is meant to.
	covers func(r *crashRun) error
}

// segmentNames counts the segment files in the log directory.
func segmentNames(fsys *crashfs.FS) int {
	names, _ := fsys.ReadDir(crashDir)
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, segment.Suffix) {
			n++
		}
	}
	return n
}

// finishRun closes the log at the end of a workload.
func finishRun(r *crashRun) error {
	next := r.l.NextOffset()
	err := r.l.Close()
	r.l = nil
	if err == nil {
		r.h.synced(next)
	}
	return err
}

var workloads = []runWorkload{
	{
		name: "append-roll",
		run: func(r *crashRun) error {
			if err := r.open(); err != nil {
				return err
			}
			for i := range 64 {
				var err error
				switch {
				case i == 32:
					err = r.reopen()
				case i%9 == 4:
					err = r.appendRecords(3, 300)
				default:
					err = r.append(200 + r.rng.IntN(1300))
				}
				if err != nil {
					return err
				}
			}
			return finishRun(r)
		},
		covers: func(r *crashRun) error {
			if n := segmentNames(r.fs); n < 3 {
				return fmt.Errorf("%d segments, want at least 3 (two rolls)", n)
			}
			return nil
		},
	},
	{
		name: "group-commit",
		run: func(r *crashRun) error {
			if err := r.open(); err != nil {
				return err
			}
			err := concurrently(5, func(g int) error {
				rng := rand.New(rand.NewPCG(uint64(g), 7))
				for i := range 14 {
					var err error
					if g == 4 && i%3 == 0 {
						err = r.appendRecords(2, 500)
					} else {
						err = r.append(400 + rng.IntN(800))
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			return finishRun(r)
		},
		covers: func(r *crashRun) error {
			if n := segmentNames(r.fs); n < 2 {
				return fmt.Errorf("%d segments, want a roll", n)
			}
			return nil
		},
	},
	{
		name: "ack-release",
		run: func(r *crashRun) error {
			if err := r.open(); err != nil {
				return err
			}
			for range 9 {
				for range 6 {
					if err := r.append(700 + r.rng.IntN(500)); err != nil {
						return err
					}
				}
				if err := r.ack(5); err != nil {
					return err
				}
			}
			return finishRun(r)
		},
		covers: func(r *crashRun) error {
			if r.removed.Load() == 0 {
				return fmt.Errorf("no Ack deleted a segment")
			}
			return nil
		},
	},
	{
		name: "checkpoint-replace",
		run: func(r *crashRun) error {
			if err := r.open(); err != nil {
				return err
			}
			// Values grow and shrink, so that a slot is overwritten by
			// shorter encodings and keeps a stale tail.
			sizes := []int{0, 200, 40, 900, -1, 10, 600, 3}
			for i := range 12 {
				key := []string{"peer", "token"}[i%2]
				if err := r.setMeta(key, sizes[i%len(sizes)]); err != nil {
					return err
				}
				if err := r.append(300); err != nil {
					return err
				}
				if i%4 == 3 {
					if err := r.ack(3); err != nil {
						return err
					}
				}
			}
			return finishRun(r)
		},
		covers: func(r *crashRun) error {
			if r.metas < 10 {
				return fmt.Errorf("%d checkpoint replacements", r.metas)
			}
			return nil
		},
	},
	{
		name: "reset",
		run: func(r *crashRun) error {
			if err := r.open(); err != nil {
				return err
			}
			for range 24 {
				if err := r.append(800); err != nil {
					return err
				}
			}
			if err := r.ack(10); err != nil {
				return err
			}
			if err := r.reset(); err != nil { // rolls, then releases every old segment
				return err
			}
			if err := r.reset(); err != nil { // nothing appended since: no roll
				return err
			}
			for range 8 {
				if err := r.append(900); err != nil {
					return err
				}
			}
			if err := r.ack(4); err != nil {
				return err
			}
			if err := r.setMeta("peer", 50); err != nil {
				return err
			}
			if err := r.reset(); err != nil {
				return err
			}
			if err := r.append(100); err != nil {
				return err
			}
			return finishRun(r)
		},
		covers: func(r *crashRun) error {
			// Close waited for the background deletions.
			first, _ := r.fs.Stat(filepath.Join(crashDir, segment.FileName(0)))
			if r.resets < 3 || first != nil {
				return fmt.Errorf("%d resets; first segment still there: %v", r.resets, first != nil)
			}
			return nil
		},
	},
	{
		name: "mixed-zstd",
		opts: seglog.Options{Codec: seglog.CodecZstd},
		run: func(r *crashRun) error {
			if err := r.open(); err != nil {
				return err
			}
			for i := range 36 {
				var err error
				switch c := r.rng.IntN(20); {
				case i == 18:
					err = r.reopen()
				case c < 11:
					err = r.append(300 + r.rng.IntN(2500))
				case c < 14:
					err = r.appendRecords(1+r.rng.IntN(4), 400)
				case c < 17:
					err = r.ack(1 + r.rng.IntN(8))
				case c < 19:
					err = r.setMeta("k", r.rng.IntN(300))
				default:
					err = r.reset()
				}
				if err != nil {
					return err
				}
			}
			return finishRun(r)
		},
		covers: func(r *crashRun) error {
			if n := segmentNames(r.fs); n < 1 {
				return fmt.Errorf("no segment")
			}
			return nil
		},
	},
	{
		// Under SyncNever only what a returned Sync, Ack or Close made
		// durable is promised; the rest may be lost, but only from the
		// end: the recovered log is still dense and clean.
		name: "sync-never",
		opts: seglog.Options{Sync: seglog.SyncNever},
		run: func(r *crashRun) error {
			if err := r.open(); err != nil {
				return err
			}
			for i := range 48 {
				var err error
				switch {
				case i == 30:
					err = r.reopen()
				case i%12 == 11:
					err = r.sync()
				case i%4 == 2:
					// Written but not synced: several unsynced writes
					// may survive a crash in any combination.
					err = r.l.Flush()
				case i%10 == 9:
					err = r.ack(6)
				case i%7 == 3:
					err = r.appendRecords(3, 600)
				default:
					err = r.append(300 + r.rng.IntN(1400))
				}
				if err != nil {
					return err
				}
			}
			return finishRun(r)
		},
		covers: func(r *crashRun) error {
			if !rolledRun(r.fs) {
				return fmt.Errorf("no roll")
			}
			return nil
		},
	},
}

// rolledRun reports whether the log has rolled: a segment not starting at
// offset 0 exists.
func rolledRun(fsys *crashfs.FS) bool {
	names, _ := fsys.ReadDir(crashDir)
	for _, name := range names {
		if b, ok := segment.ParseFileName(name); ok && b > 0 {
			return true
		}
	}
	return false
}

var crashModes = []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashKeepAll, crashfs.CrashTorn, crashfs.CrashRandom}

func TestCrashEveryStep(t *testing.T) {
	seed := testSeed(t)
	for wi, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			points, recoveries := crashEveryIOStep(t, w, seed+uint64(wi)<<32)
			t.Logf("%s: %d crash points, %d recoveries checked", w.name, points, recoveries)
		})
	}
}

// crashEveryIOStep runs w once per crash point and checks every recovery.
// It returns the crash points tried and the recoveries checked.
func crashEveryIOStep(t *testing.T, w runWorkload, seed uint64) (points, recoveries int) {
	for n := 0; ; n++ {
		fsys := crashfs.New()
		fsys.CrashAfter(n)
		r := newCrashRun(t, fsys, w.opts, seed)
		err := w.run(r)
		if fsys.Ops() <= n {
			// The workload finished before the crash point.
			if err != nil {
				t.Fatalf("workload failed with no crash: %v", err)
			}
			if err := w.covers(r); err != nil {
				t.Fatalf("workload does not cover what it should: %v", err)
			}
			fsys.CrashAfter(-1)
			if err := recoverRun(fsys, r); err != nil {
				t.Fatalf("reopen after the complete workload: %v", err)
			}
			return n, recoveries
		}
		if err == nil && r.l != nil {
			t.Fatalf("crash point %d: workload returned no error", n)
		}
		for mi, mode := range crashModes {
			rng := rand.New(rand.NewPCG(seed, uint64(n)<<8|uint64(mi)))
			survivor := fsys.Crash(rng, mode)
			recoveries++
			if mode == crashfs.CrashTorn || mode == crashfs.CrashRandom {
				survivor = crashRecovery(survivor, r, rng)
				recoveries++
			}
			if err := recoverRun(survivor, r); err != nil {
				r.close()
				t.Fatalf("crash at I/O step %d of the workload, mode %v (replay with the -seed logged above): %v", n, mode, err)
			}
		}
		r.close()
	}
}

// recoverRun opens the log on fsys, checks it against r's history, and
// closes it.
func recoverRun(fsys *crashfs.FS, r *crashRun) error {
	opts := r.opts
	opts.FS = fsys
	l, err := seglog.Open(crashDir, &opts)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer l.Close()
	if err := checkHistory(l, r.h, r.opts.Sync); err != nil {
		return err
	}
	return l.Close()
}

// crashRecovery crashes the recovery of survivor at a random step of
// Open and returns what that second crash leaves.
func crashRecovery(survivor *crashfs.FS, r *crashRun, rng *rand.Rand) *crashfs.FS {
	opts := r.opts
	probe := survivor.Crash(nil, crashfs.CrashKeepAll)
	opts.FS = probe
	if l, err := seglog.Open(crashDir, &opts); err == nil {
		l.Close()
	}
	survivor.CrashAfter(rng.IntN(probe.Ops() + 1))
	opts.FS = survivor
	if l, err := seglog.Open(crashDir, &opts); err == nil {
		l.Close()
	}
	return survivor.Crash(rng, crashModes[rng.IntN(len(crashModes))])
}
