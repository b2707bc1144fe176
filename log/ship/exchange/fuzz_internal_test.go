package exchange

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// FuzzDecodeBatch feeds arbitrary decompressed bodies to the decoder: it
// never panics, and a body it accepts re-encodes to one that decodes the
// same.
//
//	go test ./log/ship/exchange -run='^$' -fuzz='^FuzzDecodeBatch$' -fuzztime=1m
func FuzzDecodeBatch(f *testing.F) {
	for _, b := range []seglog.Batch{
		{},
		{Sequence: 7, Records: []seglog.Record{{Type: "t", Data: []byte("x")}, {Offset: 1, Data: []byte{0, 0xff}}}},
		{Sequence: 1 << 40, Gaps: []seglog.Gap{{Count: 3, Reason: seglog.GapDamaged, Detail: "seg at 10"}}, Records: []seglog.Record{{Offset: 3}}},
	} {
		var buf bytes.Buffer
		if err := encodeBatch(&buf, b); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		wb, err := decodeBatch(bufio.NewReader(bytes.NewReader(body)))
		if err != nil {
			return
		}
		b := seglog.Batch{Sequence: wb.Sequence}
		var off uint64
		for _, e := range wb.Entries {
			if e.Gap > 0 {
				b.Gaps = append(b.Gaps, seglog.Gap{Offset: off, Count: e.Gap, Reason: e.Reason, Detail: e.Detail})
				off += e.Gap
				continue
			}
			b.Records = append(b.Records, seglog.Record{Offset: off, Type: e.Type, Data: e.Data})
			off++
		}
		var again bytes.Buffer
		if err := encodeBatch(&again, b); err != nil {
			t.Fatal(err)
		}
		wb2, err := decodeBatch(bufio.NewReader(&again))
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if !reflect.DeepEqual(normal(wb), normal(wb2)) {
			t.Fatalf("round trip changed the batch:\n%+v\n%+v", wb, wb2)
		}
	})
}

// normal makes nil and empty data compare equal.
func normal(wb *wireBatch) *wireBatch {
	c := *wb
	c.Entries = append([]wireEntry(nil), wb.Entries...)
	for i := range c.Entries {
		if len(c.Entries[i].Data) == 0 {
			c.Entries[i].Data = nil
		}
	}
	return &c
}
