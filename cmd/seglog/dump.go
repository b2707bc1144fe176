package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	seglog "github.com/seglog/seglog/log"
)

type dumpOptions struct {
	name          string // the command, for messages: dump or export
	from, to      uint64
	toSet         bool
	count         int
	typ           string
	typSet        bool
	payload       string
	follow        bool
	held          bool
	followTimeout time.Duration
	poll          time.Duration
}

func (o *dumpOptions) flags(cmd *cobra.Command, follow bool) {
	f := cmd.Flags()
	f.Uint64Var(&o.from, "from", 0, "first offset to print (inclusive)")
	f.Uint64Var(&o.to, "to", 0, "offset to stop at (exclusive)")
	f.IntVar(&o.count, "count", 0, "print at most this many records (0: no limit)")
	f.StringVar(&o.typ, "type", "", `print only records of this type ("" for untyped ones)`)
	f.StringVar(&o.payload, "payload", payloadAuto, "payload encoding: auto, text, hex, base64 or none")
	if follow {
		f.BoolVar(&o.held, "held", false, "print the held records (of types the peer does not accept), with their original offsets, instead of the log's")
		f.BoolVarP(&o.follow, "follow", "f", false, "keep printing records as they are appended, like tail -f")
		f.DurationVar(&o.followTimeout, "follow-timeout", 0, "with --follow, stop after this long without a new record (0: never)")
		f.DurationVar(&o.poll, "poll", 100*time.Millisecond, "with --follow, how often to look for new records")
		_ = f.MarkHidden("poll")
	}
}

func (o *dumpOptions) check(cmd *cobra.Command) error {
	o.toSet = cmd.Flags().Changed("to")
	o.typSet = cmd.Flags().Changed("type")
	if o.count < 0 {
		return fmt.Errorf("--count %d: must not be negative", o.count)
	}
	if o.toSet && o.to < o.from {
		return fmt.Errorf("--to %d is before --from %d", o.to, o.from)
	}
	if o.poll <= 0 {
		o.poll = 100 * time.Millisecond
	}
	return checkPayloadMode(o.payload)
}

func (a *app) dumpCommand() *cobra.Command {
	var o dumpOptions
	cmd := &cobra.Command{
		Use:   "dump DIR",
		Short: "Print records in order, optionally following new appends",
		Long: `dump prints the records of the log in DIR in offset order: one line per
record with its offset, type ("-" when it has none), size and payload,
separated by tabs (with --json, one JSON object per line). The payload is
shown as text when it is printable and as base64 otherwise ("base64:"
prefix), or as --payload says.

--follow keeps printing records as they are appended, across segment rolls
and releases, until interrupted, --follow-timeout passes without a new
record, or --to or --count is reached. Records that the writer releases
before they are read get one line in their place: "released", the range
and a note (with --json, {"released":{"from":F,"to":T,"count":N}}); the
exit status stays 0. Damaged records are reported on stderr, skipped, and
make the exit status 1. Where the extent of the damage is known (damaged
frames, a segment missing or cut short), a line in place of the records
says which offsets cannot be read: "gap", the range, the reason and where
the damage is (with --json, {"gap":{...}}). Delivery hands the same
offsets out as a gap.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(cmd); err != nil {
				return err
			}
			o.name = "dump"
			return a.dump(args[0], o)
		},
	}
	o.flags(cmd, true)
	return cmd
}

func (a *app) exportCommand() *cobra.Command {
	var o dumpOptions
	cmd := &cobra.Command{
		Use:   "export DIR",
		Short: "Write the records as JSON Lines",
		Long: `export writes the records of the log in DIR to stdout as JSON Lines, one
object per record: {"offset":0,"type":"","size":5,"payload":"hello",
"encoding":"text"}. Payloads that are not valid UTF-8 are base64
("encoding":"base64"), so the export is lossless. Offsets that cannot be
read (damaged frames, a segment missing or cut short) get one line in
their place, {"gap":{"from":74,"to":75,"count":1,"reason":"damaged",
"detail":"..."}}, are reported on stderr, and make the exit status 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(cmd); err != nil {
				return err
			}
			a.json = true
			o.name = "export"
			return a.dump(args[0], o)
		},
	}
	o.flags(cmd, false)
	return cmd
}

func (a *app) dump(dir string, o dumpOptions) error {
	l, err := a.openReadOnly(dir)
	if err != nil {
		return err
	}
	defer l.Close()
	w := bufio.NewWriterSize(a.stdout, 64<<10)
	defer w.Flush()
	if o.held {
		return a.dumpHeld(w, l, o)
	}

	off := o.from
	if first := l.FirstOffset(); off < first && o.from > 0 {
		fmt.Fprintf(a.stderr, "seglog: %s: records before %d were released; starting there\n", o.name, first)
	}
	printed, problems := 0, false
	lastErr := ""
	idleSince := time.Now()
	started := false
	for {
		progressed, done, afterErr, restart := false, false, false, false
		for rec, err := range l.Records(off) {
			if errors.Is(err, fs.ErrNotExist) && l.Refresh() == nil && l.FirstOffset() > off {
				// A live writer released the segment being read: go on
				// from its new first offset (noted below as released).
				restart = true
				break
			}
			if err != nil {
				var ge *seglog.GapError
				if errors.As(err, &ge) {
					// Offsets that cannot be read, whose extent is known:
					// a line for them in their place.
					if o.toSet && ge.Gap.Offset >= o.to {
						done = true
						break
					}
					if ge.Gap.End() > off {
						if err := a.writeGap(w, ge.Gap); err != nil {
							return fail(exitProblems, "%s: %v", o.name, err)
						}
						off = ge.Gap.End()
					}
				}
				if msg := err.Error(); msg != lastErr {
					w.Flush()
					fmt.Fprintf(a.stderr, "seglog: %s: %s\n", o.name, message(err))
					lastErr = msg
				}
				problems, afterErr = true, ge == nil
				continue
			}
			if o.toSet && rec.Offset >= o.to {
				done = true
				break
			}
			if rec.Offset > off && started && !afterErr {
				if err := a.writeReleased(w, off, rec.Offset); err != nil {
					return fail(exitProblems, "%s: %v", o.name, err)
				}
				w.Flush()
				fmt.Fprintf(a.stderr, "seglog: %s: records [%d, %d) were released before they could be read\n", o.name, off, rec.Offset)
			}
			started, afterErr = true, false
			off, progressed = rec.Offset+1, true
			if o.typSet && rec.Type != o.typ {
				continue
			}
			if err := a.writeRecord(w, rec, o.payload); err != nil {
				return fail(exitProblems, "%s: %v", o.name, err)
			}
			printed++
			if o.count > 0 && printed >= o.count {
				done = true
				break
			}
			if printed&1023 == 0 && a.ctx.Err() != nil {
				break
			}
		}
		if first := l.FirstOffset(); !started && off < first {
			off = first // released before the follow began: not fallen behind
		}
		started = true // from now on, a release that skips offsets is noted
		if restart {
			continue
		}
		if done || !o.follow {
			break
		}
		if err := w.Flush(); err != nil {
			return fail(exitProblems, "%s: %v", o.name, err)
		}
		if progressed {
			idleSince = time.Now()
		} else if o.followTimeout > 0 && time.Since(idleSince) >= o.followTimeout {
			break
		}
		t := time.NewTimer(o.poll)
		select {
		case <-a.ctx.Done():
			t.Stop()
			return w.Flush()
		case <-t.C:
		}
	}
	if err := w.Flush(); err != nil {
		return fail(exitProblems, "%s: %v", o.name, err)
	}
	if problems {
		return quiet(exitProblems)
	}
	return nil
}

func (a *app) getCommand() *cobra.Command {
	var payload string
	cmd := &cobra.Command{
		Use:   "get DIR OFFSET",
		Short: "Print one record, found through the offset index",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			off, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return fmt.Errorf("offset %q: not a non-negative integer", args[1])
			}
			if err := checkPayloadMode(payload); err != nil {
				return err
			}
			return a.get(args[0], off, payload)
		},
	}
	cmd.Flags().StringVar(&payload, "payload", payloadAuto, "payload encoding: auto, text, hex, base64 or none")
	return cmd
}

func (a *app) get(dir string, off uint64, mode string) error {
	l, err := a.openReadOnly(dir)
	if err != nil {
		return err
	}
	defer l.Close()
	rec, err := l.Read(off)
	switch {
	case errors.Is(err, seglog.ErrOutOfRange), errors.Is(err, seglog.ErrCorrupt):
		return fail(exitProblems, "get %d: %v", off, err)
	case err != nil:
		return fail(exitOpen, "get %d: %v", off, err)
	}
	if a.json {
		return a.writeRecord(a.stdout, rec, mode)
	}
	typ := rec.Type
	if typ == "" {
		typ = "-"
	}
	p, enc := encodePayload(rec.Data, mode, false)
	w := newTable(a.stdout)
	fmt.Fprintf(w, "offset\t%d\n", rec.Offset)
	fmt.Fprintf(w, "type\t%s\n", typ)
	fmt.Fprintf(w, "size\t%d\n", len(rec.Data))
	if mode != payloadNone {
		fmt.Fprintf(w, "payload\t%s\n", p)
		fmt.Fprintf(w, "encoding\t%s\n", enc)
	}
	return w.Flush()
}

// jsonReleased is the --json line that stands for records a live writer
// released before a follower could read them.
type jsonReleased struct {
	Released struct {
		From  uint64 `json:"from"`
		To    uint64 `json:"to"`
		Count uint64 `json:"count"`
	} `json:"released"`
}

// writeReleased writes, in place of records [from, to) that a live writer
// acknowledged and released before this reader reached them, a line that
// says so: "released", the range and a note (with --json,
// {"released":{"from":F,"to":T,"count":N}}).
func (a *app) writeReleased(w io.Writer, from, to uint64) error {
	if a.json {
		var j jsonReleased
		j.Released.From, j.Released.To, j.Released.Count = from, to, to-from
		return writeJSON(w, j)
	}
	_, err := fmt.Fprintf(w, "released\t[%d, %d)\t%d records acknowledged and released by the writer before they could be read\n", from, to, to-from)
	return err
}
