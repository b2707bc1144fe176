package segment

import (
	"errors"
	"fmt"
)

// ErrCorrupt is matched (errors.Is) by every error that reports damaged data.
var ErrCorrupt = errors.New("corrupt data")

// ErrTooLarge is returned for a record or frame over the format's limits.
var ErrTooLarge = errors.New("record too large")

// CorruptError describes damaged data at a position in a file.
type CorruptError struct {
	File   string
	Offset int64 // byte position in the file
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: offset %d: corrupt: %s", e.File, e.Offset, e.Reason)
}

// Unwrap makes CorruptError match ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corruptf(file string, off int64, format string, args ...any) *CorruptError {
	return &CorruptError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
