package main

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/internal/inspect"
	"github.com/seglog/seglog/log/vfs"
)

func (a *app) statsCommand() *cobra.Command {
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "stats DIR",
		Short: "Record sizes, records and bytes per type and per segment, compression",
		Long: `stats reads every record of the log in DIR and prints the distribution of
payload sizes, the records and payload bytes per type and per segment, and
the compression ratio (frame bodies decoded over stored). Damage found on
the way is summed up on stderr and makes the exit status 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.stats(args[0], !noProgress)
		},
	}
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "draw no progress bar, even on a terminal")
	return cmd
}

type jsonSizes struct {
	Min       uint64           `json:"min"`
	Mean      float64          `json:"mean"`
	P50       uint64           `json:"p50"`
	P90       uint64           `json:"p90"`
	P99       uint64           `json:"p99"`
	Max       uint64           `json:"max"`
	Histogram []inspect.Bucket `json:"histogram"`
}

type jsonSegmentStats struct {
	File             string  `json:"file"`
	Records          uint64  `json:"records"`
	Frames           int     `json:"frames"`
	Bytes            uint64  `json:"bytes"`
	RawBytes         int64   `json:"raw_bytes"`
	StoredBytes      int64   `json:"stored_bytes"`
	CompressionRatio float64 `json:"compression_ratio"`
}

type jsonStats struct {
	Records          uint64              `json:"records"`
	Frames           int                 `json:"frames"`
	Segments         int                 `json:"segments"`
	Bytes            uint64              `json:"bytes"`
	RawBytes         int64               `json:"raw_bytes"`
	StoredBytes      int64               `json:"stored_bytes"`
	CompressionRatio float64             `json:"compression_ratio"`
	RecordSize       jsonSizes           `json:"record_size"`
	ByType           []inspect.TypeStats `json:"by_type"`
	BySegment        []jsonSegmentStats  `json:"by_segment"`
	Errors           int                 `json:"errors"`
	Warnings         int                 `json:"warnings"`
	// SizeLimit is set once the size limit has dropped records (as in info).
	SizeLimit *jsonSizeLimit `json:"size_limit,omitempty"`
	// Held is set once the log has an accepted set or held records (as in
	// info); the held records are not in the figures above.
	Held *jsonHeld `json:"held_types,omitempty"`
	// Dictionaries lists the log's compression dictionaries, when it
	// has any, with the ratio of the frames compressed with each.
	Dictionaries []jsonDictStats `json:"dictionaries,omitempty"`
	// NoDictionary is the ratio of compressed frames without one, beside
	// Dictionaries.
	NoDictionary *jsonDictStats `json:"no_dictionary,omitempty"`
}

func (a *app) stats(dir string, progress bool) error {
	var done atomic.Int64
	pb := a.startProgress("stats", dir, &done, progress)
	st, err := inspect.CollectStats(a.ctx, dir, inspect.Options{Progress: &done})
	pb.stop()
	if err != nil {
		return openErr(dir, err)
	}
	t := &st.Total
	h := &t.Sizes
	j := jsonStats{Records: t.Records, Frames: t.Frames, Segments: len(st.Segments), Bytes: t.Bytes,
		RawBytes: t.RawBytes, StoredBytes: t.StoredBytes, CompressionRatio: round2(t.Ratio()),
		RecordSize: jsonSizes{Min: h.Min(), Mean: round2(h.Mean()), P50: h.Quantile(0.5), P90: h.Quantile(0.9),
			P99: h.Quantile(0.99), Max: h.Max(), Histogram: h.PowersOfTwo()},
		ByType: st.ByType(), Errors: st.Report.Counts.Errors, Warnings: st.Report.Counts.Warnings}
	if j.RecordSize.Histogram == nil {
		j.RecordSize.Histogram = []inspect.Bucket{}
	}
	for _, s := range st.Segments {
		ss := s.Stats
		j.BySegment = append(j.BySegment, jsonSegmentStats{File: s.Name, Records: ss.Records, Frames: ss.Frames,
			Bytes: ss.Bytes, RawBytes: ss.RawBytes, StoredBytes: ss.StoredBytes, CompressionRatio: round2(ss.Ratio())})
	}
	if j.BySegment == nil {
		j.BySegment = []jsonSegmentStats{}
	}
	j.Dictionaries, j.NoDictionary = dictStats(st)
	ckst, _, ckerr := checkpoint.Read(vfs.Default, dir)
	if ckerr == nil {
		j.SizeLimit = sizeLimitInfo(ckst)
		j.Held = a.heldInfo(dir)
	}
	if a.json {
		if err := writeJSON(a.stdout, j); err != nil {
			return err
		}
	} else {
		w := newTable(a.stdout)
		fmt.Fprintf(w, "records\t%s in %s frames, %s\n", comma(j.Records), comma(uint64(j.Frames)), plural(j.Segments, "segment", "segments"))
		fmt.Fprintf(w, "payload\t%s\n", size(int64(j.Bytes)))
		fmt.Fprintf(w, "frame bodies\t%s decoded, %s stored: compression ratio %.2f\n", size(t.RawBytes), size(t.StoredBytes), t.Ratio())
		rs := j.RecordSize
		fmt.Fprintf(w, "record size\tmin %d, mean %.1f, p50 %d, p90 %d, p99 %d, max %d bytes\n", rs.Min, rs.Mean, rs.P50, rs.P90, rs.P99, rs.Max)
		if j.SizeLimit != nil {
			fmt.Fprintf(w, "size limit\t%s\n", sizeLimitLine(j.SizeLimit, ckst))
		}
		printHeld(w, j.Held)
		printDictStats(w, j.Dictionaries, j.NoDictionary)
		w.Flush()

		fmt.Fprintf(a.stdout, "\nsize histogram (bytes)\n")
		w = newTable(a.stdout)
		for _, b := range rs.Histogram {
			fmt.Fprintf(w, "  %d-%d\t%s\t%s\n", b.Low, b.High, comma(b.Count), bar(b.Count, t.Records))
		}
		w.Flush()

		fmt.Fprintf(a.stdout, "\nby type\n")
		w = newTable(a.stdout)
		fmt.Fprintf(w, "  TYPE\tRECORDS\tBYTES\n")
		for _, ty := range j.ByType {
			name := ty.Type
			if name == "" {
				name = "-"
			} else {
				name = strconv.Quote(name)
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\n", name, comma(ty.Records), size(int64(ty.Bytes)))
		}
		w.Flush()

		fmt.Fprintf(a.stdout, "\nby segment\n")
		w = newTable(a.stdout)
		fmt.Fprintf(w, "  FILE\tRECORDS\tFRAMES\tPAYLOAD\tDECODED\tSTORED\tRATIO\n")
		for _, s := range j.BySegment {
			fmt.Fprintf(w, "  %s\t%s\t%d\t%s\t%s\t%s\t%.2f\n", s.File, comma(s.Records), s.Frames, size(int64(s.Bytes)),
				size(s.RawBytes), size(s.StoredBytes), s.CompressionRatio)
		}
		w.Flush()
	}
	if !st.Report.Healthy() {
		fmt.Fprintf(a.stderr, "seglog: stats: %s, %s on the way (seglog verify %s tells more)\n",
			plural(j.Errors, "error", "errors"), plural(j.Warnings, "warning", "warnings"), dir)
		return quiet(exitProblems)
	}
	return nil
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// bar draws n out of total as up to 20 '#'.
func bar(n, total uint64) string {
	if total == 0 {
		return ""
	}
	k := int((n*20 + total - 1) / total)
	out := make([]byte, k)
	for i := range out {
		out[i] = '#'
	}
	return string(out)
}
