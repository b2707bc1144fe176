package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/seglog/seglog/checkpoint"
	"github.com/seglog/seglog/index"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// RepairOptions chooses what Repair may do.
type RepairOptions struct {
	// Apply carries the plan out; without it Repair only plans, reading
	// the log without a lock as Verify does.
	Apply bool
	// CutCorrupt lets the plan lose records to mid-log damage: cut the log
	// at the first damaged frame, missing segment or unreadable header
	// (every later record is dropped, and offsets from the cut are given
	// again by the next appends, as Options.TruncateCorrupt does), and move
	// a checkpoint that points at missing records back inside the log.
	CutCorrupt bool
	// ResetCheckpoint lets the plan replace a checkpoint neither of whose
	// slots is valid with a fresh state: first offset and cursor at the
	// start of the log, sequence 0, no metadata.
	ResetCheckpoint bool
	// Now names the backup directory; default time.Now.
	Now func() time.Time
	// Progress is passed to the verifications.
	Progress *atomic.Int64
	// FS is the filesystem the log is read and repaired through. Default
	// vfs.Default.
	FS vfs.FS
}

// Action kinds. They are part of the command's JSON output: stable.
const (
	ActTruncate   = "truncate"           // cut a segment file short
	ActRemove     = "remove"             // move a file out of the log
	ActIndex      = "rebuild_index"      // write a segment's index from its frames
	ActCheckpoint = "rewrite_checkpoint" // save a corrected delivery state
	ActResetCkpt  = "reset_checkpoint"   // replace an unreadable checkpoint
)

// Action is one step of a repair plan.
type Action struct {
	Kind   string `json:"action"`
	File   string `json:"file"`
	Detail string `json:"detail"`

	size    int64            // ActTruncate: the new size
	entries []index.Entry    // ActIndex
	base    uint64           // ActIndex
	state   checkpoint.State // ActCheckpoint, ActResetCkpt
}

// Plan is what Repair does, or would do, to a log.
type Plan struct {
	Actions []Action `json:"actions"`
	// Unreadable are the offsets the repair removes from the log that no
	// reader could read before it (damaged frames, missing segments);
	// Dropped are those that were readable and are lost to a cut.
	Unreadable []Range `json:"unreadable"`
	Dropped    []Range `json:"dropped"`
	// Unresolved are the findings this plan leaves as they are, because
	// fixing them loses records or state and was not asked for.
	Unresolved []Finding `json:"unresolved"`
	// Next is the offset the next append gets after the repair.
	Next uint64 `json:"next_offset"`
	// HeldPastEnd are the held records a rewrite of the held store takes
	// out because their offsets lie past the end of the log (their data
	// stays in the backup copy of the store); HeldLost the stretches of
	// the store skipped as damaged.
	HeldPastEnd []seglog.HeldRecord `json:"held_past_end,omitempty"`
	HeldLost    []seglog.HeldLost   `json:"held_lost,omitempty"`
	// RestoreDicts are the dictionary files, missing or damaged, that
	// frames the log keeps need: repair never cuts those frames, nor
	// deletes or rewrites a dictionary; restoring the file mends them.
	RestoreDicts []string `json:"restore_dictionaries,omitempty"`
	// DictOnly says every unresolved finding is one RestoreDicts mends.
	DictOnly bool `json:"-"`
}

// RepairResult is the outcome of Repair.
type RepairResult struct {
	Report    *Report // the verification the plan was made from
	Plan      Plan
	Applied   bool
	BackupDir string  // where changed files were copied, "" if none
	After     *Report // the verification after applying, nil if not applied
}

// Repair verifies the log in dir, plans its repair and, with opts.Apply,
// carries the plan out. Applying takes the writer's lock first (failing
// with an error matching ErrLocked while a writer holds it), verifies and
// plans again under it, copies every file it changes or removes into a new
// directory DIR/repair-<UTC time>/, makes each change durable, and
// verifies the result.
func Repair(ctx context.Context, dir string, opts RepairOptions) (*RepairResult, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = vfs.Default
	}
	vopts := Options{KeepFrames: true, Progress: opts.Progress, LockHeld: opts.Apply, FS: fsys}
	if opts.Apply {
		if _, err := readDir(fsys, dir); err != nil {
			return nil, err
		}
		lock, err := lockWriter(fsys, dir)
		if err != nil {
			return nil, err
		}
		defer lock.Close()
	}
	r, err := Verify(ctx, dir, vopts)
	if err != nil {
		return nil, err
	}
	res := &RepairResult{Report: r, Plan: plan(r, opts)}
	if len(r.IOProblems()) == 0 {
		if err := res.Plan.planHeld(fsys, r, opts); err != nil {
			return res, err
		}
		res.Plan.keepID(fsys, dir)
	}
	if !opts.Apply || len(res.Plan.Actions) == 0 {
		return res, nil
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if res.BackupDir, err = makeBackupDir(fsys, dir, now()); err != nil {
		return res, err
	}
	for _, a := range res.Plan.Actions {
		var err error
		if a.Kind == ActHeld {
			err = applyHeld(fsys, dir, res.BackupDir, res.Plan.Next)
		} else {
			err = apply(fsys, dir, res.BackupDir, a)
		}
		if err != nil {
			return res, fmt.Errorf("%s %s: %w", a.Kind, a.File, err)
		}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return res, err
	}
	res.Applied = true
	if res.After, err = Verify(ctx, dir, Options{Progress: opts.Progress, LockHeld: true, FS: fsys}); err != nil {
		return res, err
	}
	return res, nil
}

// plan works out the repair of the log r describes.
func plan(r *Report, opts RepairOptions) Plan {
	var p Plan
	if io := r.IOProblems(); len(io) > 0 {
		// A file that could not be read may hold anything: a plan made
		// without it could rewrite its index, cut the log before it or
		// reset a checkpoint that is only unreadable. Nothing is planned
		// until it is fixed.
		p.Next = r.Next
		for _, f := range r.Findings {
			if f.Severity == Error {
				p.Unresolved = append(p.Unresolved, f)
			}
		}
		return p
	}
	var segs []*SegmentScan // read, in order
	for _, s := range r.Segments {
		switch {
		case s.Released:
			p.Actions = append(p.Actions, removeSegment(s, "released by the checkpoint"))
		case !s.Missing:
			segs = append(segs, s)
		}
	}

	// The cut point: the first damage that cannot be mended without
	// losing records, in log order.
	cutSeg, cutPos := -1, int64(0) // cutPos 0: the whole segment goes
	for i, s := range segs {
		if i > 0 && segs[i-1].NextKnown && segs[i-1].Next != s.Base {
			cutSeg = i
			break
		}
		if s.HeaderErr != nil && !s.TornHeader {
			cutSeg = i
			break
		}
		if d := firstCorrupt(s, r.First); d != nil {
			cutSeg, cutPos = i, d.Pos
			break
		}
	}
	p.Next = r.Next
	remaining := segs
	switch {
	case cutSeg >= 0 && opts.CutCorrupt:
		remaining = p.cut(segs, cutSeg, cutPos)
	case cutSeg >= 0:
		for _, f := range r.Findings {
			if f.Severity == Error && f.Code != CodeCheckpoint && f.Code != CodeCheckpointRange && f.Code != CodeSegmentMissing {
				p.Unresolved = append(p.Unresolved, f)
			}
		}
	}

	for _, s := range remaining {
		isCut := cutSeg >= 0 && opts.CutCorrupt && s == segs[cutSeg]
		if s.Corrupt() && !isCut {
			// Left as it is: its index, even where wrong, is what lets
			// readers skip the damage.
			continue
		}
		end := s.Size
		if isCut {
			end = cutPos
		}
		switch {
		case s.TornHeader:
			p.Actions = append(p.Actions, removeSegment(s, fmt.Sprintf("whose header was never written (%d bytes): an interrupted roll", s.Size)))
			p.Next = s.Base
			continue
		case len(s.Damage) > 0 && s.Damage[0].Torn && end == s.Size:
			d := s.Damage[0]
			end = d.Pos
			p.Actions = append(p.Actions, Action{Kind: ActTruncate, File: s.Name, size: end,
				Detail: fmt.Sprintf("cut the torn tail, %d → %d bytes: %d bytes never proven durable; the records from offset %d they would have held were not readable (under SyncAlways a crash leaves only records never acknowledged there)",
					s.Size, end, s.Size-end, d.Offsets.From)})
		}
		// An index in state ok holds exactly the valid frames before any
		// torn tail; one cut at damage has entries past the cut.
		if isCut || s.IndexState != IndexOK {
			var entries []index.Entry
			for _, fr := range s.Frames {
				if fr.Pos+fr.Len <= end {
					entries = append(entries, fr.Entry())
				}
			}
			entries = withDictFrames(entries, s, end)
			why := "to match the cut segment"
			if !isCut {
				why = "index " + s.IndexState
				if s.IndexReason != "" {
					why += ": " + s.IndexReason
				}
			}
			p.Actions = append(p.Actions, Action{Kind: ActIndex, File: s.IndexName(), entries: entries, base: s.Base,
				Detail: fmt.Sprintf("write %s from the segment's frames (%s)", plural(len(entries), "entry", "entries"), why)})
		}
	}
	for _, n := range r.Dir.Orphans {
		if f := r.lostTail(n); f != nil {
			// The evidence of a lost end of the log: kept unless the
			// log may be cut, and then its offsets are given again.
			if !opts.CutCorrupt {
				p.Unresolved = append(p.Unresolved, *f)
				continue
			}
			p.Actions = append(p.Actions, Action{Kind: ActRemove, File: n, Detail: "index of " + f.File + ", missing from the end of the log: the log ends before it, and its offsets are given again"})
			p.Unreadable = mergeRanges(append(p.Unreadable, *f.Offsets))
			continue
		}
		p.Actions = append(p.Actions, Action{Kind: ActRemove, File: n, Detail: "index file without its segment"})
	}
	for _, n := range r.Dir.Temps {
		p.Actions = append(p.Actions, Action{Kind: ActRemove, File: n, Detail: "stale temporary file"})
	}
	start := p.Next
	if len(remaining) > 0 {
		start = remaining[0].Base
	}
	p.checkpoint(r, opts, start)
	p.dictUnresolved(r)
	return p
}

func firstCorrupt(s *SegmentScan, first uint64) *Damage {
	for i := range s.Damage {
		d := &s.Damage[i]
		if d.Torn || d.Offsets.To != nil && *d.Offsets.To <= first {
			continue // released records: nothing to cut for
		}
		if d.Dict != 0 {
			// An intact frame whose dictionary is missing or damaged:
			// restoring the dictionary file makes it readable, a cut
			// would lose it for good.
			continue
		}
		return d
	}
	return nil
}

// cut plans cutting the log at segment i, position pos (0: the whole
// segment), and returns the segments kept.
func (p *Plan) cut(segs []*SegmentScan, i int, pos int64) []*SegmentScan {
	s := segs[i]
	var dropped, unreadable []Range
	addFrames := func(s *SegmentScan, from int64) {
		for _, fr := range s.Frames {
			if fr.Pos >= from {
				dropped = appendRange(dropped, fr.Offset, fr.Next())
			}
		}
	}
	addDamage := func(s *SegmentScan, from int64) {
		if s.HeaderErr != nil && !s.TornHeader {
			if s.NextKnown {
				unreadable = appendRange(unreadable, s.Base, s.Next)
			} else {
				unreadable = append(unreadable, OpenRange(s.Base))
			}
			return
		}
		for _, d := range s.Damage {
			if d.Pos >= from && !d.Torn {
				if d.Offsets.To != nil {
					unreadable = appendRange(unreadable, d.Offsets.From, *d.Offsets.To)
				} else {
					unreadable = append(unreadable, d.Offsets)
				}
			}
		}
	}
	// Removals go from the end of the log backwards, so that a crash in the
	// middle leaves a log that is a prefix of the old one.
	for j := len(segs) - 1; j > i; j-- {
		p.Actions = append(p.Actions, removeSegment(segs[j], "after the cut"))
	}
	next := s.Base
	if i > 0 && segs[i-1].NextKnown && segs[i-1].Next != s.Base {
		// A gap or overlap before s: s goes whole.
		pos = 0
		next = segs[i-1].Next
		if next < s.Base {
			unreadable = appendRange(unreadable, next, s.Base)
		}
	}
	if pos == 0 {
		p.Actions = append(p.Actions, removeSegment(s, "at the cut"))
		addDamage(s, 0)
		addFrames(s, 0)
	} else {
		for _, fr := range s.Frames {
			if fr.Pos < pos {
				next = fr.Next()
			}
		}
		p.Actions = append(p.Actions, Action{Kind: ActTruncate, File: s.Name, size: pos,
			Detail: fmt.Sprintf("cut the log at the damage: %d → %d bytes; the log ends at offset %d", s.Size, pos, next)})
		addDamage(s, pos)
		addFrames(s, pos)
	}
	for _, t := range segs[i+1:] {
		addDamage(t, 0)
		addFrames(t, 0)
	}
	p.Unreadable = mergeRanges(append(p.Unreadable, unreadable...))
	p.Dropped = mergeRanges(append(p.Dropped, dropped...))
	p.Next = next
	if pos == 0 {
		return segs[:i]
	}
	return segs[:i+1]
}

// removeSegment moves a segment and its index out of the log.
func removeSegment(s *SegmentScan, why string) Action {
	a := Action{Kind: ActRemove, File: s.Name, Detail: "segment " + why}
	if s.Records > 0 {
		a.Detail += " (" + plural(int(s.Records), "record", "records") + ")"
	}
	if s.SegmentFile.Index != "" {
		a.Detail += ", with its index " + s.SegmentFile.Index
	}
	return a
}

// checkpoint plans the checkpoint's repair: rewrite an invalid slot, move
// the state inside the log when records it points at are gone.
func (p *Plan) checkpoint(r *Report, opts RepairOptions, start uint64) {
	ck := r.Checkpoint
	if !ck.Present {
		return
	}
	if ck.Err != nil {
		if !opts.ResetCheckpoint {
			for _, f := range r.Findings {
				if f.Code == CodeCheckpoint {
					p.Unresolved = append(p.Unresolved, f)
				}
			}
			return
		}
		st := checkpoint.State{First: start, Cursor: start}
		p.Actions = append(p.Actions, Action{Kind: ActResetCkpt, File: "checkpoint", state: st,
			Detail: fmt.Sprintf("replace both invalid slots with sequence 0, cursor %d, first %d and no metadata: the delivery state is lost, the application must resynchronise with its peer", start, start)})
		return
	}
	st := ck.State
	for _, f := range r.Findings {
		if f.Code == CodeCheckpointReserved {
			p.Unresolved = append(p.Unresolved, f) // no guess at the log's own state
		}
	}
	var changes []string
	if st.First < start {
		// Records [First, start) are missing.
		if !opts.CutCorrupt {
			for _, f := range r.Findings {
				if f.Code == CodeSegmentMissing {
					p.Unresolved = append(p.Unresolved, f)
				}
			}
		} else {
			p.Unreadable = mergeRanges(append(p.Unreadable, MakeRange(st.First, start)))
			changes = append(changes, fmt.Sprintf("first %d → %d (offsets %s are missing)", st.First, start, MakeRange(st.First, start)))
			st.First = start
			if st.Cursor < start {
				changes = append(changes, fmt.Sprintf("cursor %d → %d and sequence %d → %d (the missing records are skipped)", st.Cursor, start, st.Sequence, st.Sequence+start-st.Cursor))
				st.Sequence += start - st.Cursor
				st.Cursor = start
			}
		}
	}
	if st.Cursor > p.Next || st.First > p.Next {
		if !opts.CutCorrupt {
			for _, f := range r.Findings {
				if f.Code == CodeCheckpointRange && f.Severity == Error {
					p.Unresolved = append(p.Unresolved, f)
				}
			}
		} else {
			if st.Cursor > p.Next {
				// The peer holds the records acknowledged before the cut:
				// the sequence must not move back, or the records appended
				// next would be taken for them and dropped. Records after
				// the cursor may have been handed out by a Pending whose
				// Ack never came: their labels are skipped too, so the
				// peer sees a gap and asks for a resynchronisation rather
				// than drop new records as duplicates. The records kept
				// for a resend go: relabelled, a resend would pass one
				// record for another.
				seq := st.Sequence
				if r.Next > st.Cursor {
					seq += r.Next - st.Cursor
				}
				changes = append(changes, fmt.Sprintf("cursor %d → %d and first %d → %d, sequence %d → %d (the records acknowledged past the cut are gone, and the peer holds them; the labels of any handed out after them are skipped, so the next appended record is labelled %d)",
					st.Cursor, p.Next, st.First, p.Next, st.Sequence, seq, seq))
				if st.First < p.Next {
					p.Dropped = mergeRanges(append(p.Dropped, MakeRange(st.First, p.Next)))
				}
				st.Cursor, st.First, st.Sequence = p.Next, p.Next, seq
			}
			if st.First > p.Next {
				changes = append(changes, fmt.Sprintf("first %d → %d", st.First, p.Next))
				st.First = p.Next
			}
		}
	}
	switch {
	case len(changes) > 0:
		detail := "save the delivery state with " + joinAnd(changes)
		p.Actions = append(p.Actions, Action{Kind: ActCheckpoint, File: "checkpoint", state: st, Detail: detail})
	case ck.Info.Torn != nil && !r.Live:
		p.Actions = append(p.Actions, Action{Kind: ActCheckpoint, File: baseName(ck.Info.Torn.File), state: st,
			Detail: fmt.Sprintf("overwrite the invalid slot with the current state (generation %d, sequence %d, cursor %d, first %d)",
				ck.Info.Generation, st.Sequence, st.Cursor, st.First)})
	}
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, x := range s[1 : len(s)-1] {
		out += ", " + x
	}
	return out + " and " + s[len(s)-1]
}

func appendRange(rs []Range, from, to uint64) []Range {
	if from >= to {
		return rs
	}
	if n := len(rs); n > 0 && rs[n-1].To != nil && *rs[n-1].To == from {
		rs[n-1] = MakeRange(rs[n-1].From, to)
		return rs
	}
	return append(rs, MakeRange(from, to))
}

// mergeRanges sorts ranges and joins those that touch or overlap.
func mergeRanges(rs []Range) []Range {
	slices.SortFunc(rs, func(a, b Range) int {
		switch {
		case a.From < b.From:
			return -1
		case a.From > b.From:
			return 1
		}
		return 0
	})
	var out []Range
	for _, r := range rs {
		n := len(out)
		if n == 0 || out[n-1].To != nil && *out[n-1].To < r.From {
			out = append(out, r)
			continue
		}
		last := &out[n-1]
		if last.To == nil {
			continue
		}
		if r.To == nil {
			last.To = nil
		} else if *r.To > *last.To {
			to := *r.To
			last.To = &to
		}
	}
	return out
}

func makeBackupDir(fsys vfs.FS, dir string, t time.Time) (string, error) {
	name := BackupPrefix + t.UTC().Format("20060102T150405Z")
	for i := 1; ; i++ {
		p := filepath.Join(dir, name)
		if i > 1 {
			p = fmt.Sprintf("%s-%d", p, i)
		}
		// The writer's lock is held: nothing else creates it meanwhile.
		if _, err := fsys.Stat(p); err == nil {
			continue
		} else if !IsNotExist(err) {
			return "", err
		}
		if err := fsys.MkdirAll(p, 0o750); err != nil {
			return "", err
		}
		return p, fsys.SyncDir(dir)
	}
}

// apply carries out one action, copying or moving what it changes into
// the backup directory first.
func apply(fsys vfs.FS, dir, backup string, a Action) error {
	path := filepath.Join(dir, a.File)
	switch a.Kind {
	case ActRemove:
		if err := fsys.Rename(path, filepath.Join(backup, a.File)); err != nil {
			return err
		}
		if b, ok := segment.ParseFileName(a.File); ok {
			idx := filepath.Join(dir, index.FileName(b))
			if err := fsys.Rename(idx, filepath.Join(backup, index.FileName(b))); err != nil && !IsNotExist(err) {
				return err
			}
		}
		return fsys.SyncDir(backup)
	case ActTruncate:
		if err := copyAside(fsys, path, backup); err != nil {
			return err
		}
		f, err := fsys.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(a.size)
		if err == nil {
			err = f.Sync()
		}
		return errors.Join(err, f.Close())
	case ActIndex:
		if err := copyAside(fsys, path, backup); err != nil && !IsNotExist(err) {
			return err
		}
		return index.WriteFile(fsys, path, a.base, a.entries, 0o640, true)
	case ActCheckpoint, ActResetCkpt:
		slots := checkpoint.SlotNames()
		for _, n := range slots {
			if err := copyAside(fsys, filepath.Join(dir, n), backup); err != nil && !IsNotExist(err) {
				return err
			}
		}
		if a.Kind == ActResetCkpt {
			for _, n := range slots {
				if err := fsys.Remove(filepath.Join(dir, n)); err != nil && !IsNotExist(err) {
					return err
				}
			}
		}
		s, _, err := checkpoint.Open(fsys, dir, 0o640, false)
		if err != nil {
			return err
		}
		return errors.Join(s.Save(a.state), s.Close())
	}
	return fmt.Errorf("unknown action %q", a.Kind)
}

// copyAside copies a file into the backup directory, durably.
func copyAside(fsys vfs.FS, path, backup string) error {
	src, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	size, err := src.Size()
	if err != nil {
		return err
	}
	dst, err := fsys.OpenFile(filepath.Join(backup, filepath.Base(path)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.NewOffsetWriter(dst, 0), io.NewSectionReader(src, 0, size))
	if err == nil {
		err = dst.Sync()
	}
	if err = errors.Join(err, dst.Close()); err != nil {
		return err
	}
	return fsys.SyncDir(backup)
}
