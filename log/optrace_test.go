package log_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
)

// opTrace keeps the step a randomised model run is at and its most recent
// operations, so that a failure message shows what led to it.
type opTrace struct {
	t      *testing.T
	step   int
	events []string // the last keep operations
	keep   int
	// state, when set, adds the model's state to failure messages.
	state func() string
}

func (r *opTrace) logf(format string, args ...any) {
	r.events = append(r.events, fmt.Sprintf("%4d: ", r.step)+fmt.Sprintf(format, args...))
	if len(r.events) > r.keep {
		r.events = r.events[1:]
	}
}

func (r *opTrace) fatalf(format string, args ...any) {
	r.t.Helper()
	var state string
	if r.state != nil {
		state = "\n" + r.state()
	}
	r.t.Fatalf("step %d: %s%s\nrecent operations:\n%s", r.step, fmt.Sprintf(format, args...), state, strings.Join(r.events, "\n"))
}

// answer logs the batch that Pending(max) handed out and, unless the
// answer is lost, acknowledges next in the log and in the model (ack):
// both must take the same branch.
func (r *opTrace) answer(l *seglog.Log, stats map[string]int, max int, got seglog.Batch, lost bool, next uint64, ack func(uint64) seglog.AckBranch) {
	r.t.Helper()
	stats["pending"]++
	r.logf("Pending(%d) = seq %d, %d records, gaps %v", max, got.Sequence, len(got.Records), gapsString(got.Gaps))
	if lost {
		stats["lost"]++
		return
	}
	res, err := l.Ack(next)
	if err != nil {
		r.fatalf("Ack(%d): %v", next, err)
	}
	if br := ack(next); res.Branch != br {
		r.fatalf("Ack(%d) took %v, model %v", next, res.Branch, br)
	}
	r.logf("Ack(%d) = %v", next, res.Branch)
}

// firstMoved tells whether the first offset of l moved from first on an
// append (a drop under the size limit), and where to: it must have moved
// forward, to the base of the first segment left.
func (r *opTrace) firstMoved(l *seglog.Log, fsys *crashfs.FS, first uint64) (to uint64, moved bool) {
	r.t.Helper()
	to = l.State().First
	if to == first {
		return to, false
	}
	segs, _ := logFiles(r.t, fsys, crashDir)
	if to < first || len(segs) == 0 || segs[0] != to {
		r.fatalf("first moved from %d to %d on an append; segments %v", first, to, segs)
	}
	return to, true
}
