//go:build !linux

package inspect

import "os"

func fdatasync(f *os.File) error { return f.Sync() }
