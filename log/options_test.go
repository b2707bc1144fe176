package log_test

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// TestOptionsDefaults opens with nil and zero Options: both work, create
// the directory and files with the documented modes, and a nil Options
// log behaves like a SyncAlways one.
func TestOptionsDefaults(t *testing.T) {
	for _, opts := range []*seglog.Options{nil, {}} {
		parent := t.TempDir()
		dir := filepath.Join(parent, "a", "log") // created with its parents
		l, err := seglog.Open(dir, opts)
		if err != nil {
			t.Fatalf("Open(%+v): %v", opts, err)
		}
		want := appendRecs(t, l, seglog.Record{Data: []byte("default")})
		checkLog(t, l, want)
		if l.Dir() != dir {
			t.Errorf("Dir() = %q, want %q", l.Dir(), dir)
		}
		st, err := os.Stat(dir)
		if err != nil || st.Mode().Perm() != 0o750 {
			t.Errorf("log directory mode %v (%v), want 0750", st.Mode().Perm(), err)
		}
		for _, name := range segmentPaths(t, dir) {
			if st, err := os.Stat(name); err != nil || st.Mode().Perm() != 0o640 {
				t.Errorf("%s mode %v (%v), want 0640", name, st.Mode().Perm(), err)
			}
		}
		closeLog(t, l)
	}
}

// TestOptionsModes checks that FileMode and DirMode are used.
func TestOptionsModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l := openLog(t, dir, &seglog.Options{FileMode: 0o600, DirMode: 0o700})
	want := appendRecs(t, l, seglog.Record{Data: []byte("x")})
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if st, err := os.Stat(filepath.Join(dir, e.Name())); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v (%v), want 0600", e.Name(), st.Mode().Perm(), err)
		}
	}
	checkLog(t, l, want)
}

// TestOptionsValidation refuses out-of-range options with a message naming
// the option, and creates nothing.
func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		opts seglog.Options
		ok   bool
		msg  string
	}{
		{"smallest segment", seglog.Options{SegmentSize: seglog.MinSegmentSize}, true, ""},
		{"largest segment", seglog.Options{SegmentSize: seglog.MaxSegmentSize}, true, ""},
		{"segment below the minimum", seglog.Options{SegmentSize: seglog.MinSegmentSize - 1}, false, "SegmentSize"},
		{"tiny segment", seglog.Options{SegmentSize: 1}, false, "SegmentSize"},
		{"negative segment", seglog.Options{SegmentSize: -1}, false, "SegmentSize"},
		{"segment above the maximum", seglog.Options{SegmentSize: seglog.MaxSegmentSize + 1}, false, "SegmentSize"},
		{"unknown codec", seglog.Options{Codec: seglog.CodecZstd + 1}, false, "codec"},
		{"unknown sync policy", seglog.Options{Sync: seglog.SyncNever + 1}, false, "sync"},
		{"negative sync policy", seglog.Options{Sync: -1}, false, "sync"},
		{"SyncInterval without period", seglog.Options{Sync: seglog.SyncInterval}, true, ""},
	}
	for _, tt := range tests {
		dir := filepath.Join(t.TempDir(), "log")
		l, err := seglog.Open(dir, quietOpts(&tt.opts))
		if tt.ok {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			want := appendRecs(t, l, seglog.Record{Data: []byte(tt.name)})
			checkLog(t, l, want)
			closeLog(t, l)
			continue
		}
		if err == nil {
			l.Close()
			t.Errorf("%s: Open succeeded", tt.name)
			continue
		}
		if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.msg)) {
			t.Errorf("%s: error %q does not name %s", tt.name, err, tt.msg)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a refused Open created %s", tt.name, dir)
		}
	}
}

// TestClosed checks that Close is safe twice and every call after it
// returns ErrClosed, for a writer and for a reader.
func TestClosed(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	want := appendRecs(t, l, seglog.Record{Data: []byte("x")})
	checkLog(t, l, want)
	ro := openLog(t, dir, &seglog.Options{ReadOnly: true})
	for _, c := range []*seglog.Log{l, ro} {
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		calls := map[string]error{}
		_, calls["Append"] = c.Append([]byte("y"))
		_, calls["AppendRecords"] = c.AppendRecords(seglog.Record{Data: []byte("y")})
		_, calls["Read"] = c.Read(0)
		calls["Sync"] = c.Sync()
		calls["Refresh"] = c.Refresh()
		for r, err := range c.Records(0) {
			calls["Records"] = err
			if err == nil {
				t.Errorf("Records after Close yields %s", describeRecord(r))
			}
		}
		for name, err := range calls {
			if !errors.Is(err, seglog.ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", name, err)
			}
		}
	}
	// Nothing was appended after Close.
	checkLog(t, openLog(t, dir, nil), want)
}

// TestReadOnlyRefusesWrites checks that every write to a ReadOnly log
// returns ErrReadOnly and changes nothing on disk.
func TestReadOnlyRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	want := appendRecs(t, l, seglog.Record{Data: []byte("x")})
	closeLog(t, l)
	before := dirState(t, dir)

	ro := openLog(t, dir, &seglog.Options{ReadOnly: true})
	calls := map[string]error{}
	_, calls["Append"] = ro.Append([]byte("y"))
	_, calls["AppendRecords"] = ro.AppendRecords(seglog.Record{Data: []byte("y")})
	calls["Sync"] = ro.Sync()
	for name, err := range calls {
		if !errors.Is(err, seglog.ErrReadOnly) {
			t.Errorf("%s on a ReadOnly log: %v, want ErrReadOnly", name, err)
		}
	}
	checkLog(t, ro, want)
	closeLog(t, ro)
	if after := dirState(t, dir); after != before {
		t.Errorf("a ReadOnly log changed the directory:\nbefore %s\nafter  %s", before, after)
	}
}

// dirState describes the names, sizes and contents of a directory's
// files.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%d:%08x ", e.Name(), len(data), crc32.ChecksumIEEE(data))
	}
	return b.String()
}
