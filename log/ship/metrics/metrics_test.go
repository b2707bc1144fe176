package metrics_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	"github.com/seglog/seglog/log/ship/exchange"
	"github.com/seglog/seglog/log/ship/metrics"
)

// TestMetrics ships records through the HTTP exchange with every
// collector registered, and checks the figures they report.
func TestMetrics(t *testing.T) {
	const secret = "secret-of-agent-a-0123456789"
	tokens, err := exchange.NewTokens(map[string]string{"a": secret})
	if err != nil {
		t.Fatal(err)
	}
	serverReg := prometheus.NewRegistry()
	sopts := &exchange.ServerOptions{}
	metrics.NewServer(serverReg).Hook(sopts)
	srv, err := exchange.NewServer(t.TempDir(), tokens, sopts)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	l, err := seglog.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 25 {
		if _, err := l.Append([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewLogCollector(l))
	ctx, cancel := context.WithCancel(context.Background())
	opts := &ship.Options{MaxRecords: 10, OnSuccess: func(ex ship.Exchange) {
		if ex.Ack.State.PendingCount == 0 {
			cancel()
		}
	}}
	metrics.NewSender(reg).Hook(opts)
	c, err := exchange.NewClient(hs.URL, "a", secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ship.NewSender(l, c, opts).Run(ctx); err != nil {
		t.Fatal(err)
	}
	// A refused request, for the server's refusal counter.
	bad, _ := exchange.NewClient(hs.URL, "a", "not-the-secret-0123456789", nil)
	if _, err := bad.Send(context.Background(), seglog.Batch{Records: []seglog.Record{{Data: []byte("x")}}}); err == nil {
		t.Fatal("a wrong secret was accepted")
	}

	want := `
# HELP seglog_log_appended_records_total Records ever appended to the log (its next offset: offsets are never reused).
# TYPE seglog_log_appended_records_total counter
seglog_log_appended_records_total 25
# HELP seglog_log_pending_records Records not yet acknowledged by the peer (next offset - cursor).
# TYPE seglog_log_pending_records gauge
seglog_log_pending_records 0
# HELP seglog_ship_batches_total Exchanges whose answer was applied.
# TYPE seglog_ship_batches_total counter
seglog_ship_batches_total 3
# HELP seglog_ship_bytes_total Payload bytes of the records the peer confirmed.
# TYPE seglog_ship_bytes_total counter
seglog_ship_bytes_total 250
# HELP seglog_ship_records_total Records the peer confirmed.
# TYPE seglog_ship_records_total counter
seglog_ship_records_total 25
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "seglog_log_appended_records_total", "seglog_log_pending_records",
		"seglog_ship_batches_total", "seglog_ship_bytes_total", "seglog_ship_records_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "seglog_ship_batch_records"); n != 1 {
		t.Fatalf("batch size histogram: %d series", n)
	}
	wantServer := `
# HELP seglog_serve_records_total Records stored in agents' inboxes.
# TYPE seglog_serve_records_total counter
seglog_serve_records_total{agent="a"} 25
# HELP seglog_serve_rejected_total Requests refused, by HTTP status.
# TYPE seglog_serve_rejected_total counter
seglog_serve_rejected_total{code="401"} 1
`
	if err := testutil.GatherAndCompare(serverReg, strings.NewReader(wantServer), "seglog_serve_records_total", "seglog_serve_rejected_total"); err != nil {
		t.Fatal(err)
	}
}
