// Package jetstream is a ship.Sink that appends a log's records to a NATS
// JetStream stream, exactly once and in the log's order, across crashes of
// the agent and of the NATS servers.
//
// # Messages
//
// Every record becomes one message on the sink's subject (a template in
// which "{agent}" stands for the agent's name), with the record's bytes as
// its body and these headers:
//
//	Nats-Msg-Id    <log id>-<label>  (JetStream's de-duplication key;
//	               left out with Options.NoMsgID)
//	Seglog-Log     the log's identity (Log.ID), 32 hex digits
//	Seglog-Label   the record's label (its sequence number in the protocol)
//	Seglog-Offset  the record's offset in the log
//	Seglog-Type    the record's type, when it has one: as it is when it is
//	               printable ASCII with no space at either end and no
//	               leading '"', else quoted as a Go string in ASCII
//
// A run of offsets the log cannot deliver (a seglog.Gap) becomes one notice
// message with an empty body, the same headers for its first offset and
// label, and
//
//	Seglog-Gap         the number of offsets (and labels) it covers
//	Seglog-Gap-Reason  "damaged" or "dropped"
//	Seglog-Gap-Detail  the log's human-readable cause, when it has one
//
// so a consumer sees every label exactly once, as a record or inside a gap.
//
// A batch's notice that the log refused records during an outage (its
// failure window, seglog.Batch.Refused) becomes one message before the
// batch's entries, with an empty body, no Nats-Msg-Id, the Seglog-Log
// header, Seglog-Label set to the label of the entry after it, and
//
//	Seglog-Refused  the number of records refused
//
// It takes no label (Entry.End is its label). A notice whose answer was
// lost is published again with the batch's resend, so a consumer may count
// the same refusals twice, never none.
//
// # Exactly once and in order
//
// The sink keeps no bookkeeping of its own: the stream is the truth. Before
// its first batch, and after any failure, it resynchronises from the
// stream: the stream's last sequence (from the stream leader), then the
// last message on its subject; if that message carries this log's identity,
// its label tells the next label the stream expects of this log, and that
// is the Reply.Next the sink gives the log, which does the rest (a resent
// batch already in the stream is answered without publishing anything).
//
// Messages are published asynchronously, up to Options.Window in flight,
// each with Nats-Expected-Last-Sequence set to the stream sequence its
// predecessor gets (and Nats-Msg-Id, which exactness does not need). The server stores a message only right
// after its predecessor, so a message lost in flight (a leader change, a
// dropped connection) makes every later one of the window fail rather
// than land out of order, and a resend can never land twice, however long
// after the stream's duplicate window. The expectation covers the whole
// stream: the sink is fast when it is the stream's only writer, and still
// safe, but slower, when other writers share the stream (each collision
// costs a resynchronisation).
//
// Exactly once holds as long as the stream keeps the last message this log
// published on the subject (limits that delete it, a purge, or a new
// subject for the same log, make the stream forget the log).
package jetstream
