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

// TestFormatConstantsV2 pins version 2's layout: version 1 with a 16-byte
// log id after first.
func TestFormatConstantsV2(t *testing.T) {
	tests := []struct {
		name      string
		got, want int
	}{
		{"FormatVersion2", int(checkpoint.FormatVersion2), 2},
		{"OffID", checkpoint.OffID, checkpoint.OffFirst + 8},
		{"OffMetaCount2", checkpoint.OffMetaCount2, checkpoint.OffFirst + 8 + 16},
		{"HeaderSize2", checkpoint.HeaderSize2, checkpoint.HeaderSize + 16},
		{"HeaderSize2 literal", checkpoint.HeaderSize2, 64},
		{"MinSize2", checkpoint.MinSize2, checkpoint.HeaderSize2 + checkpoint.ChecksumSize},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

// TestGoldenV2 freezes version 2: a state with a log id.
func TestGoldenV2(t *testing.T) {
	st := checkpoint.State{
		Sequence: 0x0102030405060708,
		Cursor:   300,
		First:    200,
		Meta:     map[string][]byte{"peer": []byte("srv")},
		ID:       [16]byte{0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f},
	}
	got, err := checkpoint.Marshal(7, st)
	if err != nil {
		t.Fatal(err)
	}
	const want = "5347434b" + "0200" + "0000" + "54000000" + // magic, version 2, flags, length 84
		"0700000000000000" + // generation
		"0807060504030201" + // sequence
		"2c01000000000000" + // cursor
		"c800000000000000" + // first
		"101112131415161718191a1b1c1d1e1f" + // id
		"01000000" + // meta count
		"04" + "70656572" + "03000000" + "737276" + // "peer" = "srv"
		"d207fdfeb139e087" // xxhash64 of all the above
	if h := hex.EncodeToString(got); h != want {
		t.Errorf("encoding\n got %s\nwant %s", h, want)
	}
	gen, back, err := checkpoint.Unmarshal(got)
	if err != nil || gen != 7 || back.ID != st.ID || back.Cursor != 300 || string(back.Meta["peer"]) != "srv" {
		t.Fatalf("Unmarshal = %d %+v %v", gen, back, err)
	}
	// A zero id is written as version 1, so that the encoding stays
	// canonical, and version 2 with a zero id is refused.
	st.ID = [16]byte{}
	v1, err := checkpoint.Marshal(7, st)
	if err != nil || v1[checkpoint.OffVersion] != 1 {
		t.Fatalf("zero id: version %d, err %v", v1[checkpoint.OffVersion], err)
	}
	bad := append([]byte(nil), got...)
	clear(bad[checkpoint.OffID : checkpoint.OffID+16])
	if _, _, err := checkpoint.Unmarshal(bad); err == nil {
		t.Error("version 2 with a zero id accepted")
	}
}
