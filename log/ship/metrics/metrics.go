// Package metrics exports a seglog log's delivery figures, a ship.Sender's
// exchanges and an exchange.Server's batches as Prometheus metrics. An
// agent that embeds seglog registers the same metrics the seglog ship
// command serves on /metrics:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewLogCollector(l))
//	opts := &ship.Options{}
//	metrics.NewSender(reg).Hook(opts)
//	sender := ship.NewSender(l, sink, opts)
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	"github.com/seglog/seglog/log/ship/exchange"
)

// LogCollector reports a log's offsets and delivery state at each scrape.
type LogCollector struct {
	log                                    *seglog.Log
	appended, pending, first, next, seqDsc *prometheus.Desc
}

// NewLogCollector returns a collector of l's figures.
func NewLogCollector(l *seglog.Log) *LogCollector {
	return &LogCollector{
		log: l,
		appended: prometheus.NewDesc("seglog_log_appended_records_total",
			"Records ever appended to the log (its next offset: offsets are never reused).", nil, nil),
		pending: prometheus.NewDesc("seglog_log_pending_records",
			"Records not yet acknowledged by the peer (next offset - cursor).", nil, nil),
		first: prometheus.NewDesc("seglog_log_first_offset",
			"Oldest offset the log keeps.", nil, nil),
		next: prometheus.NewDesc("seglog_log_cursor_offset",
			"Offset of the next record to send.", nil, nil),
		seqDsc: prometheus.NewDesc("seglog_log_sequence",
			"Label of the next record to send (the peer's last next-expected answer).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *LogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.appended
	ch <- c.pending
	ch <- c.first
	ch <- c.next
	ch <- c.seqDsc
}

// Collect implements prometheus.Collector.
func (c *LogCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.log.State()
	ch <- prometheus.MustNewConstMetric(c.appended, prometheus.CounterValue, float64(st.Next))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.PendingCount))
	ch <- prometheus.MustNewConstMetric(c.first, prometheus.GaugeValue, float64(st.First))
	ch <- prometheus.MustNewConstMetric(c.next, prometheus.GaugeValue, float64(st.Cursor))
	ch <- prometheus.MustNewConstMetric(c.seqDsc, prometheus.GaugeValue, float64(st.Sequence))
}

// batch size buckets: 1 to about 65536 records, and 128 B to about 32 MiB.
var (
	recordBuckets  = prometheus.ExponentialBuckets(1, 4, 9)
	byteBuckets    = prometheus.ExponentialBuckets(128, 4, 10)
	latencyBuckets = prometheus.ExponentialBuckets(0.0005, 3, 12)
)

// Sender counts a ship.Sender's exchanges. Hook it into the Sender's
// Options before making the Sender.
type Sender struct {
	records, bytes, gaps, batches, resyncs prometheus.Counter
	failures                               *prometheus.CounterVec
	batchRecords, batchBytes, latency      prometheus.Histogram
	lastSuccess                            prometheus.Gauge
}

// NewSender returns the sender metrics, registered with reg.
func NewSender(reg prometheus.Registerer) *Sender {
	m := &Sender{
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "seglog_ship_records_total",
			Help: "Records the peer confirmed."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "seglog_ship_bytes_total",
			Help: "Payload bytes of the records the peer confirmed."}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{Name: "seglog_ship_gap_labels_total",
			Help: "Labels of gaps (records the log could not deliver) sent to the peer."}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "seglog_ship_batches_total",
			Help: "Exchanges whose answer was applied."}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{Name: "seglog_ship_resyncs_total",
			Help: "Answers that made the log resynchronise with its peer."}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seglog_ship_retries_total",
			Help: "Failed exchanges, each retried after a backoff, by stage (pending, send, ack)."}, []string{"stage"}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "seglog_ship_batch_records",
			Help: "Records per batch sent.", Buckets: recordBuckets}),
		batchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "seglog_ship_batch_bytes",
			Help: "Payload bytes per batch sent.", Buckets: byteBuckets}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "seglog_ship_exchange_seconds",
			Help: "Time of an applied exchange, from taking the batch to applying the answer.", Buckets: latencyBuckets}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "seglog_ship_last_success_timestamp_seconds",
			Help: "Unix time of the last applied exchange."}),
	}
	for _, s := range []string{"pending", "send", "ack"} {
		m.failures.WithLabelValues(s)
	}
	reg.MustRegister(m.records, m.bytes, m.gaps, m.batches, m.resyncs, m.failures,
		m.batchRecords, m.batchBytes, m.latency, m.lastSuccess)
	return m
}

// Hook makes opts report to m, keeping the hooks opts already has.
func (m *Sender) Hook(opts *ship.Options) {
	onSuccess, onFailure := opts.OnSuccess, opts.OnFailure
	opts.OnSuccess = func(ex ship.Exchange) {
		m.Success(ex)
		if onSuccess != nil {
			onSuccess(ex)
		}
	}
	opts.OnFailure = func(ex ship.Exchange) {
		m.Failure(ex)
		if onFailure != nil {
			onFailure(ex)
		}
	}
}

// Success records an applied exchange.
func (m *Sender) Success(ex ship.Exchange) {
	m.records.Add(float64(ex.Shipped))
	m.bytes.Add(float64(ex.ShippedBytes))
	m.gaps.Add(float64(ex.Gaps))
	m.batches.Inc()
	if ex.Ack.Resync {
		m.resyncs.Inc()
	}
	m.batchRecords.Observe(float64(ex.Records))
	m.batchBytes.Observe(float64(ex.Bytes))
	m.latency.Observe(ex.Duration.Seconds())
	m.lastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
}

// Failure records a failed exchange.
func (m *Sender) Failure(ex ship.Exchange) {
	m.failures.WithLabelValues(ex.Stage).Inc()
}

// Server counts an exchange.Server's batches. Hook it into the server's
// options before making the server.
type Server struct {
	records, bytes, gaps, duplicates, batches *prometheus.CounterVec
	rejected                                  *prometheus.CounterVec
	batchRecords                              prometheus.Histogram
	latency                                   prometheus.Histogram
}

// NewServer returns the server metrics, registered with reg.
func NewServer(reg prometheus.Registerer) *Server {
	agent := []string{"agent"}
	m := &Server{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seglog_serve_records_total",
			Help: "Records stored in agents' inboxes."}, agent),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seglog_serve_bytes_total",
			Help: "Payload bytes of the records stored."}, agent),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seglog_serve_gap_labels_total",
			Help: "Gap labels stored as marker records."}, agent),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seglog_serve_duplicate_labels_total",
			Help: "Labels received that the inbox already held (resends), dropped."}, agent),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seglog_serve_batches_total",
			Help: "Batches answered."}, agent),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "seglog_serve_rejected_total",
			Help: "Requests refused, by HTTP status."}, []string{"code"}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "seglog_serve_batch_entries",
			Help: "Records and gaps per batch received.", Buckets: recordBuckets}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "seglog_serve_batch_seconds",
			Help: "Time to read, store and answer a batch.", Buckets: latencyBuckets}),
	}
	reg.MustRegister(m.records, m.bytes, m.gaps, m.duplicates, m.batches, m.rejected, m.batchRecords, m.latency)
	return m
}

// Hook makes opts report to m, keeping the hooks opts already has.
func (m *Server) Hook(opts *exchange.ServerOptions) {
	onStored, onRejected := opts.OnStored, opts.OnRejected
	opts.OnStored = func(st exchange.Stored) {
		m.records.WithLabelValues(st.Agent).Add(float64(st.Records))
		m.bytes.WithLabelValues(st.Agent).Add(float64(st.Bytes))
		m.gaps.WithLabelValues(st.Agent).Add(float64(st.GapLabels))
		m.duplicates.WithLabelValues(st.Agent).Add(float64(st.Duplicates))
		m.batches.WithLabelValues(st.Agent).Inc()
		m.batchRecords.Observe(float64(st.Entries))
		m.latency.Observe(st.Duration.Seconds())
		if onStored != nil {
			onStored(st)
		}
	}
	opts.OnRejected = func(agent string, status int, err error) {
		m.rejected.WithLabelValues(strconv.Itoa(status)).Inc()
		if onRejected != nil {
			onRejected(agent, status, err)
		}
	}
}
