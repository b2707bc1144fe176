package log

import (
	"fmt"

	"github.com/seglog/seglog/index"
	"github.com/seglog/seglog/segment"
)

// Recovery cuts only what nothing durable vouches for. A torn tail is
// possible only past the durable end of the log; the checkpoint's cursor
// and first offset name records that were durable when it was saved
// (Ack syncs up to the new cursor before saving it), and an index entry
// is written only into a segment whose header was synced first. Damage
// at or before such a point is reported, never cut.

// checkCut refuses to cut segment s at position pos, where offset next
// would start, when the checkpoint names records from next on: they were
// acknowledged, so durable, and whatever stops the scan there is damage.
// cause is the damage the scan reported, if any.
func (l *Log) checkCut(s *segFile, pos int64, next uint64, cause error) error {
	st := l.mu.state
	claim := max(st.Cursor, st.First)
	if claim <= next {
		return nil
	}
	reason := fmt.Sprintf("damaged frame where offset %d starts, but the checkpoint (first %d, cursor %d) says offsets up to %d were durable: damage, not a torn write; nothing was cut", next, st.First, st.Cursor, claim-1)
	if cause != nil {
		reason += fmt.Sprintf(" (%v)", cause)
	}
	return &CorruptError{File: s.path, Offset: pos, Reason: reason}
}

// checkNoRecords refuses to drop last segment s, whose header is missing
// or torn (herr), as the leftover of an interrupted roll when something
// durable names offsets in it: the checkpoint, or an entry of its index.
// Such a segment held records, so its header had been synced.
func (l *Log) checkNoRecords(s *segFile, herr error) error {
	st := l.mu.state
	if claim := max(st.Cursor, st.First); claim > s.base {
		return &CorruptError{File: s.path, Offset: 0, Reason: fmt.Sprintf("segment cut to its first bytes or less (%v), but the checkpoint (first %d, cursor %d) names offsets %d to %d in it: damage, not an interrupted roll", herr, st.First, st.Cursor, s.base, claim-1)}
	}
	if e, ok := l.firstIndexEntry(s.idxPath, s.base); ok {
		return &CorruptError{File: s.path, Offset: 0, Reason: fmt.Sprintf("segment cut to its first bytes or less (%v), but its index %s names offset %d at position %d: damage, not an interrupted roll", herr, s.idxPath, e.Offset, e.Pos)}
	}
	return nil
}

// firstIndexEntry returns the first entry of the index file at path, for
// a segment at base, if the file holds one that checks.
func (l *Log) firstIndexEntry(path string, base uint64) (index.Entry, bool) {
	return index.FirstEntry(l.fs, path, base)
}

// checkMissingTail refuses a log whose last segments are gone while their
// index files still name offsets in them: an index entry is written only
// after its segment's file and directory entry were made durable, so the
// segment held records, and starting again from the segment before would
// give their offsets to new records. (Index files of released segments,
// which a crash may leave behind, lie before the first kept offset.)
func (l *Log) checkMissingTail(names []string) error {
	var last uint64
	found := false
	for _, n := range names {
		if b, ok := segment.ParseFileName(n); ok && (!found || b > last) {
			last, found = b, true
		}
	}
	for _, n := range names {
		b, ok := segment.ParseBaseName(n, index.Suffix)
		if !ok || (found && b <= last) {
			continue
		}
		e, ok := l.firstIndexEntry(l.path(n), b)
		if !ok || e.Offset < l.mu.state.First {
			continue
		}
		return &CorruptError{File: l.path(segment.FileName(b)), Offset: 0,
			Reason: fmt.Sprintf("segment missing, but its index %s names offset %d: records from offset %d on are lost, and their offsets must not be given again", l.path(n), e.Offset, b)}
	}
	return nil
}
