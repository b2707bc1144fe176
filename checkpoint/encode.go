package checkpoint

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// State is the delivery state.
type State struct {
	Sequence uint64            // peer-facing number of the next record to send
	Cursor   uint64            // log offset of the next record to send
	First    uint64            // logical first offset: oldest record still kept
	Meta     map[string][]byte // application metadata
	// ID is the log's identity, random, given to the log once; zero for
	// a log made before logs had one (format version 1).
	ID [16]byte
}

var le = binary.LittleEndian

// Marshal encodes st with generation gen in the format described in the
// package documentation. The output is deterministic: metadata entries are
// written in increasing key order, so equal states encode to equal bytes.
// A nil and an empty Meta encode identically, as do a nil and an empty value.
//
// It fails with ErrInvalid if a key is longer than MaxMetaKey or Cursor <
// First (Unmarshal would reject either), and with ErrTooLarge if the
// encoding would exceed MaxSize.
func Marshal(gen uint64, st State) ([]byte, error) {
	if st.Cursor < st.First {
		return nil, fmt.Errorf("%w: cursor %d before first %d", ErrInvalid, st.Cursor, st.First)
	}
	version, hdr, offCount := formatVersion, headerSize, offMetaCount
	if st.ID != ([16]byte{}) {
		version, hdr, offCount = formatVersion2, headerSize2, offMetaCount2
	}
	keys := make([]string, 0, len(st.Meta))
	size := int64(hdr + checksumSize)
	for k, v := range st.Meta {
		if len(k) > MaxMetaKey {
			return nil, fmt.Errorf("%w: metadata key of %d bytes, limit %d", ErrInvalid, len(k), MaxMetaKey)
		}
		size += int64(entryOverhead + len(k) + len(v))
		keys = append(keys, k)
	}
	if size > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, MaxSize)
	}
	slices.Sort(keys)

	b := make([]byte, size)
	copy(b[offMagic:], magic)
	le.PutUint16(b[offVersion:], version)
	le.PutUint16(b[offFlags:], 0)
	le.PutUint32(b[offLength:], uint32(size))
	le.PutUint64(b[offGeneration:], gen)
	le.PutUint64(b[offSequence:], st.Sequence)
	le.PutUint64(b[offCursor:], st.Cursor)
	le.PutUint64(b[offFirst:], st.First)
	if version == formatVersion2 {
		copy(b[offID:], st.ID[:])
	}
	le.PutUint32(b[offCount:], uint32(len(keys)))
	p := hdr
	for _, k := range keys {
		v := st.Meta[k]
		b[p] = byte(len(k))
		p++
		p += copy(b[p:], k)
		le.PutUint32(b[p:], uint32(len(v)))
		p += 4
		p += copy(b[p:], v)
	}
	le.PutUint64(b[p:], xxhash.Sum64(b[:p]))
	return b, nil
}

// Unmarshal decodes an encoding produced by Marshal.
//
// The encoding carries its own length: bytes of b after it are ignored,
// because a slot file is overwritten in place without truncation and may
// hold the stale tail of a longer, older checkpoint.
//
// It never panics and never allocates more than a small multiple of len(b)
// (in no case more than MaxSize-derived bounds), whatever the length and
// count fields claim. Failures are a *CorruptError (matching ErrCorrupt) or,
// for an intact header announcing another format version, a *VersionError
// (matching ErrVersion).
//
// The returned state does not alias b. Meta is nil when the encoding holds
// no entries (never an empty map); every value is a non-nil slice, empty
// for an empty value.
func Unmarshal(b []byte) (gen uint64, st State, err error) {
	corrupt := func(off int, format string, args ...any) (uint64, State, error) {
		return 0, State{}, &CorruptError{Offset: int64(off), Reason: fmt.Sprintf(format, args...)}
	}
	if len(b) == 0 {
		return corrupt(0, "empty")
	}
	if len(b) < len(magic) {
		return corrupt(len(b), "truncated: %d bytes, need at least %d", len(b), minSize)
	}
	if string(b[offMagic:offMagic+len(magic)]) != magic {
		return corrupt(offMagic, "bad magic %q, want %q", b[offMagic:offMagic+len(magic)], magic)
	}
	if len(b) < offVersion+2 {
		return corrupt(len(b), "truncated: %d bytes, need at least %d", len(b), minSize)
	}
	// The version decides the meaning of everything after it, so it is
	// checked before the length and checksum.
	hdr, offCount := headerSize, offMetaCount
	switch v := le.Uint16(b[offVersion:]); v {
	case formatVersion:
	case formatVersion2:
		hdr, offCount = headerSize2, offMetaCount2
	default:
		return 0, State{}, &VersionError{Version: v}
	}
	least := hdr + checksumSize
	if len(b) < hdr {
		return corrupt(len(b), "truncated: %d bytes, need at least %d", len(b), least)
	}
	n64 := uint64(le.Uint32(b[offLength:]))
	if n64 < uint64(least) || n64 > MaxSize {
		return corrupt(offLength, "length %d outside [%d, %d]", n64, least, MaxSize)
	}
	n := int(n64)
	if n > len(b) {
		return corrupt(offLength, "length %d exceeds the %d bytes present (truncated)", n, len(b))
	}
	end := n - checksumSize // start of the checksum; entries end here
	if got, want := le.Uint64(b[end:]), xxhash.Sum64(b[:end]); got != want {
		return corrupt(end, "bad checksum %#016x, computed %#016x", got, want)
	}
	if f := le.Uint16(b[offFlags:]); f != 0 {
		return corrupt(offFlags, "reserved flags %#04x set", f)
	}
	gen = le.Uint64(b[offGeneration:])
	st.Sequence = le.Uint64(b[offSequence:])
	st.Cursor = le.Uint64(b[offCursor:])
	st.First = le.Uint64(b[offFirst:])
	if hdr == headerSize2 {
		copy(st.ID[:], b[offID:offID+idSize])
		if st.ID == ([16]byte{}) {
			// Marshal writes version 1 for a zero id: the encoding
			// stays canonical.
			return corrupt(offID, "version 2 with a zero log id")
		}
	}
	count := uint64(le.Uint32(b[offCount:]))
	if count > uint64(end-hdr)/entryOverhead {
		return corrupt(offCount, "%d metadata entries cannot fit in %d bytes", count, end-hdr)
	}
	if count > 0 {
		st.Meta = make(map[string][]byte, count)
		// One backing array for all values; each value is capped so that
		// appending to one cannot overwrite the next.
		vals := make([]byte, 0, end-hdr)
		var prev string
		p := hdr
		for i := range count {
			if end-p < 1 {
				return corrupt(p, "entry %d: truncated key length", i)
			}
			kl := int(b[p])
			p++
			if end-p < kl {
				return corrupt(p-1, "entry %d: key length %d exceeds the %d bytes left", i, kl, end-p)
			}
			key := string(b[p : p+kl])
			if i > 0 && key <= prev {
				return corrupt(p-1, "entry %d: key %q not after %q (keys must be sorted and unique)", i, key, prev)
			}
			p += kl
			if end-p < 4 {
				return corrupt(p, "entry %d: truncated value length", i)
			}
			vl := uint64(le.Uint32(b[p:]))
			if vl > uint64(end-p-4) {
				return corrupt(p, "entry %d: value length %d exceeds the %d bytes left", i, vl, end-p-4)
			}
			p += 4
			start := len(vals)
			vals = append(vals, b[p:p+int(vl)]...)
			st.Meta[key] = vals[start:len(vals):len(vals)]
			p += int(vl)
			prev = key
		}
		if p != end {
			return corrupt(p, "%d unused bytes between the last entry and the checksum", end-p)
		}
	} else if end != hdr {
		return corrupt(hdr, "%d unused bytes between the header and the checksum", end-hdr)
	}
	if st.Cursor < st.First {
		return corrupt(offCursor, "cursor %d before first %d", st.Cursor, st.First)
	}
	return gen, st, nil
}
