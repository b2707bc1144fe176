package main

import (
	"fmt"

	"github.com/seglog/seglog/checkpoint"
	seglog "github.com/seglog/seglog/log"
)

// jsonSizeLimit is what info shows of the size limit's drops: the record
// saved with the last drop (checkpoint.KeyDropped) and the dropped range
// still to report to the peer.
type jsonSizeLimit struct {
	// MaxBytes is Options.MaxBytes at the last drop; the cap itself is an
	// option of the writer, not kept in the log.
	MaxBytes        int64  `json:"max_bytes_at_last_drop"`
	DroppedUnsent   uint64 `json:"dropped_unsent"`
	DroppedAcked    uint64 `json:"dropped_acknowledged"`
	DroppedSegments uint64 `json:"dropped_segments"`
	// DropPending is the dropped range [cursor, first) that Pending hands
	// out next as a gap.
	DropPending uint64 `json:"drop_pending"`
	Error       string `json:"error,omitempty"`
}

// sizeLimitInfo returns the size limit's part of info, nil if the log
// never dropped anything.
func sizeLimitInfo(st checkpoint.State) *jsonSizeLimit {
	v, ok := st.Meta[checkpoint.KeyDropped]
	if !ok && st.First <= st.Cursor {
		return nil
	}
	var j jsonSizeLimit
	if st.First > st.Cursor {
		j.DropPending = st.First - st.Cursor
	}
	if ok {
		r, err := checkpoint.ParseDropped(v)
		if err != nil {
			j.Error = err.Error()
		}
		j.MaxBytes, j.DroppedUnsent, j.DroppedAcked, j.DroppedSegments = r.MaxBytes, r.Unsent, r.Acked, r.Segments
	}
	return &j
}

// sizeLimitLine is info's text line for the size limit.
func sizeLimitLine(j *jsonSizeLimit, st checkpoint.State) string {
	if j.Error != "" {
		return "cannot read the drop record: " + j.Error
	}
	cap := "under a cap of " + size(j.MaxBytes)
	if j.MaxBytes == 0 {
		cap = "by the age limit (no size cap)"
	}
	s := fmt.Sprintf("dropped %s unsent and %s acknowledged (%s) %s",
		plural(int(j.DroppedUnsent), "record", "records"), comma(j.DroppedAcked), plural(int(j.DroppedSegments), "segment", "segments"), cap)
	if j.DropPending > 0 {
		s += fmt.Sprintf("; offsets [%d, %d) are dropped and go to the peer next as a gap, labels [%d, %d)",
			st.Cursor, st.First, st.Sequence, st.Sequence+j.DropPending)
	}
	return s
}

// droppedGap is the pending gap of a dropped range, as Pending hands it out.
func droppedGap(st checkpoint.State) []jsonPendingGap {
	if st.First <= st.Cursor {
		return nil
	}
	return []jsonPendingGap{{From: st.Cursor, To: st.First, Reason: seglog.GapDropped.String(),
		Detail: "dropped by the size limit (Options.MaxBytes) before they were sent"}}
}
