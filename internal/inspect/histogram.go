package inspect

import (
	"math"
	"math/bits"
)

// subBuckets is the number of buckets per power of two above the exact
// range: values are kept to within 1/subBuckets of their size.
const subBuckets = 64

// Histogram counts non-negative values in log-linear buckets: exact below
// 2*subBuckets, within about 1.6% above. It is small and never grows with
// the number of values, so it serves for record sizes and latencies alike.
// The zero Histogram is empty and ready.
type Histogram struct {
	counts   []uint64
	n        uint64
	sum      float64
	min, max uint64
}

func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // keep 7 significant bits: 64..127
	return (shift+1)*subBuckets + int(v>>shift) - subBuckets
}

// bucketLow is the smallest value of bucket b.
func bucketLow(b int) uint64 {
	if b < 2*subBuckets {
		return uint64(b)
	}
	shift := b/subBuckets - 1
	return uint64(b%subBuckets+subBuckets) << shift
}

// Add counts one value.
func (h *Histogram) Add(v uint64) {
	b := bucketOf(v)
	if b >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, b+1-len(h.counts))...)
	}
	h.counts[b]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += float64(v)
}

// Merge adds the counts of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of values.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max return the extreme values, exactly; 0 when empty.
func (h *Histogram) Min() uint64 { return h.min }
func (h *Histogram) Max() uint64 { return h.max }

// Mean returns the average value; 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q (0 to 1): the lower bound of
// the bucket holding it, clamped to [Min, Max].
func (h *Histogram) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(bucketLow(b), h.min), h.max)
		}
	}
	return h.max
}

// Bucket is one row of a coarse histogram: Count values in [Low, High].
type Bucket struct {
	Low   uint64 `json:"low"`
	High  uint64 `json:"high"`
	Count uint64 `json:"count"`
}

// PowersOfTwo folds the histogram into power-of-two rows [0,0], [1,1],
// [2,3], [4,7], ..., leaving out empty rows.
func (h *Histogram) PowersOfTwo() []Bucket {
	var rows []Bucket
	for b, c := range h.counts {
		if c == 0 {
			continue
		}
		v := bucketLow(b)
		low, high := uint64(0), uint64(0)
		if v > 0 {
			e := bits.Len64(v) - 1
			low, high = 1<<e, 1<<(e+1)-1
		}
		if n := len(rows); n > 0 && rows[n-1].Low == low {
			rows[n-1].Count += c
			continue
		}
		rows = append(rows, Bucket{Low: low, High: high, Count: c})
	}
	return rows
}
