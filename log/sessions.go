package log

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/seglog/seglog/checkpoint"
)

// MaxSessions bounds the sessions open at once.
const MaxSessions = 256

// Session is an open session: a random id handed to the producers of one
// scope, so that their records can be refused once the session has ended.
type Session struct {
	Scope string
	ID    string // 32 lowercase hex digits
}

// OpenSession returns the id of the open session of scope, opening one
// with a new random id if there is none, durably when it returns. Producers
// of the scope append with AppendOptions.Session set to it; once the
// session is ended (EndSessions, EndAllSessions: the application does this
// when the peer asks for a resynchronisation), their appends fail with
// ErrSessionEnded, instead of sending the peer records it no longer
// expects. Scopes are at most 255 bytes; the empty scope is a scope like
// any other.
func (l *Log) OpenSession(scope string) (string, error) {
	if len(scope) > checkpoint.MaxMetaKey {
		return "", fmt.Errorf("seglog: OpenSession: scope of %d bytes (max %d)", len(scope), checkpoint.MaxMetaKey)
	}
	var id string
	err := l.updateReserved(func(r *checkpoint.Reserved) (bool, error) {
		i, found := slices.BinarySearchFunc(r.Sessions, scope, func(s checkpoint.Session, scope string) int {
			return strings.Compare(s.Scope, scope)
		})
		if found {
			id = r.Sessions[i].IDString()
			return false, nil
		}
		if len(r.Sessions) >= MaxSessions {
			return false, fmt.Errorf("seglog: OpenSession(%q): %d sessions open, the limit", scope, MaxSessions)
		}
		s := checkpoint.Session{Scope: scope}
		for {
			rand.Read(s.ID[:])
			if checkpoint.FindSession(r.Sessions, s.ID) < 0 {
				break
			}
		}
		r.Sessions = slices.Insert(r.Sessions, i, s)
		id = s.IDString()
		return true, nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// SessionOpen reports whether id is the id of an open session.
func (l *Log) SessionOpen(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sessionOpenLocked(id)
}

func (l *Log) sessionOpenLocked(id string) bool { return l.mu.sessionOpen(id) }

// sessionOpen reports whether id names an open session.
func (d *deliveryState) sessionOpen(id string) bool {
	var raw [16]byte
	if len(id) != 2*len(raw) {
		return false
	}
	if _, err := hex.Decode(raw[:], []byte(id)); err != nil {
		return false
	}
	return checkpoint.FindSession(d.res.saved.Sessions, raw) >= 0
}

// Sessions returns the open sessions, by scope.
func (l *Log) Sessions() []Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Session, 0, len(l.mu.res.saved.Sessions))
	for _, s := range l.mu.res.saved.Sessions {
		out = append(out, Session{Scope: s.Scope, ID: s.IDString()})
	}
	return out
}

// EndSessions ends the open sessions of the given scopes, durably when it
// returns: appends naming them fail with ErrSessionEnded from then on,
// also after a restart. A scope without an open session is skipped. The
// next OpenSession of such a scope gets a new id.
func (l *Log) EndSessions(scopes ...string) error {
	return l.updateReserved(func(r *checkpoint.Reserved) (bool, error) {
		n := len(r.Sessions)
		r.Sessions = slices.DeleteFunc(r.Sessions, func(s checkpoint.Session) bool { return slices.Contains(scopes, s.Scope) })
		return len(r.Sessions) != n, nil
	})
}

// EndAllSessions ends every open session, durably when it returns: what an
// application does when the peer asks for a resynchronisation
// (AckResult.Resync).
func (l *Log) EndAllSessions() error {
	return l.updateReserved(func(r *checkpoint.Reserved) (bool, error) {
		n := len(r.Sessions)
		r.Sessions = nil
		return n > 0, nil
	})
}

// sessionLocked refuses a record of an ended or unknown session.
func (l *Log) sessionLocked(id string) error {
	if id == "" || l.sessionOpenLocked(id) {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrSessionEnded, id)
}
