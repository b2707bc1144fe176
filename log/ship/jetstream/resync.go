package jetstream

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// resync reads where the stream is: its last sequence, then the last
// message on the sink's subject. The order matters: a message of an
// earlier publish still in flight may land between the two reads; read
// in this order it shows as a last message past the last sequence, and
// the sink reads again, instead of taking a label that is already stale.
func (s *Sink) resync(ctx context.Context) error {
	if s.stream == "" {
		rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
		name, err := s.js.StreamNameBySubject(rctx, s.subject)
		cancel()
		if err != nil {
			return fmt.Errorf("jetstream sink: find the stream of subject %s: %w", s.subject, err)
		}
		s.stream = name
	}
	for range 10 {
		var last uint64
		if !s.opts.SharedStream {
			var err error
			if last, err = s.lastSequence(ctx); err != nil {
				return err
			}
		}
		s.lastSeq, s.known, s.next = last, false, 0
		if last == 0 && !s.opts.SharedStream {
			s.synced = true
			return nil
		}
		m, err := s.lastMsg(ctx)
		if err != nil {
			return err
		}
		if m == nil {
			// Nothing of ours on the subject.
			s.synced = true
			return nil
		}
		if s.opts.SharedStream {
			// The subject's last message is the expectation.
			s.lastSeq = m.Sequence
		} else if m.Sequence > last {
			continue // something landed between the two reads
		}
		if m.Header.Get(HeaderLog) != s.opts.LogID {
			// Another log (the one this log replaced) wrote last.
			s.synced = true
			return nil
		}
		e, err := ParseMsg(m.Header, nil)
		if err != nil {
			return fmt.Errorf("jetstream sink: stream %s, sequence %d: %w", s.stream, m.Sequence, err)
		}
		s.known, s.next, s.synced = true, e.End(), true
		return nil
	}
	return fmt.Errorf("jetstream sink: stream %s keeps moving while it is read (another writer on subject %s?)", s.stream, s.subject)
}

// lastSequence asks the stream's leader for its last sequence.
func (s *Sink) lastSequence(ctx context.Context) (uint64, error) {
	rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	st, err := s.js.Stream(rctx, s.stream)
	if err != nil {
		return 0, fmt.Errorf("jetstream sink: stream %s: %w", s.stream, err)
	}
	return st.CachedInfo().State.LastSeq, nil
}

type storedMsg struct {
	Subject  string `json:"subject"`
	Sequence uint64 `json:"seq"`
	Header   []byte `json:"hdrs,omitempty"`
}

type msgGetResponse struct {
	Type  string              `json:"type"`
	Error *jetstream.APIError `json:"error,omitempty"`
	Msg   *storedMsg          `json:"message,omitempty"`
}

type lastMsg struct {
	Sequence uint64
	Header   nats.Header
}

// lastMsg reads the last message on the subject from the stream's leader
// (a direct get may be served by a replica that lags behind); nil if the
// stream has none.
func (s *Sink) lastMsg(ctx context.Context) (*lastMsg, error) {
	req, err := json.Marshal(map[string]string{"last_by_subj": s.subject})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	reply, err := s.nc.RequestWithContext(rctx, "$JS.API.STREAM.MSG.GET."+s.stream, req)
	if err != nil {
		return nil, fmt.Errorf("jetstream sink: stream %s: get the last message of %s: %w", s.stream, s.subject, err)
	}
	var resp msgGetResponse
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return nil, fmt.Errorf("jetstream sink: stream %s: get the last message of %s: %w", s.stream, s.subject, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("jetstream sink: stream %s: get the last message of %s: %w", s.stream, s.subject, resp.Error)
	}
	if resp.Msg == nil {
		return nil, fmt.Errorf("jetstream sink: stream %s: get the last message of %s: empty answer", s.stream, s.subject)
	}
	m := &lastMsg{Sequence: resp.Msg.Sequence, Header: nats.Header{}}
	if len(resp.Msg.Header) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Msg.Header)
		if err != nil {
			return nil, fmt.Errorf("jetstream sink: stream %s, sequence %d: headers: %w", s.stream, m.Sequence, err)
		}
		m.Header = h
	}
	return m, nil
}
