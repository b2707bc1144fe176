package log

import (
	"errors"

	"github.com/seglog/seglog/segment"
)

var (
	// ErrOutOfRange is returned by Read for an offset outside
	// [FirstOffset, NextOffset), or released while it was being read.
	ErrOutOfRange = errors.New("seglog: offset out of range")

	// ErrCorrupt is matched by every error reporting damaged data, in a
	// segment, an index or the checkpoint. The error is a *CorruptError
	// naming the file and byte position. It is segment.ErrCorrupt and
	// checkpoint.ErrCorrupt.
	ErrCorrupt = segment.ErrCorrupt

	// ErrLocked is returned by Open when another writer, in this process or
	// another, has the log open.
	ErrLocked = errors.New("seglog: log is locked by another writer")

	// ErrClosed is returned by calls on a closed Log.
	ErrClosed = errors.New("seglog: log is closed")

	// ErrReadOnly is returned by writes to a log opened with ReadOnly.
	ErrReadOnly = errors.New("seglog: log is read-only")

	// ErrTooLarge is returned for a record over MaxRecordSize or a type tag
	// over MaxTypeLen, or a batch over MaxBatchSize, and by SetMeta for a
	// key or value that does not fit in the delivery state.
	ErrTooLarge = segment.ErrTooLarge

	// ErrSequenceOverflow is returned by Pending when the sequence has
	// reached 2^64-1 and records are pending: a label past it would wrap.
	// Only an answer below the sequence (a rewind) or a Reset and a
	// lower answer from the peer lets delivery go on.
	ErrSequenceOverflow = errors.New("seglog: sequence at 2^64-1: no label left for a batch")

	// ErrSyncFailed is returned by every write after an fsync failed. The
	// kernel may have dropped the unsynced data and a retried fsync could
	// report success for it, so the log refuses to claim anything more is
	// safe; reopen it to recover what is on disk.
	ErrSyncFailed = errors.New("seglog: fsync failed; log refuses further writes")

	// ErrOutage is returned by appends while exchanges with the peer have
	// failed for longer than Options.FailureWindow (RecordExchangeFailure):
	// the record is refused, not stored, and counted; the count reaches
	// the peer after the outage (Batch.Refused). Records appended with
	// AppendOptions.AlwaysKept are not refused.
	ErrOutage = errors.New("seglog: exchanges have failed for longer than the failure window; record refused")

	// ErrSessionEnded is returned by an append naming a session
	// (AppendOptions.Session) that is not open: ended by EndSessions or
	// EndAllSessions, or never opened in this log.
	ErrSessionEnded = errors.New("seglog: session ended or unknown; record refused")
)

// CorruptError describes damaged data: the file, the byte position and
// what is wrong. It matches ErrCorrupt. It is the one corruption error of
// seglog's packages (segment.CorruptError, checkpoint.CorruptError).
type CorruptError = segment.CorruptError
