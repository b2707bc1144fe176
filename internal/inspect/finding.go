package inspect

import (
	"fmt"
	"strings"
)

// Severity grades a finding.
type Severity int

// Severities, in increasing order of gravity.
const (
	// Info is worth knowing and needs nothing done: a write in progress, a
	// released segment the next writer open removes.
	Info Severity = iota
	// Warning is a problem the log recovers from by itself or that repair
	// fixes without losing a record: a torn tail, a missing index.
	Warning
	// Error is damage to data: records that cannot be read, or a delivery
	// state that disagrees with the log.
	Error
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText makes a Severity encode as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding codes. They are part of the command's JSON output: stable.
const (
	CodeSegmentHeader   = "segment_header"    // a segment header is invalid
	CodeTornHeader      = "torn_header"       // the last segment's header was never written: an interrupted roll
	CodeFrameCorrupt    = "frame_corrupt"     // frames that fail their checks
	CodeTornTail        = "torn_tail"         // an interrupted write at the end of the active segment
	CodeWriteInProgress = "write_in_progress" // the live writer's frame being written
	CodeIndexMissing    = "index_missing"     // a segment has no index file
	CodeIndexInvalid    = "index_invalid"     // an index entry does not decode or check
	CodeIndexIncomplete = "index_incomplete"  // an index covers fewer frames than its segment
	CodeIndexMismatch   = "index_mismatch"    // an index entry disagrees with the frame it points at
	CodeIndexExtra      = "index_extra"       // an index has entries past the last valid frame
	CodeOffsetGap       = "offset_gap"        // no segment holds a run of offsets
	CodeOffsetOverlap   = "offset_overlap"    // two segments claim the same offsets
	CodeSegmentMissing  = "segment_missing"   // the log starts after the checkpoint's first offset
	CodeSegmentReleased = "segment_released"  // a segment the checkpoint released is still there
	CodeSegmentRemoved  = "segment_removed"   // a segment disappeared while being verified
	CodeCheckpoint      = "checkpoint_corrupt"
	CodeCheckpointSlot  = "checkpoint_slot_invalid"
	CodeCheckpointRange = "checkpoint_range" // first or cursor outside the log
	// CodeCheckpointReserved: a valid checkpoint whose log-own metadata
	// entry (failure window, sessions) does not decode.
	CodeCheckpointReserved = "checkpoint_reserved"
	CodeNoCheckpoint       = "checkpoint_missing"
	CodeTempFile           = "temp_file"    // a stale temporary file
	CodeOrphanIndex        = "orphan_index" // an index file whose segment is gone
	CodeReadError          = "read_error"   // an I/O error
	// CodeHeldStore: the held store (records of types not accepted) is
	// not one, was torn by a crash, or judged offsets past the log's end.
	CodeHeldStore = "held_store"
)

// Range is a half-open run of offsets [From, To). To is nil when the end is
// unknown: damage that runs to the end of the log.
type Range struct {
	From uint64  `json:"from"`
	To   *uint64 `json:"to"`
}

// MakeRange returns [from, to).
func MakeRange(from, to uint64) Range { return Range{From: from, To: &to} }

// OpenRange returns [from, ...), whose end is unknown.
func OpenRange(from uint64) Range { return Range{From: from} }

// Len returns the number of offsets in r, and false if its end is unknown.
func (r Range) Len() (uint64, bool) {
	if r.To == nil {
		return 0, false
	}
	return *r.To - r.From, true
}

func (r Range) String() string {
	if r.To == nil {
		return fmt.Sprintf("[%d, end of log)", r.From)
	}
	return fmt.Sprintf("[%d, %d)", r.From, *r.To)
}

// FormatRanges writes ranges as "[0, 3), [7, 9)", or "none".
func FormatRanges(rs []Range) string {
	if len(rs) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// Finding is one thing Verify found.
type Finding struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	// File is the file's name inside the log directory; "" for the log as
	// a whole.
	File string `json:"file,omitempty"`
	// Position is the byte position in File, when the finding has one.
	Position *int64 `json:"position,omitempty"`
	// Offsets are the record offsets affected, when there are any.
	Offsets *Range `json:"offsets,omitempty"`
	Message string `json:"message"`
}

func pos(p int64) *int64 { return &p }

func rangePtr(r Range) *Range { return &r }

// Counts tallies findings by severity.
type Counts struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Infos    int `json:"infos"`
}

// Add counts f.
func (c *Counts) Add(f Finding) {
	switch f.Severity {
	case Error:
		c.Errors++
	case Warning:
		c.Warnings++
	default:
		c.Infos++
	}
}

// Healthy reports whether nothing worse than Info was found.
func (c Counts) Healthy() bool { return c.Errors == 0 && c.Warnings == 0 }
