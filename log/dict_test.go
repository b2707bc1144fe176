package log_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment/dict"
)

// dictCorpus loads a sample of the real message corpora kept in testdata
// (JSON Lines, zstd-compressed): Debian package records and dpkg log lines.
func dictCorpus(t testing.TB, name string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return zstdLines(t, raw)
}

// zstdLines decompresses raw, a zstd-compressed text, and returns its lines.
func zstdLines(t testing.TB, raw []byte) [][]byte {
	t.Helper()
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	text, err := dec.DecodeAll(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		msgs = append(msgs, bytes.Clone(sc.Bytes()))
	}
	return msgs
}

// segBytes is the size of the segment files in dir.
func segBytes(t testing.TB, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".seg") {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
	}
	return n
}

// dictFill appends msgs under opts (buffered, so that frames are cut at
// their full size), closes the log and returns its directory. The log is
// closed and reopened after the first fifth of msgs: a dictionary trained
// in the background from them is then in use for the rest, however fast
// the appends went (Close waits for the training).
func dictFill(t *testing.T, opts seglog.Options, msgs [][]byte) string {
	t.Helper()
	dir := t.TempDir()
	opts.Sync = seglog.SyncNever
	split := len(msgs) / 5
	for _, part := range [][][]byte{msgs[:split], msgs[split:]} {
		l := openLog(t, dir, &opts)
		for _, m := range part {
			if _, err := l.Append(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func dictReadAll(t *testing.T, dir string, opts seglog.Options, msgs [][]byte) {
	t.Helper()
	l := openLog(t, dir, &opts)
	defer l.Close()
	if n := l.NextOffset(); n != uint64(len(msgs)) {
		t.Fatalf("reopened log holds %d records, want %d", n, len(msgs))
	}
	i := 0
	for r, err := range l.Records(0) {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(r.Data, msgs[i]) {
			t.Fatalf("record %d differs", i)
		}
		i++
	}
	for _, off := range []uint64{0, uint64(len(msgs) / 2), uint64(len(msgs) - 1)} {
		r, err := l.Read(off)
		if err != nil || !bytes.Equal(r.Data, msgs[off]) {
			t.Fatalf("Read(%d): %v", off, err)
		}
	}
}

// TestDictionaryTrainedFromFirstRecords appends the corpora with
// Options.DictionarySample under both codecs: a dictionary is written,
// the records read back the same after a reopen, and the log is smaller
// than without it.
func TestDictionaryTrainedFromFirstRecords(t *testing.T) {
	for _, corpus := range []string{"debian-packages-sample.jsonl.zst", "dpkg-log.jsonl.zst"} {
		msgs := dictCorpus(t, corpus)
		for _, codec := range []seglog.Codec{seglog.CodecS2, seglog.CodecZstd} {
			t.Run(corpus+"/"+codec.String(), func(t *testing.T) {
				plain := dictFill(t, seglog.Options{Codec: codec}, msgs)
				opts := seglog.Options{Codec: codec, DictionarySample: dictPayload(msgs) / 8}
				dir := dictFill(t, opts, msgs)
				if _, err := os.Stat(filepath.Join(dir, dict.FileName(1))); err != nil {
					t.Fatalf("no dictionary written: %v", err)
				}
				dictReadAll(t, dir, opts, msgs)
				// Read without the option, as any reader would.
				dictReadAll(t, dir, seglog.Options{}, msgs)
				without, with := segBytes(t, plain), segBytes(t, dir)
				t.Logf("%s %s: %d bytes without a dictionary, %d with (payload %d)", corpus, codec, without, with, dictPayload(msgs))
				if with >= without {
					t.Errorf("the dictionary did not shrink the log: %d bytes with, %d without", with, without)
				}
			})
		}
	}
}

func dictPayload(msgs [][]byte) int {
	n := 0
	for _, m := range msgs {
		n += len(m)
	}
	return n
}

// TestTrainDictionaryOnDemand trains on a log that had no dictionary:
// its active segment was started in the format without them, so the
// dictionary is used from the next segment; the log reads back whole
// across the change, and a second training gets the next id.
func TestTrainDictionaryOnDemand(t *testing.T) {
	msgs := dictCorpus(t, "dpkg-log.jsonl.zst")
	dir := t.TempDir()
	opts := seglog.Options{Codec: seglog.CodecZstd, SegmentSize: 64 << 10}
	l := openLog(t, dir, &opts)
	half := len(msgs) / 2
	for _, m := range msgs[:half] {
		if _, err := l.Append(m); err != nil {
			t.Fatal(err)
		}
	}
	info, err := l.TrainDictionary()
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != 1 || info.Size == 0 || filepath.Base(info.File) != dict.FileName(1) {
		t.Fatalf("TrainDictionary: %+v", info)
	}
	for _, m := range msgs[half:] {
		if _, err := l.Append(m); err != nil {
			t.Fatal(err)
		}
	}
	if info, err = l.TrainDictionary(); err != nil || info.ID != 2 {
		t.Fatalf("second TrainDictionary: %+v, %v", info, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names := dirNames(t, dir)
	if ids := dictFrames(osFS, dir, names); !ids[1] {
		t.Fatalf("frames name dictionaries %v, want 1 among them", ids)
	}
	dictReadAll(t, dir, opts, msgs)
}

// TestDictionaryDamaged flips a byte of the dictionary file, then removes
// it: reads of the frames that name it fail with ErrCorrupt naming the
// file, Open of a log whose active segment has such frames fails the same
// way and cuts nothing, and no record is ever decoded wrong.
func TestDictionaryDamaged(t *testing.T) {
	msgs := dictCorpus(t, "dpkg-log.jsonl.zst")
	opts := seglog.Options{Codec: seglog.CodecZstd, DictionarySample: 16 << 10, SegmentSize: 64 << 10}
	for _, damage := range []string{"flip", "remove", "truncate"} {
		t.Run(damage, func(t *testing.T) {
			dir := dictFill(t, opts, msgs)
			// The active segment ends with frames that name the
			// dictionary, whatever the roll points were.
			l := openLog(t, dir, &opts)
			for _, m := range msgs[:100] {
				if _, err := l.Append(m); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			msgs := append(msgs[:len(msgs):len(msgs)], msgs[:100]...)
			path := filepath.Join(dir, dict.FileName(1))
			dictOrig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b := bytes.Clone(dictOrig)
			switch damage {
			case "flip":
				b[len(b)/2] ^= 0x10
				err = os.WriteFile(path, b, 0o640)
			case "remove":
				err = os.Remove(path)
			case "truncate":
				b = b[:len(b)-100]
				err = os.WriteFile(path, b, 0o640)
			}
			if err != nil {
				t.Fatal(err)
			}
			sizes := segSizes(t, dir)
			for _, ro := range []bool{false, true} {
				_, err = seglog.Open(dir, quietOpts(&seglog.Options{ReadOnly: ro}))
				if !errors.Is(err, seglog.ErrCorrupt) || !strings.Contains(err.Error(), dict.FileName(1)) {
					t.Fatalf("Open (read-only %v) with the dictionary %s: %v; want ErrCorrupt naming %s", ro, damage, err, dict.FileName(1))
				}
			}
			if got := segSizes(t, dir); !equalSizes(got, sizes) {
				t.Fatalf("Open changed the segments: %v, were %v", got, sizes)
			}
			// With the dictionary back, a segment of uncompressed
			// frames after the others; damaged again, the log opens
			// and every frame is read: those that name the dictionary
			// fail, the others read right.
			if err := os.WriteFile(path, dictOrig, 0o640); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, &seglog.Options{SegmentSize: 64 << 10})
			for l.NextOffset() < uint64(len(msgs)+300) || len(segSizes(t, dir)) == len(sizes) {
				if _, err := l.Append(msgs[0]); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			switch damage {
			case "remove":
				err = os.Remove(path)
			default:
				err = os.WriteFile(path, b, 0o640)
			}
			if err != nil {
				t.Fatal(err)
			}
			verifyExpectDamage(t, dir)
			ro := openLog(t, dir, &seglog.Options{ReadOnly: true})
			bad := 0
			for off := range uint64(len(msgs)) {
				r, err := ro.Read(off)
				switch {
				case err == nil && !bytes.Equal(r.Data, msgs[off]):
					t.Fatalf("Read(%d) returned other bytes", off)
				case err != nil && (!errors.Is(err, seglog.ErrCorrupt) || !strings.Contains(err.Error(), dict.FileName(1))):
					t.Fatalf("Read(%d): %v; want ErrCorrupt naming the dictionary", off, err)
				case err != nil:
					bad++
				}
			}
			if bad == 0 {
				t.Fatalf("every record read back with the dictionary %s", damage)
			}
		})
	}
}

// TestDictionaryFollowedReadOnly: a reader opened before the writer
// trained its dictionary reads the frames that name it.
func TestDictionaryFollowedReadOnly(t *testing.T) {
	msgs := dictCorpus(t, "dpkg-log.jsonl.zst")
	dir := t.TempDir()
	opts := seglog.Options{Codec: seglog.CodecZstd, DictionarySample: 16 << 10}
	l := openLog(t, dir, &opts)
	if _, err := l.Append(msgs[0]); err != nil {
		t.Fatal(err)
	}
	ro := openLog(t, dir, &seglog.Options{ReadOnly: true})
	for _, m := range msgs[1:] {
		if _, err := l.Append(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	i := 0
	for r, err := range ro.Records(0) {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(r.Data, msgs[i]) {
			t.Fatalf("record %d differs", i)
		}
		i++
	}
	if i != len(msgs) {
		t.Fatalf("reader saw %d records, want %d", i, len(msgs))
	}
}

func segSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".seg") {
			fi, _ := e.Info()
			out[e.Name()] = fi.Size()
		}
	}
	return out
}

func equalSizes(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
