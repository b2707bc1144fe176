package crashfs

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
)

// CrashMode chooses what unsynced state survives a Crash.
type CrashMode int

const (
	// CrashLoseUnsynced keeps only synced contents and durable directory
	// entries: the worst case, and a deterministic one.
	CrashLoseUnsynced CrashMode = iota
	// CrashKeepAll keeps every write and every directory change, as if the
	// machine had flushed everything just before dying: deterministic.
	CrashKeepAll
	// CrashTorn keeps a random prefix of each file's unsynced operations,
	// the last write of the prefix possibly cut at a random byte: writeback
	// in order, interrupted. Each changed directory entry survives in its
	// durable or current form at random.
	CrashTorn
	// CrashRandom keeps each unsynced write of each file whole, not at all,
	// or cut at a random byte, independently, and each unsynced truncate or
	// not, then applies the survivors in order: writeback out of order.
	// Each changed directory entry survives in its durable or current form
	// at random.
	CrashRandom
)

func (m CrashMode) String() string {
	switch m {
	case CrashLoseUnsynced:
		return "lose-unsynced"
	case CrashKeepAll:
		return "keep-all"
	case CrashTorn:
		return "torn"
	case CrashRandom:
		return "random"
	}
	return fmt.Sprintf("CrashMode(%d)", int(m))
}

// Crash returns a new FS holding what a power loss at this moment may have
// left: see CrashMode. f is not changed and stays usable, so a test can
// crash the same state several times with different seeds or modes.
//
// All random choices are drawn from rng in an order that depends only on
// the history of f, so a seed reproduces a survivor exactly. A nil rng
// behaves as a fixed seed; an unknown mode behaves as CrashRandom, whose
// outcomes include those of every other mode.
//
// The survivor starts clean: everything in it is synced and durable, no
// locks are held, no hook, crash point or injected error is set, and Ops is
// zero. Each surviving name gets an inode of its own, so if a rename's old
// and new names both survive they do not alias.
func (f *FS) Crash(rng *rand.Rand, mode CrashMode) *FS {
	if rng == nil {
		rng = rand.New(rand.NewPCG(0, 0))
	}
	f.mu.Lock()
	defer f.mu.Unlock()

	nf := New()
	for p, d := range f.dirs {
		nf.dirs[p] = newDir(d.perm)
	}
	contents := map[*inode][]byte{} // one outcome per inode, however many names it has
	for _, p := range slices.Sorted(maps.Keys(f.dirs)) {
		d, nd := f.dirs[p], nf.dirs[p]
		names := slices.Collect(maps.Keys(d.cur))
		for name := range d.durable {
			if d.cur[name] == nil {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			ino := pickEntry(rng, mode, d.durable[name], d.cur[name])
			if ino == nil {
				continue
			}
			// A file removed without a SyncDir whose name was then
			// taken by a directory: the directory, always durable, wins.
			if nf.dirs[filepath.Join(p, name)] != nil {
				continue
			}
			data, ok := contents[ino]
			if !ok {
				data = survivingContents(rng, mode, ino)
				contents[ino] = data
			}
			survivor := &inode{perm: ino.perm, data: slices.Clone(data), synced: slices.Clone(data)}
			nd.cur[name] = survivor
			nd.durable[name] = survivor
		}
	}
	return nf
}

// pickEntry chooses which of a name's durable and current inodes (either
// may be nil) a crash leaves.
func pickEntry(rng *rand.Rand, mode CrashMode, durable, cur *inode) *inode {
	if durable == cur {
		return cur
	}
	switch mode {
	case CrashLoseUnsynced:
		return durable
	case CrashKeepAll:
		return cur
	}
	if rng.IntN(2) == 0 {
		return durable
	}
	return cur
}

// survivingContents derives what a crash leaves of ino's contents: its
// synced snapshot plus those of its pending operations that reached the
// disk.
func survivingContents(rng *rand.Rand, mode CrashMode, ino *inode) []byte {
	switch mode {
	case CrashLoseUnsynced:
		return slices.Clone(ino.synced)
	case CrashKeepAll:
		return slices.Clone(ino.data)
	}
	buf := slices.Clone(ino.synced)
	if mode == CrashTorn {
		k := rng.IntN(len(ino.pending) + 1)
		for i, c := range ino.pending[:k] {
			if i == k-1 && !c.truncate && rng.IntN(2) == 0 {
				c = tear(rng, c)
			}
			buf = apply(buf, c)
		}
		return buf
	}
	for _, c := range ino.pending {
		switch {
		case c.truncate:
			if rng.IntN(2) == 0 {
				continue
			}
		default:
			switch rng.IntN(3) {
			case 0:
				continue
			case 1:
				c = tear(rng, c)
			}
		}
		buf = apply(buf, c)
	}
	return buf
}

// tear cuts a write at a random byte, keeping a strict prefix (possibly
// empty) of it.
func tear(rng *rand.Rand, c change) change {
	if len(c.data) == 0 {
		return c
	}
	c.data = c.data[:rng.IntN(len(c.data))]
	return c
}

func apply(buf []byte, c change) []byte {
	if c.truncate {
		return truncate(buf, c.off)
	}
	if len(c.data) == 0 {
		// A write torn before its first byte changes nothing, not even
		// the size.
		return buf
	}
	return writeAt(buf, c.off, c.data)
}
