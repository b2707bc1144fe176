package log_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// TestLockSameProcess opens a log twice for writing from one process: the
// second Open fails with ErrLocked and disturbs nothing; ReadOnly opens
// work beside the writer; after Close the lock is free.
func TestLockSameProcess(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	want := appendRecs(t, l, seglog.Record{Data: []byte("one")})
	for range 2 {
		l2, err := seglog.Open(dir, quietOpts(nil))
		if !errors.Is(err, seglog.ErrLocked) {
			if l2 != nil {
				l2.Close()
			}
			t.Fatalf("second writer Open: %v, want ErrLocked", err)
		}
		if l2 != nil || !strings.Contains(err.Error(), dir) {
			t.Fatalf("second writer Open returned %v, %q: want no log and an error naming %s", l2, err, dir)
		}
	}
	want = append(want, appendRecs(t, l, seglog.Record{Data: []byte("two")})...)
	ro := openLog(t, dir, &seglog.Options{ReadOnly: true})
	checkLog(t, ro, want)
	checkLog(t, l, want)
	closeLog(t, l)

	l = openLog(t, dir, nil)
	want = append(want, appendRecs(t, l, seglog.Record{Data: []byte("three")})...)
	checkLog(t, l, want)
	closeLog(t, l)
	closeLog(t, ro)
}

const (
	lockHelperDir  = "SEGLOG_CORE_LOCK_DIR"
	lockHelperMode = "SEGLOG_CORE_LOCK_MODE"
)

// TestLockHelperProcess is not a test: TestLockOtherProcess runs the
// test binary again with it to get a second process.
//
//   - mode hold: open the log, append "child", print "locked", and hold the
//     log until stdin closes.
//   - mode try: try to open the log and print "ErrLocked" or "opened".
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperDir)
	if dir == "" {
		t.Skip("helper process of TestLockOtherProcess")
	}
	l, err := seglog.Open(dir, quietOpts(nil))
	switch mode := os.Getenv(lockHelperMode); {
	case mode == "try" && errors.Is(err, seglog.ErrLocked):
		fmt.Println("ErrLocked")
	case err != nil:
		fmt.Println("error:", err)
	case mode == "try":
		fmt.Println("opened")
		l.Close()
	default:
		if _, err := l.Append([]byte("child")); err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin)
		if err := l.Close(); err != nil {
			fmt.Println("error:", err)
		}
	}
	os.Exit(0)
}

// lockHelper starts the helper process in mode on dir and returns it with
// its stdin and the first line it printed.
func lockHelper(t *testing.T, dir, mode string) (*exec.Cmd, io.WriteCloser, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperDir+"="+dir, lockHelperMode+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper %s: %v (printed %q)", mode, err, line)
	}
	return cmd, stdin, strings.TrimSpace(line)
}

// TestLockOtherProcess checks the lock between processes: a writer in
// another process makes Open fail with ErrLocked, and this process's
// writer makes the other's fail; ReadOnly works beside the other writer and
// sees its synced append; the lock is free once the holder closes the log,
// and once it dies without closing.
func TestLockOtherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	var want []seglog.Record

	// Another process holds the log.
	cmd, stdin, line := lockHelper(t, dir, "hold")
	if line != "locked" {
		t.Fatalf("helper: %s", line)
	}
	want = append(want, seglog.Record{Offset: 0, Data: []byte("child")})
	if _, err := seglog.Open(dir, quietOpts(nil)); !errors.Is(err, seglog.ErrLocked) {
		t.Fatalf("Open beside another process's writer: %v, want ErrLocked", err)
	}
	ro := openLog(t, dir, &seglog.Options{ReadOnly: true})
	checkLog(t, ro, want)
	closeLog(t, ro)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}

	// This process holds it.
	l := openLog(t, dir, nil)
	want = append(want, appendRecs(t, l, seglog.Record{Data: []byte("parent")})...)
	if _, _, line := lockHelper(t, dir, "try"); line != "ErrLocked" {
		t.Fatalf("helper Open beside this process's writer: %s, want ErrLocked", line)
	}
	closeLog(t, l)
	if _, _, line := lockHelper(t, dir, "try"); line != "opened" {
		t.Fatalf("helper Open after Close: %s", line)
	}

	// A holder killed without closing leaves no stale lock.
	cmd, _, line = lockHelper(t, dir, "hold")
	if line != "locked" {
		t.Fatalf("helper: %s", line)
	}
	want = append(want, seglog.Record{Offset: 2, Data: []byte("child")})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	l = openLog(t, dir, nil)
	checkLog(t, l, want)
}
