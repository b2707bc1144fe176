package log_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	seglog "github.com/seglog/seglog/log"
)

// A log capped at four minimum-size segments while its server is away.
// Under LimitDrop the oldest segments go, and the unsent records in them
// come out of Pending as one gap with their labels; under LimitRefuse the
// appends past the cap fail with ErrFull.
func ExampleOptions_maxBytes() {
	for _, policy := range []seglog.LimitPolicy{seglog.LimitDrop, seglog.LimitRefuse} {
		dir, _ := os.MkdirTemp("", "seglog-example")
		l, _ := seglog.Open(dir, &seglog.Options{
			SegmentSize: seglog.MinSegmentSize,
			MaxBytes:    4 * seglog.MinSegmentSize,
			Limit:       policy,
			Logger:      slog.New(slog.DiscardHandler),
		})
		msg := []byte(strings.Repeat("m", 1000))
		refused := 0
		for range 100 { // the server is away
			if _, err := l.Append(msg); errors.Is(err, seglog.ErrFull) {
				refused++
			}
		}
		fmt.Printf("%v: %d refused\n", policy, refused)
		batch, _ := l.Pending(3)
		for e := range batch.Entries() {
			if g := e.Gap; g != nil {
				fmt.Printf("  labels [%d, %d): gap, %s\n", e.Label, e.Label+g.Count, g.Reason)
				continue
			}
			fmt.Printf("  label %d: record %d\n", e.Label, e.Record.Offset)
		}
		l.Close()
		os.RemoveAll(dir)
	}
	// Output:
	// drop: 0 refused
	//   labels [0, 45): gap, dropped
	//   label 45: record 45
	//   label 46: record 46
	// refuse: 40 refused
	//   label 0: record 0
	//   label 1: record 1
	//   label 2: record 2
}
