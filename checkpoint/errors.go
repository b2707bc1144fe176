package checkpoint

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is matched (errors.Is) by every error reporting an encoding
	// that fails validation. The concrete error is a *CorruptError.
	ErrCorrupt = errors.New("checkpoint: corrupt")
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

// CorruptError describes an encoding that failed validation.
type CorruptError struct {
	File   string // slot file; empty when the bytes came from Unmarshal
	Offset int64  // byte offset in the encoding (= in the file) of the problem
	Reason string
}

func (e *CorruptError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("checkpoint: offset %d: %s", e.Offset, e.Reason)
	}
	return fmt.Sprintf("checkpoint: %s: offset %d: %s", e.File, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

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
