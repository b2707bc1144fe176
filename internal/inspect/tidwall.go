package inspect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/tidwall/wal"

	"github.com/seglog/seglog/checkpoint"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// Metadata keys an import from tidwall/wal records in the new log's
// checkpoint: the source's first and last index, in decimal. The record at
// seglog offset o had tidwall index first_index+o.
const (
	MetaTidwallFirst = "import.tidwall.first_index"
	MetaTidwallLast  = "import.tidwall.last_index"
)

// ErrNotEmpty is returned by ImportTidwall for a destination that already
// holds files.
var ErrNotEmpty = errors.New("destination is not empty")

// ImportOptions configures ImportTidwall.
type ImportOptions struct {
	// Format of the source: "binary", "json" or "" to detect it.
	Format string
	// Codec and SegmentSize are the new log's options.
	Codec       seglog.Codec
	SegmentSize int64
	// Progress, if not nil, counts the records imported.
	Progress *atomic.Int64
}

// ImportResult is the outcome of ImportTidwall.
type ImportResult struct {
	Records               uint64
	Bytes                 uint64
	FirstIndex, LastIndex uint64 // the source's range; 0 and 0 when empty
	Format                string
}

// ImportTidwall copies the entries of the github.com/tidwall/wal log in
// src, in index order, into a new seglog log in dst, which must not exist
// or be an empty directory. Entries become records without a type tag, the
// first at offset 0; the source's index range is recorded in the metadata
// (MetaTidwallFirst, MetaTidwallLast). The new log is synced once, at the
// end. The source is opened with tidwall/wal itself, which finishes a
// truncation a crash interrupted there, as any open of it would.
func ImportTidwall(ctx context.Context, src, dst string, opts ImportOptions) (*ImportResult, error) {
	format, err := tidwallFormat(src, opts.Format)
	if err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dst); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s: %w", dst, ErrNotEmpty)
	} else if err != nil && !IsNotExist(err) {
		return nil, err
	}
	wopts := *wal.DefaultOptions
	wopts.LogFormat = wal.Binary
	if format == "json" {
		wopts.LogFormat = wal.JSON
	}
	w, err := wal.Open(src, &wopts)
	if err != nil {
		return nil, fmt.Errorf("tidwall/wal: %s: %w", src, err)
	}
	defer w.Close()
	first, err := w.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("tidwall/wal: %w", err)
	}
	last, err := w.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("tidwall/wal: %w", err)
	}
	res := &ImportResult{FirstIndex: first, LastIndex: last, Format: format}

	l, err := seglog.Open(dst, &seglog.Options{
		Sync: seglog.SyncNever, Codec: opts.Codec, SegmentSize: opts.SegmentSize,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	const maxBatch = 1 << 20
	var batch []seglog.Record
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := l.AppendRecords(batch...)
		batch, size = batch[:0], 0
		return err
	}
	if last > 0 {
		for i := first; i <= last; i++ {
			if (i-first)&1023 == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			data, err := w.Read(i)
			if err != nil {
				return nil, fmt.Errorf("tidwall/wal: read index %d: %w", i, err)
			}
			if len(data) > seglog.MaxRecordSize {
				return nil, fmt.Errorf("tidwall/wal: index %d: entry of %d bytes over seglog's %d limit", i, len(data), seglog.MaxRecordSize)
			}
			if size+len(data)+16 > maxBatch {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			batch = append(batch, seglog.Record{Data: data})
			size += len(data) + 16
			res.Records++
			res.Bytes += uint64(len(data))
			if opts.Progress != nil {
				opts.Progress.Add(1)
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if err := l.Sync(); err != nil {
		return nil, err
	}
	// SetMeta saves the checkpoint durably, after the records are synced.
	if err := l.SetMeta(MetaTidwallFirst, []byte(strconv.FormatUint(first, 10))); err != nil {
		return nil, err
	}
	if err := l.SetMeta(MetaTidwallLast, []byte(strconv.FormatUint(last, 10))); err != nil {
		return nil, err
	}
	return res, l.Close()
}

// tidwallFormat checks that src looks like a tidwall/wal directory (so that
// opening it does not create an empty log in a mistyped path) and detects
// its format from the first segment.
func tidwallFormat(src, want string) (string, error) {
	switch want {
	case "", "auto", "binary", "json":
	default:
		return "", fmt.Errorf("unknown tidwall format %q (want binary, json or auto)", want)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	slots := checkpoint.SlotNames()
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, segment.Suffix) || n == seglog.LockFile || n == slots[0] || n == slots[1] {
			return "", fmt.Errorf("%s: a seglog log, not a tidwall/wal directory (%s); the source comes first: import tidwall SRC DST", src, n)
		}
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !isTidwallSegment(n) {
			continue
		}
		if want == "binary" || want == "json" {
			return want, nil
		}
		f, err := os.Open(filepath.Join(src, n))
		if err != nil {
			return "", err
		}
		var b [16]byte
		k, _ := io.ReadFull(f, b[:])
		f.Close()
		if bytes.HasPrefix(b[:k], []byte(`{"index":`)) {
			return "json", nil
		}
		return "binary", nil
	}
	return "", fmt.Errorf("%s: not a tidwall/wal directory (no segment file)", src)
}

// isTidwallSegment reports whether name is a tidwall/wal segment file: its
// first index as 20 digits, with ".START" or ".END" while a truncation is
// under way.
func isTidwallSegment(name string) bool {
	digits, suffix := name, ""
	if len(name) > 20 {
		digits, suffix = name[:20], name[20:]
	}
	if len(digits) != 20 || (suffix != "" && suffix != ".START" && suffix != ".END") {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
