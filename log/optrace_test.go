package log_test

import (
	"fmt"
	"strings"
	"testing"
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
