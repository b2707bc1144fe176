package log_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// typedRecord is the record at offset o: 183 bytes, the size of a typical
// agent message.
func typedRecord(o int) []byte {
	b := fmt.Appendf(nil, `{"n":%06d,"d":"`, o)
	b = append(b, bytes.Repeat([]byte{byte('a' + o%26)}, 183-len(b)-2)...)
	return append(b, `"}`...)
}

// typedDiskBytes appends n records one call each with appendOne, closes
// the log and returns the bytes of its segment files and of its index
// files.
func typedDiskBytes(t *testing.T, policy seglog.SyncPolicy, n int, appendOne func(l *seglog.Log, data []byte) error) (segBytes, idxBytes int64) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, &seglog.Options{Sync: policy})
	for i := range n {
		if err := appendOne(l, typedRecord(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	closeLog(t, l)
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range names {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(e.Name(), segment.Suffix):
			segBytes += fi.Size()
		case strings.HasSuffix(e.Name(), ".idx"):
			idxBytes += fi.Size()
		}
	}
	// Every record is there, with its type.
	l = openLog(t, dir, &seglog.Options{ReadOnly: true})
	i := 0
	for r, err := range l.Records(0) {
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Data, typedRecord(i)) {
			t.Fatalf("record %d: %q", i, r.Data)
		}
		i++
	}
	if i != n {
		t.Fatalf("read %d records, appended %d", i, n)
	}
	return segBytes, idxBytes
}

// TestAppendTypedSharesFrames checks that tagging a record costs its tag
// and nothing more: AppendTyped records share frames as Append's do, while
// AppendRecords makes a frame of each call. The figures are bytes on disk,
// not timings, so the bounds hold on any machine.
func TestAppendTypedSharesFrames(t *testing.T) {
	const n = 3000
	const typ = "package-reporter-result"
	for _, policy := range []seglog.SyncPolicy{seglog.SyncNever, seglog.SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			count := n
			if policy == seglog.SyncAlways {
				count = 300 // one fsync per append
			}
			perRecord := func(b int64) float64 { return float64(b) / float64(count) }
			untyped, uIdx := typedDiskBytes(t, policy, count, func(l *seglog.Log, d []byte) error {
				_, err := l.Append(d)
				return err
			})
			typed, tIdx := typedDiskBytes(t, policy, count, func(l *seglog.Log, d []byte) error {
				_, err := l.AppendTyped(typ, d)
				return err
			})
			withOpts, _ := typedDiskBytes(t, policy, count, func(l *seglog.Log, d []byte) error {
				_, err := l.AppendWith(d, seglog.AppendOptions{Type: typ, AlwaysKept: true})
				return err
			})
			records, rIdx := typedDiskBytes(t, policy, count, func(l *seglog.Log, d []byte) error {
				_, err := l.AppendRecords(seglog.Record{Type: typ, Data: d})
				return err
			})
			t.Logf("%d records of 183 bytes, type %q (%d bytes), bytes per record in segments (index):", count, typ, len(typ))
			t.Logf("  Append              %6.1f (%.1f)", perRecord(untyped), perRecord(uIdx))
			t.Logf("  AppendTyped         %6.1f (%.1f)", perRecord(typed), perRecord(tIdx))
			t.Logf("  AppendRecords(1)    %6.1f (%.1f)", perRecord(records), perRecord(rIdx))
			// The tag's bytes (its length varint stays one byte), plus at
			// most one byte for the few more frames the longer records
			// take.
			if over := perRecord(typed - untyped); over > float64(len(typ))+1 {
				t.Errorf("AppendTyped costs %.2f bytes per record over Append, want at most %d", over, len(typ)+1)
			}
			if typed < untyped+int64(count*len(typ)) {
				t.Errorf("AppendTyped: %d bytes, less than Append's %d plus the tags: were the tags stored?", typed, untyped)
			}
			if withOpts != typed {
				t.Errorf("AppendWith: %d bytes, AppendTyped %d", withOpts, typed)
			}
			if policy == seglog.SyncNever && records < typed+int64(count*segment.FrameHeaderSize/2) {
				t.Errorf("AppendRecords: %d bytes, AppendTyped %d: expected a frame header per call", records, typed)
			}
		})
	}
}

// TestAppendTypedReadBack checks the tags of mixed appends read back.
func TestAppendTypedReadBack(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	want := []seglog.Record{{Type: "a", Data: []byte("1")}, {Data: []byte("2")}, {Type: "bb", Data: []byte("3")}}
	for i, r := range want {
		var err error
		var off uint64
		switch i {
		case 0:
			off, err = l.AppendTyped(r.Type, r.Data)
		case 1:
			off, err = l.Append(r.Data)
		case 2:
			off, err = l.AppendWith(r.Data, seglog.AppendOptions{Type: r.Type})
		}
		if err != nil || off != uint64(i) {
			t.Fatalf("append %d: %d, %v", i, off, err)
		}
		want[i].Offset = off
	}
	if _, err := l.AppendTyped(strings.Repeat("x", seglog.MaxTypeLen+1), nil); err == nil {
		t.Fatal("AppendTyped accepted a type over MaxTypeLen")
	}
	closeLog(t, l)
	l = openLog(t, filepath.Clean(dir), nil)
	checkLog(t, l, want)
}
