package exchange

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	seglog "github.com/seglog/seglog/log"
)

// The wire format, version 1. Frozen: a change is a new version, served
// beside this one. docs/shipping.md describes it for other languages.
const (
	// Version is the protocol version this package speaks; it is in the
	// request path and in the body's header.
	Version = 1
	// Magic starts every decoded request body.
	Magic = "SGLB"
	// ContentType is the media type of a request body (before
	// compression); the body is always zstd-compressed.
	ContentType = "application/vnd.seglog.batch.v1"

	kindEnd    = 0x00
	kindRecord = 0x01
	kindGap    = 0x02

	// MaxGapDetail bounds a gap's detail text on the wire.
	MaxGapDetail = 4096
)

// HeaderRefused is the request header carrying the batch's notice of
// records the agent's log refused during an outage (Batch.Refused), in
// decimal; absent when there is none. It is outside the body, whose
// format it leaves as it is.
const HeaderRefused = "Seglog-Refused"

// ReservedTypePrefix starts the record types the server writes itself
// into an inbox (GapType); records an agent sends may not use it.
const ReservedTypePrefix = "seglog."

// GapType is the type of the marker records that stand for a gap's labels
// in an inbox, one per label.
const GapType = "seglog.gap"

// encodeBatch writes b's decoded body to w.
func encodeBatch(w io.Writer, b seglog.Batch) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var scratch [2*binary.MaxVarintLen64 + 1]byte
	bw.WriteString(Magic)
	bw.WriteByte(Version)
	bw.WriteByte(0) // flags, none yet
	bw.Write(binary.AppendUvarint(scratch[:0], b.Sequence))
	var entries, labels uint64
	for e := range b.Entries() {
		entries++
		if r := e.Record; r != nil {
			labels++
			p := append(scratch[:0], kindRecord)
			p = binary.AppendUvarint(p, uint64(len(r.Type)))
			bw.Write(p)
			bw.WriteString(r.Type)
			bw.Write(binary.AppendUvarint(scratch[:0], uint64(len(r.Data))))
			if _, err := bw.Write(r.Data); err != nil {
				return err
			}
			continue
		}
		g := e.Gap
		labels += g.Count
		detail := g.Detail
		if len(detail) > MaxGapDetail {
			detail = detail[:MaxGapDetail]
		}
		p := append(scratch[:0], kindGap)
		p = binary.AppendUvarint(p, g.Count)
		p = append(p, byte(g.Reason))
		p = binary.AppendUvarint(p, uint64(len(detail)))
		bw.Write(p)
		bw.WriteString(detail)
	}
	p := append(scratch[:0], kindEnd)
	p = binary.AppendUvarint(p, entries)
	p = binary.AppendUvarint(p, labels)
	bw.Write(p)
	return bw.Flush()
}

// wireBatch is a decoded request body.
type wireBatch struct {
	Sequence uint64
	Entries  []wireEntry
	Labels   uint64
	Bytes    int64 // payload bytes of the records
}

// wireEntry is a record (Gap == 0) or a gap of Gap labels.
type wireEntry struct {
	Type   string
	Data   []byte
	Gap    uint64
	Reason seglog.GapReason
	Detail string
}

// errMalformed marks a body that breaks the format: the server answers
// 400.
var errMalformed = errors.New("malformed batch")

// decodeBatch reads a decoded request body from r, which must end right
// after the trailer. maxRecordSize bounds each record; the caller bounds
// the whole (the reader fails past its limit).
func decodeBatch(r *bufio.Reader) (*wireBatch, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
	}
	var pos int64
	read := func(n uint64, what string) ([]byte, error) {
		if n > seglog.MaxRecordSize {
			return nil, bad("%s of %d bytes at byte %d (max %d)", what, n, pos, seglog.MaxRecordSize)
		}
		// Grown as bytes arrive, so a length that lies costs no memory.
		var buf []byte
		for uint64(len(buf)) < n {
			chunk := min(n-uint64(len(buf)), 1<<20)
			start := len(buf)
			buf = append(buf, make([]byte, chunk)...)
			if _, err := io.ReadFull(r, buf[start:]); err != nil {
				return nil, truncated(err, pos, what)
			}
		}
		pos += int64(n)
		return buf, nil
	}
	uvarint := func(what string) (uint64, error) {
		v, err := readUvarint(r, &pos)
		if err != nil {
			return 0, truncated(err, pos, what)
		}
		return v, nil
	}
	head, err := read(uint64(len(Magic)+2), "header")
	if err != nil {
		return nil, err
	}
	if string(head[:len(Magic)]) != Magic {
		return nil, bad("not a seglog batch (magic %q)", head[:len(Magic)])
	}
	if head[len(Magic)] != Version {
		return nil, bad("version %d (this server speaks %d)", head[len(Magic)], Version)
	}
	if head[len(Magic)+1] != 0 {
		return nil, bad("unknown flags %#x", head[len(Magic)+1])
	}
	b := &wireBatch{}
	if b.Sequence, err = uvarint("sequence"); err != nil {
		return nil, err
	}
	for {
		at := pos
		kind, err := r.ReadByte()
		if err != nil {
			return nil, truncated(err, pos, "entry kind")
		}
		pos++
		switch kind {
		case kindRecord:
			n, err := uvarint("type length")
			if err != nil {
				return nil, err
			}
			if n > seglog.MaxTypeLen {
				return nil, bad("record type of %d bytes at byte %d (max %d)", n, at, seglog.MaxTypeLen)
			}
			typ, err := read(n, "record type")
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(string(typ), ReservedTypePrefix) {
				return nil, bad("record type %q at byte %d is reserved", typ, at)
			}
			if n, err = uvarint("record length"); err != nil {
				return nil, err
			}
			data, err := read(n, "record data")
			if err != nil {
				return nil, err
			}
			b.Entries = append(b.Entries, wireEntry{Type: string(typ), Data: data})
			b.Labels++
			b.Bytes += int64(len(data))
		case kindGap:
			count, err := uvarint("gap count")
			if err != nil {
				return nil, err
			}
			reason, err := r.ReadByte()
			if err != nil {
				return nil, truncated(err, pos, "gap reason")
			}
			pos++
			n, err := uvarint("gap detail length")
			if err != nil {
				return nil, err
			}
			if n > MaxGapDetail {
				return nil, bad("gap detail of %d bytes at byte %d (max %d)", n, at, MaxGapDetail)
			}
			detail, err := read(n, "gap detail")
			if err != nil {
				return nil, err
			}
			if count == 0 || b.Labels+count < b.Labels || b.Sequence+b.Labels+count < b.Sequence {
				return nil, bad("gap of %d labels at byte %d", count, at)
			}
			b.Entries = append(b.Entries, wireEntry{Gap: count, Reason: seglog.GapReason(reason), Detail: string(detail)})
			b.Labels += count
		case kindEnd:
			entries, err := uvarint("trailer entry count")
			if err != nil {
				return nil, err
			}
			labels, err := uvarint("trailer label count")
			if err != nil {
				return nil, err
			}
			if entries != uint64(len(b.Entries)) || labels != b.Labels {
				return nil, bad("trailer at byte %d counts %d entries and %d labels, the body holds %d and %d", at, entries, labels, len(b.Entries), b.Labels)
			}
			if _, err := r.ReadByte(); err != io.EOF {
				if err != nil {
					return nil, err
				}
				return nil, bad("bytes after the trailer at byte %d", pos)
			}
			if b.Sequence+b.Labels < b.Sequence {
				return nil, bad("labels overflow")
			}
			return b, nil
		default:
			return nil, bad("unknown entry kind %#x at byte %d", kind, at)
		}
	}
}

// truncated turns an early end of the body into errMalformed; other read
// errors (the body too large, the connection lost) pass through.
func truncated(err error, pos int64, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: body ends in the %s at byte %d", errMalformed, what, pos)
	}
	if errors.Is(err, errOverflow) {
		return fmt.Errorf("%w: %s at byte %d", errMalformed, err, pos)
	}
	return err
}

var errOverflow = errors.New("varint overflows 64 bits")

// readUvarint reads an unsigned LEB128 varint (encoding/binary's), counting
// the bytes it reads in pos.
func readUvarint(r io.ByteReader, pos *int64) (uint64, error) {
	var x uint64
	var s uint
	for i := range binary.MaxVarintLen64 {
		b, err := r.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		*pos++
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, errOverflow
			}
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, errOverflow
}
