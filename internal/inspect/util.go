package inspect

import (
	"fmt"
	"path/filepath"
	"strings"
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

// plural writes "1 record", "2 records".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
