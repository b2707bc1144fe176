package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
	sinkjs "github.com/seglog/seglog/log/ship/jetstream"
)

// natsFlags are the ship flags of nats:// and tls:// URLs.
type natsFlags struct {
	creds          string
	tlsCert        string
	tlsKey         string
	stream         string
	createStream   bool
	streamSubjects []string
	replicas       int
	duplicates     time.Duration
	shared         bool
	window         int
	ackTimeout     time.Duration
	noMsgID        bool
}

func (n *natsFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&n.creds, "creds", "", "nats: NATS credentials file (JWT and NKey seed)")
	fl.StringVar(&n.tlsCert, "tls-cert", "", "nats: client certificate (PEM) for TLS")
	fl.StringVar(&n.tlsKey, "tls-key", "", "nats: client key (PEM) for --tls-cert")
	fl.StringVar(&n.stream, "stream", "", "nats: stream name (default: the stream bound to the subject; with --create-stream, SEGLOG_ and the subject)")
	fl.BoolVar(&n.createStream, "create-stream", false, "nats: create the stream, file storage, if it does not exist")
	fl.StringSliceVar(&n.streamSubjects, "stream-subjects", nil, "nats: subjects of a created stream (default the subject alone)")
	fl.IntVar(&n.replicas, "replicas", 1, "nats: replicas of a created stream (1, 3 or 5)")
	fl.DurationVar(&n.duplicates, "duplicates", 2*time.Minute, "nats: duplicate window of a created stream")
	fl.BoolVar(&n.shared, "shared-stream", false, "nats: other agents publish to the stream too (one publish in flight)")
	fl.IntVar(&n.window, "window", 4096, "nats: publishes in flight at most")
	fl.DurationVar(&n.ackTimeout, "ack-timeout", 5*time.Second, "nats: bound on the wait for one publish's acknowledgement")
	fl.BoolVar(&n.noMsgID, "no-msg-id", false, "nats: no Nats-Msg-Id header (exactness does not need it; faster)")
}

// natsSink checks a nats:// or tls:// URL and the flags, and returns how
// to make the JetStream sink once the log (whose id it needs) is open.
func (a *app) natsSink(u *url.URL, f *shipFlags) (newSinkFunc, error) {
	n := &f.nats
	subject := strings.TrimPrefix(u.Path, "/")
	if subject == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fail(exitUsage, "--to %s: want %s://HOST:PORT/SUBJECT", redactedURL(f.to), u.Scheme)
	}
	if strings.Contains(subject, "{agent}") && f.agent == "" {
		return nil, fail(exitUsage, "--to %s: the subject names {agent}: --agent is required", redactedURL(f.to))
	}
	if n.replicas != 1 && n.replicas != 3 && n.replicas != 5 {
		return nil, fail(exitUsage, "--replicas %d: want 1, 3 or 5", n.replicas)
	}
	if n.window <= 0 || n.ackTimeout <= 0 || n.duplicates <= 0 {
		return nil, fail(exitUsage, "--window, --ack-timeout and --duplicates must be positive")
	}
	if (n.tlsCert == "") != (n.tlsKey == "") {
		return nil, fail(exitUsage, "--tls-cert and --tls-key go together")
	}
	server := &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host}
	opts := []nats.Option{
		nats.Name("seglog ship"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.Timeout(5 * time.Second),
	}
	if n.creds != "" {
		opts = append(opts, nats.UserCredentials(n.creds))
	}
	if f.caFile != "" {
		opts = append(opts, nats.RootCAs(f.caFile))
	}
	if n.tlsCert != "" {
		opts = append(opts, nats.ClientCert(n.tlsCert, n.tlsKey))
	}
	return func(l *seglog.Log) (ship.Sink, error) {
		nc, err := nats.Connect(server.String(), opts...)
		if err != nil {
			return nil, fail(exitUsage, "--to %s: %v", redactedURL(f.to), err)
		}
		so := sinkjs.Options{
			Stream:       n.stream,
			Subject:      subject,
			Agent:        f.agent,
			LogID:        l.ID().String(),
			Window:       n.window,
			AckTimeout:   n.ackTimeout,
			SharedStream: n.shared,
			NoMsgID:      n.noMsgID,
		}
		s, err := sinkjs.New(nc, so)
		if err != nil {
			nc.Close()
			return nil, fail(exitUsage, "--to %s: %v", redactedURL(f.to), err)
		}
		if n.createStream {
			name, err := a.createStream(nc, n, s.Subject(), f.timeout)
			if err != nil {
				nc.Close()
				return nil, fail(exitProblems, "--create-stream: %v", err)
			}
			so.Stream = name
			if s, err = sinkjs.New(nc, so); err != nil {
				nc.Close()
				return nil, fail(exitUsage, "--to %s: %v", redactedURL(f.to), err)
			}
		}
		return &natsShipSink{Sink: s, nc: nc}, nil
	}, nil
}

// createStream creates the stream unless it exists, retrying for up to
// timeout while the server is unreachable or has no JetStream leader.
func (a *app) createStream(nc *nats.Conn, n *natsFlags, subject string, timeout time.Duration) (string, error) {
	name := n.stream
	if name == "" {
		name = "SEGLOG_" + strings.Map(func(r rune) rune {
			if r == '.' || r == '*' || r == '>' || r == '/' || r == '\\' || r <= ' ' {
				return '_'
			}
			return r
		}, subject)
	}
	subjects := n.streamSubjects
	if len(subjects) == 0 {
		subjects = []string{subject}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	cfg := jetstream.StreamConfig{
		Name:       name,
		Subjects:   subjects,
		Storage:    jetstream.FileStorage,
		Replicas:   n.replicas,
		Duplicates: n.duplicates,
	}
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(a.ctx, 2*time.Second)
		_, err = js.CreateStream(ctx, cfg)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			if err == nil && !a.json {
				fmt.Fprintf(a.stderr, "seglog: created stream %s on %s, %d replicas\n", name, strings.Join(subjects, ", "), n.replicas)
			}
			return name, nil
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) || time.Now().After(deadline) || a.ctx.Err() != nil {
			return "", fmt.Errorf("stream %s: %w", name, err)
		}
		select {
		case <-a.ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// natsShipSink closes the connection with the sink.
type natsShipSink struct {
	*sinkjs.Sink
	nc *nats.Conn
}

func (s *natsShipSink) Close() error {
	err := s.Sink.Close()
	s.nc.Close()
	return err
}
