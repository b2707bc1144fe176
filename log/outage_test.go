package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seglog/seglog/checkpoint"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/log/vfs"
)

const outageWindow = 7 * 24 * time.Hour

var outageT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// outageAppend appends data and returns the error, checking that a refused
// record takes no offset.
func outageAppend(t *testing.T, l *seglog.Log, how string, data string) error {
	t.Helper()
	next := l.NextOffset()
	var err error
	switch how {
	case "Append":
		_, err = l.Append([]byte(data))
	case "AppendTyped":
		_, err = l.AppendTyped("report", []byte(data))
	case "AppendRecords":
		_, err = l.AppendRecords(seglog.Record{Data: []byte(data)}, seglog.Record{Data: []byte(data + "'")})
	case "AlwaysKept":
		_, err = l.AppendWith([]byte(data), seglog.AppendOptions{Type: "resynchronize", AlwaysKept: true})
	default:
		t.Fatalf("unknown append %q", how)
	}
	if err != nil && l.NextOffset() != next {
		t.Fatalf("%s refused (%v) but the next offset moved from %d to %d", how, err, next, l.NextOffset())
	}
	return err
}

func outageFailures(t *testing.T, l *seglog.Log, first, last time.Time, refusing bool, refused, unreported uint64) {
	t.Helper()
	want := seglog.Failures{First: first, Last: last, Refusing: refusing, Refused: refused, Unreported: unreported}
	if got := l.Failures(); got != want {
		t.Fatalf("Failures() = %+v\nwant         %+v", got, want)
	}
}

// TestFailureWindowAcrossRestart follows a long outage through restarts:
// the first failure time survives them, appends are refused once the
// failures last longer than the window (strictly), the agent's resync
// reply is not, the refused records are counted and the count reaches the
// first batch after the outage, again until an exchange carrying it
// succeeds.
func TestFailureWindowAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	opts := &seglog.Options{FailureWindow: outageWindow}
	l := openLog(t, dir, opts)
	outageFailures(t, l, time.Time{}, time.Time{}, false, 0, 0)
	if err := outageAppend(t, l, "Append", "A"); err != nil {
		t.Fatal(err)
	}
	if err := l.RecordExchangeFailure(outageT0); err != nil {
		t.Fatal(err)
	}
	// Exactly the window is not longer than it.
	if err := l.RecordExchangeFailure(outageT0.Add(outageWindow)); err != nil {
		t.Fatal(err)
	}
	if err := outageAppend(t, l, "Append", "B"); err != nil {
		t.Fatalf("Append at exactly the window: %v", err)
	}
	// A clock set back moves nothing.
	if err := l.RecordExchangeFailure(outageT0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	outageFailures(t, l, outageT0, outageT0.Add(outageWindow), false, 0, 0)

	// A restart keeps the run.
	closeLog(t, l)
	l = openLog(t, dir, opts)
	outageFailures(t, l, outageT0, outageT0.Add(outageWindow), false, 0, 0)
	last := outageT0.Add(outageWindow + time.Second)
	if err := l.RecordExchangeFailure(last.In(time.FixedZone("X", 3600))); err != nil {
		t.Fatal(err)
	}
	outageFailures(t, l, outageT0, last, true, 0, 0)
	for _, how := range []string{"Append", "AppendTyped", "AppendRecords"} {
		if err := outageAppend(t, l, how, "refused"); !errors.Is(err, seglog.ErrOutage) {
			t.Fatalf("%s while failing for longer than the window: %v, want ErrOutage", how, err)
		}
	}
	// The agent's answer to a resynchronisation is kept (the reference
	// store's fault 9).
	if err := outageAppend(t, l, "AlwaysKept", "R"); err != nil {
		t.Fatalf("AlwaysKept append during the outage: %v", err)
	}
	outageFailures(t, l, outageT0, last, true, 4, 0)

	// A restart during the outage: Close saved the count, and the
	// appends are still refused.
	closeLog(t, l)
	l = openLog(t, dir, opts)
	outageFailures(t, l, outageT0, last, true, 4, 0)
	if err := outageAppend(t, l, "Append", "refused"); !errors.Is(err, seglog.ErrOutage) {
		t.Fatalf("Append after a restart during the outage: %v, want ErrOutage", err)
	}
	// Batches during the outage carry no notice: the run has not ended.
	b := mustPending(t, l, 100)
	if got := batchLetters(t, b); got != "seq 0: A B R" || b.Refused != 0 {
		t.Fatalf("batch during the outage: %s, Refused %d; want seq 0: A B R, Refused 0", got, b.Refused)
	}
	// That exchange succeeds: the outage ends.
	mustAck(t, l, b.Next())
	if err := l.RecordExchangeSuccess(); err != nil {
		t.Fatal(err)
	}
	outageFailures(t, l, time.Time{}, time.Time{}, false, 0, 5)
	if err := outageAppend(t, l, "Append", "C"); err != nil {
		t.Fatalf("Append after the outage: %v", err)
	}
	// The first batch after the success reports the refused records, and
	// so does every batch until an exchange carrying it succeeds, also
	// after a restart.
	b = mustPending(t, l, 100)
	if got := batchLetters(t, b); got != "seq 3: C" || b.Refused != 5 {
		t.Fatalf("batch after the outage: %s, Refused %d; want seq 3: C, Refused 5", got, b.Refused)
	}
	if err := l.RecordExchangeFailure(outageT0.Add(8 * outageWindow)); err != nil { // that exchange failed
		t.Fatal(err)
	}
	closeLog(t, l)
	l = openLog(t, dir, opts)
	b = mustPending(t, l, 100)
	if got := batchLetters(t, b); got != "seq 3: C" || b.Refused != 5 {
		t.Fatalf("batch after a failed exchange and a restart: %s, Refused %d; want seq 3: C, Refused 5", got, b.Refused)
	}
	mustAck(t, l, b.Next())
	if err := l.RecordExchangeSuccess(); err != nil {
		t.Fatal(err)
	}
	outageFailures(t, l, time.Time{}, time.Time{}, false, 0, 0)
	if b := mustPending(t, l, 100); b.Refused != 0 || len(b.Records) != 0 {
		t.Fatalf("batch after the notice was delivered: %d records, Refused %d", len(b.Records), b.Refused)
	}
	// Nothing is left of the feature in the checkpoint's metadata.
	closeLog(t, l)
	st, _, err := checkpoint.Read(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Meta) != 0 {
		t.Fatalf("metadata after the outage was reported: %v", st.Meta)
	}
}

// TestFailureWindowOff checks that without a window the failures are kept
// but nothing is refused, and that a window set later applies to the run
// already saved.
func TestFailureWindowOff(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	for _, at := range []time.Time{outageT0, outageT0.Add(30 * outageWindow)} {
		if err := l.RecordExchangeFailure(at); err != nil {
			t.Fatal(err)
		}
	}
	if err := outageAppend(t, l, "Append", "A"); err != nil {
		t.Fatalf("Append with no window: %v", err)
	}
	outageFailures(t, l, outageT0, outageT0.Add(30*outageWindow), false, 0, 0)
	if err := l.RecordExchangeFailure(time.Time{}); err == nil {
		t.Fatal("RecordExchangeFailure accepted the zero time")
	}
	closeLog(t, l)

	l = openLog(t, dir, &seglog.Options{FailureWindow: outageWindow})
	if err := outageAppend(t, l, "Append", "B"); !errors.Is(err, seglog.ErrOutage) {
		t.Fatalf("Append after reopening with a window shorter than the saved run: %v, want ErrOutage", err)
	}
	closeLog(t, l)
	if _, err := seglog.Open(dir, &seglog.Options{FailureWindow: -1}); err == nil {
		t.Fatal("Open accepted a negative FailureWindow")
	}
	// A read-only open shows the writer's state.
	l = openLog(t, dir, &seglog.Options{ReadOnly: true})
	outageFailures(t, l, outageT0, outageT0.Add(30*outageWindow), false, 1, 0)
}

// TestReservedMeta checks that the log's own metadata is out of the
// application's reach.
func TestReservedMeta(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	if err := l.SetMeta("uuid", []byte("peer")); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta(checkpoint.KeyFailure, []byte("x")); err == nil {
		t.Fatal("SetMeta accepted a reserved key")
	}
	if err := l.RecordExchangeFailure(outageT0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.OpenSession("s"); err != nil {
		t.Fatal(err)
	}
	if keys := l.MetaKeys(); len(keys) != 1 || keys[0] != "uuid" {
		t.Fatalf("MetaKeys = %q, want [uuid]", keys)
	}
	if v, ok := l.Meta(checkpoint.KeySessions); ok || v != nil {
		t.Fatalf("Meta(%q) = %q, %v", checkpoint.KeySessions, v, ok)
	}
	// SetMeta and the other state changes keep the log's entries.
	if err := l.SetMeta("uuid", nil); err != nil {
		t.Fatal(err)
	}
	mustAck(t, l, 0)
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	l = openLog(t, dir, nil)
	if f := l.Failures(); !f.First.Equal(outageT0) || len(l.Sessions()) != 1 || len(l.MetaKeys()) != 0 {
		t.Fatalf("after SetMeta, Ack, Reset and a restart: failures %+v, sessions %v, keys %q", f, l.Sessions(), l.MetaKeys())
	}
}

// TestReservedMetaDamaged checks that Open refuses a checkpoint whose
// failure-window entry does not decode (written by something other than
// seglog: the checksum covers it), naming the file and the offset.
func TestReservedMetaDamaged(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	if err := l.RecordExchangeFailure(outageT0); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	s, st, err := checkpoint.Open(vfs.Default, dir, 0o640, false)
	if err != nil {
		t.Fatal(err)
	}
	st.Meta[checkpoint.KeyFailure] = []byte("short")
	verifyExpectDamage(t, dir)
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	file := s.Info().File
	s.Close()
	// The value starts after the key and its u32 length.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, []byte(checkpoint.KeyFailure+"\x05\x00\x00\x00short")) + len(checkpoint.KeyFailure) + 4
	_, err = seglog.Open(dir, quietOpts(nil))
	if !errors.Is(err, seglog.ErrCorrupt) && !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Open with a damaged %s entry: %v, want a corruption error", checkpoint.KeyFailure, err)
	}
	for _, want := range []string{file, checkpoint.KeyFailure, fmt.Sprintf("offset %d:", at)} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Open: %v: does not name %q", err, want)
		}
	}
}

// TestFailureWindowConcurrent runs appenders beside a sender recording
// failures and successes: every refusal is counted exactly once, in the
// notices of the exchanges that succeeded and the counts left, and Close
// saves the last ones.
func TestFailureWindowConcurrent(t *testing.T) {
	dir := t.TempDir()
	opts := &seglog.Options{FailureWindow: time.Minute, Sync: seglog.SyncNever}
	l := openLog(t, dir, opts)
	// Start in an outage.
	at := outageT0
	for range 2 {
		if err := l.RecordExchangeFailure(at); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute + time.Second)
	}
	const appenders = 4
	var wg, ready sync.WaitGroup
	var refused, kept, appended atomic.Uint64
	stop := make(chan struct{})
	for a := range appenders {
		ready.Add(1)
		wg.Go(func() {
			for i := range 5000 {
				_, err := l.AppendWith([]byte("r"), seglog.AppendOptions{AlwaysKept: i > 0 && (a+i)%7 == 0})
				appended.Add(1)
				switch {
				case errors.Is(err, seglog.ErrOutage):
					refused.Add(1)
				case err != nil:
					t.Error(err)
					return
				default:
					kept.Add(1)
				}
				if i == 0 {
					ready.Done()
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	ready.Wait() // each appender was refused once
	if refused.Load() < appenders {
		t.Fatalf("%d refused, want at least %d", refused.Load(), appenders)
	}
	// The sender: outages of two failures, a minute and a second apart,
	// each ended by a success; the notices of the batches whose exchange
	// succeeded add up.
	var reported uint64
	for round := 0; round < 200; round++ {
		b := mustPending(t, l, 50)
		if round%3 == 2 {
			reported += b.Refused
			mustAck(t, l, b.Next())
			if err := l.RecordExchangeSuccess(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := l.RecordExchangeFailure(at); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute + time.Second)
	}
	close(stop)
	wg.Wait()
	if kept.Load()+refused.Load() != appended.Load() || l.NextOffset() != kept.Load() {
		t.Fatalf("%d appended: %d kept, %d refused, next offset %d", appended.Load(), kept.Load(), refused.Load(), l.NextOffset())
	}
	closeLog(t, l)
	l = openLog(t, dir, opts)
	f := l.Failures()
	if got := reported + f.Refused + f.Unreported; got != refused.Load() {
		t.Fatalf("refused %d: reported %d, left %+v", refused.Load(), reported, f)
	}
	t.Logf("%d refused: %d reported in batches, %d in the run, %d unreported", refused.Load(), reported, f.Refused, f.Unreported)
}
