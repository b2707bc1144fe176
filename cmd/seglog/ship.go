package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/seglog/seglog/internal/inspect"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	"github.com/seglog/seglog/log/ship/metrics"
)

type shipFlags struct {
	to          string
	agent       string
	tokenFile   string
	caFile      string
	timeout     time.Duration
	maxRecords  int
	maxBytes    string
	retryMin    time.Duration
	retryMax    time.Duration
	statusEvery time.Duration
	metrics     string
	drain       bool
	nats        natsFlags
}

func (a *app) shipCommand() *cobra.Command {
	var f shipFlags
	cmd := &cobra.Command{
		Use:   "ship DIR --to URL",
		Short: "Send a log's records to a server until interrupted",
		Long: `ship opens the log in DIR for writing (no other writer may hold it) and
sends its pending records to the server at --to, applying the server's
answers, until interrupted (SIGINT or SIGTERM); it then exits 0, having
lost nothing: records not yet acknowledged are sent again by the next run.
Failures are retried with capped exponential backoff and jitter.

http:// and https:// URLs use the HTTP exchange (docs/shipping.md): the
agent's name (--agent) and the file holding just its secret (--token-file)
are required; --ca trusts a private certificate authority for https.

nats://HOST:PORT/SUBJECT (tls://... for TLS) appends the records to the
NATS JetStream stream bound to SUBJECT, exactly once and in order
(docs/shipping.md); "{agent}" in SUBJECT is replaced by --agent.
--create-stream creates the stream (--stream, --replicas) if it is
missing; --creds, --ca, --tls-cert and --tls-key authenticate;
--shared-stream when other agents publish to the same stream.

Progress and errors go to stderr, a status line every --status-every and
at exit; with --json the status lines are JSON Lines on stdout instead.
--metrics ADDR serves Prometheus metrics on http://ADDR/metrics (the
address is printed, on stdout as {"event":"metrics"} with --json). --drain
exits 0 as soon as nothing is pending.

Exit status: 0 interrupted or drained, 2 usage error, 3 the log cannot be
opened, 4 another writer holds the log, 1 the log failed while shipping.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.ship(args[0], &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "server URL (http://, https://, nats:// or tls://)")
	fl.StringVar(&f.agent, "agent", "", "this agent's name on the server")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the agent's secret, alone")
	fl.StringVar(&f.caFile, "ca", "", "PEM file of the certificate authorities to trust for https and tls:// (default the system's)")
	fl.DurationVar(&f.timeout, "timeout", 60*time.Second, "bound on one exchange")
	fl.IntVar(&f.maxRecords, "max-records", 4096, "records per batch at most")
	fl.StringVar(&f.maxBytes, "max-bytes", "4MiB", "payload bytes per batch at most (a larger record goes alone)")
	fl.DurationVar(&f.retryMin, "retry-min", 100*time.Millisecond, "backoff after the first failure")
	fl.DurationVar(&f.retryMax, "retry-max", 30*time.Second, "backoff cap")
	fl.DurationVar(&f.statusEvery, "status-every", 10*time.Second, "period of the status lines (0: only at exit)")
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on ADDR (host:port)")
	fl.BoolVar(&f.drain, "drain", false, "exit once nothing is pending")
	f.nats.register(fl)
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

type jsonShipStatus struct {
	Time          time.Time  `json:"time"`
	Event         string     `json:"event"` // "status" or "exit"
	Records       uint64     `json:"records"`
	Bytes         uint64     `json:"bytes"`
	GapLabels     uint64     `json:"gap_labels"`
	Batches       uint64     `json:"batches"`
	Retries       uint64     `json:"retries"`
	Resyncs       uint64     `json:"resyncs"`
	Pending       uint64     `json:"pending"`
	Sequence      uint64     `json:"sequence"`
	Failing       int        `json:"failing"`
	LastError     string     `json:"last_error,omitempty"`
	LastErrorAt   *time.Time `json:"last_error_at,omitempty"`
	LastSuccessAt *time.Time `json:"last_success_at,omitempty"`
}

func (a *app) ship(dir string, f *shipFlags) error {
	maxBytes, err := parseBytes(f.maxBytes)
	if err != nil || maxBytes <= 0 {
		return fail(exitUsage, "--max-bytes %s: want a positive size", f.maxBytes)
	}
	if f.maxRecords <= 0 || f.retryMin <= 0 || f.retryMax < f.retryMin || f.statusEvery < 0 || f.timeout <= 0 {
		return fail(exitUsage, "--max-records, --retry-min, --timeout must be positive, --retry-max at least --retry-min")
	}
	newSink, err := a.sinkFor(f.to, f)
	if err != nil {
		return err
	}
	if _, err := inspect.ReadDir(dir); err != nil {
		return openErr(dir, err)
	}
	l, err := seglog.Open(dir, &seglog.Options{Logger: a.logger()})
	if errors.Is(err, seglog.ErrLocked) {
		return fail(exitLocked, "%v: another process writes %s; ship from that process with the ship package", err, dir)
	}
	if err != nil {
		return fail(exitOpen, "%v", err)
	}
	defer l.Close()
	sink, err := newSink(l)
	if err != nil {
		return err
	}
	defer sink.Close()

	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	opts := &ship.Options{
		MaxRecords: f.maxRecords, MaxBytes: int(min(maxBytes, int64(seglog.MaxBatchSize))),
		MinBackoff: f.retryMin, MaxBackoff: f.retryMax,
		Logger: a.logger(),
	}
	if f.drain {
		opts.OnSuccess = func(ex ship.Exchange) {
			if ex.Ack.State.PendingCount == 0 {
				cancel()
			}
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewLogCollector(l), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.NewSender(reg).Hook(opts)
	snd := ship.NewSender(l, sink, opts)
	if f.metrics != "" {
		stop, err := a.serveMetrics(f.metrics, reg)
		if err != nil {
			return err
		}
		defer stop()
	}
	if !a.json {
		st := l.State()
		fmt.Fprintf(a.stderr, "seglog: shipping %s to %s from label %d, %s records pending\n", dir, redactedURL(f.to), st.Sequence, comma(st.PendingCount))
	}
	if f.drain && l.State().PendingCount == 0 {
		cancel()
	}

	done := make(chan error, 1)
	go func() { done <- snd.Run(ctx) }()
	var tick <-chan time.Time
	if f.statusEvery > 0 {
		t := time.NewTicker(f.statusEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			a.shipStatus(snd, "status")
		case err := <-done:
			a.shipStatus(snd, "exit")
			if err != nil {
				return fail(exitProblems, "ship %s: %v", dir, err)
			}
			if err := l.Close(); err != nil {
				return fail(exitProblems, "%v", err)
			}
			return nil
		}
	}
}

func (a *app) shipStatus(snd *ship.Sender, event string) {
	st := snd.Stats()
	if a.json {
		js := jsonShipStatus{Time: a.now().UTC(), Event: event, Records: st.Records, Bytes: st.Bytes, GapLabels: st.GapLabels,
			Batches: st.Batches, Retries: st.Retries, Resyncs: st.Resyncs, Pending: st.Pending, Sequence: st.Sequence,
			Failing: st.Failing, LastError: st.LastError}
		if !st.LastErrorAt.IsZero() {
			t := st.LastErrorAt.UTC()
			js.LastErrorAt = &t
		}
		if !st.LastSuccessAt.IsZero() {
			t := st.LastSuccessAt.UTC()
			js.LastSuccessAt = &t
		}
		_ = writeJSON(a.stdout, js)
		return
	}
	msg := fmt.Sprintf("seglog: %s: shipped %s records (%s) in %s batches, %s pending, next label %d, %s retries",
		event, comma(st.Records), size(int64(st.Bytes)), comma(st.Batches), comma(st.Pending), st.Sequence, comma(st.Retries))
	if st.GapLabels > 0 {
		msg += fmt.Sprintf(", %s gap labels", comma(st.GapLabels))
	}
	if st.Failing > 0 {
		msg += fmt.Sprintf("; failing for %d tries, last error at %s: %s", st.Failing, st.LastErrorAt.UTC().Format(time.RFC3339), st.LastError)
	}
	fmt.Fprintln(a.stderr, msg)
}

// serveMetrics serves reg on http://addr/metrics until stop is called.
func (a *app) serveMetrics(addr string, reg *prometheus.Registry) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fail(exitUsage, "--metrics: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	url := fmt.Sprintf("http://%s/metrics", ln.Addr())
	if a.json {
		_ = writeJSON(a.stdout, map[string]string{"event": "metrics", "url": url})
	} else {
		fmt.Fprintf(a.stderr, "seglog: metrics on %s\n", url)
	}
	return func() { srv.Close() }, nil
}
