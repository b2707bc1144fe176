package log_test

import (
	"fmt"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// TestEnumNames pins the names of the option and gap enumerations, which
// appear in log lines, CLI output and test names, and the fallback for a
// value that is none of them.
func TestEnumNames(t *testing.T) {
	for _, c := range []struct {
		v    fmt.Stringer
		want string
	}{
		{seglog.SyncAlways, "always"},
		{seglog.SyncInterval, "interval"},
		{seglog.SyncNever, "never"},
		{seglog.SyncPolicy(9), "SyncPolicy(9)"},
		{seglog.LimitRefuse, "refuse"},
		{seglog.LimitDrop, "drop"},
		{seglog.LimitPolicy(9), "LimitPolicy(9)"},
		{seglog.GapDamaged, "damaged"},
		{seglog.GapDropped, "dropped"},
		{seglog.GapReason(0), "GapReason(0)"},
	} {
		if got := c.v.String(); got != c.want {
			t.Errorf("%T(%d).String() = %q, want %q", c.v, c.v, got, c.want)
		}
	}
}
