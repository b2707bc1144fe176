package log

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/seglog/seglog/checkpoint"
)

// reservedState is seglog's own state kept in the checkpoint's metadata
// under checkpoint.ReservedPrefix (the failure window and the sessions),
// decoded, with what is counted in memory between saves. It is guarded
// by Log.mu and changed only with Log.stateMu held too.
type reservedState struct {
	saved checkpoint.Reserved // as in the current checkpoint
	// refusing is set while appends are refused: Options.FailureWindow is
	// set and the saved run of failures has lasted longer than it.
	refusing bool
	// unsaved counts records refused since the last save; it is added to
	// the saved counts by the next save (updateReserved, Close).
	unsaved uint64
	// noticeOut is the Refused count of the last batch Pending handed
	// out; the next RecordExchangeSuccess takes it off saved.Refused.
	noticeOut uint64
}

// loadReservedLocked decodes the reserved entries of the state Open
// loaded. A value that does not decode fails Open, naming the checkpoint
// file and the offset.
func (l *Log) loadReservedLocked() error {
	r, err := checkpoint.ParseReserved(l.mu.state)
	if err != nil {
		var ce *checkpoint.CorruptError
		if errors.As(err, &ce) {
			ce.File = l.path("checkpoint")
			if l.ckpt != nil {
				ce.File = l.ckpt.Info().File
			}
		}
		return fmt.Errorf("seglog: open: %w", err)
	}
	l.mu.res.saved = r
	l.mu.res.refusing = l.refusingLocked()
	return nil
}

// refusingLocked reports whether the saved run of failures has lasted
// longer than Options.FailureWindow.
func (l *Log) refusingLocked() bool { return l.mu.refusing(l.opts.FailureWindow) }

// refusing reports whether the saved run of failures has lasted longer
// than window (none if window is 0).
func (d *deliveryState) refusing(window time.Duration) bool {
	f := d.res.saved.Failure
	return window > 0 && f != nil && f.Last.Sub(f.First) > window
}

// updateReserved saves seglog's own state changed by change, with the
// delivery state, durably when it returns. Records refused since the last
// save are first added to the run's count (or, if the run has ended, to
// the count to report). change reports whether it changed anything; when
// neither it nor the refusals did, nothing is written. On error nothing
// changes in memory, so the call can be retried.
func (l *Log) updateReserved(change func(r *checkpoint.Reserved) (bool, error)) error {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.updateReservedHeld(change)
}

// updateReservedHeld is updateReserved with l.stateMu held.
func (l *Log) updateReservedHeld(change func(r *checkpoint.Reserved) (bool, error)) error {
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	r := l.mu.res.saved
	if r.Failure != nil {
		f := *r.Failure
		r.Failure = &f
	}
	r.Sessions = slices.Clone(r.Sessions)
	unsaved := l.mu.res.unsaved
	if unsaved > 0 {
		if r.Failure != nil {
			r.Failure.Refused += unsaved
		} else {
			r.Refused += unsaved
		}
	}
	changed, err := change(&r)
	if err != nil || (!changed && unsaved == 0) {
		l.mu.Unlock()
		return err
	}
	st := l.mu.state
	st.Meta = maps.Clone(st.Meta)
	if st.Meta == nil {
		st.Meta = map[string][]byte{}
	}
	if err := r.Apply(st.Meta); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("seglog: %w", err)
	}
	if len(st.Meta) == 0 {
		st.Meta = nil
	}
	l.mu.Unlock()
	if _, err := l.saveState(st); err != nil {
		if errors.Is(err, checkpoint.ErrTooLarge) {
			// Sessions and metadata together over checkpoint.MaxSize.
			return fmt.Errorf("seglog: %w: %v", ErrTooLarge, err)
		}
		return err
	}
	l.mu.Lock()
	l.mu.res.saved = r
	l.mu.res.unsaved -= unsaved // refusals counted during the save stay
	l.mu.res.refusing = l.refusingLocked()
	l.mu.Unlock()
	return nil
}

// saveRefusals saves the records refused since the last save, for Close.
// l.stateMu is held.
func (l *Log) saveRefusals() error {
	l.mu.Lock()
	n := l.mu.res.unsaved
	done := l.mu.closed || l.mu.closing || l.mu.err != nil
	l.mu.Unlock()
	if n == 0 || done {
		return nil
	}
	err := l.updateReservedHeld(func(*checkpoint.Reserved) (bool, error) { return false, nil })
	if err != nil {
		return fmt.Errorf("cannot save the count of %d refused records: %w", n, err)
	}
	return nil
}
