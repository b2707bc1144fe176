package log

import (
	"fmt"
	"time"

	"github.com/seglog/seglog/checkpoint"
)

// Failures describes the current run of failed exchanges with the peer
// and the records refused because of it. See RecordExchangeFailure.
type Failures struct {
	// First and Last are the first and the latest failed exchange of the
	// current run, as given to RecordExchangeFailure (in UTC, without a
	// monotonic reading); both zero when the last exchange recorded
	// succeeded, or none was ever recorded.
	First, Last time.Time
	// Refusing is set while appends are refused with ErrOutage:
	// Options.FailureWindow is set and Last - First exceeds it.
	Refusing bool
	// Refused counts the records refused during the current run.
	Refused uint64
	// Unreported counts the records refused during runs that have ended,
	// not yet reported to the peer in a batch (Batch.Refused) whose
	// exchange succeeded.
	Unreported uint64
}

// Failures returns the state of the failure window.
func (l *Log) Failures() Failures {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &l.mu.res
	out := Failures{Refusing: r.refusing, Unreported: r.saved.Refused}
	if f := r.saved.Failure; f != nil {
		out.First, out.Last = f.First, f.Last
		out.Refused = f.Refused + r.unsaved
	} else {
		out.Unreported += r.unsaved
	}
	return out
}

// RecordExchangeFailure records that an exchange with the peer failed at
// the given time, durably when it returns. The first failure of a run sets
// its start, which survives restarts; each later one its latest failure.
// Once the latest is more than Options.FailureWindow after the first,
// appends are refused with ErrOutage (except AppendOptions.AlwaysKept),
// until RecordExchangeSuccess. Times earlier than the run's latest failure
// (a clock set back) do not move it back. Records refused since the last
// save are saved with it.
func (l *Log) RecordExchangeFailure(at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("seglog: RecordExchangeFailure: zero time")
	}
	at = at.Round(0).UTC() // wall clock only: it is compared after restarts
	return l.updateReserved(func(r *checkpoint.Reserved) (bool, error) {
		if r.Failure == nil {
			r.Failure = &checkpoint.Failure{First: at, Last: at}
			return true, nil
		}
		if at.After(r.Failure.Last) {
			r.Failure.Last = at
			return true, nil
		}
		return false, nil
	})
}

// RecordExchangeSuccess records that an exchange with the peer succeeded,
// durably when it returns. Call it after every successful exchange (after
// its Ack); when nothing changes it writes nothing. It ends the current
// run of failures, and with it the refusals; the records refused during
// the run are counted as unreported, and the next batch carries the count
// (Batch.Refused). The count the last batch carried is taken off, since
// the exchange that carried it succeeded.
func (l *Log) RecordExchangeSuccess() error {
	l.mu.Lock()
	out := l.mu.res.noticeOut
	l.mu.Unlock()
	err := l.updateReserved(func(r *checkpoint.Reserved) (bool, error) {
		changed := false
		if out > 0 && r.Refused > 0 {
			r.Refused -= min(out, r.Refused)
			changed = true
		}
		if r.Failure != nil {
			r.Refused += r.Failure.Refused
			r.Failure = nil
			changed = true
		}
		return changed, nil
	})
	if err == nil && out > 0 {
		l.mu.Lock()
		if l.mu.res.noticeOut == out {
			l.mu.res.noticeOut = 0
		}
		l.mu.Unlock()
	}
	return err
}

// outageLocked refuses n records while the failure window is exceeded,
// counting them, unless they are kept.
func (l *Log) outageLocked(n int, kept bool) error {
	if !l.mu.res.refusing || kept {
		return nil
	}
	l.mu.res.unsaved += uint64(n)
	f := l.mu.res.saved.Failure
	return fmt.Errorf("%w: exchanges failing since %s, for %s (window %s)", ErrOutage,
		f.First.Format(time.RFC3339), f.Last.Sub(f.First).Round(time.Second), l.opts.FailureWindow)
}

// refusedNoticeLocked is the Refused count of a batch Pending hands out.
func (l *Log) refusedNoticeLocked() uint64 { return l.mu.refusedNotice() }

// refusedNotice is the Refused count of a batch Pending hands out, noted
// as handed out.
func (d *deliveryState) refusedNotice() uint64 {
	d.res.noticeOut = d.res.saved.Refused
	return d.res.noticeOut
}
