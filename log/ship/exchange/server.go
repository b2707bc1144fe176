package exchange

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// ServerOptions configures a Server. The zero value, and a nil
// *ServerOptions, give the defaults stated on each field.
type ServerOptions struct {
	// MaxBodyBytes bounds a request body as sent (compressed); a larger
	// one gets 413. Default 64 MiB.
	MaxBodyBytes int64
	// MaxBatchBytes bounds a request body once decompressed; a larger one
	// gets 413. Default 256 MiB.
	MaxBatchBytes int64
	// MaxGapLabels bounds the gap marker records one request writes; the
	// answer then stops inside the gap and the agent sends the rest of it
	// again. Default 65536.
	MaxGapLabels uint64
	// LogOptions are the inboxes' options. Whatever its Sync, a batch is
	// on stable storage before it is answered.
	LogOptions *seglog.Options
	// AcceptedTypes, if set, gives the record types an agent may send
	// from now on, returned in every answer (nil: no such field).
	AcceptedTypes func(agent string) []string
	// OnStored is called after each batch is stored and answered, and
	// OnRejected after each request refused (status 4xx or 5xx).
	OnStored   func(Stored)
	OnRejected func(agent string, status int, err error)
	// Logger receives server-side failures. Default slog.Default().
	Logger *slog.Logger
}

// Stored describes one answered batch, for OnStored.
type Stored struct {
	Agent      string
	Sequence   uint64 // the batch's first label
	Next       uint64 // the answer
	Records    int    // records newly stored
	Bytes      int64  // their payload bytes
	GapLabels  uint64 // gap labels newly stored (as marker records)
	Duplicates uint64 // labels of the batch the inbox already held
	Entries    int    // records and gaps in the request
	// Refused is the agent's notice of records its log refused during an
	// outage (the Seglog-Refused header); the inbox adds it to its total
	// (Server.Refused).
	Refused  uint64
	Duration time.Duration
}

// Server is the server side of the HTTP exchange, an http.Handler. It
// keeps one seglog log per agent, DIR/AGENT, as that agent's inbox: the
// record labelled L is at offset L of the inbox, a gap's labels are
// marker records of type GapType, and the next-expected answer is the
// inbox's next offset. The inbox is thus the only state: whatever a crash
// leaves of it, the answer follows, and nothing is stored twice or lost.
type Server struct {
	dir    string
	tokens atomic.Pointer[Tokens]
	opts   ServerOptions
	logOpt seglog.Options
	mux    *http.ServeMux
	dec    sync.Pool

	mu struct {
		sync.Mutex
		inboxes map[string]*inbox
		closed  bool
	}
}

type inbox struct {
	mu  sync.Mutex
	log *seglog.Log // nil until opened, and after a failure
}

const (
	defaultMaxBodyBytes  = 64 << 20
	defaultMaxBatchBytes = 256 << 20
	defaultMaxGapLabels  = 1 << 16
	// maxWindow bounds the zstd window a client may use.
	maxWindow = 8 << 20
)

// NewServer returns a server that keeps its inboxes under dir and admits
// the agents of tokens.
func NewServer(dir string, tokens *Tokens, opts *ServerOptions) (*Server, error) {
	if tokens == nil || tokens.Len() == 0 {
		return nil, errors.New("seglog/exchange: a server needs at least one agent token")
	}
	s := &Server{dir: dir}
	s.tokens.Store(tokens)
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.MaxBodyBytes <= 0 {
		s.opts.MaxBodyBytes = defaultMaxBodyBytes
	}
	if s.opts.MaxBatchBytes <= 0 {
		s.opts.MaxBatchBytes = defaultMaxBatchBytes
	}
	if s.opts.MaxGapLabels == 0 {
		s.opts.MaxGapLabels = defaultMaxGapLabels
	}
	if s.opts.Logger == nil {
		s.opts.Logger = slog.Default()
	}
	if s.opts.LogOptions != nil {
		s.logOpt = *s.opts.LogOptions
	}
	s.logOpt.ReadOnly = false
	if s.logOpt.Logger == nil {
		s.logOpt.Logger = s.opts.Logger
	}
	s.mu.inboxes = map[string]*inbox{}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc(fmt.Sprintf("POST /v%d/agents/{agent}/batches", Version), s.handleBatch)
	return s, nil
}

// SetTokens replaces the agents' secrets, for requests that start from
// now on (to add agents or rotate secrets without a restart).
func (s *Server) SetTokens(tokens *Tokens) error {
	if tokens == nil || tokens.Len() == 0 {
		return errors.New("seglog/exchange: a server needs at least one agent token")
	}
	s.tokens.Store(tokens)
	return nil
}

// ServeHTTP serves POST /v1/agents/{agent}/batches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close closes every inbox; requests that come later get 503.
func (s *Server) Close() error {
	s.mu.Lock()
	s.mu.closed = true
	inboxes := s.mu.inboxes
	s.mu.inboxes = map[string]*inbox{}
	s.mu.Unlock()
	var err error
	for _, in := range inboxes {
		in.mu.Lock()
		if in.log != nil {
			err = errors.Join(err, in.log.Close())
			in.log = nil
		}
		in.mu.Unlock()
	}
	return err
}

// Next returns the label the server expects next from agent: its inbox's
// next offset (0 for a new inbox, which it creates).
func (s *Server) Next(agent string) (uint64, error) {
	var next uint64
	err := s.withInbox(agent, func(l *seglog.Log) error {
		next = l.NextOffset()
		return nil
	})
	return next, err
}

// withInbox runs f with agent's inbox log, opened if need be, under the
// inbox's lock.
func (s *Server) withInbox(agent string, f func(*seglog.Log) error) error {
	in, err := s.inbox(agent)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	l, err := s.openLocked(agent, in)
	if err != nil {
		return err
	}
	return f(l)
}

// RefusedMeta is the inbox metadata key (Log.Meta) holding the total of
// the agent's notices of refused records, in decimal.
const RefusedMeta = "exchange.refused"

// Refused returns the total of the agent's notices of records its log
// refused during outages (Batch.Refused), as the inbox stored them. A
// notice the agent sent again because the answer was lost counts again.
func (s *Server) Refused(agent string) (uint64, error) {
	var total uint64
	err := s.withInbox(agent, func(l *seglog.Log) (err error) {
		total, err = refusedTotal(l)
		return err
	})
	return total, err
}

func refusedTotal(l *seglog.Log) (uint64, error) {
	v, ok := l.Meta(RefusedMeta)
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("inbox %s: metadata %q: %v", l.Dir(), RefusedMeta, err)
	}
	return n, nil
}

// errTooLarge marks a body over a limit: 413.
var errTooLarge = errors.New("request body too large")

type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }

func refuse(status int, format string, args ...any) *httpError {
	return &httpError{status: status, err: fmt.Errorf(format, args...)}
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	agent := r.PathValue("agent")
	st, herr := s.serveBatch(w, r, agent)
	if herr != nil {
		if herr.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="seglog"`)
		}
		if herr.status >= 500 {
			s.opts.Logger.Error("seglog/exchange: batch failed", "agent", agent, "err", herr.err)
		}
		writeJSONStatus(w, herr.status, map[string]string{"error": herr.err.Error()})
		if s.opts.OnRejected != nil {
			s.opts.OnRejected(agent, herr.status, herr.err)
		}
		return
	}
	resp := struct {
		Next          uint64   `json:"next"`
		AcceptedTypes []string `json:"accepted_types,omitempty"`
	}{Next: st.Next}
	if s.opts.AcceptedTypes != nil {
		resp.AcceptedTypes = s.opts.AcceptedTypes(agent)
	}
	writeJSONStatus(w, http.StatusOK, resp)
	st.Duration = time.Since(start)
	if s.opts.OnStored != nil {
		s.opts.OnStored(st)
	}
}

func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, agent string) (Stored, *httpError) {
	st := Stored{Agent: agent}
	if err := CheckAgentID(agent); err != nil {
		return st, refuse(http.StatusBadRequest, "%v", err)
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	owner, known := s.tokens.Load().Agent(strings.TrimSpace(token))
	switch {
	case !ok || !known:
		return st, refuse(http.StatusUnauthorized, "missing or unknown token")
	case owner != agent:
		return st, refuse(http.StatusForbidden, "token is not agent %s's", agent)
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "zstd" {
		return st, refuse(http.StatusUnsupportedMediaType, "Content-Encoding %q (want zstd)", ce)
	}
	if ct := r.Header.Get("Content-Type"); ct != ContentType {
		return st, refuse(http.StatusUnsupportedMediaType, "Content-Type %q (want %s)", ct, ContentType)
	}
	if r.ContentLength == 0 {
		return st, refuse(http.StatusBadRequest, "empty body")
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		return st, refuse(http.StatusRequestEntityTooLarge, "body of %d bytes (max %d)", r.ContentLength, s.opts.MaxBodyBytes)
	}
	wb, err := s.decode(w, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errTooLarge) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			return st, refuse(http.StatusRequestEntityTooLarge, "%v (max %d bytes sent, %d decoded)", err, s.opts.MaxBodyBytes, s.opts.MaxBatchBytes)
		}
		return st, refuse(http.StatusBadRequest, "%v", err)
	}
	st.Sequence, st.Entries = wb.Sequence, len(wb.Entries)
	if h := r.Header.Get(HeaderRefused); h != "" {
		n, err := strconv.ParseUint(h, 10, 64)
		if err != nil {
			return st, refuse(http.StatusBadRequest, "header %s: %q is not a count", HeaderRefused, h)
		}
		st.Refused = n
	}

	in, err := s.inbox(agent)
	if err != nil {
		return st, refuse(http.StatusServiceUnavailable, "%v", err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	l, err := s.openLocked(agent, in)
	if err != nil {
		return st, refuse(http.StatusInternalServerError, "open inbox: %v", err)
	}
	if err := s.store(l, wb, &st); err != nil {
		// The inbox may hold part of the batch, or be in a failed state:
		// reopening it recovers, and the next answer follows what is on
		// disk.
		_ = l.Close()
		in.log = nil
		return st, refuse(http.StatusInternalServerError, "store: %v", err)
	}
	if st.Refused > 0 {
		total, err := refusedTotal(l)
		if err == nil {
			err = l.SetMeta(RefusedMeta, strconv.AppendUint(nil, total+st.Refused, 10))
		}
		if err != nil {
			return st, refuse(http.StatusInternalServerError, "store the notice of %d refused records: %v", st.Refused, err)
		}
		s.opts.Logger.Warn("seglog/exchange: the agent's log refused records during an outage", "agent", agent, "refused", st.Refused, "total", total+st.Refused)
	}
	return st, nil
}

// decode reads and checks the whole body before anything is stored, so
// that a bad or oversized request stores nothing.
func (s *Server) decode(w http.ResponseWriter, r *http.Request) (*wireBatch, error) {
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	dec, _ := s.dec.Get().(*zstd.Decoder)
	if dec == nil {
		var err error
		dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxWindow),
			zstd.WithDecoderMaxMemory(uint64(s.opts.MaxBatchBytes)))
		if err != nil {
			return nil, err
		}
	}
	if err := dec.Reset(body); err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	lr := &limitReader{r: dec, n: s.opts.MaxBatchBytes}
	wb, err := decodeBatch(bufio.NewReaderSize(lr, 64<<10))
	if err != nil {
		// A decoder left inside a stream may hand its leftovers to the
		// next one: only one that read a stream to its end is reused.
		dec.Close()
		return nil, err
	}
	dec.Reset(nil)
	s.dec.Put(dec)
	// The zstd stream must end with the body: nothing may follow it.
	if n, _ := io.Copy(io.Discard, io.LimitReader(body, 1)); n > 0 {
		return nil, fmt.Errorf("%w: bytes after the zstd stream", errMalformed)
	}
	return wb, nil
}

type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One byte more than the limit tells a body that is too large
		// from one that ends right at it.
		var b [1]byte
		for {
			n, err := l.r.Read(b[:])
			if n > 0 {
				return 0, errTooLarge
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func (s *Server) inbox(agent string) (*inbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, errors.New("server is closed")
	}
	in := s.mu.inboxes[agent]
	if in == nil {
		in = &inbox{}
		s.mu.inboxes[agent] = in
	}
	return in, nil
}

// openLocked returns the inbox's log, opening it if needed. in.mu is held.
func (s *Server) openLocked(agent string, in *inbox) (*seglog.Log, error) {
	if in.log != nil {
		return in.log, nil
	}
	s.mu.Lock()
	closed := s.mu.closed
	s.mu.Unlock()
	if closed { // Close ran while this request waited for the inbox
		return nil, errors.New("server is closed")
	}
	if err := CheckAgentID(agent); err != nil {
		return nil, err
	}
	opts := s.logOpt
	l, err := seglog.Open(filepath.Join(s.dir, agent), &opts)
	if err != nil {
		return nil, err
	}
	in.log = l
	return l, nil
}

// store appends the entries of wb the inbox does not hold yet, each at
// the offset equal to its label, and sets st.Next to the inbox's next
// offset after it. A batch that starts past that offset stores nothing:
// the answer tells the agent where to resume.
func (s *Server) store(l *seglog.Log, wb *wireBatch, st *Stored) error {
	next := l.NextOffset()
	st.Next = answer(next, wb)
	if wb.Sequence > next {
		return nil
	}
	st.Duplicates = min(next-wb.Sequence, wb.Labels)
	var (
		recs   []seglog.Record
		size   int
		budget = s.opts.MaxGapLabels
	)
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		want := next - uint64(len(recs))
		first, err := l.AppendRecords(recs...)
		if err != nil {
			return err
		}
		if first != want {
			return fmt.Errorf("inbox %s: records landed at offset %d, their label is %d", l.Dir(), first, want)
		}
		recs, size = recs[:0], 0
		return nil
	}
	add := func(typ string, data []byte) error {
		n := segment.RecordSize(typ, data)
		if size+n > seglog.MaxBatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
		recs = append(recs, seglog.Record{Type: typ, Data: data})
		size += n
		next++
		return nil
	}
	label := wb.Sequence
entries:
	for _, e := range wb.Entries {
		n := uint64(1)
		if e.Gap > 0 {
			n = e.Gap
		}
		end := label + n
		if end <= next {
			label = end
			continue // already held
		}
		if e.Gap == 0 {
			if err := add(e.Type, e.Data); err != nil {
				return err
			}
			st.Records++
			st.Bytes += int64(len(e.Data))
			label = end
			continue
		}
		for lb := max(label, next); lb < end; lb++ {
			if budget == 0 {
				break entries
			}
			budget--
			if err := add(GapType, gapMarker(e, label, lb)); err != nil {
				return err
			}
			st.GapLabels++
		}
		label = end
	}
	if err := flush(); err != nil {
		return err
	}
	if s.logOpt.Sync != seglog.SyncAlways {
		if err := l.Sync(); err != nil {
			return err
		}
	}
	if got := l.NextOffset(); got != next {
		return fmt.Errorf("inbox %s: next offset %d after storing, want %d", l.Dir(), got, next)
	}
	st.Next = answer(next, wb)
	return nil
}

// answer is the reply to a batch when the inbox holds labels below next:
// next, but no further than the batch's end. An inbox can hold labels past
// the batch when an earlier batch, from a run of the agent killed before
// it applied the answer, was larger; the agent can only apply an answer
// within what it just sent (a larger one is "too high" and resynchronises
// it), so it is told the batch's end and resends the rest, which the
// inbox drops. An empty batch is answered next.
func answer(next uint64, wb *wireBatch) uint64 {
	if wb.Labels == 0 || wb.Sequence > next {
		return next
	}
	return min(next, wb.Sequence+wb.Labels)
}

// gapMarker is the payload of the marker record for label lb of gap e,
// whose first label is first: JSON, with the detail on the first label
// only.
func gapMarker(e wireEntry, first, lb uint64) []byte {
	m := struct {
		Reason string `json:"reason"`
		First  uint64 `json:"first"`
		Count  uint64 `json:"count"`
		Detail string `json:"detail,omitempty"`
	}{Reason: e.Reason.String(), First: first, Count: e.Gap}
	if lb == first {
		m.Detail = e.Detail
	}
	b, _ := json.Marshal(m)
	return b
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
