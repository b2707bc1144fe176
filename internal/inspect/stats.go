package inspect

import (
	"context"
	"maps"
	"slices"
)

// TypeStats counts the records of one type.
type TypeStats struct {
	Type    string `json:"type"`
	Records uint64 `json:"records"`
	Bytes   uint64 `json:"bytes"` // payload bytes
}

// SegmentStats is what a segment's records are made of.
type SegmentStats struct {
	Frames      int
	Records     uint64
	Bytes       uint64 // payload bytes
	RawBytes    int64  // frame bodies decoded
	StoredBytes int64  // frame bodies as stored
	Sizes       Histogram
	Types       map[string]*TypeStats
	// Dicts counts the frames compressed with each dictionary; NoDict
	// the compressed frames without one, to compare with.
	Dicts  map[uint16]*DictStats
	NoDict DictStats
}

func newSegmentStats() *SegmentStats {
	return &SegmentStats{Types: map[string]*TypeStats{}}
}

func (s *SegmentStats) add(typ string, size int) {
	s.Records++
	s.Bytes += uint64(size)
	s.Sizes.Add(uint64(size))
	t := s.Types[typ]
	if t == nil {
		t = &TypeStats{Type: typ}
		s.Types[typ] = t
	}
	t.Records++
	t.Bytes += uint64(size)
}

// Stats describes the records of a whole log.
type Stats struct {
	Report   *Report
	Total    SegmentStats
	Segments []*SegmentScan // those read, each with its Stats
}

// ByType returns the per-type counts, most records first, then by name.
func (s *Stats) ByType() []TypeStats {
	out := make([]TypeStats, 0, len(s.Total.Types))
	for _, k := range slices.Sorted(maps.Keys(s.Total.Types)) {
		out = append(out, *s.Total.Types[k])
	}
	slices.SortStableFunc(out, func(a, b TypeStats) int {
		switch {
		case a.Records > b.Records:
			return -1
		case a.Records < b.Records:
			return 1
		}
		return 0
	})
	return out
}

// Ratio is the compression ratio: decoded over stored frame bodies.
func (s *SegmentStats) Ratio() float64 {
	if s.StoredBytes == 0 {
		return 1
	}
	return float64(s.RawBytes) / float64(s.StoredBytes)
}

// CollectStats reads every record of the log in dir, as Verify does, and
// tallies sizes and types per segment and in total.
func CollectStats(ctx context.Context, dir string, opts Options) (*Stats, error) {
	opts.Stats = true
	r, err := Verify(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	st := &Stats{Report: r, Total: *newSegmentStats()}
	for _, s := range r.Segments {
		if s.Stats == nil {
			continue
		}
		st.Segments = append(st.Segments, s)
		t := &st.Total
		t.Frames += s.Stats.Frames
		t.Records += s.Stats.Records
		t.Bytes += s.Stats.Bytes
		t.RawBytes += s.Stats.RawBytes
		t.StoredBytes += s.Stats.StoredBytes
		t.Sizes.Merge(&s.Stats.Sizes)
		t.NoDict.add(&s.Stats.NoDict)
		for id, d := range s.Stats.Dicts {
			if t.Dicts == nil {
				t.Dicts = map[uint16]*DictStats{}
			}
			if t.Dicts[id] == nil {
				t.Dicts[id] = &DictStats{}
			}
			t.Dicts[id].add(d)
		}
		for k, v := range s.Stats.Types {
			if t.Types[k] == nil {
				t.Types[k] = &TypeStats{Type: k}
			}
			t.Types[k].Records += v.Records
			t.Types[k].Bytes += v.Bytes
		}
	}
	return st, nil
}
