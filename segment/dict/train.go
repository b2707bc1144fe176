package dict

import "github.com/seglog/seglog/segment"

// DefaultSize is the size of a trained dictionary: s2 uses up to 64 KiB
// of one, and zstd at its fastest level gains little from more while
// paying to load a larger one for every frame.
const DefaultSize = 128 << 10

// Train builds dictionary content of at most size bytes from samples,
// encoded records (segment.AppendRecord) as frames hold them. It takes
// whole records spread evenly over the samples, so that the dictionary
// covers their variety rather than the last few, in sample order, so that
// the latest end nearest the frame (both codecs reach nearer content with
// shorter offsets). It returns nil when the samples hold fewer than
// segment.MinDictSize bytes.
func Train(samples [][]byte, size int) []byte {
	size = min(max(size, segment.MinDictSize), segment.MaxDictSize)
	total := 0
	for _, s := range samples {
		total += len(s)
	}
	if total < segment.MinDictSize {
		return nil
	}
	// Every k-th record, from the latest back, until size is filled.
	k := max(1, total/size)
	var pick []int
	n := 0
	for i := len(samples) - 1; i >= 0 && n < size; i -= k {
		if l := len(samples[i]); n+l <= size {
			pick = append(pick, i)
			n += l
		}
	}
	out := make([]byte, 0, n)
	for j := len(pick) - 1; j >= 0; j-- {
		out = append(out, samples[pick[j]]...)
	}
	if len(out) < segment.MinDictSize {
		// Records larger than size: the latest one's tail.
		s := samples[len(samples)-1]
		out = append(out[:0], s[max(0, len(s)-size):]...)
		if len(out) < segment.MinDictSize {
			return nil
		}
	}
	return out
}
