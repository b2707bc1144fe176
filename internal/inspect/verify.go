package inspect

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// Options tunes Verify.
type Options struct {
	// Workers is how many segments are read at once. Default: the number
	// of CPUs, at most 4. Findings come out in log order whatever it is.
	Workers int
	// Progress, if not nil, is advanced by the bytes read as they are read.
	Progress *atomic.Int64
	// OnFinding, if not nil, is called with each finding as soon as it is
	// made, in log order, from the goroutine that called Verify.
	OnFinding func(Finding)
	// KeepFrames keeps every valid frame in SegmentScan.Frames (for Repair).
	KeepFrames bool
	// Stats tallies record sizes and types in SegmentScan.Stats.
	Stats bool
	// LockHeld says the caller holds the writer's lock (LockWriter): there
	// is no live writer, and the lock is not probed.
	LockHeld bool
	// FS is the filesystem the log is read through. Default vfs.Default.
	FS vfs.FS
}

// CheckpointReport is what the checkpoint read found.
type CheckpointReport struct {
	Present bool // a slot file exists
	State   checkpoint.State
	Info    checkpoint.Info
	Err     error // neither slot holds a valid state
}

// Report is the outcome of Verify.
type Report struct {
	Dir        *Dir
	Live       bool // a writer held the lock when the verification started
	Checkpoint CheckpointReport
	Segments   []*SegmentScan // in offset order, released ones included
	Dicts      []DictReport   // compression dictionaries, in id order
	Findings   []Finding
	Counts     Counts

	// First is the checkpoint's first offset (the first segment's base
	// when there is no checkpoint); Next the offset after the last record
	// read, known unless damage runs to the end of the log.
	First, Next uint64
	NextKnown   bool
	TotalBytes  int64 // segment files, as listed
	Frames      int
	Records     uint64
	Elapsed     time.Duration
}

// Healthy reports whether nothing worse than Info was found.
func (r *Report) Healthy() bool { return r.Counts.Healthy() }

// Verify checks the whole log in dir: see the package documentation. The
// error is for a log that cannot be read at all (a missing directory, not a
// log, cancellation); what is wrong inside the log is in the findings.
func Verify(ctx context.Context, dir string, opts Options) (*Report, error) {
	start := time.Now()
	d, err := readDir(opts.FS, dir)
	if err != nil {
		return nil, err
	}
	live := false
	if !opts.LockHeld {
		if live, err = writerActive(d.fs, dir); err != nil {
			return nil, err
		}
	}
	r := &Report{Dir: d, Live: live}
	emit := func(f Finding) {
		r.Findings = append(r.Findings, f)
		r.Counts.Add(f)
		if opts.OnFinding != nil {
			opts.OnFinding(f)
		}
	}
	for _, s := range d.Segments {
		r.TotalBytes += s.Size
	}

	// The checkpoint is read after the listing: a writer releases segments
	// only after saving the checkpoint that releases them, so every
	// segment this checkpoint keeps is in the listing.
	r.readCheckpoint(emit)
	r.First = r.Checkpoint.State.First
	if r.Checkpoint.Err != nil || !r.Checkpoint.Present {
		r.First = 0
		if len(d.Segments) > 0 {
			r.First = d.Segments[0].Base
		}
	}

	segs := make([]*SegmentScan, len(d.Segments))
	todo := make([]int, 0, len(segs))
	for i, sf := range d.Segments {
		if r.Checkpoint.Err == nil && i+1 < len(d.Segments) && d.Segments[i+1].Base <= r.Checkpoint.State.First {
			segs[i] = &SegmentScan{SegmentFile: sf, Released: true}
			if opts.Progress != nil {
				opts.Progress.Add(sf.Size)
			}
			continue
		}
		todo = append(todo, i)
	}
	r.Segments = segs

	// Segments are read by a pool of workers; findings are made in log
	// order, each segment's once the next one is read (its base bounds the
	// offsets a damaged end held).
	workers := opts.Workers
	if workers <= 0 {
		workers = min(runtime.GOMAXPROCS(0), 4)
	}
	c := &scanner{ctx: ctx, fs: d.fs, dir: dir, progress: opts.Progress, keep: opts.KeepFrames, stats: opts.Stats}
	c.dicts = r.checkDicts(emit)
	defer c.dicts.Close()
	done := make([]chan struct{}, len(segs))
	for i := range done {
		done[i] = make(chan struct{})
		if segs[i] != nil {
			close(done[i])
		}
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				segs[i] = c.scanSegment(d.Segments[i], i == len(segs)-1)
				close(done[i])
			}
		}()
	}
	go func() {
		defer close(work)
		for _, i := range todo {
			select {
			case work <- i:
			case <-ctx.Done():
				return
			}
		}
	}()

	var prev *SegmentScan
	for i := range segs {
		select {
		case <-done[i]:
		case <-ctx.Done():
			wg.Wait()
			return nil, ctx.Err()
		}
		s := segs[i]
		if s.Released {
			if !live {
				emit(Finding{Severity: Info, Code: CodeSegmentReleased, File: s.Name,
					Message: fmt.Sprintf("released by the checkpoint (first offset %d) but not yet removed; the next writer open or repair removes it", r.Checkpoint.State.First)})
			}
			continue
		}
		if s.Missing {
			// Released and removed by a live writer while being read (or
			// gone otherwise: reported below). What was before it is not
			// compared with what follows.
			if prev != nil {
				r.segmentFindings(prev, emit)
			}
			prev = nil
			continue
		}
		if prev != nil {
			gap := r.between(prev, s)
			r.segmentFindings(prev, emit)
			if gap != nil {
				emit(*gap)
			}
		}
		prev = s
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if prev != nil {
		r.segmentFindings(prev, emit)
	}
	for _, s := range segs {
		if s.Missing {
			sev, msg := Error, "listed but gone before it could be read"
			if live {
				sev, msg = Info, "removed while being verified (released by the live writer)"
			}
			emit(Finding{Severity: sev, Code: CodeSegmentRemoved, File: s.Name, Message: msg})
		}
	}
	r.logChecks(prev, emit)
	r.Elapsed = time.Since(start)
	return r, nil
}

func (r *Report) readCheckpoint(emit func(Finding)) {
	ck := &r.Checkpoint
	if len(r.Dir.Slots) == 0 {
		emit(Finding{Severity: Info, Code: CodeNoCheckpoint,
			Message: "no checkpoint file: the delivery state is the zero state until the first save"})
		return
	}
	ck.Present = true
	ck.State, ck.Info, ck.Err = checkpoint.Read(r.Dir.fs, r.Dir.Path)
	if ck.Err != nil && CheckpointIOError(ck.Err) {
		emit(Finding{Severity: Error, Code: CodeReadError, File: "checkpoint",
			Message: stripDir(ck.Err.Error(), r.Dir.Path) + ": an I/O problem, not damage; the delivery state is not known to be lost: fix the access (permissions, a failing disk) and verify again; repair changes nothing before"})
		return
	}
	if ck.Err != nil {
		emit(Finding{Severity: Error, Code: CodeCheckpoint, File: "checkpoint",
			Message: stripDir(ck.Err.Error(), r.Dir.Path) + "; the delivery state is lost (repair --reset-checkpoint rebuilds one)"})
		return
	}
	if t := ck.Info.Torn; t != nil {
		sev, what := Warning, "invalid"
		if r.Live {
			sev, what = Info, "invalid (possibly a save in progress)"
		}
		emit(Finding{Severity: sev, Code: CodeCheckpointSlot, File: baseName(t.File), Position: pos(t.Offset),
			Message: fmt.Sprintf("slot %s: %s; the state is generation %d from %s (a save a crash interrupted loses nothing; if the slot was damaged instead, the save it held, an Ack, Reset or SetMeta, is undone)", what, t.Reason, ck.Info.Generation, baseName(ck.Info.File))})
	}
	var ce *checkpoint.CorruptError
	if _, err := checkpoint.ParseReserved(ck.State); errors.As(err, &ce) {
		// The checksum held: a foreign or newer writer, not a torn save.
		emit(Finding{Severity: Error, Code: CodeCheckpointReserved, File: baseName(ck.Info.File), Position: pos(ce.Offset),
			Message: ce.Reason + "; the log's own metadata entry does not decode, and a writer's Open refuses the log"})
	}
}

// between checks that segment s starts where prev ends, and bounds damage
// that runs to the end of prev by the base of s.
func (r *Report) between(prev, s *SegmentScan) *Finding {
	if !prev.NextKnown {
		if n := len(prev.Damage); n > 0 && prev.Damage[n-1].Offsets.To == nil {
			prev.Damage[n-1].Offsets = MakeRange(prev.Damage[n-1].Offsets.From, s.Base)
		}
		prev.Next, prev.NextKnown = s.Base, true
		return nil
	}
	switch {
	case prev.Next < s.Base:
		return &Finding{Severity: Error, Code: CodeOffsetGap, File: s.Name, Offsets: rangePtr(MakeRange(prev.Next, s.Base)),
			Message: fmt.Sprintf("no segment holds offsets %s: %s ends at %d and %s starts at %d (a segment file is missing, %s if it began there, or %s was cut short); delivery hands them out as a gap",
				MakeRange(prev.Next, s.Base), prev.Name, prev.Next, s.Name, s.Base, segment.FileName(prev.Next), prev.Name)}
	case prev.Next > s.Base:
		return &Finding{Severity: Error, Code: CodeOffsetOverlap, File: s.Name, Offsets: rangePtr(MakeRange(s.Base, prev.Next)),
			Message: fmt.Sprintf("%s ends at %d, after %s starts at %d: offsets %s are claimed twice",
				prev.Name, prev.Next, s.Name, s.Base, MakeRange(s.Base, prev.Next))}
	}
	return nil
}

// segmentFindings reports what the read of one segment found.
func (r *Report) segmentFindings(s *SegmentScan, emit func(Finding)) {
	r.checkpointProves(s)
	r.Frames += s.NumFrames
	r.Records += s.Records
	liveActive := r.Live && s.Active
	if s.Err != nil {
		f := Finding{Severity: Error, Code: CodeReadError, File: s.Name,
			Message: stripDir(s.Err.Error(), r.Dir.Path) + ": an I/O problem, not damage; its records cannot be read until it is fixed (permissions, something else in the file's place, a failing disk), and repair changes nothing before"}
		if !s.NextKnown {
			f.Offsets = rangePtr(OpenRange(s.Base))
			if s.Next > s.Base {
				f.Offsets = rangePtr(MakeRange(s.Base, s.Next))
			}
		}
		emit(f)
	}
	if s.HeaderErr != nil {
		switch {
		case s.TornHeader && liveActive:
			emit(Finding{Severity: Info, Code: CodeWriteInProgress, File: s.Name, Position: pos(0),
				Message: "segment being created by the live writer"})
		case s.TornHeader:
			emit(Finding{Severity: Warning, Code: CodeTornHeader, File: s.Name, Position: pos(0),
				Message: fmt.Sprintf("header never written (a segment roll interrupted by a crash; %d bytes, no record): the next writer open or repair removes it", s.Size)})
		default:
			f := Finding{Severity: Error, Code: CodeSegmentHeader, File: s.Name, Position: pos(0),
				Message: fmt.Sprintf("%s: no record of the segment can be read", segment.Reason(s.HeaderErr))}
			if s.NextKnown {
				f.Offsets = rangePtr(MakeRange(s.Base, s.Next))
			} else {
				f.Offsets = rangePtr(OpenRange(s.Base))
			}
			emit(f)
		}
		return
	}
	for _, d := range s.Damage {
		n := d.End - d.Pos
		switch {
		case d.Torn && liveActive:
			emit(Finding{Severity: Info, Code: CodeWriteInProgress, File: s.Name, Position: pos(d.Pos),
				Message: fmt.Sprintf("%d bytes of a frame being written by the live writer", n)})
		case d.Torn:
			emit(Finding{Severity: Warning, Code: CodeTornTail, File: s.Name, Position: pos(d.Pos),
				Message: fmt.Sprintf("%d bytes after the last valid frame (%s) were never proven durable: a write a crash interrupted (under SyncAlways, of records never acknowledged), or damage to the end of the log, which looks the same; the next writer open or repair cuts them",
					n, d.Reason)})
		case d.Offsets.To != nil && *d.Offsets.To <= r.First:
			emit(Finding{Severity: Info, Code: CodeFrameCorrupt, File: s.Name, Position: pos(d.Pos), Offsets: rangePtr(d.Offsets),
				Message: fmt.Sprintf("%s; %d bytes without a valid frame, offsets %s, all released: no read returns them, and the segment goes when the records after them are released", d.Reason, n, d.Offsets)})
		default:
			emit(Finding{Severity: Error, Code: CodeFrameCorrupt, File: s.Name, Position: pos(d.Pos), Offsets: rangePtr(d.Offsets),
				Message: fmt.Sprintf("%s; %d bytes without a valid frame, offsets %s unreadable%s", d.Reason, n, d.Offsets, gapNote(d.Offsets, r.Checkpoint))})
		}
	}
	sev := Warning
	if liveActive {
		sev = Info // the writer adds entries after their frames, unsynced
	}
	switch s.IndexState {
	case IndexMissing:
		emit(Finding{Severity: sev, Code: CodeIndexMissing, File: s.IndexName(),
			Message: "no index: readers rebuild it in memory; repair writes it"})
	case IndexInvalid:
		emit(Finding{Severity: sev, Code: CodeIndexInvalid, File: s.IndexName(), Message: s.IndexReason + "; repair rebuilds it"})
	case IndexMismatch:
		emit(Finding{Severity: sev, Code: CodeIndexMismatch, File: s.IndexName(), Message: s.IndexReason + "; repair rebuilds it"})
	case IndexIncomplete:
		if !liveActive {
			emit(Finding{Severity: sev, Code: CodeIndexIncomplete, File: s.IndexName(), Message: s.IndexReason + "; repair rebuilds it"})
		}
	case IndexExtra:
		emit(Finding{Severity: sev, Code: CodeIndexExtra, File: s.IndexName(), Message: s.IndexReason + "; repair rebuilds it"})
	}
}

// gapNote says how delivery hands out unreadable offsets that are pending.
func gapNote(o Range, ck CheckpointReport) string {
	if o.To == nil || !ck.Present || ck.Err != nil || *o.To <= ck.State.Cursor {
		return ""
	}
	return fmt.Sprintf(" (delivery hands out %s as a gap)", MakeRange(max(o.From, ck.State.Cursor), *o.To))
}

// logChecks checks the log as a whole once every segment is read: its
// ends against the checkpoint, and stray files.
func (r *Report) logChecks(last *SegmentScan, emit func(Finding)) {
	var first *SegmentScan
	raced := false // segments before first were removed while being read
	for _, s := range r.Segments {
		if !s.Released && !s.Missing {
			first = s
			break
		}
		raced = raced || s.Missing
	}
	r.Next, r.NextKnown = r.First, true
	if last != nil {
		r.Next, r.NextKnown = last.Next, last.NextKnown
		if !last.NextKnown {
			if n := len(last.Damage); n > 0 {
				r.Next = last.Damage[n-1].Offsets.From
			} else {
				r.Next = last.Base
			}
		}
	}
	ck := r.Checkpoint
	if ck.Present && ck.Err == nil {
		st := ck.State
		if first != nil && first.Base > st.First && !(raced && r.Live) {
			emit(Finding{Severity: Error, Code: CodeSegmentMissing, File: first.Name, Offsets: rangePtr(MakeRange(st.First, first.Base)),
				Message: fmt.Sprintf("the checkpoint keeps records from offset %d but the log starts at %d: offsets %s are missing",
					st.First, first.Base, MakeRange(st.First, first.Base))})
		}
		if st.Cursor > r.Next || st.First > r.Next {
			sev, msg := Error, fmt.Sprintf("the checkpoint (first %d, cursor %d) points past the end of the log (%d)", st.First, st.Cursor, r.Next)
			if r.Live && r.NextKnown {
				sev, msg = Info, msg+": the live writer appended after its segment was read"
			}
			emit(Finding{Severity: sev, Code: CodeCheckpointRange, File: baseName(ck.Info.File), Message: msg})
		}
	}
	r.heldChecks(emit)
	for _, n := range r.Dir.Temps {
		emit(Finding{Severity: Warning, Code: CodeTempFile, File: n, Message: "stale temporary file; repair removes it"})
	}
	for _, n := range r.Dir.Orphans {
		if f := r.lostTail(n); f != nil {
			emit(*f)
			continue
		}
		sev := Warning
		if r.Live {
			sev = Info
		}
		emit(Finding{Severity: sev, Code: CodeOrphanIndex, File: n, Message: "index file without its segment; the next writer open or repair removes it"})
	}
}

// heldChecks checks the held store, if the log has one: readable, not torn
// (a writer's Open cuts a torn write), and not past the end of the log.
func (r *Report) heldChecks(emit func(Finding)) {
	h, err := seglog.ReadHeldStoreFS(r.Dir.fs, r.Dir.Path)
	switch {
	case err != nil:
		emit(Finding{Severity: Error, Code: CodeHeldStore, File: seglog.HeldFile, Message: stripDir(err.Error(), r.Dir.Path)})
		return
	case !h.Present:
		return
	}
	if h.Torn != "" {
		sev := Warning
		if r.Live {
			sev = Info // the writer may be writing it
		}
		emit(Finding{Severity: sev, Code: CodeHeldStore, File: seglog.HeldFile,
			Message: fmt.Sprintf("the held store ends in a torn write (%s); the next writer open cuts it at byte %d", h.Torn, h.TornAt)})
	}
	if h.Frontier > r.Next && r.NextKnown && !r.Live {
		emit(Finding{Severity: Error, Code: CodeHeldStore, File: seglog.HeldFile,
			Message: fmt.Sprintf("the held store has judged offsets up to %d, past the end of the log (%d); a writer's Open refuses it", h.Frontier, r.Next)})
	}
}

// Summary is a one-line account of a report, for people.
func (r *Report) Summary() string {
	return fmt.Sprintf("%d segments, %s records, %s: %d errors, %d warnings, %d infos",
		len(r.Segments), humanize.Comma(int64(r.Records)), humanize.IBytes(uint64(r.TotalBytes)),
		r.Counts.Errors, r.Counts.Warnings, r.Counts.Infos)
}

// CheckpointIOError reports whether err, from reading the checkpoint, is a
// failure to read it (permissions, a failing disk) rather than slots
// found invalid: the state is then unknown, not lost.
func CheckpointIOError(err error) bool {
	return err != nil && !errors.Is(err, checkpoint.ErrCorrupt) && !errors.Is(err, checkpoint.ErrVersion)
}

// IOProblems returns the findings of files that could not be read: a plan
// made without their contents could destroy them.
func (r *Report) IOProblems() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Code == CodeReadError {
			out = append(out, f)
		}
	}
	return out
}

// checkpointProves makes damage of what looked like a torn tail when the
// checkpoint names offsets in it: they were acknowledged, so durable, and
// no crash tears durable data. (The checkpoint is read before the segments,
// so a live writer's frame in progress lies past what it names.)
func (r *Report) checkpointProves(s *SegmentScan) {
	ck := r.Checkpoint
	if !ck.Present || ck.Err != nil {
		return
	}
	claim := max(ck.State.Cursor, ck.State.First)
	if s.TornHeader && (claim > s.Base || s.IndexEntries > 0) {
		// Not an interrupted roll: the checkpoint or the index names
		// records in the segment, so its header had been synced.
		s.TornHeader = false
		s.HeaderErr = fmt.Errorf("%v; the segment is cut to %d bytes but the checkpoint (cursor %d) or its index (%d entries) names records in it: damage, not an interrupted roll", s.HeaderErr, s.Size, ck.State.Cursor, s.IndexEntries)
	}
	for i := range s.Damage {
		d := &s.Damage[i]
		if d.Torn && claim > d.Offsets.From {
			d.Torn = false
			d.Reason += fmt.Sprintf("; the checkpoint (first %d, cursor %d) says offsets up to %d were durable: damage, not a torn write", ck.State.First, ck.State.Cursor, claim-1)
		}
	}
}

// lostTail reports an index file without its segment past the last
// segment that names offsets the checkpoint keeps: the log's end was lost
// (the writer's Open refuses it rather than give those offsets again).
// Repair leaves the index, the evidence, where it is.
func (r *Report) lostTail(name string) *Finding {
	if r.Live {
		return nil
	}
	return lostTail(r.Dir, r.First, name)
}

func lostTail(d *Dir, first uint64, name string) *Finding {
	base, ok := segment.ParseBaseName(name, index.Suffix)
	if !ok {
		return nil
	}
	for _, s := range d.Segments {
		if s.Base >= base {
			return nil // a segment in the middle: reported as a gap
		}
	}
	e, ok := index.FirstEntry(d.fs, filepath.Join(d.Path, name), base)
	if !ok || e.Offset < first {
		return nil
	}
	return &Finding{Severity: Error, Code: CodeSegmentMissing, File: segment.FileName(base), Offsets: rangePtr(OpenRange(base)),
		Message: fmt.Sprintf("segment missing from the end of the log, but its index %s names offset %d and later: records from %d on are lost; a writer refuses to open the log rather than give their offsets again", name, e.Offset, base)}
}
