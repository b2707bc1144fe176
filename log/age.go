package log

import "time"

// The age limit (Options.MaxAge): sealed segments last written more than
// MaxAge ago are dropped (LimitDrop) or make appends fail (LimitRefuse),
// through the size limit's machinery (limit.go).

// agedLocked returns how many of the oldest sealed segments were last
// written more than Options.MaxAge ago; 0 without an age limit.
func (l *Log) agedLocked() int {
	if l.opts.MaxAge <= 0 {
		return 0
	}
	segs := l.mu.segs
	now := time.Now()
	k := 0
	for k < len(segs)-1 {
		t := l.sealedAtLocked(segs[k])
		if t.IsZero() || now.Sub(t) <= l.opts.MaxAge {
			break
		}
		k++
	}
	return k
}

// sealedAtLocked returns the modification time of a sealed segment's file,
// which does not change once it is sealed: it is read once (zero if it
// cannot be read, or the filesystem keeps none).
func (l *Log) sealedAtLocked(s *segFile) time.Time {
	if s.sealedAt.IsZero() {
		if fi, err := l.fs.Stat(s.path); err == nil {
			s.sealedAt = fi.ModTime()
		}
	}
	return s.sealedAt
}

// limitName names the limits in force, for the detail of a dropped gap.
func (l *Log) limitName() string {
	if l.opts.MaxAge > 0 {
		return "size or age limit (Options.MaxBytes, Options.MaxAge)"
	}
	return "size limit (Options.MaxBytes)"
}
