//go:build !linux

package vfs

// Sync is the operating system's fsync (on macOS, F_FULLFSYNC).
func (f osFile) Sync() error { return f.File.Sync() }
