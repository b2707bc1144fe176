package checkpoint

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReservedPrefix begins the metadata keys that seglog keeps for itself in
// State.Meta: the failure window, the session ids, the size limit's
// drops and the accepted record types. The log refuses them
// in SetMeta and hides them from Meta and MetaKeys, so an application
// never sees or changes them. The checkpoint format itself treats them as
// any other entry (they are covered by the checksum), so a reader that
// does not know a reserved key keeps it unchanged.
const ReservedPrefix = "seglog."

// Reserved keys. Each is absent when its value would be empty, so a log
// that never used a feature has a checkpoint without its entry. The value
// layouts are frozen, like the rest of the format: a change needs a new
// key.
const (
	// KeyFailure is present while a run of failed exchanges lasts. Value,
	// 24 bytes, little-endian: first i64 | last i64 | refused u64, the
	// first and the latest failure of the run in Unix nanoseconds, and
	// the records refused during the run (as far as saved).
	KeyFailure = ReservedPrefix + "failure"
	// KeyRefused is present while records refused during an ended run
	// wait to be reported to the peer. Value, 8 bytes: count u64.
	KeyRefused = ReservedPrefix + "refused"
	// KeySessions is present while a session is open. Value: count u16,
	// then per session, in strictly increasing bytewise scope order:
	// scope length u8 | scope | id [16]byte.
	KeySessions = ReservedPrefix + "sessions"
	// KeyDropped is present once a size limit has dropped records. Value,
	// 32 bytes, little-endian: max bytes i64 | unsent u64 | acknowledged
	// u64 | segments u64: the cap in force at the last drop, and the
	// counts of every drop since the log was made.
	KeyDropped = ReservedPrefix + "dropped"
	// KeyAccepted is present once the application has set the record
	// types its peer accepts (absent: every type is accepted). Value:
	// count u16, then per type, in strictly increasing bytewise order:
	// length u8 | type. A count of 0 accepts no type.
	KeyAccepted = ReservedPrefix + "accepted"
)

// IsReserved reports whether key is one of seglog's own metadata keys.
func IsReserved(key string) bool { return strings.HasPrefix(key, ReservedPrefix) }

// Failure is the run of failed exchanges, the value of KeyFailure.
type Failure struct {
	First, Last time.Time // first and latest failed exchange of the run
	Refused     uint64    // records refused during the run
}

// Marshal encodes f as the value of KeyFailure.
func (f Failure) Marshal() []byte {
	b := make([]byte, failureSize)
	le.PutUint64(b[0:], uint64(f.First.UnixNano()))
	le.PutUint64(b[8:], uint64(f.Last.UnixNano()))
	le.PutUint64(b[16:], f.Refused)
	return b
}

const (
	failureSize = 24
	refusedSize = 8
	sessionID   = 16 // bytes of a session id
	maxSessions = 1<<16 - 1
)

// ParseFailure decodes the value of KeyFailure.
func ParseFailure(b []byte) (Failure, error) {
	if len(b) != failureSize {
		return Failure{}, reservedErr(KeyFailure, 0, "%d bytes, want %d", len(b), failureSize)
	}
	f := Failure{
		First:   time.Unix(0, int64(le.Uint64(b[0:]))).UTC(),
		Last:    time.Unix(0, int64(le.Uint64(b[8:]))).UTC(),
		Refused: le.Uint64(b[16:]),
	}
	if f.Last.Before(f.First) {
		return Failure{}, reservedErr(KeyFailure, 8, "latest failure %s before the first %s", f.Last.Format(time.RFC3339Nano), f.First.Format(time.RFC3339Nano))
	}
	return f, nil
}

// MarshalRefused encodes n as the value of KeyRefused.
func MarshalRefused(n uint64) []byte { return le.AppendUint64(nil, n) }

// ParseRefused decodes the value of KeyRefused.
func ParseRefused(b []byte) (uint64, error) {
	if len(b) != refusedSize {
		return 0, reservedErr(KeyRefused, 0, "%d bytes, want %d", len(b), refusedSize)
	}
	return le.Uint64(b), nil
}

// Dropped is the record of a size limit's drops, the value of KeyDropped.
type Dropped struct {
	MaxBytes int64  // Options.MaxBytes at the last drop
	Unsent   uint64 // unsent records dropped, each reported as a gap
	Acked    uint64 // acknowledged records kept for a resend, dropped
	Segments uint64 // segment files dropped
}

const droppedSize = 32

// Marshal encodes d as the value of KeyDropped.
func (d Dropped) Marshal() []byte {
	b := make([]byte, droppedSize)
	le.PutUint64(b[0:], uint64(d.MaxBytes))
	le.PutUint64(b[8:], d.Unsent)
	le.PutUint64(b[16:], d.Acked)
	le.PutUint64(b[24:], d.Segments)
	return b
}

// ParseDropped decodes the value of KeyDropped.
func ParseDropped(b []byte) (Dropped, error) {
	if len(b) != droppedSize {
		return Dropped{}, reservedErr(KeyDropped, 0, "%d bytes, want %d", len(b), droppedSize)
	}
	return Dropped{MaxBytes: int64(le.Uint64(b[0:])), Unsent: le.Uint64(b[8:]), Acked: le.Uint64(b[16:]), Segments: le.Uint64(b[24:])}, nil
}

// MarshalAccepted encodes the accepted types, which must be sorted without
// duplicates, each at most 255 bytes, and at most 65535 of them, as the
// value of KeyAccepted.
func MarshalAccepted(types []string) ([]byte, error) {
	if len(types) > maxAccepted {
		return nil, fmt.Errorf("%w: %d accepted types, limit %d", ErrInvalid, len(types), maxAccepted)
	}
	b := le.AppendUint16(nil, uint16(len(types)))
	for i, t := range types {
		if len(t) > 255 {
			return nil, fmt.Errorf("%w: accepted type of %d bytes, limit 255", ErrInvalid, len(t))
		}
		if i > 0 && t <= types[i-1] {
			return nil, fmt.Errorf("%w: accepted types not sorted and unique at %q", ErrInvalid, t)
		}
		b = append(b, byte(len(t)))
		b = append(b, t...)
	}
	return b, nil
}

const maxAccepted = 1<<16 - 1

// ParseAccepted decodes the value of KeyAccepted.
func ParseAccepted(b []byte) ([]string, error) {
	if len(b) < 2 {
		return nil, reservedErr(KeyAccepted, 0, "%d bytes, want at least 2", len(b))
	}
	n := int(le.Uint16(b))
	if n > len(b)-2 {
		return nil, reservedErr(KeyAccepted, 0, "%d types cannot fit in %d bytes", n, len(b)-2)
	}
	out := make([]string, 0, n)
	p := 2
	for i := range n {
		if len(b)-p < 1 {
			return nil, reservedErr(KeyAccepted, p, "type %d: truncated length", i)
		}
		tl := int(b[p])
		if len(b)-p-1 < tl {
			return nil, reservedErr(KeyAccepted, p, "type %d: %d bytes exceed the %d bytes left", i, tl, len(b)-p-1)
		}
		t := string(b[p+1 : p+1+tl])
		if i > 0 && t <= out[i-1] {
			return nil, reservedErr(KeyAccepted, p, "type %d: %q not after %q", i, t, out[i-1])
		}
		out = append(out, t)
		p += 1 + tl
	}
	if p != len(b) {
		return nil, reservedErr(KeyAccepted, p, "%d bytes after the last type", len(b)-p)
	}
	return out, nil
}

// Session is one open session: a random id for a scope.
type Session struct {
	Scope string
	ID    [sessionID]byte
}

// IDString is the id as the log hands it out: 32 lowercase hex digits.
func (s Session) IDString() string { return hex.EncodeToString(s.ID[:]) }

// MarshalSessions encodes sessions, which must be sorted by scope without
// duplicates, each scope at most MaxMetaKey bytes, and at most 65535 of
// them, as the value of KeySessions.
func MarshalSessions(sessions []Session) ([]byte, error) {
	if len(sessions) > maxSessions {
		return nil, fmt.Errorf("%w: %d sessions, limit %d", ErrInvalid, len(sessions), maxSessions)
	}
	b := le.AppendUint16(nil, uint16(len(sessions)))
	for i, s := range sessions {
		if len(s.Scope) > MaxMetaKey {
			return nil, fmt.Errorf("%w: session scope of %d bytes, limit %d", ErrInvalid, len(s.Scope), MaxMetaKey)
		}
		if i > 0 && s.Scope <= sessions[i-1].Scope {
			return nil, fmt.Errorf("%w: session scopes not sorted and unique at %q", ErrInvalid, s.Scope)
		}
		b = append(b, byte(len(s.Scope)))
		b = append(b, s.Scope...)
		b = append(b, s.ID[:]...)
	}
	return b, nil
}

// ParseSessions decodes the value of KeySessions.
func ParseSessions(b []byte) ([]Session, error) {
	if len(b) < 2 {
		return nil, reservedErr(KeySessions, 0, "%d bytes, want at least 2", len(b))
	}
	n := int(le.Uint16(b))
	if n > (len(b)-2)/(1+sessionID) {
		return nil, reservedErr(KeySessions, 0, "%d sessions cannot fit in %d bytes", n, len(b)-2)
	}
	out := make([]Session, 0, n)
	p := 2
	for i := range n {
		if len(b)-p < 1 {
			return nil, reservedErr(KeySessions, p, "session %d: truncated scope length", i)
		}
		sl := int(b[p])
		if len(b)-p-1 < sl+sessionID {
			return nil, reservedErr(KeySessions, p, "session %d: scope of %d bytes and id exceed the %d bytes left", i, sl, len(b)-p-1)
		}
		s := Session{Scope: string(b[p+1 : p+1+sl])}
		copy(s.ID[:], b[p+1+sl:])
		if i > 0 && s.Scope <= out[i-1].Scope {
			return nil, reservedErr(KeySessions, p, "session %d: scope %q not after %q", i, s.Scope, out[i-1].Scope)
		}
		out = append(out, s)
		p += 1 + sl + sessionID
	}
	if p != len(b) {
		return nil, reservedErr(KeySessions, p, "%d bytes after the last session", len(b)-p)
	}
	return out, nil
}

// FindSession returns the index of the session with the given id, or -1.
func FindSession(sessions []Session, id [sessionID]byte) int {
	return slices.IndexFunc(sessions, func(s Session) bool { return bytes.Equal(s.ID[:], id[:]) })
}

// Reserved is seglog's own state in a checkpoint's metadata, decoded.
type Reserved struct {
	Failure  *Failure  // nil when no run of failures lasts
	Refused  uint64    // refused records of ended runs, not yet reported
	Sessions []Session // open sessions, by scope
	Dropped  *Dropped  // nil until a size limit drops records; Apply leaves it (the log writes it with each drop)
	// Accepted is the set of record types the peer accepts, sorted,
	// when AcceptedSet; every type is accepted when not AcceptedSet.
	Accepted    []string
	AcceptedSet bool
}

// ParseReserved decodes the reserved entries of st.Meta. Unknown reserved
// keys (from a newer seglog) are ignored. A value that does not decode is
// a *CorruptError whose offset is the byte of st's encoding (and of the
// slot file) where the problem lies; the caller sets its File.
func ParseReserved(st State) (Reserved, error) {
	meta := st.Meta
	var r Reserved
	fix := func(key string, err error) error {
		if e, ok := err.(*CorruptError); ok {
			e.Offset += valueOffset(st, key)
		}
		return err
	}
	if v, ok := meta[KeyFailure]; ok {
		f, err := ParseFailure(v)
		if err != nil {
			return Reserved{}, fix(KeyFailure, err)
		}
		r.Failure = &f
	}
	if v, ok := meta[KeyRefused]; ok {
		n, err := ParseRefused(v)
		if err != nil {
			return Reserved{}, fix(KeyRefused, err)
		}
		r.Refused = n
	}
	if v, ok := meta[KeySessions]; ok {
		s, err := ParseSessions(v)
		if err != nil {
			return Reserved{}, fix(KeySessions, err)
		}
		r.Sessions = s
	}
	if v, ok := meta[KeyDropped]; ok {
		d, err := ParseDropped(v)
		if err != nil {
			return Reserved{}, fix(KeyDropped, err)
		}
		r.Dropped = &d
	}
	if v, ok := meta[KeyAccepted]; ok {
		a, err := ParseAccepted(v)
		if err != nil {
			return Reserved{}, fix(KeyAccepted, err)
		}
		r.Accepted, r.AcceptedSet = a, true
	}
	return r, nil
}

// valueOffset is where the value of key starts in the encoding of st.
// Entries are in key order and end where the checksum starts, so it is
// counted back from the end of the encoding, whatever the header's size.
func valueOffset(st State, key string) int64 {
	b, err := Marshal(0, st)
	if err != nil {
		return 0 // st did not come from Unmarshal: no encoding to point into
	}
	off := int64(len(b) - checksumSize)
	for k, v := range st.Meta {
		if k >= key {
			off -= int64(entryOverhead + len(k) + len(v))
		}
	}
	return off + int64(entryOverhead+len(key))
}

// Apply writes r into meta, deleting the entries whose value would be
// empty. Meta must not be shared.
func (r Reserved) Apply(meta map[string][]byte) error {
	delete(meta, KeyFailure)
	delete(meta, KeyRefused)
	delete(meta, KeySessions)
	delete(meta, KeyAccepted)
	if r.AcceptedSet {
		b, err := MarshalAccepted(r.Accepted)
		if err != nil {
			return err
		}
		meta[KeyAccepted] = b
	}
	if r.Failure != nil {
		meta[KeyFailure] = r.Failure.Marshal()
	}
	if r.Refused > 0 {
		meta[KeyRefused] = MarshalRefused(r.Refused)
	}
	if len(r.Sessions) > 0 {
		b, err := MarshalSessions(r.Sessions)
		if err != nil {
			return err
		}
		meta[KeySessions] = b
	}
	return nil
}

// reservedErr is a *CorruptError for a reserved entry's value: its offset
// is inside the value (ParseReserved moves it to the encoding's), and the
// reason names the key.
func reservedErr(key string, off int, format string, args ...any) error {
	return &CorruptError{Offset: int64(off), Reason: fmt.Sprintf("metadata %q: %s", key, fmt.Sprintf(format, args...))}
}
