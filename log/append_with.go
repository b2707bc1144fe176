package log

// AppendOptions qualify one appended record. The zero value is Append.
type AppendOptions struct {
	// Type is the record's type tag (Record.Type), at most MaxTypeLen
	// bytes; "" for none.
	Type string
	// Session, if not empty, is a session id from OpenSession: the append
	// fails with ErrSessionEnded unless that session is still open.
	Session string
	// AlwaysKept exempts the record from the failure window: it is
	// appended even while appends are refused with ErrOutage. Meant for
	// the records the peer needs in order to recover, such as the agent's
	// answer to a resynchronisation request.
	AlwaysKept bool
}

// AppendWith appends one record as Append does, qualified by o, and
// returns its offset. Like Append, and unlike AppendRecords, it adds the
// record to the frame that concurrent appends share, so a typed record
// costs its tag's bytes and nothing more.
func (l *Log) AppendWith(data []byte, o AppendOptions) (uint64, error) {
	return l.appendOne(data, o)
}

// AppendTyped appends one record tagged with typ (Record.Type), as Append
// does, and returns its offset. It is AppendWith with only Type set.
func (l *Log) AppendTyped(typ string, data []byte) (uint64, error) {
	return l.appendOne(data, AppendOptions{Type: typ})
}
