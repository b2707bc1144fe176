package checkpoint

import (
	"errors"
	"fmt"

	"github.com/seglog/seglog/segment"
)

var (
	// ErrCorrupt is matched (errors.Is) by every error reporting an encoding
	// that fails validation. The concrete error is a *CorruptError. It is
	// segment.ErrCorrupt: one sentinel for damaged data in any of a log's
	// files.
	ErrCorrupt = segment.ErrCorrupt
	// ErrVersion is matched by a *VersionError: an intact header announcing
	// a format version this build cannot read.
	ErrVersion = errors.New("checkpoint: unsupported version")
	// ErrTooLarge is returned by Marshal and Save when the encoding of the
	// state would exceed MaxSize.
	ErrTooLarge = errors.New("checkpoint: encoded state too large")
	// ErrInvalid is returned by Marshal and Save for a state that cannot be
	// encoded: a metadata key above MaxMetaKey bytes, or Cursor < First.
	ErrInvalid = errors.New("checkpoint: invalid state")
	// ErrClosed is returned by Save after Close.
	ErrClosed = errors.New("checkpoint: store closed")
	// ErrReadOnly is returned by Save on a store opened read-only.
	ErrReadOnly = errors.New("checkpoint: store is read-only")
)

// CorruptError describes an encoding that failed validation: File is the
// slot file ("" when the bytes came from Unmarshal), Offset the byte of the
// encoding (= of the file) where the problem is, Reason what it is. It is
// segment.CorruptError, the one corruption error of a log's files.
type CorruptError = segment.CorruptError

// VersionError reports a checkpoint written in a format version this build
// does not know, normally by a newer seglog. It is not corruption: Open
// refuses to start rather than silently fall back to the other slot.
type VersionError struct {
	File    string // slot file; empty when the bytes came from Unmarshal
	Version uint16
}

func (e *VersionError) Error() string {
	prefix := "checkpoint: "
	if e.File != "" {
		prefix += e.File + ": "
	}
	return fmt.Sprintf("%sunsupported format version %d (this build reads versions %d and %d)",
		prefix, e.Version, formatVersion, formatVersion2)
}

// Unwrap returns ErrVersion.
func (e *VersionError) Unwrap() error { return ErrVersion }
