package checkpoint

// Internal constants exposed to the external test package.
const (
	Magic         = magic
	FormatVersion = formatVersion
	OffMagic      = offMagic
	OffVersion    = offVersion
	OffFlags      = offFlags
	OffLength     = offLength
	OffGeneration = offGeneration
	OffSequence   = offSequence
	OffCursor     = offCursor
	OffFirst      = offFirst
	OffMetaCount  = offMetaCount
	HeaderSize    = headerSize
	EntryOverhead = entryOverhead
	ChecksumSize  = checksumSize
	MinSize       = minSize
	Slot0Name     = slot0Name
	Slot1Name     = slot1Name
	ReserveSize   = reserveSize

	FormatVersion2 = formatVersion2
	OffID          = offID
	OffMetaCount2  = offMetaCount2
	HeaderSize2    = headerSize2
	MinSize2       = minSize2
)
