package log

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/seglog/seglog/log/vfs"
)

func testHeldStore() []byte {
	b := []byte(heldMagic)
	b = holdFrame(b, 10, "k", []byte("ten"))
	b = holdFrame(b, 12, "k", []byte("twelve"))
	b = appendHeldFrame(b, heldFrontier, u64(20))
	return intentFrame(b, 15, []uint64{10, 12})
}

func heldOffs(c heldContents) []uint64 {
	var o []uint64
	for _, e := range c.entries {
		o = append(o, e.off)
	}
	return o
}

// An intent whose frame lay past the end is dropped (its records stay
// held); one inside the log is kept for Open to settle; held records and
// the frontier past the end go.
func TestRepairHeldEnd(t *testing.T) {
	l := &Log{dir: t.TempDir(), fs: vfs.Default}
	b := testHeldStore()
	hr, err := repairHeld(l, b, 14, true)
	if err != nil {
		t.Fatal(err)
	}
	if !hr.Needed || !hr.Intent || hr.Kept != 2 || hr.NewFrontier != 14 || len(hr.PastEnd) != 0 {
		t.Fatalf("repair to 14: %+v", hr)
	}
	out, err := os.ReadFile(filepath.Join(l.dir, heldFileName))
	if err != nil {
		t.Fatal(err)
	}
	c, lost, torn := salvageHeld(out)
	if len(lost) != 0 || torn != nil || c.intent != nil || c.frontier != 14 || !slices.Equal(heldOffs(c), []uint64{10, 12}) {
		t.Fatalf("rewritten store: %+v lost %v torn %v", c, lost, torn)
	}

	hr, err = repairHeld(l, b, 30, false)
	if err != nil || hr.Needed {
		t.Fatalf("repair to 30: %+v, %v", hr, err)
	}
	hr, err = repairHeld(l, b, 11, false)
	if err != nil || !hr.Needed || hr.Kept != 1 || len(hr.PastEnd) != 1 || hr.PastEnd[0].Offset != 12 || hr.Holes != 1 {
		t.Fatalf("repair to 11: %+v, %v", hr, err)
	}
}

// A flipped byte mid-file is ErrCorrupt at the frame's offset, and the
// salvage skips just that frame; a tail cut short is a torn write.
func TestHeldStoreDamageKinds(t *testing.T) {
	dir := t.TempDir()
	l := &Log{dir: dir, fs: vfs.Default}
	path := filepath.Join(dir, heldFileName)
	b := testHeldStore()
	second := int64(len(holdFrame([]byte(heldMagic), 10, "k", []byte("ten"))))

	torn := slices.Clone(b[:len(b)-3])
	if err := os.WriteFile(path, torn, 0o640); err != nil {
		t.Fatal(err)
	}
	c, err := l.readHeldStore()
	if err != nil || c.torn == nil || c.frontier != 20 || !slices.Equal(heldOffs(c), []uint64{10, 12}) {
		t.Fatalf("torn tail: %+v, %v", c, err)
	}

	flipped := slices.Clone(b)
	flipped[second+12] ^= 1
	if err := os.WriteFile(path, flipped, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = l.readHeldStore()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.File != path || ce.Offset != second {
		t.Fatalf("flipped byte: %v, want ErrCorrupt at %d", err, second)
	}
	c, lost, tornAt := salvageHeld(flipped)
	if len(lost) != 1 || lost[0].From != second || tornAt != nil || !slices.Equal(heldOffs(c), []uint64{10}) || c.frontier != 20 {
		t.Fatalf("salvage: %+v lost %v torn %v", c, lost, tornAt)
	}
}
