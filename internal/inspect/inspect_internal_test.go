package inspect

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	var vals []uint64
	rng := rand.New(rand.NewPCG(1, 1))
	for range 10000 {
		v := rng.Uint64N(1 << 30)
		if rng.IntN(3) == 0 {
			v = rng.Uint64N(100) // exact range
		}
		vals = append(vals, v)
		h.Add(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.01, 0.1, 0.5, 0.9, 0.99, 1} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if got > exact || float64(exact-got) > float64(exact)/subBuckets {
			t.Errorf("q%.2f = %d, exact %d", q, got, exact)
		}
	}
	if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] || h.Count() != uint64(len(vals)) {
		t.Errorf("min %d max %d count %d", h.Min(), h.Max(), h.Count())
	}
	var sum uint64
	for _, b := range h.PowersOfTwo() {
		sum += b.Count
	}
	if sum != h.Count() {
		t.Errorf("power-of-two rows hold %d values, want %d", sum, h.Count())
	}
	for b := range 40 * subBuckets {
		if bucketOf(bucketLow(b)) != b {
			t.Fatalf("bucket %d: low %d maps to bucket %d", b, bucketLow(b), bucketOf(bucketLow(b)))
		}
	}
}

func TestMergeRanges(t *testing.T) {
	got := mergeRanges([]Range{MakeRange(10, 12), MakeRange(0, 3), MakeRange(3, 5), MakeRange(11, 20), OpenRange(30), MakeRange(40, 50)})
	if s := FormatRanges(got); s != "[0, 5), [10, 20), [30, end of log)" {
		t.Errorf("merged: %s", s)
	}
	if s := FormatRanges(appendRange(appendRange(nil, 1, 2), 2, 4)); s != "[1, 4)" {
		t.Errorf("appended: %s", s)
	}
}

func TestWriterActive(t *testing.T) {
	dir := t.TempDir()
	if live, err := WriterActive(dir); err != nil || live {
		t.Fatalf("no LOCK file: live %v, %v", live, err)
	}
	l, err := LockWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	if live, err := WriterActive(dir); err != nil || !live {
		t.Fatalf("locked: live %v, %v", live, err)
	}
	if _, err := LockWriter(dir); err == nil {
		t.Fatal("second LockWriter succeeded")
	}
	l.Close()
	if live, err := WriterActive(dir); err != nil || live {
		t.Fatalf("unlocked: live %v, %v", live, err)
	}
	// Probing released the lock: a writer can take it.
	l, err = LockWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}
