// Package demo plays seglog's delivery protocol against an in-process peer
// and draws the log after each step the way the reference design note
// draws its message store: the sequence number, the messages kept, and a
// ^ under the next one to send. `seglog demo` runs it.
//
// The script follows docs/protocol.md: the worked example (answers 3, 8,
// then 5), a batch lost on the way, a restart, a peer restored from an old
// backup (an ancient answer), a peer claiming more than was sent (too
// high), and a re-registration (Reset). Its output is deterministic.
package demo
