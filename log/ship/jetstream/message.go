package jetstream

import (
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	seglog "github.com/seglog/seglog/log"
)

// Headers of the messages the sink publishes. See the package
// documentation.
const (
	HeaderLog       = "Seglog-Log"
	HeaderLabel     = "Seglog-Label"
	HeaderOffset    = "Seglog-Offset"
	HeaderType      = "Seglog-Type"
	HeaderGap       = "Seglog-Gap"
	HeaderGapReason = "Seglog-Gap-Reason"
	HeaderGapDetail = "Seglog-Gap-Detail"
	// HeaderRefused marks a notice: a message without a label of its own
	// (it carries the label of the entry that follows it) telling that
	// the log refused this many records during an outage
	// (Batch.Refused). It has no body and no Nats-Msg-Id.
	HeaderRefused = "Seglog-Refused"

	hdrMsgID = "Nats-Msg-Id"
)

// MsgID returns the JetStream message id of the entry at label in the log
// with identity logID.
func MsgID(logID string, label uint64) string {
	return logID + "-" + strconv.FormatUint(label, 10)
}

// message builds the message for e, or nil when e lies wholly before
// label from (the stream holds it); end is the label after it. A gap that
// straddles from is cut to its part from on.
func (s *Sink) message(e seglog.Entry, from uint64) (m *nats.Msg, end uint64) {
	m = &nats.Msg{Subject: s.subject, Header: nats.Header{}}
	label := e.Label
	if e.Record != nil {
		end = label + 1
		if end <= from {
			return nil, end
		}
		r := e.Record
		m.Data = r.Data
		m.Header.Set(HeaderOffset, strconv.FormatUint(r.Offset, 10))
		if r.Type != "" {
			m.Header.Set(HeaderType, headerText(r.Type))
		}
	} else {
		g := *e.Gap
		end = label + g.Count
		if end <= from {
			return nil, end
		}
		if label < from {
			cut := from - label
			g.Offset += cut
			g.Count -= cut
			label = from
		}
		m.Header.Set(HeaderOffset, strconv.FormatUint(g.Offset, 10))
		m.Header.Set(HeaderGap, strconv.FormatUint(g.Count, 10))
		m.Header.Set(HeaderGapReason, g.Reason.String())
		if g.Detail != "" {
			m.Header.Set(HeaderGapDetail, headerText(g.Detail))
		}
	}
	m.Header.Set(HeaderLog, s.opts.LogID)
	m.Header.Set(HeaderLabel, strconv.FormatUint(label, 10))
	if !s.opts.NoMsgID {
		m.Header.Set(hdrMsgID, MsgID(s.opts.LogID, label))
	}
	return m, end
}

// headerText makes s a header value: s itself when it is printable ASCII
// with no space at either end and no leading double quote; otherwise s
// quoted as a Go string literal in ASCII (strconv.QuoteToASCII), which
// starts with a double quote. A record type is any bytes, and a header
// value cannot hold a line break.
func headerText(s string) string {
	safe := s != "" && s[0] != '"' && s[0] != ' ' && s[len(s)-1] != ' '
	for i := 0; safe && i < len(s); i++ {
		safe = s[i] >= 0x20 && s[i] < 0x7f
	}
	if safe {
		return s
	}
	return strconv.QuoteToASCII(s)
}

// fromHeaderText reverses headerText.
func fromHeaderText(v string) (string, error) {
	if v == "" || v[0] != '"' {
		return v, nil
	}
	return strconv.Unquote(v)
}

// notice builds the message telling that the log refused n records, placed
// before the entry labelled label.
func (s *Sink) notice(label, n uint64) *nats.Msg {
	m := &nats.Msg{Subject: s.subject, Header: nats.Header{}}
	m.Header.Set(HeaderLog, s.opts.LogID)
	m.Header.Set(HeaderLabel, strconv.FormatUint(label, 10))
	m.Header.Set(HeaderRefused, strconv.FormatUint(n, 10))
	return m
}

// Entry is a message the sink published, decoded: a record, a gap notice,
// or a notice of refused records. Consumers of the stream can use ParseMsg
// to read them.
type Entry struct {
	Log    string
	Label  uint64
	Offset uint64
	Type   string
	Data   []byte
	Gap    uint64 // labels the gap notice covers; 0 for a record
	Reason string // gap reason
	Detail string // gap detail
	// Refused, when not zero, makes the entry a notice that the log
	// refused this many records during an outage; it takes no label, and
	// Label is the label of the entry after it. A notice sent again
	// because its answer was lost is stored again.
	Refused uint64
}

// End returns the label after the entry.
func (e Entry) End() uint64 {
	if e.Refused > 0 {
		return e.Label
	}
	if e.Gap > 0 {
		return e.Label + e.Gap
	}
	return e.Label + 1
}

// ParseMsg decodes the headers and body of a message the sink published.
func ParseMsg(h nats.Header, data []byte) (Entry, error) {
	e := Entry{Log: h.Get(HeaderLog), Data: data}
	if e.Log == "" {
		return Entry{}, fmt.Errorf("no %s header", HeaderLog)
	}
	var err error
	if e.Type, err = fromHeaderText(h.Get(HeaderType)); err != nil {
		return Entry{}, fmt.Errorf("header %s: %w", HeaderType, err)
	}
	if e.Label, err = strconv.ParseUint(h.Get(HeaderLabel), 10, 64); err != nil {
		return Entry{}, fmt.Errorf("header %s: %w", HeaderLabel, err)
	}
	if v := h.Get(HeaderRefused); v != "" {
		if e.Refused, err = strconv.ParseUint(v, 10, 64); err != nil || e.Refused == 0 {
			return Entry{}, fmt.Errorf("header %s: bad count %q", HeaderRefused, v)
		}
		e.Data = nil
		return e, nil
	}
	if e.Offset, err = strconv.ParseUint(h.Get(HeaderOffset), 10, 64); err != nil {
		return Entry{}, fmt.Errorf("header %s: %w", HeaderOffset, err)
	}
	if g := h.Get(HeaderGap); g != "" {
		if e.Gap, err = strconv.ParseUint(g, 10, 64); err != nil || e.Gap == 0 {
			return Entry{}, fmt.Errorf("header %s: bad count %q", HeaderGap, g)
		}
		e.Reason, e.Data = h.Get(HeaderGapReason), nil
		if e.Detail, err = fromHeaderText(h.Get(HeaderGapDetail)); err != nil {
			return Entry{}, fmt.Errorf("header %s: %w", HeaderGapDetail, err)
		}
	}
	return e, nil
}
