package log

import (
	"fmt"
	"iter"
)

// GapReason says why a run of offsets could not be delivered.
type GapReason int

const (
	// GapDamaged: the frames holding these offsets fail their checksum or
	// cannot be decoded, or the segment holding them is missing or cut
	// short. The offsets' extent is exact: no good record is inside.
	GapDamaged GapReason = iota + 1
	// GapDropped: the records were dropped by a size or age limit before
	// they were sent.
	GapDropped
)

func (r GapReason) String() string {
	switch r {
	case GapDamaged:
		return "damaged"
	case GapDropped:
		return "dropped"
	}
	return fmt.Sprintf("GapReason(%d)", int(r))
}

// Gap is a run of offsets that the log cannot deliver, handed out by
// Pending in its place among the records. A gap occupies labels like the
// records it stands for, so a peer that receives a gap for labels
// [Label, Label+Count) answers Label+Count and moves on.
type Gap struct {
	Offset uint64    // first offset the gap covers
	Count  uint64    // offsets (and labels) it covers, at least 1
	Label  uint64    // label of Offset
	Reason GapReason // why the offsets cannot be delivered
	Detail string    // human-readable cause (the file and position of the damage)
}

// End returns the offset just past the gap.
func (g Gap) End() uint64 { return g.Offset + g.Count }

// Entry is one item of a batch in label order: a record or a gap.
type Entry struct {
	Label  uint64
	Record *Record // nil for a gap
	Gap    *Gap    // nil for a record
}

// Batch is a run of records to send, labelled with the sequence number of
// its first entry. Records and Gaps are each in offset order; together, in
// offset order, they are the batch's entries, whose labels run densely from
// Sequence (Entries walks them).
type Batch struct {
	Sequence uint64   // label of the first entry
	Records  []Record // records to deliver
	Gaps     []Gap    // runs of offsets that cannot be delivered

	// Refused, when not zero, tells the peer that this many records were
	// refused (ErrOutage) during a run of failed exchanges that has ended:
	// they were never stored and have no offset or label. Pending sets
	// it until a RecordExchangeSuccess after the batch that carried it;
	// a crash in between may report the same records again. It can come
	// in a batch without records or gaps, which Empty does not look at.
	Refused uint64
}

// Len returns the number of labels the batch occupies: one per record plus
// each gap's count.
func (b Batch) Len() uint64 {
	n := uint64(len(b.Records))
	for _, g := range b.Gaps {
		n += g.Count
	}
	return n
}

// Next returns the label a peer that stored the whole batch answers:
// Sequence + Len.
func (b Batch) Next() uint64 { return b.Sequence + b.Len() }

// Empty reports whether the batch holds neither records nor gaps.
func (b Batch) Empty() bool { return len(b.Records) == 0 && len(b.Gaps) == 0 }

// Entries yields the batch's records and gaps merged in offset order, each
// with its label.
func (b Batch) Entries() iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		label := b.Sequence
		ri, gi := 0, 0
		for ri < len(b.Records) || gi < len(b.Gaps) {
			if gi == len(b.Gaps) || (ri < len(b.Records) && b.Records[ri].Offset < b.Gaps[gi].Offset) {
				if !yield(Entry{Label: label, Record: &b.Records[ri]}) {
					return
				}
				label++
				ri++
				continue
			}
			g := &b.Gaps[gi]
			if !yield(Entry{Label: label, Gap: g}) {
				return
			}
			label += g.Count
			gi++
		}
	}
}
