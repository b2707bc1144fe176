package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/ship"
)

// ClientOptions configures a Client. The zero value, and a nil
// *ClientOptions, give the defaults stated on each field.
type ClientOptions struct {
	// HTTPClient sends the requests. Default a client of its own whose
	// transport is http.DefaultTransport's settings (set one to trust a
	// private certificate authority).
	HTTPClient *http.Client
	// Timeout bounds one exchange, request and answer. Default 60s.
	Timeout time.Duration
	// Level is the zstd compression level. Default zstd.SpeedFastest.
	Level zstd.EncoderLevel
}

// Client is the agent side of the HTTP exchange: a ship.Sink that POSTs
// each batch, zstd-compressed and streamed as it is encoded, to
// BASE/v1/agents/AGENT/batches. It is used by one goroutine at a time.
type Client struct {
	url     string
	token   string
	http    *http.Client
	timeout time.Duration
	enc     *zstd.Encoder
}

var _ ship.Sink = (*Client)(nil)

// NewClient returns a client that ships as agent to the server at
// baseURL (http:// or https://), authenticated with token.
func NewClient(baseURL, agent, token string, opts *ClientOptions) (*Client, error) {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if err := CheckAgentID(agent); err != nil {
		return nil, fmt.Errorf("seglog/exchange: %w", err)
	}
	if token == "" {
		return nil, errors.New("seglog/exchange: empty token")
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("seglog/exchange: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("seglog/exchange: URL %s: want http:// or https://", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("seglog/exchange: URL %s has no host", baseURL)
	}
	u = u.JoinPath(fmt.Sprintf("v%d", Version), "agents", agent, "batches")
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Level == 0 {
		o.Level = zstd.SpeedFastest
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(o.Level), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, err
	}
	return &Client{url: u.String(), token: token, http: o.HTTPClient, timeout: o.Timeout, enc: enc}, nil
}

// StatusError is a server's refusal: an HTTP status other than 200.
type StatusError struct {
	Code    int
	Message string // the server's "error" field, or the start of its body
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Send posts b and returns the server's answer.
func (c *Client) Send(ctx context.Context, b seglog.Batch) (ship.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pr, pw := io.Pipe()
	encoded := make(chan struct{})
	go func() {
		defer close(encoded)
		c.enc.Reset(pw)
		err := encodeBatch(c.enc, b)
		if cerr := c.enc.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	// The encoder is reused: wait for the goroutine before returning.
	defer func() {
		pr.CloseWithError(errors.New("request ended"))
		<-encoded
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, pr)
	if err != nil {
		return ship.Reply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("Content-Encoding", "zstd")
	req.Header.Set("Accept", "application/json")
	if b.Refused > 0 {
		req.Header.Set(HeaderRefused, strconv.FormatUint(b.Refused, 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return ship.Reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ship.Reply{}, fmt.Errorf("read answer: %w", err)
	}
	var ans struct {
		Next          *uint64  `json:"next"`
		AcceptedTypes []string `json:"accepted_types"`
		Error         string   `json:"error"`
	}
	jerr := json.Unmarshal(body, &ans)
	if resp.StatusCode != http.StatusOK {
		msg := ans.Error
		if jerr != nil || msg == "" {
			msg = strings.TrimSpace(string(body[:min(len(body), 200)]))
		}
		return ship.Reply{}, &StatusError{Code: resp.StatusCode, Message: msg}
	}
	if jerr != nil {
		return ship.Reply{}, fmt.Errorf("answer is not JSON: %w", jerr)
	}
	if ans.Next == nil {
		return ship.Reply{}, errors.New(`answer has no "next"`)
	}
	return ship.Reply{Next: *ans.Next, AcceptedTypes: ans.AcceptedTypes}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}
