package log_test

import (
	"fmt"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// prefillWorkload runs on 2 MiB segments, the smallest whose preallocated
// space is filled in the background (a chunk of 256 KiB at a time, started
// when less than a chunk is left): 64 KiB appends from two goroutines
// cross several fills, a roll (which cuts the zeros off the sealed
// segment), a reopen (which finds zeros after the last frame) and Close.
// Every write, sync and truncate of the fills and cuts is a crash point.
var prefillWorkload = runWorkload{
	name: "prealloc-fill",
	opts: seglog.Options{SegmentSize: 2 << 20},
	run: func(r *crashRun) error {
		return twoRounds(r, func() error {
			return concurrently(2, func(g int) error {
				for range 9 {
					if err := r.append(60<<10 + g*1000); err != nil {
						return err
					}
				}
				return nil
			})
		})
	},
	covers: func(r *crashRun) error {
		if !rolledRun(r.fs) {
			return fmt.Errorf("no roll")
		}
		return nil
	},
}

// TestCrashEveryStepPreallocFill is TestCrashEveryStep for the background
// fills of preallocated space (which 16 KiB segments, zero-filled whole
// when created, never run).
func TestCrashEveryStepPreallocFill(t *testing.T) {
	seed := testSeed(t)
	points, recoveries := crashEveryIOStep(t, prefillWorkload, seed)
	t.Logf("%s: %d crash points, %d recoveries checked", prefillWorkload.name, points, recoveries)
}
