package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seglog/seglog/internal/inspect"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

func (a *app) infoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "info DIR",
		Short: "One screen about a log: format, segments, offsets, delivery state, writer",
		Long: `info prints one screen about the log in DIR: the format version, the
segments (count and bytes), the first and next offsets, the delivery state
(sequence, cursor, pending records, metadata keys) and when it was saved,
the codecs of the active segment's frames, whether a writer holds the
lock, and stray files. It reads the active segment, the indexes and the
pending records: those that delivery would hand out as gaps (damaged
frames, a segment missing or cut short) are listed on the "gaps" line;
"seglog verify" reads everything.

Exit status 0 whenever the summary could be printed, even when it notes
damage (an "attention" line): its figures then stop at the damage. Use
"seglog verify" to decide whether a log is healthy.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.info(args[0])
		},
	}
}

type jsonInfo struct {
	Dir string `json:"dir"`
	// ID is the log's identity, 32 hex digits; "" for a log made before
	// logs had one and not opened for writing since.
	ID     string `json:"id"`
	Format struct {
		Segment    uint16 `json:"segment"`
		Index      uint16 `json:"index"`
		Checkpoint uint16 `json:"checkpoint"`
	} `json:"format"`
	Segments struct {
		Count  int   `json:"count"`
		Sealed int   `json:"sealed"`
		Active int   `json:"active"`
		Bytes  int64 `json:"bytes"`
	} `json:"segments"`
	FirstOffset  uint64        `json:"first_offset"`
	NextOffset   uint64        `json:"next_offset"`
	Records      uint64        `json:"records"`
	Delivery     *jsonDelivery `json:"delivery"`
	MetadataKeys []string      `json:"metadata_keys"`
	Checkpoint   struct {
		File       string     `json:"file"`
		Generation uint64     `json:"generation"`
		SavedAt    *time.Time `json:"saved_at"`
		AgeSeconds *float64   `json:"age_seconds"`
		TornSlot   string     `json:"invalid_slot,omitempty"`
		Error      string     `json:"error,omitempty"`
	} `json:"checkpoint"`
	Codecs         map[string]int `json:"codecs"`
	Problems       []string       `json:"problems"`
	Failures       *jsonFailures  `json:"exchange_failures,omitempty"`
	Sessions       []jsonSession  `json:"sessions,omitempty"`
	reservedErr    string         `json:"-"`
	WriterActive   bool           `json:"writer_active"`
	TemporaryFiles []string       `json:"temporary_files"`
	OrphanIndexes  []string       `json:"orphan_indexes"`
	OtherFiles     []string       `json:"other_files"`
	Backups        []string       `json:"backups"`
	Note           string         `json:"note,omitempty"`
	// SizeLimit is set once the size limit has dropped records.
	SizeLimit *jsonSizeLimit `json:"size_limit,omitempty"`

	// Held is set once the log has an accepted set or held records.
	Held *jsonHeld `json:"held_types,omitempty"`
}

func (a *app) info(dir string) error {
	li, err := inspect.ReadInfo(dir)
	if err != nil {
		return openErr(dir, err)
	}
	var j jsonInfo
	j.Dir = dir
	j.Format.Segment, j.Format.Index, j.Format.Checkpoint = li.SegmentVersion, li.IndexVersion, li.CheckpointVersion
	j.Segments.Count, j.Segments.Bytes = len(li.Segments), li.Bytes
	for _, s := range li.Segments {
		if s.Active {
			j.Segments.Active++
		} else {
			j.Segments.Sealed++
		}
	}
	j.FirstOffset, j.NextOffset = li.First, li.Next
	if li.Next > li.First {
		j.Records = li.Next - li.First
	}
	ck := li.Checkpoint
	j.MetadataKeys = []string{}
	if ck.Present && ck.Err == nil {
		st := ck.State
		j.Delivery = &jsonDelivery{Sequence: st.Sequence, Cursor: st.Cursor, First: st.First}
		if li.Next > st.Cursor {
			j.Delivery.Pending = li.Next - st.Cursor
		}
		gaps, gerr := a.pendingGaps(dir)
		j.Delivery.Gaps = nonNilGaps(append(droppedGap(st), gaps...))
		j.SizeLimit = sizeLimitInfo(st)
		if gerr != nil {
			j.Delivery.GapsError = message(gerr)
		}
		j.MetadataKeys = slices.Sorted(maps.Keys(st.Meta))
		j.ID = seglog.ID(st.ID).String()
		j.Checkpoint.File = baseName(ck.Info.File)
		j.Checkpoint.Generation = ck.Info.Generation
		if ck.Info.Torn != nil {
			j.Checkpoint.TornSlot = baseName(ck.Info.Torn.File)
		}
	}
	if ck.Err != nil {
		j.Checkpoint.Error = ck.Err.Error()
	}
	if !li.SavedAt.IsZero() {
		t := li.SavedAt.UTC()
		age := a.now().Sub(li.SavedAt).Seconds()
		j.Checkpoint.SavedAt, j.Checkpoint.AgeSeconds = &t, &age
	}
	j.Codecs = map[string]int{}
	for c, n := range li.Codecs {
		j.Codecs[segment.Codec(c).String()] = n
	}
	j.Problems = []string{}
	if ck.Present && ck.Err == nil {
		reservedInfo(&j, ck.State, ck.Info.File)
		if j.Held = a.heldInfo(dir); j.Held != nil && j.Delivery != nil {
			j.Delivery.Pending = j.Held.pending // held records are not pending
		}
	}
	for _, sg := range li.Segments {
		if sg.Problem != "" {
			j.Problems = append(j.Problems, fmt.Sprintf("%s: %s (%d bytes)", sg.Name, sg.Problem, sg.TailBytes))
		}
	}
	gaps := offsetGaps(li)
	if li.LostTail != "" {
		gaps = append(gaps, li.LostTail)
	}
	j.Problems = append(j.Problems, gaps...)
	j.WriterActive = li.Live
	j.TemporaryFiles, j.OrphanIndexes, j.OtherFiles, j.Backups = nonNil(li.Dir.Temps), nonNil(li.Dir.Orphans), nonNil(li.Dir.Other), nonNil(li.Dir.Backups)
	j.Note = li.Note
	if a.json {
		return writeJSON(a.stdout, j)
	}

	w := newTable(a.stdout)
	fmt.Fprintf(w, "log\t%s\n", dir)
	if j.Delivery != nil {
		id := j.ID
		if id == "" {
			id = "none yet (a log made before logs had ids; its next writable open gives it one)"
		}
		fmt.Fprintf(w, "id\t%s\n", id)
	}
	fmt.Fprintf(w, "format\tsegment v%d, index v%d, checkpoint v%d\n", j.Format.Segment, j.Format.Index, j.Format.Checkpoint)
	fmt.Fprintf(w, "segments\t%d (%d sealed, %d active), %s\n", j.Segments.Count, j.Segments.Sealed, j.Segments.Active, size(li.Bytes))
	noun := "records"
	if j.Records == 1 {
		noun = "record"
	}
	fmt.Fprintf(w, "offsets\tfirst %d, next %d: %s %s\n", li.First, li.Next, comma(j.Records), noun)
	switch {
	case j.Delivery != nil:
		d := j.Delivery
		fmt.Fprintf(w, "delivery\tsequence %d, cursor %d, %s pending\n", d.Sequence, d.Cursor, comma(d.Pending))
		var gerr error
		if d.GapsError != "" {
			gerr = errors.New(d.GapsError)
		}
		fmt.Fprintf(w, "gaps\t%s\n", gapsLine(d.Gaps, gerr))
		if j.SizeLimit != nil {
			fmt.Fprintf(w, "size limit\t%s\n", sizeLimitLine(j.SizeLimit, ck.State))
		}
		keys := "none"
		if len(j.MetadataKeys) > 0 {
			keys = fmt.Sprintf("%s: %s", plural(len(j.MetadataKeys), "key", "keys"), strings.Join(j.MetadataKeys, ", "))
		}
		fmt.Fprintf(w, "metadata\t%s\n", keys)
		printReserved(w, &j)
		printHeld(w, j.Held)
		saved := ""
		if j.Checkpoint.AgeSeconds != nil {
			saved = fmt.Sprintf(", saved %s ago", time.Duration(*j.Checkpoint.AgeSeconds*1e9).Round(time.Second))
		}
		file := j.Checkpoint.File
		if file == "" {
			file = "never saved"
		}
		fmt.Fprintf(w, "checkpoint\t%s, generation %d%s\n", file, j.Checkpoint.Generation, saved)
		if j.Checkpoint.TornSlot != "" {
			fmt.Fprintf(w, "\t%s is invalid and ignored (seglog verify tells more)\n", j.Checkpoint.TornSlot)
		}
	case ck.Err != nil:
		fmt.Fprintf(w, "delivery\tunknown: %v\n", ck.Err)
	default:
		fmt.Fprintf(w, "delivery\tno checkpoint: the zero state\n")
	}
	var codecs []string
	for c, n := range li.Codecs {
		if n > 0 {
			codecs = append(codecs, fmt.Sprintf("%s (%s)", segment.Codec(c), plural(n, "frame", "frames")))
		}
	}
	if len(codecs) == 0 {
		codecs = []string{"no frame yet"}
	}
	fmt.Fprintf(w, "codec\t%s in the active segment\n", strings.Join(codecs, ", "))
	for _, sg := range li.Segments {
		if sg.Problem != "" {
			fmt.Fprintf(w, "attention	%s: %s (%d bytes); seglog verify tells more\n", sg.Name, sg.Problem, sg.TailBytes)
		}
	}
	for _, g := range gaps {
		fmt.Fprintf(w, "attention\t%s; seglog verify tells more\n", g)
	}
	writer := "none (the lock is free)"
	if li.Live {
		writer = "a process holds the lock and may be appending"
	}
	fmt.Fprintf(w, "writer\t%s\n", writer)
	if li.Note != "" {
		fmt.Fprintf(w, "note\t%s\n", li.Note)
	}
	var stray []string
	for _, n := range li.Dir.Temps {
		stray = append(stray, n+" (temporary)")
	}
	for _, n := range li.Dir.Orphans {
		stray = append(stray, n+" (index without segment)")
	}
	for _, n := range li.Dir.Other {
		stray = append(stray, n+" (unknown)")
	}
	if len(stray) == 0 {
		stray = []string{"none"}
	}
	fmt.Fprintf(w, "stray files\t%s\n", strings.Join(stray, ", "))
	if len(li.Dir.Backups) > 0 {
		fmt.Fprintf(w, "backups\t%s\n", strings.Join(li.Dir.Backups, ", "))
	}
	return w.Flush()
}

func nonNilGaps(g []jsonPendingGap) []jsonPendingGap {
	if g == nil {
		return []jsonPendingGap{}
	}
	return g
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// offsetGaps names the offsets that no segment holds although the log
// should: before the first segment, down to the checkpoint's first offset,
// and between segments. Segments a live writer's release removes while they
// are read, and released segments whose deletion is not done (deletions
// may finish out of order), make no gap.
func offsetGaps(li *inspect.LogInfo) []string {
	var gaps []string
	segs := li.Segments
	if len(segs) == 0 {
		return gaps
	}
	if ck := li.Checkpoint; ck.Present && ck.Err == nil && ck.State.First < segs[0].Base && !segs[0].Missing {
		gaps = append(gaps, fmt.Sprintf("offsets [%d, %d) are missing: the segment files that held them are gone", ck.State.First, segs[0].Base))
	}
	ck := li.Checkpoint
	for i := 0; i+1 < len(segs); i++ {
		s, next := segs[i], segs[i+1]
		if s.Missing || next.Missing || s.Problem != "" || s.Next == next.Base {
			continue
		}
		if ck.Present && ck.Err == nil && next.Base <= ck.State.First {
			continue // released, its deletion not done yet: nothing is missing
		}
		if s.Next < next.Base {
			gaps = append(gaps, fmt.Sprintf("offsets [%d, %d) are missing between %s and %s", s.Next, next.Base, s.Name, next.Name))
		} else {
			gaps = append(gaps, fmt.Sprintf("%s runs to offset %d, past the start of %s at %d", s.Name, s.Next, next.Name, next.Base))
		}
	}
	return gaps
}

// jsonDelivery is the delivery state in info --json.
type jsonDelivery struct {
	Sequence uint64 `json:"sequence"`
	Cursor   uint64 `json:"cursor"`
	First    uint64 `json:"first"`
	Pending  uint64 `json:"pending"`
	// Gaps are the pending offsets delivery hands out as gaps.
	Gaps      []jsonPendingGap `json:"gaps"`
	GapsError string           `json:"gaps_error,omitempty"`
}
