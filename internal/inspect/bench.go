package inspect

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	seglog "github.com/seglog/seglog/log"
)

// BenchOptions configures Bench.
type BenchOptions struct {
	// Dir is where the benchmark's log is created, in a new directory that
	// is removed afterwards unless Keep. Default os.TempDir().
	Dir  string
	Keep bool
	// RecordSize is the payload size of each record. Default 1024.
	RecordSize int
	// Writers is the number of goroutines appending at once. Default 1.
	Writers int
	// Sync, Codec and SegmentSize are the log's options.
	Sync        seglog.SyncPolicy
	Codec       seglog.Codec
	SegmentSize int64
	// DictionarySample is the log's Options.DictionarySample: train a
	// compression dictionary from the first records. Default 0: none.
	DictionarySample int
	// Count is the number of records to append, shared by the writers;
	// Duration, when set, appends for that long instead. Default 10000.
	Count    int
	Duration time.Duration
	// Reads is the number of random reads. Default min(records, 10000).
	Reads int
	// Against names another log to run the same workload against in the
	// same run: "tidwall" (github.com/tidwall/wal), or "" for none. With
	// it, the disk's price of a durable write is measured too.
	Against string
}

// Phase is the outcome of one part of a benchmark.
type Phase struct {
	Ops     uint64
	Bytes   uint64 // payload bytes
	Elapsed time.Duration
	Latency Histogram // nanoseconds per operation; empty for the scan
	// PeakRSS is the process's peak resident memory during the phase,
	// in bytes; 0 where the system does not report it.
	PeakRSS int64
}

// begin starts the phase's clock and its peak memory.
func (p *Phase) begin() time.Time {
	ResetPeakRSS()
	return time.Now()
}

// end stops the phase's clock and reads its peak memory.
func (p *Phase) end(start time.Time) {
	p.Elapsed = time.Since(start)
	p.PeakRSS, _ = PeakRSS()
}

// OpsPerSec and BytesPerSec are the phase's throughput.
func (p *Phase) OpsPerSec() float64 { return float64(p.Ops) / max(p.Elapsed.Seconds(), 1e-9) }

// BytesPerSec is the phase's payload throughput.
func (p *Phase) BytesPerSec() float64 { return float64(p.Bytes) / max(p.Elapsed.Seconds(), 1e-9) }

// BenchResult is the outcome of Bench.
type BenchResult struct {
	Options    BenchOptions // with defaults filled in
	Dir        string       // the log's directory
	Append     Phase
	Scan       Phase // every record, in order, through Log.Records
	RandomRead Phase // Log.Read at random offsets
	DiskBytes  int64 // size of the log's files after the appends
	// PeakRSS is the process's peak resident memory during the run
	// (from Open to Close), in bytes; 0 where the system does not report
	// it.
	PeakRSS int64
	// Tidwall is the same workload run against tidwall/wal, and
	// SyncPrice the disk's price of a durable write, with Against.
	Tidwall   *BenchResult
	SyncPrice *SyncPrice
}

func (o *BenchOptions) defaults() {
	if o.RecordSize <= 0 {
		o.RecordSize = 1024
	}
	if o.Writers <= 0 {
		o.Writers = 1
	}
	if o.Count <= 0 && o.Duration <= 0 {
		o.Count = 10000
	}
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
}

// Bench appends records to a new log and reads them back, timing each
// operation. Payloads are text of random words, about as compressible as
// typical JSON messages.
func Bench(ctx context.Context, opts BenchOptions) (*BenchResult, error) {
	opts.defaults()
	if opts.Against != "" && opts.Against != "tidwall" {
		return nil, fmt.Errorf("unknown log %q to bench against (want tidwall)", opts.Against)
	}
	if opts.RecordSize > seglog.MaxRecordSize {
		return nil, fmt.Errorf("record size %d over the %d limit", opts.RecordSize, seglog.MaxRecordSize)
	}
	if opts.Dir != "" {
		// The disk to measure is the one that will hold DIR.
		if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp(opts.Dir, "seglog-bench-")
	if err != nil {
		return nil, err
	}
	if !opts.Keep {
		defer os.RemoveAll(dir)
	}
	res := &BenchResult{Options: opts, Dir: dir}
	l, err := seglog.Open(dir, &seglog.Options{
		Sync: opts.Sync, Codec: opts.Codec, SegmentSize: opts.SegmentSize,
		DictionarySample: opts.DictionarySample,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	defer l.Close()

	start, err := runAppenders(ctx, opts, res, func(p []byte) error {
		_, err := l.Append(p)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := l.Sync(); err != nil {
		return nil, err
	}
	res.Append.end(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.DiskBytes = dirSize(dir)

	start = res.Scan.begin()
	for rec, err := range l.Records(0) {
		if err != nil {
			return nil, err
		}
		res.Scan.Ops++
		res.Scan.Bytes += uint64(len(rec.Data))
	}
	res.Scan.end(start)

	next := l.NextOffset()
	reads := opts.Reads
	if reads <= 0 {
		reads = int(min(next, 10000))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start = res.RandomRead.begin()
	for range reads {
		if next == 0 {
			break
		}
		t := time.Now()
		rec, err := l.Read(rng.Uint64N(next))
		if err != nil {
			return nil, err
		}
		res.RandomRead.Latency.Add(uint64(time.Since(t)))
		res.RandomRead.Ops++
		res.RandomRead.Bytes += uint64(len(rec.Data))
	}
	res.RandomRead.end(start)
	if err := l.Close(); err != nil {
		return nil, err
	}
	res.PeakRSS = max(res.Append.PeakRSS, res.Scan.PeakRSS, res.RandomRead.PeakRSS)
	if err := benchAgainst(ctx, opts, res); err != nil {
		return nil, err
	}
	return res, nil
}

// benchAgainst runs what opts.Against asks for after seglog's run.
func benchAgainst(ctx context.Context, opts BenchOptions, res *BenchResult) error {
	if opts.Against == "" {
		return nil
	}
	tw := &BenchResult{Options: opts}
	if err := benchTidwall(ctx, opts, tw); err != nil {
		return fmt.Errorf("tidwall/wal: %w", err)
	}
	tw.PeakRSS = max(tw.Append.PeakRSS, tw.Scan.PeakRSS, tw.RandomRead.PeakRSS)
	res.Tidwall = tw
	p, err := MeasureSyncPrice(opts.Dir, 200)
	if err != nil {
		return fmt.Errorf("measuring the sync price: %w", err)
	}
	res.SyncPrice = &p
	return nil
}

var words = []string{"agent", "server", "message", "queue", "retry", "deliver", "status", "ok",
	"error", "timeout", "payload", "event", "metric", "cpu", "memory", "disk", "network",
	"latency", "request", "response", "user", "session", "token", "value", "count"}

// makePayloads returns n payloads of size bytes: JSON-like text of random
// words and numbers.
func makePayloads(n, size int) [][]byte {
	rng := rand.New(rand.NewPCG(7, 11))
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 0, size+32)
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"text":"`...)
		for len(b) < size {
			b = append(b, words[rng.IntN(len(words))]...)
			b = append(b, ' ')
			if rng.IntN(4) == 0 {
				b = strconv.AppendUint(b, rng.Uint64N(100000), 10)
				b = append(b, ' ')
			}
		}
		out[i] = b[:size]
	}
	return out
}

func dirSize(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// runAppenders runs the append phase of a benchmark: opts.Writers
// goroutines append payloads through appendOne until opts.Count appends
// were issued or opts.Duration passed, adding their counts and latencies to
// res.Append. It returns the phase's start, for the caller to end once it
// has made the appends durable, and the first append error.
func runAppenders(ctx context.Context, opts BenchOptions, res *BenchResult, appendOne func(p []byte) error) (time.Time, error) {
	payloads := makePayloads(64, opts.RecordSize)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // res.Append and firstErr
		firstErr error
		issued   atomic.Int64
	)
	deadline := time.Time{}
	if opts.Duration > 0 {
		deadline = time.Now().Add(opts.Duration)
	}
	start := res.Append.begin()
	for w := range opts.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h Histogram
			var n, bytes uint64
			for i := w; ; i++ {
				if opts.Duration > 0 {
					if time.Now().After(deadline) {
						break
					}
				} else if issued.Add(1) > int64(opts.Count) {
					break
				}
				if n&1023 == 0 && ctx.Err() != nil {
					break
				}
				p := payloads[i%len(payloads)]
				t := time.Now()
				if err := appendOne(p); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				h.Add(uint64(time.Since(t)))
				n++
				bytes += uint64(len(p))
			}
			mu.Lock()
			res.Append.Latency.Merge(&h)
			res.Append.Ops += n
			res.Append.Bytes += bytes
			mu.Unlock()
		}()
	}
	wg.Wait()
	return start, firstErr
}
