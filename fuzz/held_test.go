package fuzz

import (
	"sync"
	"testing"

	"github.com/seglog/seglog/internal/vfs/crashfs"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// A log with an accepted set and held records, built once per process.
var heldBase struct {
	once sync.Once
	fs   *crashfs.FS
	opts *seglog.Options
	file []byte // its held store
}

func loadHeldBase(t testing.TB) {
	heldBase.once.Do(func() {
		fsys, opts := buildLog(t, segment.CodecNone)
		o := *opts
		l, err := seglog.Open(logDir, &o)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetAcceptedTypes([]string{"t"}); err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			if _, err := l.AppendTyped([]string{"t", "u"}[i%2], []byte{'x', byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.Pending(100); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := fsys.ReadFile(logDir + "/" + seglog.HeldFile)
		if err != nil {
			t.Fatal(err)
		}
		heldBase.fs, heldBase.opts, heldBase.file = fsys, opts, b
	})
}

// FuzzHeldStore opens a log whose held store holds arbitrary bytes. Open
// fails with an error or succeeds; then reading the held records, a batch
// and a change of the accepted set must not panic either.
func FuzzHeldStore(f *testing.F) {
	loadHeldBase(f)
	f.Add(heldBase.file)
	f.Add(heldBase.file[:len(heldBase.file)-3])
	f.Add([]byte("seglogH\x01"))
	f.Add([]byte("seglo"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := heldBase.fs.Crash(nil, crashfs.CrashKeepAll)
		if err := fsys.WriteFile(logDir+"/"+seglog.HeldFile, b); err != nil {
			t.Fatal(err)
		}
		o := *heldBase.opts
		o.FS = fsys
		l, err := seglog.Open(logDir, &o)
		if err != nil {
			return
		}
		defer l.Close()
		_ = l.State()
		_ = l.HeldCounts()
		for _, err := range l.HeldRecords() {
			if err != nil {
				break
			}
		}
		if _, err := l.Pending(100); err != nil {
			return
		}
		_ = l.SetAcceptedTypes([]string{"t", "u"})
	})
}
