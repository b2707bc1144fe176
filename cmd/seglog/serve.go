package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/seglog/seglog/log/ship/exchange"
	"github.com/seglog/seglog/log/ship/metrics"
)

type serveFlags struct {
	listen, dir, tokens string
	tlsCert, tlsKey     string
	maxBody, maxBatch   string
	metrics             string
}

func (a *app) serveCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR --dir DIR --tokens FILE",
		Short: "Receive agents' logs over HTTP, one inbox log per agent",
		Long: `serve runs the server side of the HTTP exchange (docs/shipping.md): it
accepts batches from "seglog ship" and from agents that embed the ship
package, and stores each agent's records in its inbox, DIR/NAME, a seglog
log in which the record labelled L is at offset L. Every other seglog
command (info, dump, export...) reads an inbox while the server runs.

--tokens names each agent's secret, one line per agent: "NAME SECRET";
blank lines and lines starting with # are skipped. A request without a
known secret gets 401, with another agent's 403, and stores nothing.
--tls-cert and --tls-key (PEM files) serve https instead of http.

--metrics ADDR serves Prometheus metrics on http://ADDR/metrics, a
listener of its own and without authentication, so keep ADDR private (for
example 127.0.0.1:9420); without it no metrics are served. The agents'
listener serves only the exchange. The address actually listened on is
printed on stderr ("listening on ADDR"; with --json, a JSON line on
stdout, then {"event":"metrics"} with --metrics), so that --listen
127.0.0.1:0 can be used. Interrupted (SIGINT,
SIGTERM), it finishes the requests under way, closes the inboxes and
exits 0. SIGHUP reads --tokens again (agents added, secrets rotated); a
file that does not parse leaves the tokens in use.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.serve(&f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8420", "address to listen on (host:port)")
	fl.StringVar(&f.dir, "dir", "", "directory of the inboxes, one log per agent")
	fl.StringVar(&f.tokens, "tokens", "", `file of "NAME SECRET" lines, one per agent`)
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve https with")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fl.StringVar(&f.maxBody, "max-body", "64MiB", "largest request body as sent (compressed): 413 past it")
	fl.StringVar(&f.maxBatch, "max-batch", "256MiB", "largest request body decompressed: 413 past it")
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on ADDR (host:port), unauthenticated: keep it private")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("tokens")
	return cmd
}

// readTokens reads a tokens file.
func readTokens(path string) (*exchange.Tokens, error) {
	tf, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer tf.Close()
	return exchange.ParseTokens(tf, path)
}

func (a *app) serve(f *serveFlags) error {
	maxBody, err := parseBytes(f.maxBody)
	if err != nil || maxBody <= 0 {
		return fail(exitUsage, "--max-body %s: want a positive size", f.maxBody)
	}
	maxBatch, err := parseBytes(f.maxBatch)
	if err != nil || maxBatch <= 0 {
		return fail(exitUsage, "--max-batch %s: want a positive size", f.maxBatch)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return fail(exitUsage, "--tls-cert and --tls-key go together")
	}
	tokens, err := readTokens(f.tokens)
	if err != nil {
		return fail(exitUsage, "--tokens: %v", err)
	}
	if err := os.MkdirAll(f.dir, 0o750); err != nil {
		return fail(exitOpen, "--dir: %v", err)
	}
	var tlsConfig *tls.Config
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fail(exitUsage, "--tls-cert, --tls-key: %v", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := &exchange.ServerOptions{MaxBodyBytes: maxBody, MaxBatchBytes: maxBatch, Logger: a.logger()}
	metrics.NewServer(reg).Hook(opts)
	srv, err := exchange.NewServer(f.dir, tokens, opts)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", srv)

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		srv.Close()
		return fail(exitUsage, "--listen: %v", err)
	}
	scheme := "http"
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
		scheme = "https"
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, ReadTimeout: 10 * time.Minute, IdleTimeout: 5 * time.Minute}
	// SIGHUP reads the tokens file again: agents added or secrets rotated
	// without a restart. A file that does not parse changes nothing.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	if a.json {
		_ = writeJSON(a.stdout, map[string]string{"event": "listening", "address": ln.Addr().String(), "url": scheme + "://" + ln.Addr().String()})
	} else {
		fmt.Fprintf(a.stderr, "seglog: listening on %s (%s://%s), %d agents, inboxes in %s\n", ln.Addr(), scheme, ln.Addr(), tokens.Len(), f.dir)
	}

	// Metrics get a listener of their own: the agents' listener
	// answers only authenticated exchange requests, and the metrics
	// (agent names, volumes) are for the operator's network alone.
	if f.metrics != "" {
		stop, err := a.serveMetrics(f.metrics, reg)
		if err != nil {
			_ = hs.Close()
			srv.Close()
			return err
		}
		defer stop()
	}

	var serveErr error
	for stopped := false; !stopped; {
		select {
		case <-hup:
			t, err := readTokens(f.tokens)
			if err == nil {
				err = srv.SetTokens(t)
			}
			if err != nil {
				fmt.Fprintf(a.stderr, "seglog: SIGHUP: keeping the tokens in use: %v\n", err)
				continue
			}
			if !a.json {
				fmt.Fprintf(a.stderr, "seglog: SIGHUP: %d agents from %s\n", t.Len(), f.tokens)
			}
		case <-a.ctx.Done():
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			serveErr = hs.Shutdown(ctx)
			cancel()
			stopped = true
		case serveErr = <-served:
			stopped = true
		}
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	if err := errors.Join(serveErr, srv.Close()); err != nil {
		return fail(exitProblems, "serve: %v", err)
	}
	return nil
}
