package log

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// ID is a log's identity: 16 random bytes given to the log when it is
// created (or, for a log made before logs had one, at its first writable
// Open), kept in its checkpoint. Peers that gather many logs tell them
// apart by it, and a log re-created after a wipe gets a new one.
type ID [16]byte

// String returns the id as 32 lowercase hex digits; "" for the zero ID.
func (id ID) String() string {
	if id.IsZero() {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// IsZero reports whether id is the zero ID: a log opened read-only that
// has not been opened for writing since logs have ids.
func (id ID) IsZero() bool { return id == ID{} }

// ID returns the log's identity. It is zero only for a read-only Open of
// a log made before logs had ids.
func (l *Log) ID() ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ID(l.mu.state.ID)
}

// ensureID gives the log an identity, durably, if its checkpoint has none.
// Called by a writable Open.
func (l *Log) ensureID() error {
	l.mu.Lock()
	st := l.mu.state
	l.mu.Unlock()
	if st.ID != ([16]byte{}) {
		return nil
	}
	if _, err := rand.Read(st.ID[:]); err != nil {
		return fmt.Errorf("seglog: open %s: a log id: %w", l.dir, err)
	}
	if err := l.ckpt.Save(st); err != nil {
		return fmt.Errorf("seglog: open %s: save the log id: %w", l.dir, err)
	}
	l.mu.Lock()
	l.setStateLocked(st)
	l.mu.Unlock()
	return nil
}
