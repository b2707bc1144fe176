package checkpoint

// The on-disk format, version 1. Everything in this block is FROZEN: the
// constants describe bytes that already exist on users' disks. Changing any
// of them, or the meaning of any field, requires a new format version (and
// a reader that still accepts version 1). doc.go shows the layout as a
// diagram; format_test.go pins the derived constants to their formula.
const (
	// magic opens every encoding.
	magic = "SGCK"
	// formatVersion is version 1: the state without a log id. It is
	// still written for a state whose ID is zero, and always read.
	formatVersion uint16 = 1

	// Offsets of the fixed header fields. All integers are little-endian.
	offMagic      = 0                 // [4]byte magic
	offVersion    = offMagic + 4      // u16 format version
	offFlags      = offVersion + 2    // u16 flags: FlagDropped, the others reserved, must be 0
	offLength     = offFlags + 2      // u32 length of the whole encoding, checksum included
	offGeneration = offLength + 4     // u64 generation
	offSequence   = offGeneration + 8 // u64 State.Sequence
	offCursor     = offSequence + 8   // u64 State.Cursor
	offFirst      = offCursor + 8     // u64 State.First
	offMetaCount  = offFirst + 8      // u32 number of metadata entries
	headerSize    = offMetaCount + 4  // fixed header; metadata entries follow

	// Each metadata entry is: u8 key length, key, u32 value length, value.
	entryOverhead = 1 + 4

	// checksumSize is the trailing xxhash64 of every preceding byte.
	checksumSize = 8

	// minSize is the size of an encoding without metadata.
	minSize = headerSize + checksumSize
)

// Format version 2 is version 1 with the log's identity inserted after
// first: the fixed header grows by idSize bytes, and the meta count and
// entries follow it. It is written for a state with a non-zero ID. FROZEN
// like version 1.
const (
	formatVersion2 uint16 = 2

	idSize        = 16
	offID         = offFirst + 8   // [16]byte State.ID, version 2 only
	offMetaCount2 = offID + idSize // u32 number of metadata entries
	headerSize2   = offMetaCount2 + 4
	minSize2      = headerSize2 + checksumSize
)

// MaxSize bounds an encoded checkpoint, checksum included. Marshal refuses
// to produce more and Unmarshal rejects a length field above it, so reading
// a checkpoint never allocates more than MaxSize bytes whatever the file says.
const MaxSize = 1 << 20

// MaxMetaKey is the largest metadata key, in bytes (its length is a u8).
const MaxMetaKey = 255

// FlagDropped, in the flags field, marks a state whose cursor is below its
// first offset: the records [Cursor, First) were dropped by a size limit
// before they were sent, and are still to be reported to the peer. It is
// set exactly when Cursor < First, so that every state has one encoding
// and a damaged cursor or first is still detected. A reader that predates
// the flag refuses the checkpoint rather than lose the range in silence.
// FROZEN like version 1.
const FlagDropped uint16 = 1 << 0

// Version is the newest checkpoint format this package writes: version 2
// for a state with a log id, which every log opened for writing gets.
// Versions 1 and 2 are both read.
const Version = int(formatVersion2)
