package log_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	seglog "github.com/seglog/seglog/log"
)

func ExampleLog_AppendTyped() {
	dir, _ := os.MkdirTemp("", "seglog-example")
	defer os.RemoveAll(dir)
	l, _ := seglog.Open(dir, nil)
	defer l.Close()

	l.AppendTyped("package-report", []byte(`{"installed":3}`))
	l.Append([]byte("untagged"))
	for rec, err := range l.Records(0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%d %q %s\n", rec.Offset, rec.Type, rec.Data)
	}
	// Output:
	// 0 "package-report" {"installed":3}
	// 1 "" untagged
}

func ExampleLog_RecordExchangeFailure() {
	dir, _ := os.MkdirTemp("", "seglog-example")
	defer os.RemoveAll(dir)
	l, _ := seglog.Open(dir, &seglog.Options{FailureWindow: 7 * 24 * time.Hour})
	defer l.Close()

	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l.RecordExchangeFailure(start)
	l.RecordExchangeFailure(start.Add(8 * 24 * time.Hour)) // more than the window later

	_, err := l.Append([]byte("report"))
	fmt.Println(errors.Is(err, seglog.ErrOutage))
	_, err = l.AppendWith([]byte("resync reply"), seglog.AppendOptions{AlwaysKept: true})
	fmt.Println(err)

	batch, _ := l.Pending(10)
	l.Ack(batch.Next())
	l.RecordExchangeSuccess() // the outage ends
	batch, _ = l.Pending(10)
	fmt.Println("refused records to report:", batch.Refused)
	// Output:
	// true
	// <nil>
	// refused records to report: 1
}

func ExampleLog_OpenSession() {
	dir, _ := os.MkdirTemp("", "seglog-example")
	defer os.RemoveAll(dir)
	l, _ := seglog.Open(dir, nil)
	defer l.Close()

	id, _ := l.OpenSession("reporter")
	_, err := l.AppendWith([]byte("report"), seglog.AppendOptions{Session: id})
	fmt.Println(err)

	l.EndAllSessions() // the peer asked for a resynchronisation
	_, err = l.AppendWith([]byte("stale report"), seglog.AppendOptions{Session: id})
	fmt.Println(errors.Is(err, seglog.ErrSessionEnded))
	// Output:
	// <nil>
	// true
}
