// Package fuzz holds seglog's native fuzz targets. It has no API: every
// target is a test file, run with
//
//	go test ./fuzz -run='^$' -fuzz='^FuzzFrame$' -fuzztime=10s
//
// and without -fuzz as an ordinary test over the committed seed corpora in
// testdata/fuzz/<FuzzName>/ (regenerate the generated seeds with
// go test ./fuzz -run=TestCorpus -update).
//
//   - FuzzFrame: ParseFrameHeader, VerifyFrame, Decompress and the record
//     walk on arbitrary bytes, as they are and with their checksums fixed
//     so that the decoders behind them are reached; decoded frames
//     re-encode to frames that decode the same.
//   - FuzzScan: the segment scanner and ScanTail on arbitrary file bytes.
//   - FuzzScanTail: a segment written with syncs, crashed by crashfs and
//     optionally damaged at rest, scanned: synced frames always come back,
//     a torn tail is cut, and damage a later frame proves synced is
//     reported, not cut.
//   - FuzzIndex: index.Decode on arbitrary bytes, and Search against a
//     linear scan over decoded and over generated entries.
//   - FuzzCheckpoint: checkpoint.Unmarshal on arbitrary bytes, and
//     Marshal/Unmarshal round trips.
//   - FuzzOpenDir: seglog.Open on a directory holding arbitrary bytes as a
//     segment, index or checkpoint file, alone or beside a valid log.
//   - FuzzOps: appends, batches, pendings, acks, resets, metadata, reopens,
//     crashes and injected full disks against a reference model.
//
// Every target also bounds what one input may allocate, so a length field
// claiming gigabytes is caught as a failure rather than as an OOM kill.
package fuzz
