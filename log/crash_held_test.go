package log_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// The crash test of held records: a workload that holds records, hands
// out and acknowledges batches around them, accepts their type again and
// delivers the rest is run with the simulated machine crashing at each of
// its mutating I/O steps, and every outcome each CrashMode leaves is
// recovered. The peer, which does not crash, keeps what it receives by
// label as the protocol says. After recovery the agent accepts both types
// and delivers everything: the peer must then hold every record appended
// exactly once, the records of the accepted type in their order, then the
// held ones in their original order, and the agent nothing held.

// hcPeer is the peer: it stores an entry whose label is the one it
// expects next and discards the others.
type hcPeer struct {
	next uint64
	got  []string
}

func (p *hcPeer) receive(t testing.TB, b seglog.Batch) uint64 {
	t.Helper()
	for e := range b.Entries() {
		if e.Gap != nil {
			t.Fatalf("gap %+v in a log without damage or limit", *e.Gap)
		}
		if e.Label == p.next {
			p.got = append(p.got, string(e.Record.Data))
			p.next++
		}
	}
	return p.next
}

// hcExchange hands out a batch, gives it to the peer and applies its
// answer. It returns false if the log has nothing to send.
func hcExchange(l *seglog.Log, t testing.TB, p *hcPeer, max int) (bool, error) {
	b, err := l.Pending(max)
	if err != nil || b.Empty() {
		return false, err
	}
	n := p.receive(t, b)
	res, err := l.Ack(n)
	if err == nil && res.Resync {
		t.Fatalf("Ack(%d) after batch from %d: %v (resync)", n, b.Sequence, res.Branch)
	}
	return true, err
}

// hcSetup: the accepted set; 30 records, every third of type b, the rest
// a, over a few segments; one exchange of 6 records.
func hcSetup(t testing.TB, l *seglog.Log, p *hcPeer, accepted []string) (as, bs []string) {
	t.Helper()
	if err := l.SetAcceptedTypes(accepted); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat(".", 1500)
	for i := range 30 {
		typ := "a"
		if i%3 == 1 {
			typ = "b"
		}
		d := fmt.Sprintf("%s%02d%s", typ, i, pad)
		if _, err := l.AppendTyped(typ, []byte(d)); err != nil {
			t.Fatal(err)
		}
		if typ == "a" {
			as = append(as, d)
		} else {
			bs = append(bs, d)
		}
	}
	if _, err := hcExchange(l, t, p, 6); err != nil {
		t.Fatal(err)
	}
	return as, bs
}

// hcWork is the workload the crashes interrupt: two exchanges, the type b
// accepted again, and exchanges until nothing is left. With remove, the
// type b stops being accepted first, and an exchange runs without it.
func hcWork(t testing.TB, l *seglog.Log, p *hcPeer, remove bool) error {
	for range 2 {
		if _, err := hcExchange(l, t, p, 4); err != nil {
			return err
		}
	}
	if remove {
		if err := l.SetAcceptedTypes([]string{"a"}); err != nil {
			return err
		}
		if _, err := hcExchange(l, t, p, 4); err != nil {
			return err
		}
	}
	if err := l.SetAcceptedTypes([]string{"a", "b"}); err != nil {
		return err
	}
	for {
		more, err := hcExchange(l, t, p, 5)
		if err != nil || !more {
			return err
		}
	}
}

func TestCrashHeldRecords(t *testing.T) {
	seed := testSeed(t)
	for _, policy := range []seglog.SyncPolicy{seglog.SyncAlways, seglog.SyncInterval, seglog.SyncNever} {
		t.Run(policy.String(), func(t *testing.T) { hcRun(t, seed, policy, false) })
		t.Run(policy.String()+"/remove", func(t *testing.T) { hcRun(t, seed, policy, true) })
	}
}

// hcRun runs the workload with a crash at each of its steps. Without
// remove, the peer must get the records of type a in order, then those of
// type b in order; with remove (b accepted at first, then not, then again),
// every record once, and those of each type in order.
func hcRun(t *testing.T, seed uint64, policy seglog.SyncPolicy, remove bool) {
	accepted := []string{"a"}
	if remove {
		accepted = []string{"a", "b"}
	}
	opts := func(fsys *crashfs.FS) *seglog.Options {
		return crashOpts(fsys, seglog.MinSegmentSize, policy)
	}
	build := func() (*crashfs.FS, *seglog.Log, *hcPeer, []string) {
		fsys := crashfs.New()
		l := openCrash(t, opts(fsys))
		p := &hcPeer{}
		as, bs := hcSetup(t, l, p, accepted)
		return fsys, l, p, append(as, bs...)
	}
	fsys, l, p, want := build()
	before := fsys.Ops()
	if err := hcWork(t, l, p, remove); err != nil {
		t.Fatalf("uninterrupted workload: %v", err)
	}
	steps := fsys.Ops() - before
	if !hcSame(p.got, want, remove) {
		t.Fatalf("uninterrupted workload: the peer got\n%q\nwant\n%q", hcShort(p.got), hcShort(want))
	}
	t.Logf("uninterrupted: %d steps, the peer got %q", steps, hcShort(p.got))
	l.Close()

	rng := rand.New(rand.NewPCG(seed, uint64(policy)*2+uint64(len(accepted))))
	recoveries := 0
	for n := 0; n <= steps; n++ {
		fsys, l, p, _ := build()
		fsys.CrashAfter(n)
		hcWork(t, l, p, remove) // fails at the crash
		for _, mode := range []crashfs.CrashMode{crashfs.CrashLoseUnsynced, crashfs.CrashKeepAll,
			crashfs.CrashTorn, crashfs.CrashRandom, crashfs.CrashRandom} {
			what := fmt.Sprintf("crash point %d of %d (%v)", n, steps, mode)
			peer := &hcPeer{next: p.next, got: slices.Clone(p.got)}
			hcRecover(t, what, opts(fsys.Crash(rng, mode)), peer, want, remove)
			recoveries++
		}
		l.Close()
	}
	t.Logf("%d crash points, %d recoveries", steps+1, recoveries)
}

// hcSame compares what the peer got with want: equal, or with loose, the
// same records with those of each type in the same order.
func hcSame(got, want []string, loose bool) bool {
	if !loose {
		return slices.Equal(got, want)
	}
	byType := func(s []string) map[byte][]string {
		m := map[byte][]string{}
		for _, v := range s {
			m[v[0]] = append(m[v[0]], v)
		}
		return m
	}
	g, w := byType(got), byType(want)
	return len(got) == len(want) && slices.Equal(g['a'], w['a']) && slices.Equal(g['b'], w['b'])
}

// hcRecover opens a survivor, accepts both types and delivers everything.
func hcRecover(t *testing.T, what string, opts *seglog.Options, p *hcPeer, want []string, loose bool) {
	t.Helper()
	l, err := seglog.Open(crashDir, opts)
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	defer l.Close()
	if err := l.SetAcceptedTypes([]string{"a", "b"}); err != nil {
		t.Fatalf("%s: SetAcceptedTypes: %v", what, err)
	}
	for i := 0; ; i++ {
		more, err := hcExchange(l, t, p, 7)
		if err != nil {
			t.Fatalf("%s: exchange: %v", what, err)
		}
		if !more {
			break
		}
		if i > 100 {
			t.Fatalf("%s: no end to the exchanges", what)
		}
	}
	if !hcSame(p.got, want, loose) {
		t.Fatalf("%s: the peer got\n%q\nwant\n%q", what, hcShort(p.got), hcShort(want))
	}
	if st := l.State(); st.Held != 0 || st.PendingCount != 0 {
		t.Fatalf("%s: after delivery: %+v", what, st)
	}
}

func hcShort(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = v[:3]
	}
	return out
}
