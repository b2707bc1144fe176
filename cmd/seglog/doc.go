// Command seglog inspects, follows, verifies and repairs seglog logs, live
// or at rest:
//
//	seglog info DIR              one screen about a log
//	seglog segments DIR          a row per segment
//	seglog dump DIR [-f]         records in order, following new ones with -f
//	seglog get DIR OFFSET        one record
//	seglog verify DIR            every checksum, index and the checkpoint
//	seglog repair DIR [--apply]  plan, and apply, the repair of a damaged log
//	seglog stats DIR             record sizes, types, compression
//	seglog bench [DIR]           appends and reads on this disk
//	seglog import tidwall SRC DST
//	seglog export DIR            records as JSON Lines
//	seglog demo [DIR]            the delivery protocol, step by step
//	seglog version | completion SHELL
//
// Every command but "repair --apply" and "import" opens the log read-only,
// holds no lock (info, verify, stats and repair try it for an instant, to
// tell whether a writer is live) and works beside a live writer. The work is done by
// internal/inspect; this package parses flags and prints. Data goes to
// stdout, diagnostics to stderr; --json prints JSON Lines for streams and
// one JSON document for summaries.
//
// Exit status: 0 healthy, 1 problems found, 2 usage error, 3 the log cannot
// be opened or read, 4 the log is locked by a writer (repair --apply).
package main
