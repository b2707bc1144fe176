package demo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// recordSize is the size of each message. Three fill a segment of
// seglog.MinSegmentSize, so that releases visibly delete segment files.
const recordSize = 5000

// ErrUnusableDir reports a directory Run cannot build its log in: not
// empty, or not a directory.
var ErrUnusableDir = errors.New("cannot build the demo's log there")

// Run builds a log in dir, which must be empty or not exist, plays the
// scripted exchange and prints each step to w. The log is left in dir,
// closed.
func Run(w io.Writer, dir string) error {
	switch names, err := os.ReadDir(dir); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("demo: %w: %w", ErrUnusableDir, err)
	case len(names) > 0:
		return fmt.Errorf("demo: %w: %s is not empty", ErrUnusableDir, dir)
	}
	d := &demo{w: w, dir: dir, peer: &peer{}, sent: -1}
	if err := d.open(); err != nil {
		return err
	}
	err := d.script()
	if cerr := d.l.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("demo: %w", cerr)
	}
	return err
}

// demo is one run: the log, the peer, and the output.
type demo struct {
	w    io.Writer
	dir  string
	l    *seglog.Log
	peer *peer
	step int
	sent int   // messages in the last batch sent; -1 after an answer
	err  error // the first write error
}

func (d *demo) open() error {
	l, err := seglog.Open(d.dir, &seglog.Options{
		SegmentSize: seglog.MinSegmentSize,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.l = l
	return nil
}

func (d *demo) printf(format string, args ...any) {
	if d.err == nil {
		_, d.err = fmt.Fprintf(d.w, format, args...)
	}
}

// heading starts a step.
func (d *demo) heading(format string, args ...any) {
	d.step++
	d.printf("\n%d. %s\n", d.step, fmt.Sprintf(format, args...))
}

// queue appends messages named from the next offset on: A for 0, B for 1...
func (d *demo) queue(n int) error {
	var names []string
	for range n {
		off := d.l.NextOffset()
		data := make([]byte, recordSize)
		copy(data, letter(off))
		for i := len(letter(off)); i < len(data); i++ {
			data[i] = '.'
		}
		if _, err := d.l.Append(data); err != nil {
			return fmt.Errorf("demo: append: %w", err)
		}
		names = append(names, letter(off))
	}
	d.printf("   queued %s\n", strings.Join(names, ", "))
	return nil
}

// send hands out up to max messages and returns the batch.
func (d *demo) send(max int) (seglog.Batch, error) {
	b, err := d.l.Pending(max)
	if err != nil {
		return b, fmt.Errorf("demo: pending: %w", err)
	}
	d.printf("   send (sequence %d: %s)\n", b.Sequence, names(b.Records))
	if len(b.Records) > d.sent {
		d.sent = len(b.Records) // the largest batch since the last Ack counts
	}
	return b, nil
}

// ack applies the peer's answer and says which rule applied, with its
// arithmetic.
func (d *demo) ack(n uint64) error {
	before := d.l.State()
	s, p := before.Sequence, before.Cursor-before.First
	sent := before.PendingCount
	if d.sent >= 0 {
		sent = uint64(d.sent)
	}
	res, err := d.l.Ack(n)
	if err != nil {
		return fmt.Errorf("demo: ack: %w", err)
	}
	d.sent = -1
	d.printf("   peer answers %d: ", n)
	switch res.Branch {
	case seglog.AckNormal:
		d.printf("normal, S < N <= S+sent (%d < %d <= %d+%d): cursor +%d", s, n, s, sent, n-s)
	case seglog.AckRewind:
		if n == s {
			d.printf("rewind, N = S (%d): no change", n)
		} else {
			d.printf("rewind, S-P <= N < S (%d <= %d < %d): cursor -%d", s-p, n, s, s-n)
		}
	case seglog.AckAncient:
		d.printf("ancient, N < S-P (%d < %d): cursor to the oldest kept message", n, s-p)
	case seglog.AckTooHigh:
		d.printf("too high, N-S > sent (%d > %d): cursor stays", n-s, sent)
	}
	d.printf("\n")
	if res.Released > 0 {
		d.printf("   released %s, kept for a resend until now; %d segment file(s) deleted\n",
			span(before.First, before.First+res.Released), res.SegmentsRemoved)
	}
	if res.Resync {
		d.printf("   resync: the peer and the log disagree, the application resynchronises\n")
	}
	return nil
}

// show draws the log as the reference design note does.
func (d *demo) show() error {
	st := d.l.State()
	var kept []string
	for r, err := range d.l.Records(st.First) {
		if err != nil {
			return fmt.Errorf("demo: read: %w", err)
		}
		kept = append(kept, name(r))
	}
	const indent = "   "
	d.printf("%ssequence: %d\n", indent, st.Sequence)
	line := indent + "messages: "
	caret := len(line)
	for i, k := range kept {
		if uint64(i) == st.Cursor-st.First {
			caret = len(line)
		}
		line += k
		if i < len(kept)-1 {
			line += ", "
		}
	}
	if st.Cursor == st.Next && len(kept) > 0 {
		caret = len(line) + 2 // where the next message will be
	}
	d.printf("%s\n%s^\n", line, strings.Repeat(" ", caret))
	files, err := d.segmentFiles(st.First)
	if err != nil {
		return err
	}
	d.printf("%sfirst %d, cursor %d, next %d: %d pending, %d kept for a resend; %d segment file(s)\n",
		indent, st.First, st.Cursor, st.Next, st.PendingCount, st.Cursor-st.First, files)
	d.printf("%speer expects %d, has %s\n", indent, d.peer.next, list(d.peer.got))
	return d.err
}

// segmentFiles counts the segment files the log keeps: those not lying
// wholly before the first kept offset (released segments are deleted in
// the background, so one may still be on its way out).
func (d *demo) segmentFiles(first uint64) (int, error) {
	names, err := os.ReadDir(d.dir)
	if err != nil {
		return 0, fmt.Errorf("demo: %w", err)
	}
	var bases []uint64
	for _, e := range names {
		if b, ok := segment.ParseFileName(e.Name()); ok {
			bases = append(bases, b)
		}
	}
	n := 0
	for i := range bases {
		if i+1 == len(bases) || bases[i+1] > first {
			n++
		}
	}
	return n, nil
}

// letter names the message at offset o: A for 0, B for 1, ...
func letter(o uint64) string {
	if o < 26 {
		return string(rune('A' + o))
	}
	return fmt.Sprintf("#%d", o)
}

// name reads a message's name back from its data.
func name(r seglog.Record) string {
	if i := strings.IndexByte(string(r.Data), '.'); i > 0 {
		return string(r.Data[:i])
	}
	return string(r.Data)
}

func names(recs []seglog.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, name(r))
	}
	return list(s)
}

func list(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// span names the messages at offsets [from, to).
func span(from, to uint64) string {
	if to-from == 1 {
		return letter(from)
	}
	if to-from == 2 {
		return letter(from) + ", " + letter(from+1)
	}
	return letter(from) + ".." + letter(to-1)
}
