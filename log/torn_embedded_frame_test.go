package log_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// TestTornRecordEmbeddingAFrame tears the write of a record whose payload
// happens to hold a complete seglog frame (an application shipping segment
// files through a log, say). The record was never acknowledged: its fsync
// did not happen. Recovery must cut it as a torn tail.
func TestTornRecordEmbeddingAFrame(t *testing.T) {
	fsys := crashfs.New()
	l := openFS(t, fsys, nil)
	defer l.Close()
	for i := range 3 {
		if _, err := l.Append(tracedPayload(uint64(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	// A frame of this very segment (salt included), whose durable
	// watermark is past this segment's end.
	seg := filepath.Join(crashDir, segment.FileName(0))
	head, err := fsys.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := segment.ParseFileHeader(seg, head)
	if err != nil {
		t.Fatal(err)
	}
	body := segment.AppendRecord(nil, "", []byte("from another log"))
	embedded := append(make([]byte, segment.FrameHeaderSize), body...)
	segment.SealFrame(embedded, &segment.FrameHeader{Base: 77, Count: 1, RawLen: uint32(len(body)), Durable: 1 << 20}, fh.Salt)
	payload := append(append(make([]byte, 200), embedded...), make([]byte, 200)...)
	fsys.Inject(crashfs.OpSync, 0, syscall.EIO) // the power fails before the fsync
	if _, err := l.Append(payload); !errors.Is(err, seglog.ErrSyncFailed) {
		t.Fatalf("append: %v", err)
	}
	// Writeback got as far as the embedded frame, not to the end. The
	// record's frame ends with the payload's 200 zeros; preallocated
	// zeros may follow it.
	b, err := fsys.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	end := len(bytes.TrimRight(b, "\x00")) + 200
	survivor := fsys.Crash(nil, crashfs.CrashKeepAll)
	if err := survivor.WriteFile(seg, b[:end-100]); err != nil {
		t.Fatal(err)
	}
	l2, err := seglog.Open(crashDir, &seglog.Options{FS: survivor, Logger: quiet, SegmentSize: seglog.MinSegmentSize})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if n := l2.NextOffset(); n != 3 || l2.Recovery().TornBytes == 0 {
		t.Fatalf("recovered next offset %d, %d torn bytes; want the torn record cut", n, l2.Recovery().TornBytes)
	}
}
