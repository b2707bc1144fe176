// Package log is seglog's public API: an append-only segmented log that
// keeps outbound messages safe on disk until a peer has acknowledged them.
//
// Import it under the name seglog, since it shadows the standard library's
// log package:
//
//	import seglog "github.com/seglog/seglog/log"
//
//	l, err := seglog.Open(dir, nil) // nil: the documented defaults
//	off, err := l.Append([]byte(`{"type":"ping"}`))
//	batch, err := l.Pending(100)    // send batch to the peer...
//	res, err := l.Ack(next)         // ...and apply its next-expected answer
//
// Records get dense offsets from 0 for the life of the log. They are
// written in checksummed frames to segment files of Options.SegmentSize
// (see the segment and index packages and docs/format.md); the delivery
// state (sequence, cursor, first retained offset, application metadata) is
// kept in a separate checkpoint (package checkpoint), so releasing
// acknowledged records deletes whole segments and rewrites nothing.
//
// Durability follows Options.Sync. Under SyncAlways, the default, Append
// returns once its record is on stable storage, and concurrent appenders
// share fsyncs. A failed fsync makes the log refuse further writes
// (ErrSyncFailed); a failed write (a full disk) is undone and reported, and
// the log works again once the cause is gone.
//
// Options.MaxBytes caps the log's segments for long outages of the peer:
// at the cap, appends are refused (ErrFull) or the oldest whole segments
// are dropped, acknowledged records first; unsent records dropped are
// handed out by Pending as a gap of reason GapDropped with their labels,
// so that the peer learns exactly what was lost (docs/protocol.md, "Size
// limit").
//
// One process writes a log at a time (ErrLocked); any number may open it
// ReadOnly beside the writer.
//
// Beside the delivery state, the checkpoint keeps what an agent's message
// store needs across restarts: the run of failed exchanges
// (RecordExchangeFailure, RecordExchangeSuccess), past which appends are
// refused with ErrOutage when Options.FailureWindow is set, and session
// ids per scope (OpenSession, EndAllSessions), whose ended sessions'
// appends fail with ErrSessionEnded. AppendTyped and AppendWith tag and
// qualify single records at the cost of Append.
//
// docs/layout.md maps the code: the parts Log is made of, their locks, and
// the way from Append to the disk and from Ack to the deleted segment.
package log
