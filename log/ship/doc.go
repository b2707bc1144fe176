// Package ship drives seglog's delivery protocol: a Sender takes batches
// from a log, hands them to a Sink (the peer), and applies the peer's
// next-expected answers, retrying with backoff, until its context ends.
//
// Sinks live in their own packages under log/ship, so that an agent links
// only the transports it uses.
package ship
