package checkpoint_test

import (
	"encoding/hex"
	"math"
	"testing"

	"github.com/seglog/seglog/checkpoint"
)

// TestFormatConstants pins the frozen layout: each derived constant equals
// the formula it stands for.
func TestFormatConstants(t *testing.T) {
	tests := []struct {
		name      string
		got, want int
	}{
		{"magic length", len(checkpoint.Magic), 4},
		{"OffMagic", checkpoint.OffMagic, 0},
		{"OffVersion", checkpoint.OffVersion, 4},
		{"OffFlags", checkpoint.OffFlags, 4 + 2},
		{"OffLength", checkpoint.OffLength, 4 + 2 + 2},
		{"OffGeneration", checkpoint.OffGeneration, 4 + 2 + 2 + 4},
		{"OffSequence", checkpoint.OffSequence, 4 + 2 + 2 + 4 + 8},
		{"OffCursor", checkpoint.OffCursor, 4 + 2 + 2 + 4 + 2*8},
		{"OffFirst", checkpoint.OffFirst, 4 + 2 + 2 + 4 + 3*8},
		{"OffMetaCount", checkpoint.OffMetaCount, 4 + 2 + 2 + 4 + 4*8},
		{"HeaderSize", checkpoint.HeaderSize, 4 + 2 + 2 + 4 + 4*8 + 4},
		{"HeaderSize literal", checkpoint.HeaderSize, 48},
		{"EntryOverhead", checkpoint.EntryOverhead, 1 + 4},
		{"ChecksumSize", checkpoint.ChecksumSize, 8},
		{"MinSize", checkpoint.MinSize, checkpoint.HeaderSize + checkpoint.ChecksumSize},
		{"MinSize literal", checkpoint.MinSize, 56},
		{"MaxSize", checkpoint.MaxSize, 1 << 20},
		{"MaxMetaKey fits the u8 key length", checkpoint.MaxMetaKey, math.MaxUint8},
		{"FormatVersion", int(checkpoint.FormatVersion), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	if checkpoint.Magic != "SGCK" {
		t.Errorf("magic = %q", checkpoint.Magic)
	}
	if checkpoint.MaxSize > math.MaxUint32 {
		t.Errorf("MaxSize %d does not fit the u32 length field", checkpoint.MaxSize)
	}
}

// TestGolden freezes the byte-level encoding. If it fails, the format
// changed: that needs a new version, not a new golden string.
func TestGolden(t *testing.T) {
	st := checkpoint.State{
		Sequence: 0x0102030405060708,
		Cursor:   300,
		First:    200,
		Meta:     map[string][]byte{"peer": []byte("srv"), "a": {}},
	}
	got, err := checkpoint.Marshal(7, st)
	if err != nil {
		t.Fatal(err)
	}
	const want = "5347434b" + "0100" + "0000" + "4a000000" + // magic, version, flags, length 74
		"0700000000000000" + // generation
		"0807060504030201" + // sequence
		"2c01000000000000" + // cursor
		"c800000000000000" + // first
		"02000000" + // meta count
		"01" + "61" + "00000000" + // "a" = ""
		"04" + "70656572" + "03000000" + "737276" + // "peer" = "srv"
		"3a6921462e3dfcae" // xxhash64 of all the above
	if h := hex.EncodeToString(got); h != want {
		t.Errorf("encoding\n got %s\nwant %s", h, want)
	}
}
