package inspect

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestPeakRSS: the peak follows memory the process touches.
func TestPeakRSS(t *testing.T) {
	// Start from what is resident now, with freed memory given back.
	debug.FreeOSMemory()
	if !ResetPeakRSS() {
		t.Skip("the system does not let the peak be reset")
	}
	before, ok := PeakRSS()
	if !ok {
		t.Skip("the system does not report peak resident memory")
	}
	if before < 1<<20 {
		t.Fatalf("peak resident memory %d bytes", before)
	}
	b := make([]byte, 64<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	after, _ := PeakRSS()
	if after < before+32<<20 {
		t.Errorf("peak %d bytes after touching 64 MiB, %d before", after, before)
	}
	runtime.KeepAlive(b)
}
