package main

import (
	"fmt"
	"io"

	"github.com/seglog/seglog/internal/inspect"
)

// jsonDictStats is one dictionary in seglog stats: its file, and the
// frames compressed with it.
type jsonDictStats struct {
	ID               uint16  `json:"id,omitempty"`
	File             string  `json:"file,omitempty"`
	Size             int     `json:"size,omitempty"`
	Damaged          string  `json:"damaged,omitempty"`
	Frames           int     `json:"frames"`
	RawBytes         int64   `json:"raw_bytes"`
	StoredBytes      int64   `json:"stored_bytes"`
	CompressionRatio float64 `json:"compression_ratio"`
}

// dictStats gives the dictionaries of a log and the frames compressed
// with each, and the compressed frames without one; nil, nil for a log
// without dictionaries.
func dictStats(st *inspect.Stats) ([]jsonDictStats, *jsonDictStats) {
	if len(st.Report.Dicts) == 0 && len(st.Total.Dicts) == 0 {
		return nil, nil
	}
	var out []jsonDictStats
	seen := map[uint16]bool{}
	for _, d := range st.Report.Dicts {
		j := jsonDictStats{ID: d.ID, File: d.File, Size: d.Size}
		if d.Err != nil {
			j.Damaged = d.Err.Error()
		}
		if s := st.Total.Dicts[d.ID]; s != nil {
			j.Frames, j.RawBytes, j.StoredBytes, j.CompressionRatio = s.Frames, s.RawBytes, s.StoredBytes, round2(s.Ratio())
		}
		seen[d.ID] = true
		out = append(out, j)
	}
	nd := st.Total.NoDict
	return out, &jsonDictStats{Frames: nd.Frames, RawBytes: nd.RawBytes, StoredBytes: nd.StoredBytes, CompressionRatio: round2(nd.Ratio())}
}

func printDictStats(w io.Writer, dicts []jsonDictStats, none *jsonDictStats) {
	for _, d := range dicts {
		state := fmt.Sprintf("%s frames: compression ratio %.2f", comma(uint64(d.Frames)), d.CompressionRatio)
		if d.Damaged != "" {
			state = "damaged: " + d.Damaged
		}
		fmt.Fprintf(w, "dictionary %d\t%s, %s; %s\n", d.ID, d.File, size(int64(d.Size)), state)
	}
	if none != nil {
		fmt.Fprintf(w, "no dictionary\t%s compressed frames: compression ratio %.2f\n", comma(uint64(none.Frames)), none.CompressionRatio)
	}
}
