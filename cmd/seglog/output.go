package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/dustin/go-humanize"
	"golang.org/x/term"

	"github.com/seglog/seglog/internal/inspect"
	seglog "github.com/seglog/seglog/log"
)

// isTerminal reports whether w is a terminal; tests replace it.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

func size(n int64) string {
	if n < 0 {
		n = 0
	}
	return humanize.IBytes(uint64(n))
}

func comma(n uint64) string { return humanize.Comma(int64(n)) }

// openErr maps a failure to open or list a log to exit status 3.
func openErr(dir string, err error) error {
	if errors.Is(err, inspect.ErrNotLog) {
		return fail(exitOpen, "%v", err)
	}
	return fail(exitOpen, "cannot open %s: %v", dir, err)
}

// logger sends the library's own warnings to stderr, without timestamps.
func (a *app) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, at slog.Attr) slog.Attr {
			if at.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return at
		},
	}))
}

// openReadOnly opens a log for reading beside any writer.
func (a *app) openReadOnly(dir string) (*seglog.Log, error) {
	if _, err := inspect.ReadDir(dir); err != nil {
		return nil, openErr(dir, err)
	}
	l, err := seglog.Open(dir, &seglog.Options{ReadOnly: true, Logger: a.logger()})
	if err != nil {
		return nil, fail(exitOpen, "%v (seglog verify %s tells more)", err, dir)
	}
	return l, nil
}

// Payload encodings.
const (
	payloadAuto   = "auto"
	payloadText   = "text"
	payloadHex    = "hex"
	payloadBase64 = "base64"
	payloadNone   = "none"
)

func checkPayloadMode(m string) error {
	switch m {
	case payloadAuto, payloadText, payloadHex, payloadBase64, payloadNone:
		return nil
	}
	return fmt.Errorf("--payload %q: want auto, text, hex, base64 or none", m)
}

// printable reports whether b is UTF-8 text without control characters,
// fit to print as it is on one line.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// encodePayload renders a payload in mode m and says which encoding it
// used: "text" (as is), "escaped" (Go string escapes, no quotes), "hex" or
// "base64". In auto mode, text when printable, else base64; for JSON,
// which escapes by itself, text whenever it is valid UTF-8.
func encodePayload(b []byte, m string, forJSON bool) (string, string) {
	switch m {
	case payloadHex:
		return hex.EncodeToString(b), payloadHex
	case payloadBase64:
		return base64.StdEncoding.EncodeToString(b), payloadBase64
	case payloadText:
		if (forJSON && utf8.Valid(b)) || printable(b) {
			return string(b), "text"
		}
		q := strconv.Quote(string(b))
		return q[1 : len(q)-1], "escaped"
	case payloadNone:
		return "", payloadNone
	}
	if (forJSON && utf8.Valid(b)) || printable(b) {
		return string(b), "text"
	}
	return base64.StdEncoding.EncodeToString(b), payloadBase64
}

// jsonRecord is a record in JSON output.
type jsonRecord struct {
	Offset   uint64 `json:"offset"`
	Type     string `json:"type"`
	Size     int    `json:"size"`
	Payload  string `json:"payload,omitempty"`
	Encoding string `json:"encoding,omitempty"`
}

// writeRecord prints one record: in text a tab-separated line of offset,
// type ("-" when none), size and payload (base64 payloads in auto mode are
// prefixed "base64:").
func (a *app) writeRecord(w io.Writer, rec seglog.Record, mode string) error {
	p, enc := encodePayload(rec.Data, mode, a.json)
	if a.json {
		jr := jsonRecord{Offset: rec.Offset, Type: rec.Type, Size: len(rec.Data)}
		if mode != payloadNone {
			jr.Payload, jr.Encoding = p, enc
		}
		return writeJSON(w, jr)
	}
	typ := rec.Type
	if typ == "" {
		typ = "-"
	} else if !printable([]byte(typ)) || strings.ContainsAny(typ, " \t") {
		typ = strconv.Quote(typ)
	}
	if mode == payloadNone {
		_, err := fmt.Fprintf(w, "%d\t%s\t%d\n", rec.Offset, typ, len(rec.Data))
		return err
	}
	if mode == payloadAuto && enc == payloadBase64 {
		p = "base64:" + p
	}
	_, err := fmt.Fprintf(w, "%d\t%s\t%d\t%s\n", rec.Offset, typ, len(rec.Data), p)
	return err
}

// jsonGap is the JSON line for a run of offsets that cannot be read.
type jsonGap struct {
	Gap struct {
		From   uint64 `json:"from"`
		To     uint64 `json:"to"`
		Count  uint64 `json:"count"`
		Reason string `json:"reason"`
		Detail string `json:"detail"`
	} `json:"gap"`
}

// writeGap writes the line for a gap: "gap", the range, the reason and
// the detail, tab-separated (or a jsonGap).
func (a *app) writeGap(w io.Writer, g seglog.Gap) error {
	detail := strings.TrimPrefix(g.Detail, "seglog: ")
	if a.json {
		var j jsonGap
		j.Gap.From, j.Gap.To, j.Gap.Count, j.Gap.Reason, j.Gap.Detail = g.Offset, g.End(), g.Count, g.Reason.String(), detail
		return writeJSON(w, j)
	}
	_, err := fmt.Fprintf(w, "gap\t[%d, %d)\t%s\t%s\n", g.Offset, g.End(), g.Reason, detail)
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
