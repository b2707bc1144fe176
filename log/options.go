package log

import (
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/seglog/seglog/log/vfs"
	"github.com/seglog/seglog/segment"
)

// SyncPolicy says when appended records are made durable.
type SyncPolicy int

const (
	// SyncAlways makes Append return only once its record is on stable
	// storage. Concurrent appenders share fsyncs (group commit).
	SyncAlways SyncPolicy = iota
	// SyncInterval fsyncs every Options.SyncEvery (and in Sync, Pending,
	// Ack and Close). A crash loses at most the appends of the last
	// interval.
	SyncInterval
	// SyncNever leaves fsyncs to the operating system (and to Sync,
	// Pending, Ack and Close). Buffered records are still written to the
	// operating system every Options.SyncEvery, so a crash of the process
	// normally loses only the appends of the last period (more while the
	// background writer fsyncs a sealed segment or writes fail); a crash
	// of the machine may lose any append since the last fsync.
	SyncNever
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// Codec selects the compression of frames written by the log. Frames
// record their own codec, so a log may be reopened with another one.
type Codec = segment.Codec

// Codecs.
const (
	CodecNone = segment.CodecNone
	CodecS2   = segment.CodecS2
	CodecZstd = segment.CodecZstd
)

// Limits of the format.
const (
	// MaxRecordSize is the largest payload one record may carry.
	MaxRecordSize = segment.MaxRecordSize
	// MaxTypeLen is the longest record type tag.
	MaxTypeLen = segment.MaxTypeLen
	// MaxBatchSize bounds the encoded size of one AppendRecords call.
	MaxBatchSize = segment.MaxFrameBody
	// MinSegmentSize and MaxSegmentSize bound Options.SegmentSize.
	MinSegmentSize = 16 << 10
	MaxSegmentSize = segment.MaxSegmentSize
)

// Options configures a Log. The zero value, and a nil *Options, give the
// defaults stated on each field.
type Options struct {
	// SegmentSize is the size at which the active segment is sealed and a
	// new one started. Default 64 MiB; MinSegmentSize to MaxSegmentSize.
	// A record larger than the segment size gets a segment of its own.
	SegmentSize int64

	// Codec compresses frames. Default CodecNone. A frame is stored
	// uncompressed when compression does not shrink it.
	Codec Codec

	// DictionarySample, when positive and Codec compresses, makes the
	// log train a compression dictionary from the first DictionarySample
	// bytes of records it is given, write it durably beside the segments
	// and compress the frames of segments started since (and of the
	// active one, when it was started with dictionaries in view) with it.
	// See Log.TrainDictionary and docs/format.md. Default 0: no training
	// (dictionaries the log already holds are still read). 1 MiB is a
	// good value for small records of a few kinds.
	DictionarySample int

	// Sync is the durability policy. Default SyncAlways.
	Sync SyncPolicy

	// SyncEvery is the fsync period under SyncInterval, and the period at
	// which buffered records are written to the operating system under
	// SyncNever. Default 100ms.
	SyncEvery time.Duration

	// FileMode and DirMode are the permissions of created files and of the
	// log directory. Defaults 0640 and 0750.
	FileMode fs.FileMode
	DirMode  fs.FileMode

	// ReadOnly opens the log for reading: no lock is taken, nothing is
	// written, and the log may be open for writing in another process.
	ReadOnly bool

	// TruncateCorrupt makes Open cut the log at damage it finds in the
	// active segment before the durable end, instead of failing with
	// ErrCorrupt. Records after the damage are lost and reported through
	// Recovery. It weakens durability: use it only to salvage a log. It
	// never cuts records the checkpoint names (acknowledged, so durable):
	// Open still fails then ("seglog repair --cut-corrupt" cuts them).
	TruncateCorrupt bool

	// MaxBytes caps the bytes of the log's segment files (index files
	// and the checkpoint come on top). Default 0: no cap. An append whose
	// record would take the segments past it is refused or makes room by
	// dropping the oldest whole segments, as Limit says, so that the cap
	// holds at every moment; the active segment counts as a whole segment
	// where the writer preallocates it (SyncAlways), and a drop frees whole
	// segments, so the log may sit up to about one segment below the cap.
	// At least two segments (2*SegmentSize). A record that cannot fit
	// beside one other segment is refused with ErrTooLarge. See
	// docs/protocol.md, "Size limit".
	MaxBytes int64

	// Limit is what an append does at MaxBytes or MaxAge. Default
	// LimitRefuse.
	Limit LimitPolicy

	// MaxAge, if positive, is an age limit: once the oldest sealed segment
	// was last written more than MaxAge ago (its file's modification
	// time), an append is refused with ErrFull (LimitRefuse) or first
	// drops the sealed segments that old, unsent records included, which
	// Pending hands out as a GapDropped gap (LimitDrop), as for MaxBytes.
	// The active segment never counts. Default 0: no age limit. See
	// docs/protocol.md, "Size limit".
	MaxAge time.Duration

	// KeepAcked is the window of acknowledged records kept for a resend:
	// after an Ack that moves the cursor forward (AckNormal), the last
	// KeepAcked acknowledged records stay readable and a peer that lost
	// them (restored from a backup) can ask for them again (AckRewind)
	// instead of getting AckAncient. Default 0: the last batch, as the
	// protocol keeps it. An Ack that is too high still releases
	// everything before the cursor. The window is what the size limit
	// drops first: its records are the oldest.
	KeepAcked int64

	// KeepAckedBytes is the window in bytes of segment files: after an
	// AckNormal, besides the last batch, the log keeps the whole segments
	// before the new cursor's that fit in KeepAckedBytes, and the start of
	// the cursor's own segment (which costs no disk: segments are deleted
	// whole). Default 0: no window in bytes. With KeepAcked also set, the
	// larger window wins.
	KeepAckedBytes int64

	// Logger receives recovery and error reports. Default slog.Default().
	Logger *slog.Logger

	// FS is the filesystem the log uses. Default vfs.Default, the
	// operating system's. Package vfs documents what an implementation
	// must guarantee; tests substitute one that simulates crashes and
	// injects errors.
	FS vfs.FS

	// FailureWindow, if positive, makes appends fail with ErrOutage once
	// exchanges with the peer have failed for longer than it (from the
	// first to the latest failure given to RecordExchangeFailure), until
	// RecordExchangeSuccess. Default 0: appends are never refused.
	FailureWindow time.Duration
}

const (
	defaultSegmentSize = 64 << 20
	defaultSyncEvery   = 100 * time.Millisecond
)

func (o *Options) withDefaults() (Options, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = defaultSegmentSize
	}
	if opts.SegmentSize < MinSegmentSize || opts.SegmentSize > MaxSegmentSize {
		return opts, fmt.Errorf("seglog: SegmentSize %d out of range [%d, %d]", opts.SegmentSize, MinSegmentSize, MaxSegmentSize)
	}
	if opts.Codec > CodecZstd {
		return opts, fmt.Errorf("seglog: unknown codec %d", opts.Codec)
	}
	if opts.DictionarySample < 0 || opts.DictionarySample > maxDictionarySample {
		return opts, fmt.Errorf("seglog: DictionarySample %d out of range [0, %d]", opts.DictionarySample, maxDictionarySample)
	}
	if opts.Sync < SyncAlways || opts.Sync > SyncNever {
		return opts, fmt.Errorf("seglog: unknown sync policy %d", opts.Sync)
	}
	if opts.MaxBytes < 0 {
		return opts, fmt.Errorf("seglog: MaxBytes %d is negative", opts.MaxBytes)
	}
	if opts.MaxBytes > 0 && opts.MaxBytes < 2*opts.SegmentSize {
		return opts, fmt.Errorf("seglog: MaxBytes %d is below two segments of %d", opts.MaxBytes, opts.SegmentSize)
	}
	if opts.KeepAcked < 0 || opts.KeepAckedBytes < 0 {
		return opts, fmt.Errorf("seglog: KeepAcked %d or KeepAckedBytes %d is negative", opts.KeepAcked, opts.KeepAckedBytes)
	}
	if opts.Limit != LimitRefuse && opts.Limit != LimitDrop {
		return opts, fmt.Errorf("seglog: unknown limit policy %d", opts.Limit)
	}
	if opts.MaxAge < 0 {
		return opts, fmt.Errorf("seglog: negative MaxAge %s", opts.MaxAge)
	}
	if opts.FailureWindow < 0 {
		return opts, fmt.Errorf("seglog: negative FailureWindow %s", opts.FailureWindow)
	}
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = defaultSyncEvery
	}
	if opts.FileMode == 0 {
		opts.FileMode = 0o640
	}
	if opts.DirMode == 0 {
		opts.DirMode = 0o750
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	return opts, nil
}
