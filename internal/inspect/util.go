package inspect

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/seglog/seglog/segment"
)

// stripDir makes the paths in a message relative to the log directory.
func stripDir(msg, dir string) string {
	if dir == "" {
		return msg
	}
	return strings.ReplaceAll(msg, filepath.Clean(dir)+string(filepath.Separator), "")
}

func baseName(p string) string {
	if p == "" {
		return ""
	}
	return filepath.Base(p)
}

// reasonOf returns the reason of a corruption error, or the error's text.
func reasonOf(err error) string {
	var ce *segment.CorruptError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return err.Error()
}

// plural writes "1 record", "2 records".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
