package segment

import (
	"errors"
	"fmt"
)

// ErrCorrupt is matched (errors.Is) by every error that reports damaged
// data in a log's files: segments, indexes and checkpoints. The concrete
// error is a *CorruptError. Packages index and checkpoint, and the log,
// return this same sentinel and type.
var ErrCorrupt = errors.New("corrupt data")

// ErrTooLarge is returned for a record or frame over the format's limits.
var ErrTooLarge = errors.New("record too large")

// CorruptError describes damaged data: the file, the byte position in it
// and what is wrong. It matches ErrCorrupt.
type CorruptError struct {
	// File is the damaged file; "" when the bytes were decoded from memory
	// (checkpoint.Unmarshal, index.Decode), and the caller that read them
	// from a file names it.
	File string
	// Offset is the byte position of the damage in the file (in the
	// decoded bytes when File is "").
	Offset int64
	// Reason says what is wrong.
	Reason string
}

func (e *CorruptError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("offset %d: corrupt: %s", e.Offset, e.Reason)
	}
	return fmt.Sprintf("%s: offset %d: corrupt: %s", e.File, e.Offset, e.Reason)
}

// Unwrap makes CorruptError match ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Corruptf returns a *CorruptError for file at byte position off.
func Corruptf(file string, off int64, format string, args ...any) *CorruptError {
	return &CorruptError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// Reason returns the reason of the *CorruptError err wraps, or err's text
// when it wraps none.
func Reason(err error) string {
	var ce *CorruptError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return err.Error()
}
