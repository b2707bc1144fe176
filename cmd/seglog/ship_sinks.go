package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	"github.com/seglog/seglog/log/ship/exchange"
)

// newSinkFunc makes the Sink once the log is open (a sink may need the
// log's identity).
type newSinkFunc func(*seglog.Log) (ship.Sink, error)

// sinkFor checks the URL and the flags of its transport, chosen by the
// URL's scheme, and returns how to make the Sink that ships to it. A
// transport adds its case here.
func (a *app) sinkFor(to string, f *shipFlags) (newSinkFunc, error) {
	u, err := url.Parse(to)
	if err != nil {
		return nil, fail(exitUsage, "--to: %v", err)
	}
	switch u.Scheme {
	case "http", "https":
		s, err := a.httpSink(to, f)
		if err != nil {
			return nil, err
		}
		return func(*seglog.Log) (ship.Sink, error) { return s, nil }, nil
	case "nats", "tls":
		return a.natsSink(u, f)
	default:
		return nil, fail(exitUsage, "--to %s: unknown scheme %q (want http, https, nats or tls)", redactedURL(to), u.Scheme)
	}
}

// httpSink is the HTTP exchange's client.
func (a *app) httpSink(to string, f *shipFlags) (ship.Sink, error) {
	if f.agent == "" || f.tokenFile == "" {
		return nil, fail(exitUsage, "--to %s: --agent and --token-file are required", redactedURL(to))
	}
	tf, err := os.Open(f.tokenFile)
	if err != nil {
		return nil, fail(exitUsage, "--token-file: %v", err)
	}
	defer tf.Close()
	secret, err := exchange.ReadSecret(tf, f.tokenFile)
	if err != nil {
		return nil, fail(exitUsage, "--token-file: %v", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fail(exitUsage, "--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fail(exitUsage, "--ca %s: no PEM certificate in it", f.caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c, err := exchange.NewClient(to, f.agent, secret, &exchange.ClientOptions{
		HTTPClient: &http.Client{Transport: tr},
		Timeout:    f.timeout,
	})
	if err != nil {
		return nil, fail(exitUsage, "%v", err)
	}
	return c, nil
}

// redactedURL is to with any password replaced, for messages: a URL may
// carry credentials (nats://user:password@host/...), which must not reach
// logs.
func redactedURL(to string) string {
	u, err := url.Parse(to)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
