package crashfs_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/seglog/seglog/internal/vfs/crashfs"
)

// testSeed returns a seed for randomized tests, logged so that a failure
// can be replayed by pinning it.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return seed
}

// step is an unsynced operation in a content scenario.
type step struct {
	truncate bool
	off      int64
	data     string
}

func w(off int64, data string) step { return step{off: off, data: data} }
func tr(size int64) step            { return step{truncate: true, off: size} }

// applyStep is the test's own model of a write or truncate.
func applyStep(buf []byte, s step) []byte {
	buf = slices.Clone(buf)
	if s.truncate {
		if int(s.off) <= len(buf) {
			return buf[:s.off]
		}
		return append(buf, make([]byte, int(s.off)-len(buf))...)
	}
	if s.data == "" {
		return buf
	}
	if end := int(s.off) + len(s.data); end > len(buf) {
		buf = append(buf, make([]byte, end-len(buf))...)
	}
	copy(buf[s.off:], s.data)
	return buf
}

// prefixes returns the write cut to every length from 0 to whole.
func prefixes(s step) []step {
	if s.truncate {
		return []step{s}
	}
	var out []step
	for n := 0; n <= len(s.data); n++ {
		out = append(out, step{off: s.off, data: s.data[:n]})
	}
	return out
}

// tornOutcomes lists every state CrashTorn may leave: a prefix of the
// steps, the last one possibly cut.
func tornOutcomes(synced string, steps []step) map[string]bool {
	out := map[string]bool{synced: true}
	buf := []byte(synced)
	for _, s := range steps {
		for _, p := range prefixes(s) {
			out[string(applyStep(buf, p))] = true
		}
		buf = applyStep(buf, s)
	}
	return out
}

// randomOutcomes lists every state CrashRandom may leave: each write cut to
// any length (0 is "lost"), each truncate kept or lost, in order.
func randomOutcomes(synced string, steps []step) map[string]bool {
	states := map[string]bool{synced: true}
	for _, s := range steps {
		next := map[string]bool{}
		for st := range states {
			if s.truncate {
				next[st] = true
			}
			for _, p := range prefixes(s) {
				next[string(applyStep([]byte(st), p))] = true
			}
		}
		states = next
	}
	return states
}

var contentScenarios = []struct {
	name   string
	synced string
	steps  []step
}{
	{"nothing pending", "hello", nil},
	{"appends", "hello", []step{w(5, " world"), w(11, "!!")}},
	{"overwrites and truncates", "0123456789", []step{w(2, "ab"), tr(5), w(7, "XYZ"), tr(8)}},
	{"gap", "ab", []step{w(6, "gh"), w(2, "cdef")}},
	{"never synced", "", []step{w(0, "abc"), w(3, "def")}},
	{"truncate only", "0123456789", []step{tr(3), tr(6)}},
}

// buildContent makes a file "f", durable by name, whose synced contents
// are synced and whose pending operations are steps.
func buildContent(t *testing.T, synced string, steps []step) *crashfs.FS {
	t.Helper()
	fsys := crashfs.New()
	if err := fsys.WriteFile("f", []byte(synced)); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, fsys, "f", os.O_RDWR)
	defer f.Close()
	for _, s := range steps {
		if s.truncate {
			if err := f.Truncate(s.off); err != nil {
				t.Fatal(err)
			}
		} else {
			mustWriteAt(t, f, s.data, s.off)
		}
	}
	return fsys
}

func TestCrashContents(t *testing.T) {
	seed := testSeed(t)
	const trials = 500
	for _, sc := range contentScenarios {
		t.Run(sc.name, func(t *testing.T) {
			fsys := buildContent(t, sc.synced, sc.steps)
			current := readFile(t, fsys, "f")
			want := map[crashfs.CrashMode]map[string]bool{
				crashfs.CrashLoseUnsynced: {sc.synced: true},
				crashfs.CrashKeepAll:      {current: true},
				crashfs.CrashTorn:         tornOutcomes(sc.synced, sc.steps),
				crashfs.CrashRandom:       randomOutcomes(sc.synced, sc.steps),
			}
			rng := rand.New(rand.NewPCG(seed, 0))
			for mode, allowed := range want {
				seen := map[string]bool{}
				for range trials {
					got := readFile(t, fsys.Crash(rng, mode), "f")
					if !allowed[got] {
						t.Fatalf("%v: impossible outcome %q (synced %q, current %q)", mode, got, sc.synced, current)
					}
					seen[got] = true
				}
				// The extremes must be reachable in every mode that
				// allows them, or the random modes are not exploring.
				for _, extreme := range []string{sc.synced, current} {
					if allowed[extreme] && !seen[extreme] {
						t.Errorf("%v: never produced %q in %d trials", mode, extreme, trials)
					}
				}
				if mode == crashfs.CrashRandom && len(sc.steps) > 1 && len(seen) < 3 {
					t.Errorf("%v: only %d distinct outcomes", mode, len(seen))
				}
			}
			// The crash leaves fsys alone.
			if got := readFile(t, fsys, "f"); got != current {
				t.Errorf("Crash changed the original: %q", got)
			}
		})
	}
}

// nameScenario: d/old, d/keep, d/victim are durable; then, without
// SyncDir, d/new is created (and its data synced), d/victim removed and
// d/old renamed to d/renamed.
func buildNames(t *testing.T, syncDir bool) *crashfs.FS {
	t.Helper()
	fsys := crashfs.New()
	fsys.MkdirAll("d", 0o755)
	for _, n := range []string{"old", "keep", "victim"} {
		if err := fsys.WriteFile("d/"+n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	f := mustOpen(t, fsys, "d/new", os.O_RDWR|os.O_CREATE|os.O_EXCL)
	mustWriteAt(t, f, "new", 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := fsys.Remove("d/victim"); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Rename("d/old", "d/renamed"); err != nil {
		t.Fatal(err)
	}
	if syncDir {
		if err := fsys.SyncDir("d"); err != nil {
			t.Fatal(err)
		}
	}
	return fsys
}

func TestCrashNames(t *testing.T) {
	seed := testSeed(t)
	durable := map[string]string{"d": "<dir>", "d/old": "old", "d/keep": "keep", "d/victim": "victim"}
	current := map[string]string{"d": "<dir>", "d/renamed": "old", "d/keep": "keep", "d/new": "new"}
	tests := []struct {
		mode    crashfs.CrashMode
		syncDir bool
		want    []map[string]string // nil: every per-name mix of durable and current
	}{
		{crashfs.CrashLoseUnsynced, false, []map[string]string{durable}},
		{crashfs.CrashKeepAll, false, []map[string]string{current}},
		{crashfs.CrashTorn, false, nil},
		{crashfs.CrashRandom, false, nil},
		{crashfs.CrashLoseUnsynced, true, []map[string]string{current}},
		{crashfs.CrashKeepAll, true, []map[string]string{current}},
		{crashfs.CrashTorn, true, []map[string]string{current}},
		{crashfs.CrashRandom, true, []map[string]string{current}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/syncdir=%v", tt.mode, tt.syncDir), func(t *testing.T) {
			fsys := buildNames(t, tt.syncDir)
			rng := rand.New(rand.NewPCG(seed, 1))
			seen := map[string]bool{}
			for range 200 {
				got := dump(t, fsys.Crash(rng, tt.mode), ".")
				if tt.want != nil {
					if !slices.ContainsFunc(tt.want, func(m map[string]string) bool { return mapsEqual(m, got) }) {
						t.Fatalf("got %q, want one of %q", got, tt.want)
					}
					continue
				}
				// Each changed name independently holds its durable
				// or its current value; unchanged names are kept.
				for _, name := range []string{"d", "d/keep", "d/old", "d/victim", "d/renamed", "d/new"} {
					g, ok := got[name]
					d, dok := durable[name]
					c, cok := current[name]
					if (ok != dok || g != d) && (ok != cok || g != c) {
						t.Fatalf("%s = %q (present %v), want durable %q or current %q in %q", name, g, ok, d, c, got)
					}
					seen[fmt.Sprintf("%s=%v", name, ok)] = true
				}
				if len(got) > 6 {
					t.Fatalf("unexpected names in %q", got)
				}
			}
			if tt.want == nil {
				// Every changed name was seen both present and absent.
				for _, name := range []string{"d/old", "d/victim", "d/renamed", "d/new"} {
					if !seen[name+"=true"] || !seen[name+"=false"] {
						t.Errorf("%s: outcomes seen %v", name, seen)
					}
				}
			}
		})
	}
}

// A file whose name was made durable but whose data never was survives
// empty: realistic, and exactly what recovery code must cope with.
func TestCrashCreatedNotSynced(t *testing.T) {
	fsys := crashfs.New()
	f := mustOpen(t, fsys, "seg", os.O_RDWR|os.O_CREATE)
	defer f.Close()
	mustWriteAt(t, f, "record", 0)
	if err := fsys.SyncDir("."); err != nil {
		t.Fatal(err)
	}
	got := dump(t, fsys.Crash(nil, crashfs.CrashLoseUnsynced), ".")
	if !mapsEqual(got, map[string]string{"seg": ""}) {
		t.Errorf("survivor = %q", got)
	}
}

// Writes through a handle whose name was removed still reach the inode,
// which a crash may bring back under its durable name.
func TestCrashRemovedButOpen(t *testing.T) {
	fsys := crashfs.New()
	fsys.WriteFile("a", []byte("v1"))
	f := mustOpen(t, fsys, "a", os.O_RDWR)
	defer f.Close()
	if err := fsys.Remove("a"); err != nil {
		t.Fatal(err)
	}
	mustWriteAt(t, f, "v2", 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, fsys.Crash(nil, crashfs.CrashLoseUnsynced), "a"); got != "v2" {
		t.Errorf("a = %q, want v2", got)
	}
	if _, err := fsys.Crash(nil, crashfs.CrashKeepAll).Stat("a"); err == nil {
		t.Errorf("removed name survived CrashKeepAll")
	}
}

// When both names of an unsynced rename survive, they are separate files.
func TestCrashRenameBothNamesDoNotAlias(t *testing.T) {
	fsys := crashfs.New()
	fsys.WriteFile("a", []byte("data"))
	if err := fsys.Rename("a", "b"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		s := fsys.Crash(rng, crashfs.CrashRandom)
		if _, err := s.Stat("a"); err != nil {
			continue
		}
		if _, err := s.Stat("b"); err != nil {
			continue
		}
		f := mustOpen(t, s, "a", os.O_RDWR)
		mustWriteAt(t, f, "DATA", 0)
		f.Close()
		if got := readFile(t, s, "b"); got != "data" {
			t.Fatalf("write to a changed b: %q", got)
		}
		return
	}
	t.Fatal("both names never survived together")
}

// A file removed without SyncDir whose name is then taken by a directory.
func TestCrashFileDirCollision(t *testing.T) {
	fsys := crashfs.New()
	fsys.WriteFile("x", []byte("file"))
	if err := fsys.Remove("x"); err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll("x", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashRandom} {
		if st, err := fsys.Crash(nil, mode).Stat("x"); err != nil || !st.IsDir() {
			t.Errorf("%v: x = %v, %v; want the directory", mode, st, err)
		}
	}
}

// The survivor starts clean: synced, durable, unlocked, with no crash
// point, and crashing it again changes nothing.
func TestCrashSurvivorIsClean(t *testing.T) {
	seed := testSeed(t)
	fsys := buildNames(t, false)
	f := mustOpen(t, fsys, "d/keep", os.O_RDWR)
	mustWriteAt(t, f, "KEEP-unsynced", 0)
	fsys.CrashAfter(0)
	fsys.SetHook(func(crashfs.Op) error { return fmt.Errorf("hook") })
	if _, err := fsys.Lock("d/LOCK", 0o600); err == nil {
		t.Fatal("Lock after CrashAfter(0) succeeded")
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, mode := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashKeepAll, crashfs.CrashTorn, crashfs.CrashRandom, crashfs.CrashMode(42)} {
		s := fsys.Crash(rng, mode)
		if s.Ops() != 0 {
			t.Errorf("%v: survivor Ops = %d", mode, s.Ops())
		}
		tree := dump(t, s, ".")
		for _, m2 := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashRandom} {
			if again := dump(t, s.Crash(rng, m2), "."); !mapsEqual(tree, again) {
				t.Errorf("%v then %v: %q != %q", mode, m2, again, tree)
			}
		}
		// Mutations work: no crash point or hook was inherited.
		g := mustOpen(t, s, "d/fresh", os.O_RDWR|os.O_CREATE)
		mustWriteAt(t, g, "x", 0)
		if err := g.Sync(); err != nil {
			t.Errorf("%v: Sync on survivor: %v", mode, err)
		}
		g.Close()
	}
}

func TestCrashDeterministic(t *testing.T) {
	seed := testSeed(t)
	build := func() *crashfs.FS {
		fsys := buildNames(t, false)
		for i, sc := range contentScenarios {
			f := mustOpen(t, fsys, fmt.Sprintf("d/c%d", i), os.O_RDWR|os.O_CREATE)
			mustWriteAt(t, f, sc.synced, 0)
			f.Sync()
			for _, s := range sc.steps {
				if s.truncate {
					f.Truncate(s.off)
				} else {
					mustWriteAt(t, f, s.data, s.off)
				}
			}
			f.Close()
		}
		return fsys
	}
	a, b := build(), build()
	for _, mode := range []crashfs.CrashMode{crashfs.CrashTorn, crashfs.CrashRandom} {
		distinct := map[string]bool{}
		for i := range uint64(20) {
			ta := dump(t, a.Crash(rand.New(rand.NewPCG(seed, i)), mode), ".")
			tb := dump(t, b.Crash(rand.New(rand.NewPCG(seed, i)), mode), ".")
			if !mapsEqual(ta, tb) {
				t.Fatalf("%v seed (%d,%d): same history, different survivors:\n%q\n%q", mode, seed, i, ta, tb)
			}
			distinct[fmt.Sprint(ta)] = true
		}
		if len(distinct) < 2 {
			t.Errorf("%v: 20 seeds gave %d distinct survivors", mode, len(distinct))
		}
	}
}
