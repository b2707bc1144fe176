// Package crashfs is an in-memory implementation of vfs.FS for tests that
// simulates power loss and injects errors.
//
// # Model
//
// A file is an inode holding two byte slices: data, the current contents
// that reads see, and synced, a snapshot taken at the last successful
// File.Sync. Every WriteAt and Truncate since that Sync is also kept, in
// order, so that a crash can replay any subset of them.
//
// A directory holds two namespaces mapping base names to inodes: the
// current one, which lookups use, and the durable one, which is the
// current one as of the last successful SyncDir of that directory.
// OpenFile with O_CREATE, Rename and Remove change only the current
// namespace. Opening, renaming or removing a file never makes its data
// durable and syncing a file never makes its name durable: that is the
// POSIX contract vfs documents, and the one seglog must be correct under.
// Directories themselves are created durably by MkdirAll and cannot be
// removed or renamed. Removing or renaming over a file that is still open
// leaves the open handle usable, as unlink does.
//
// # Crashes
//
// FS.Crash returns a new, independent FS holding what a power loss at that
// moment may have left behind. For each directory entry whose current and
// durable values differ, either may survive; for each surviving file, its
// contents are the synced snapshot plus some of the unsynced operations.
// CrashMode chooses how much survives, from nothing unsynced
// (CrashLoseUnsynced) to everything (CrashKeepAll), with two random modes in
// between whose choices come from a caller-supplied *rand.Rand so that a
// failing seed can be replayed.
//
// # Error injection
//
// Every mutating operation (OpKind) is counted and passed, before it takes
// effect, to an optional hook that may fail it; CrashAfter and Inject are
// ready-made policies on top of the same mechanism. CrashAfter(n) kills the
// machine at the n-th next operation: it and everything after it fail with
// ErrCrashed, and a test then calls Crash to see what survived. Running a
// workload once to count its operations and then once per n with
// CrashAfter(n) explores a crash at every point of the workload.
//
// All methods are safe for concurrent use.
package crashfs
