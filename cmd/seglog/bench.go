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
the disk you want to size) and removed afterwards unless --keep.`,
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
	f.IntVar(&o.Count, "count", 10000, "records to append (ignored with --duration)")
	f.DurationVar(&o.Duration, "duration", 0, "append for this long instead of --count records")
	f.IntVar(&o.Reads, "reads", 0, "random reads (default min(records, 10000))")
	f.BoolVar(&o.Keep, "keep", false, "keep the benchmark's log")
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
}

func phaseJSON(p *inspect.Phase) jsonPhase {
	j := jsonPhase{Ops: p.Ops, Bytes: p.Bytes, ElapsedSeconds: p.Elapsed.Seconds(), OpsPerSecond: p.OpsPerSec(), BytesPerSecond: p.BytesPerSec()}
	if p.Latency.Count() > 0 {
		h := &p.Latency
		m := map[string]uint64{"min": h.Min(), "p50": h.Quantile(0.5), "p90": h.Quantile(0.9), "p99": h.Quantile(0.99), "p99_9": h.Quantile(0.999), "max": h.Max()}
		j.LatencyNs = &m
	}
	return j
}

func (a *app) bench(o inspect.BenchOptions) error {
	res, err := inspect.Bench(a.ctx, o)
	if err != nil {
		return fail(exitOpen, "bench: %v", err)
	}
	o = res.Options
	if a.json {
		return writeJSON(a.stdout, struct {
			RecordSize  int       `json:"record_size"`
			Writers     int       `json:"writers"`
			Sync        string    `json:"sync"`
			Codec       string    `json:"codec"`
			SegmentSize int64     `json:"segment_size,omitempty"`
			Dir         string    `json:"dir,omitempty"`
			DiskBytes   int64     `json:"disk_bytes"`
			Append      jsonPhase `json:"append"`
			Scan        jsonPhase `json:"scan"`
			RandomRead  jsonPhase `json:"random_read"`
		}{o.RecordSize, o.Writers, o.Sync.String(), o.Codec.String(), o.SegmentSize, keptDir(res), res.DiskBytes,
			phaseJSON(&res.Append), phaseJSON(&res.Scan), phaseJSON(&res.RandomRead)})
	}
	w := a.stdout
	fmt.Fprintf(w, "bench: %s records of %s, %s, sync %s, codec %s\n", comma(res.Append.Ops), size(int64(o.RecordSize)),
		plural(o.Writers, "writer", "writers"), o.Sync, o.Codec)
	t := newTable(w)
	printPhase := func(name string, p *inspect.Phase, unit string) {
		fmt.Fprintf(t, "%s\t%s %s in %s\t%s/s\t%s/s", name, comma(p.Ops), unit, p.Elapsed.Round(time.Millisecond),
			comma(uint64(p.OpsPerSec())), size(int64(p.BytesPerSec())))
		if h := &p.Latency; h.Count() > 0 {
			fmt.Fprintf(t, "\tlatency p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", dur(h.Quantile(0.5)), dur(h.Quantile(0.9)),
				dur(h.Quantile(0.99)), dur(h.Quantile(0.999)), dur(h.Max()))
		}
		fmt.Fprintln(t)
	}
	printPhase("append", &res.Append, "appends")
	printPhase("scan", &res.Scan, "records")
	printPhase("read", &res.RandomRead, "random reads")
	t.Flush()
	ratio := float64(res.Append.Bytes) / float64(max(res.DiskBytes, 1))
	fmt.Fprintf(w, "disk: %s for %s of payload (%.2f:1)\n", size(res.DiskBytes), size(int64(res.Append.Bytes)), ratio)
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
