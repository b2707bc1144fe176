package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/seglog/seglog/internal/inspect"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

func (a *app) benchCommand() *cobra.Command {
	var (
		o            inspect.BenchOptions
		syncName     string
		codecName    string
		segmentBytes string
	)
	cmd := &cobra.Command{
		Use:   "bench [DIR]",
		Short: "Measure appends and reads with chosen options on this disk",
		Long: `bench appends records to a new log and reads them back, then prints the
throughput and the latency percentiles of each phase: appends (by
--writers goroutines at once), a sequential scan of every record, and
random reads. The log is created in a new directory under DIR (default the
system's temporary directory, which may be a RAM disk: give a directory on
the disk you want to size) and removed afterwards unless --keep.

With --against tidwall, the same workload then runs against
github.com/tidwall/wal in the same invocation (fsync per write under
--sync always, no sync otherwise; the append phase of both ends with one
sync), and bench prints both rows, seglog's speed over tidwall/wal's for
each phase, and the disk's own price of a durable write: a small write
into blocks a file already holds followed by fdatasync (the floor under
any durable append), and a small append that grows a file followed by
fsync. tidwall/wal holds two segments in memory and loads a whole segment
(20 MiB by default) to read an entry of another one: with a large log,
give a small --reads.

Each phase's peak resident memory (rss) is printed where the system
reports it (Linux: VmHWM, reset at the start of each phase).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Dir = args[0]
			}
			var err error
			if o.Sync, err = parseSync(syncName); err != nil {
				return err
			}
			if o.Codec, err = segment.ParseCodec(codecName); err != nil {
				return err
			}
			if segmentBytes != "" {
				n, err := parseBytes(segmentBytes)
				if err != nil {
					return fmt.Errorf("--segment-size: %v", err)
				}
				if n < seglog.MinSegmentSize || n > seglog.MaxSegmentSize {
					return fmt.Errorf("--segment-size %s: want %s to %s", segmentBytes, size(seglog.MinSegmentSize), size(seglog.MaxSegmentSize))
				}
				o.SegmentSize = n
			}
			if o.RecordSize <= 0 || o.RecordSize > seglog.MaxRecordSize {
				return fmt.Errorf("--record-size %d: want 1 to %d", o.RecordSize, seglog.MaxRecordSize)
			}
			if o.Against != "" && o.Against != "tidwall" {
				return fmt.Errorf("--against %q: want tidwall", o.Against)
			}
			if o.Writers <= 0 || (o.Count <= 0 && o.Duration == 0) || o.Duration < 0 || (cmd.Flags().Changed("reads") && o.Reads <= 0) {
				return fmt.Errorf("--writers, --count and --reads must be positive, --duration not negative")
			}
			return a.bench(o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.RecordSize, "record-size", 1024, "payload bytes per record")
	f.IntVar(&o.Writers, "writers", 1, "goroutines appending at once")
	f.StringVar(&syncName, "sync", "always", "sync policy: always, interval or never")
	f.StringVar(&codecName, "codec", "none", "frame compression: none, s2 or zstd")
	f.StringVar(&segmentBytes, "segment-size", "", "segment size, e.g. 64MiB (default the log's)")
	f.IntVar(&o.DictionarySample, "dictionary-sample", 0, "train a compression dictionary from the first this many bytes of records (with --codec)")
	f.IntVar(&o.Count, "count", 10000, "records to append (ignored with --duration)")
	f.DurationVar(&o.Duration, "duration", 0, "append for this long instead of --count records")
	f.IntVar(&o.Reads, "reads", 0, "random reads (default min(records, 10000))")
	f.BoolVar(&o.Keep, "keep", false, "keep the benchmark's log")
	f.StringVar(&o.Against, "against", "", "also run the workload against another log: tidwall")
	return cmd
}

func parseSync(s string) (seglog.SyncPolicy, error) {
	switch s {
	case "always":
		return seglog.SyncAlways, nil
	case "interval":
		return seglog.SyncInterval, nil
	case "never":
		return seglog.SyncNever, nil
	}
	return 0, fmt.Errorf("--sync %q: want always, interval or never", s)
}

type jsonPhase struct {
	Ops            uint64             `json:"ops"`
	Bytes          uint64             `json:"bytes"`
	ElapsedSeconds float64            `json:"elapsed_seconds"`
	OpsPerSecond   float64            `json:"ops_per_second"`
	BytesPerSecond float64            `json:"bytes_per_second"`
	LatencyNs      *map[string]uint64 `json:"latency_ns,omitempty"`
	PeakRSSBytes   int64              `json:"peak_rss_bytes,omitempty"`
}

func phaseJSON(p *inspect.Phase) jsonPhase {
	j := jsonPhase{Ops: p.Ops, Bytes: p.Bytes, ElapsedSeconds: p.Elapsed.Seconds(), OpsPerSecond: p.OpsPerSec(), BytesPerSecond: p.BytesPerSec(), PeakRSSBytes: p.PeakRSS}
	if p.Latency.Count() > 0 {
		h := &p.Latency
		m := map[string]uint64{"min": h.Min(), "p50": h.Quantile(0.5), "p90": h.Quantile(0.9), "p99": h.Quantile(0.99), "p99_9": h.Quantile(0.999), "max": h.Max()}
		j.LatencyNs = &m
	}
	return j
}

type jsonRun struct {
	DiskBytes    int64     `json:"disk_bytes"`
	PeakRSSBytes int64     `json:"peak_rss_bytes,omitempty"`
	Append       jsonPhase `json:"append"`
	Scan         jsonPhase `json:"scan"`
	RandomRead   jsonPhase `json:"random_read"`
}

type jsonRatio struct {
	Append     float64 `json:"append"`
	Scan       float64 `json:"scan"`
	RandomRead float64 `json:"random_read"`
}

type jsonSyncPrice struct {
	Samples             int   `json:"samples"`
	OverwriteFdatasync  int64 `json:"overwrite_fdatasync_ns"`
	ExtendingAppendSync int64 `json:"extending_append_fsync_ns"`
}

// ratio is seglog's throughput over the other log's: above 1, seglog is
// faster.
func ratio(seglog, other *inspect.Phase) float64 {
	if other.OpsPerSec() == 0 {
		return 0
	}
	return seglog.OpsPerSec() / other.OpsPerSec()
}

func (a *app) bench(o inspect.BenchOptions) error {
	res, err := inspect.Bench(a.ctx, o)
	if err != nil {
		return fail(exitOpen, "bench: %v", err)
	}
	o = res.Options
	tw := res.Tidwall
	if a.json {
		out := struct {
			RecordSize   int            `json:"record_size"`
			Writers      int            `json:"writers"`
			Sync         string         `json:"sync"`
			Codec        string         `json:"codec"`
			SegmentSize  int64          `json:"segment_size,omitempty"`
			Dir          string         `json:"dir,omitempty"`
			DiskBytes    int64          `json:"disk_bytes"`
			PeakRSSBytes int64          `json:"peak_rss_bytes,omitempty"`
			Append       jsonPhase      `json:"append"`
			Scan         jsonPhase      `json:"scan"`
			RandomRead   jsonPhase      `json:"random_read"`
			Tidwall      *jsonRun       `json:"tidwall,omitempty"`
			Ratio        *jsonRatio     `json:"seglog_over_tidwall,omitempty"`
			SyncPrice    *jsonSyncPrice `json:"sync_price,omitempty"`
		}{RecordSize: o.RecordSize, Writers: o.Writers, Sync: o.Sync.String(), Codec: o.Codec.String(), SegmentSize: o.SegmentSize,
			Dir: keptDir(res), DiskBytes: res.DiskBytes, PeakRSSBytes: res.PeakRSS,
			Append: phaseJSON(&res.Append), Scan: phaseJSON(&res.Scan), RandomRead: phaseJSON(&res.RandomRead)}
		if tw != nil {
			out.Tidwall = &jsonRun{DiskBytes: tw.DiskBytes, PeakRSSBytes: tw.PeakRSS,
				Append: phaseJSON(&tw.Append), Scan: phaseJSON(&tw.Scan), RandomRead: phaseJSON(&tw.RandomRead)}
			out.Ratio = &jsonRatio{ratio(&res.Append, &tw.Append), ratio(&res.Scan, &tw.Scan), ratio(&res.RandomRead, &tw.RandomRead)}
		}
		if p := res.SyncPrice; p != nil {
			out.SyncPrice = &jsonSyncPrice{p.Samples, p.Overwrite.Nanoseconds(), p.Extend.Nanoseconds()}
		}
		return writeJSON(a.stdout, out)
	}
	w := a.stdout
	fmt.Fprintf(w, "bench: %s records of %s, %s, sync %s, codec %s\n", comma(res.Append.Ops), size(int64(o.RecordSize)),
		plural(o.Writers, "writer", "writers"), o.Sync, o.Codec)
	t := newTable(w)
	printPhase := func(lib, name string, p *inspect.Phase, unit string) {
		if tw != nil {
			fmt.Fprintf(t, "%s\t", lib)
		}
		fmt.Fprintf(t, "%s\t%s %s in %s\t%s/s\t%s/s", name, comma(p.Ops), unit, p.Elapsed.Round(time.Millisecond),
			comma(uint64(p.OpsPerSec())), size(int64(p.BytesPerSec())))
		if p.PeakRSS > 0 {
			fmt.Fprintf(t, "\trss %s", size(p.PeakRSS))
		}
		if h := &p.Latency; h.Count() > 0 {
			fmt.Fprintf(t, "\tlatency p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", dur(h.Quantile(0.5)), dur(h.Quantile(0.9)),
				dur(h.Quantile(0.99)), dur(h.Quantile(0.999)), dur(h.Max()))
		}
		fmt.Fprintln(t)
	}
	for _, ph := range []struct {
		name, unit string
		seglog     *inspect.Phase
		other      func(*inspect.BenchResult) *inspect.Phase
	}{
		{"append", "appends", &res.Append, func(r *inspect.BenchResult) *inspect.Phase { return &r.Append }},
		{"scan", "records", &res.Scan, func(r *inspect.BenchResult) *inspect.Phase { return &r.Scan }},
		{"read", "random reads", &res.RandomRead, func(r *inspect.BenchResult) *inspect.Phase { return &r.RandomRead }},
	} {
		printPhase("seglog", ph.name, ph.seglog, ph.unit)
		if tw != nil {
			printPhase("tidwall/wal", ph.name, ph.other(tw), ph.unit)
		}
	}
	t.Flush()
	printRun := func(lib string, r *inspect.BenchResult) {
		prefix := ""
		if tw != nil {
			prefix = lib + " "
		}
		ratio := float64(r.Append.Bytes) / float64(max(r.DiskBytes, 1))
		fmt.Fprintf(w, "%sdisk: %s for %s of payload (%.2f:1)", prefix, size(r.DiskBytes), size(int64(r.Append.Bytes)), ratio)
		if r.PeakRSS > 0 {
			fmt.Fprintf(w, "; peak resident memory %s", size(r.PeakRSS))
		}
		fmt.Fprintln(w)
	}
	printRun("seglog", res)
	if tw != nil {
		printRun("tidwall/wal", tw)
		fmt.Fprintf(w, "seglog over tidwall/wal: append %.2f×, scan %.2f×, random reads %.2f×\n",
			ratio(&res.Append, &tw.Append), ratio(&res.Scan, &tw.Scan), ratio(&res.RandomRead, &tw.RandomRead))
	}
	if p := res.SyncPrice; p != nil {
		fmt.Fprintf(w, "this disk: 128 B write into held blocks + fdatasync %s, 128 B append + fsync %s (medians of %d)\n",
			dur(uint64(p.Overwrite)), dur(uint64(p.Extend)), p.Samples)
	}
	if d := keptDir(res); d != "" {
		fmt.Fprintf(w, "log kept in %s\n", d)
	}
	return nil
}

func keptDir(res *inspect.BenchResult) string {
	if res.Options.Keep {
		return res.Dir
	}
	return ""
}

func dur(ns uint64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= time.Microsecond:
		return d.Round(100 * time.Nanosecond).String()
	}
	return d.String()
}

// parseBytes reads a size such as 65536, 64KiB, 64MiB or 1GiB.
func parseBytes(s string) (int64, error) {
	var n int64
	var unit string
	if _, err := fmt.Sscanf(s, "%d%s", &n, &unit); err != nil {
		if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
			return 0, fmt.Errorf("%q: not a size", s)
		}
	}
	mult := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "K": 1 << 10, "MiB": 1 << 20, "M": 1 << 20, "GiB": 1 << 30, "G": 1 << 30}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (want KiB, MiB or GiB)", s, unit)
	}
	return n * m, nil
}
