package log_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// A batch over a damaged record: the good records, and the damaged one as
// a gap in its place, with its label. The peer answers past it.
func ExampleBatch_Entries() {
	dir, _ := os.MkdirTemp("", "seglog-example")
	defer os.RemoveAll(dir)
	opts := &seglog.Options{Logger: slog.New(slog.DiscardHandler)}
	l, _ := seglog.Open(dir, opts)
	for _, msg := range []string{"alpha", "bravo", "charlie"} {
		l.Append([]byte(msg))
	}
	l.Close()

	// A bit flips on disk inside "bravo".
	seg := filepath.Join(dir, segment.FileName(0))
	b, _ := os.ReadFile(seg)
	b[bytes.Index(b, []byte("bravo"))] ^= 1
	os.WriteFile(seg, b, 0o640)

	l, _ = seglog.Open(dir, opts)
	defer l.Close()
	batch, _ := l.Pending(10)
	for e := range batch.Entries() {
		if e.Gap != nil {
			fmt.Printf("label %d: gap of %d, %s\n", e.Label, e.Gap.Count, e.Gap.Reason)
			continue
		}
		fmt.Printf("label %d: %s\n", e.Label, e.Record.Data)
	}
	res, _ := l.Ack(batch.Next())
	fmt.Println(res.Branch, "pending", res.State.PendingCount, "gaps", res.State.Gaps)
	// Output:
	// label 0: alpha
	// label 1: gap of 1, damaged
	// label 2: charlie
	// normal pending 0 gaps 1
}
