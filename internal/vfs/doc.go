// Package vfs is the filesystem seam of seglog.
//
// Every file the log, its index and its checkpoint touch goes through the
// small FS interface defined here, so that tests can substitute a filesystem
// that loses unsynced data at a simulated crash, tears writes, or fails a
// chosen operation. Default is the real operating-system filesystem.
//
// The contract the rest of seglog relies on is POSIX's, and no more:
//   - data written with WriteAt is durable only after File.Sync returns nil;
//   - a created, renamed or removed directory entry is durable only after
//     SyncDir on its directory returns nil;
//   - Lock is exclusive across processes and across opens in one process.
package vfs
