package segment

import (
	"encoding/binary"
	"fmt"
)

// RecordSize is the encoded size of a record in a frame body.
func RecordSize(typ string, data []byte) int {
	return uvarintLen(uint64(len(typ))) + len(typ) + uvarintLen(uint64(len(data))) + len(data)
}

// AppendRecord appends one encoded record: uvarint type length, type,
// uvarint data length, data.
func AppendRecord(dst []byte, typ string, data []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(typ)))
	dst = append(dst, typ...)
	dst = binary.AppendUvarint(dst, uint64(len(data)))
	return append(dst, data...)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// CheckRecord reports whether a record fits the format's limits.
func CheckRecord(typ string, data []byte) error {
	if len(typ) > MaxTypeLen {
		return fmt.Errorf("%w: type tag of %d bytes (max %d)", ErrTooLarge, len(typ), MaxTypeLen)
	}
	if len(data) > MaxRecordSize {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, len(data), MaxRecordSize)
	}
	return nil
}

// Body walks the records of a decoded frame body.
// The zero Body is empty.
type Body struct {
	b       []byte
	lastStr string
}

// Reset points the walker at a decoded body.
func (r *Body) Reset(b []byte) { r.b = b }

// Len reports the bytes not yet walked.
func (r *Body) Len() int { return len(r.b) }

// Next returns the next record's type and data. data aliases the body.
// The type string is reused while consecutive records share a type, so a
// walk over records of few types does not allocate per record.
func (r *Body) Next() (typ string, data []byte, err error) {
	tl, n := binary.Uvarint(r.b)
	if n <= 0 || tl > MaxTypeLen || uint64(len(r.b)-n) < tl {
		return "", nil, fmt.Errorf("bad record type length")
	}
	tb := r.b[n : n+int(tl)]
	r.b = r.b[n+int(tl):]
	dl, n := binary.Uvarint(r.b)
	if n <= 0 || dl > uint64(len(r.b)-n) {
		return "", nil, fmt.Errorf("bad record data length")
	}
	data = r.b[n : n+int(dl) : n+int(dl)]
	r.b = r.b[n+int(dl):]
	if len(tb) > 0 {
		if string(tb) != r.lastStr {
			r.lastStr = string(tb)
		}
		typ = r.lastStr
	}
	return typ, data, nil
}
