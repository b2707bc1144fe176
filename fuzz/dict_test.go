package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/seglog/seglog/segment"
	"github.com/seglog/seglog/segment/dict"
)

// FuzzDict decodes arbitrary bytes as a dictionary file. Decode must fail
// with a *segment.CorruptError (or name an unknown version), or return
// content that Encode writes back to exactly the input, and must not
// allocate. The decoded dictionary (or one made of the input) then
// decodes arbitrary frame bodies under s2 and zstd: errors are fine, a
// body decoding to other than rawLen bytes is not, and neither is an
// allocation beyond the raw length the header claims plus a block.
func FuzzDict(f *testing.F) {
	for _, args := range dictSeeds(f) {
		f.Add(args[0].([]byte), args[1].([]byte), args[2].(uint64))
	}
	f.Fuzz(func(t *testing.T, file, body []byte, rawLen64 uint64) {
		var (
			id      uint16
			content []byte
			err     error
		)
		checkAlloc(t, "dict.Decode", 0, func() {
			id, content, err = dict.Decode("f.dict", file)
		})
		if err != nil {
			var ce *segment.CorruptError
			if !errors.As(err, &ce) && !bytes.Contains([]byte(err.Error()), []byte("version")) {
				t.Fatalf("Decode error %T %v is neither corrupt nor version", err, err)
			}
			// Fuzz the decoders with the input as content instead.
			id, content = 1, file
		} else if enc := dict.Encode(id, content); !bytes.Equal(enc, file) {
			t.Fatalf("decoded dictionary re-encodes to %x, not the input", enc)
		}
		d, err := segment.NewDict(id, content)
		if err != nil {
			return
		}
		defer d.Close()
		rawLen := uint32(rawLen64 % (1 << 20))
		for _, c := range []segment.Codec{segment.CodecS2, segment.CodecZstd} {
			var out []byte
			checkAlloc(t, "DecompressDict", 4*uint64(rawLen)+256<<10+8*uint64(len(content)), func() {
				out, err = segment.DecompressDict(c, d, nil, body, rawLen)
			})
			if err == nil && len(out) != int(rawLen) {
				t.Fatalf("%s body decoded to %d bytes, header says %d", c, len(out), rawLen)
			}
			// Round trip: what the dictionary compresses, it decodes.
			enc, used, ok := segment.CompressDict(c, d, nil, body)
			if !ok {
				continue
			}
			if used != id {
				t.Fatalf("%s compressed with dictionary %d, want %d", c, used, id)
			}
			dec, err := segment.DecompressDict(c, d, nil, enc, uint32(len(body)))
			if err != nil || !bytes.Equal(dec, body) {
				t.Fatalf("%s round trip with a dictionary: %v", c, err)
			}
		}
	})
}

func dictSeeds(t testing.TB) [][]any {
	var recs []byte
	for i := range 200 {
		recs = segment.AppendRecord(recs, "log", []byte(`{"type":"log","source":"dpkg","line":"status installed libfoo`+string(rune('a'+i%26))+`"}`))
	}
	content := recs[:4096]
	file := dict.Encode(7, content)
	d, _ := segment.NewDict(7, content)
	zbody, _, _ := segment.CompressDict(segment.CodecZstd, d, nil, recs)
	sbody, _, _ := segment.CompressDict(segment.CodecS2, d, nil, recs)
	flipped := bytes.Clone(file)
	flipped[40] ^= 1
	huge := bytes.Clone(file)
	binary.LittleEndian.PutUint32(huge[16:], 1<<30)
	return [][]any{
		{file, zbody, uint64(len(recs))},
		{file, sbody, uint64(len(recs))},
		{flipped, zbody, uint64(len(recs))},
		{huge, sbody, uint64(1 << 19)},
		{[]byte("SEGDICT\x00"), []byte{}, uint64(0)},
	}
}
