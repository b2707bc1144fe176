// Package vfs is the filesystem seam of seglog: the small set of file
// operations the log, its indexes and its checkpoint perform, after
// Pebble's vfs package.
//
// Every file seglog touches goes through the FS interface defined here.
// Default is the operating system's filesystem; set Options.FS to run a
// log over another one: an in-memory filesystem, one that encrypts, or a
// fault injector that loses unsynced data at a simulated crash, tears
// writes or fails a chosen operation (seglog's own tests use such one).
// The inspection tools (verify, repair, stats) read through the same
// interface.
//
// The contract the rest of seglog relies on is POSIX's, and no more:
//   - data written with WriteAt is durable only after File.Sync returns nil;
//   - a created, renamed or removed directory entry is durable only after
//     SyncDir on its directory returns nil;
//   - Lock is exclusive across processes and across opens in one process.
package vfs
