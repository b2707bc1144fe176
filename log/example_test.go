package log_test

import (
	"fmt"
	"os"

	seglog "github.com/seglog/seglog/log"
)

func Example() {
	dir, _ := os.MkdirTemp("", "seglog-example")
	defer os.RemoveAll(dir)

	l, err := seglog.Open(dir, nil) // defaults: SyncAlways, 64 MiB segments
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()

	for _, msg := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
		if _, err := l.Append([]byte(msg)); err != nil {
			fmt.Println(err)
			return
		}
	}
	batch, _ := l.Pending(2)
	fmt.Println("send from sequence", batch.Sequence, "records", len(batch.Records))

	res, _ := l.Ack(2) // the peer expects sequence 2 next
	fmt.Println(res.Branch, "pending", res.State.PendingCount)

	rec, _ := l.Read(2)
	fmt.Println(rec.Offset, string(rec.Data))
	// Output:
	// send from sequence 0 records 2
	// normal pending 1
	// 2 {"n":3}
}

func ExampleLog_Records() {
	dir, _ := os.MkdirTemp("", "seglog-example")
	defer os.RemoveAll(dir)
	l, _ := seglog.Open(dir, &seglog.Options{Sync: seglog.SyncNever, Codec: seglog.CodecS2})
	defer l.Close()

	l.AppendRecords(
		seglog.Record{Type: "event", Data: []byte("installed")},
		seglog.Record{Type: "event", Data: []byte("configured")},
	)
	for rec, err := range l.Records(0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(rec.Offset, rec.Type, string(rec.Data))
	}
	// Output:
	// 0 event installed
	// 1 event configured
}
