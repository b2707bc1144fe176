package segment

import (
	"encoding/binary"
	"testing"
)

// TestMaxRecordOverhead pins maxRecordOverhead to the uvarint lengths of
// the largest type and data lengths a frame can hold.
func TestMaxRecordOverhead(t *testing.T) {
	if want := uvarintLen(MaxTypeLen) + uvarintLen(MaxFrameBody); maxRecordOverhead < want {
		t.Errorf("maxRecordOverhead = %d, want at least %d", maxRecordOverhead, want)
	}
	for _, x := range []uint64{0, 0x7f, 0x80, 0x3fff, 0x4000, 1<<35 - 1, 1 << 35, ^uint64(0)} {
		if got, want := uvarintLen(x), len(binary.AppendUvarint(nil, x)); got != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", x, got, want)
		}
	}
}
