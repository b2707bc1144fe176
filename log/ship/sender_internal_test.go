package ship

import (
	"testing"
	"time"
)

// TestBackoff checks the waits after failures in a row: between half and
// all of MinBackoff doubled per failure, never over MaxBackoff, and not
// all the same (jitter).
func TestBackoff(t *testing.T) {
	s := &Sender{opts: (&Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: time.Second}).withDefaults()}
	for n := 1; n <= 40; n++ {
		step := min(10*time.Millisecond<<min(n-1, 20), time.Second)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := s.backoff(n)
			if d < step/2 || d > step {
				t.Fatalf("failure %d: wait %v, want %v to %v", n, d, step/2, step)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("failure %d: 50 waits all %v: no jitter", n, seen)
		}
	}
}
