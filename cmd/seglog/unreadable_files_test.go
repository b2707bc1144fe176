package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	seglog "github.com/seglog/seglog/log"
)

// Files the command cannot read: an I/O problem, which verify reports as
// such and repair never plans around (it would rewrite what it did not
// read).

const cliChildEnv = "SEGLOG_TEST_CLI_ARGS"

// TestCLIChild runs the command with the arguments in $SEGLOG_TEST_CLI_ARGS
// and exits with its status: the child process of cliAsOther.
func TestCLIChild(t *testing.T) {
	args := os.Getenv(cliChildEnv)
	if args == "" {
		t.Skip("the child process of the unreadable-file tests")
	}
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		t.Fatal(err)
	}
	os.Exit(runContext(context.Background(), argv, os.Stdout, os.Stderr))
}

// unreadableDir returns a log directory for the unreadable-file tests: one
// that another user can use when the tests run as root (so that
// cliAsOther can run the command as that user), a temporary one
// otherwise.
func unreadableDir(t *testing.T) string {
	t.Helper()
	src := buildHealthy(t, 400, seglog.CodecNone)
	if os.Geteuid() != 0 {
		return src
	}
	dir, err := os.MkdirTemp("", "seglog-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, e.Name()), 0o666)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// makeUnreadable takes every permission away from file, and returns a
// function running the command as a user who cannot read it: this one, or
// when the tests run as root (who reads anything), the user nobody, in a
// child process. It skips the test where neither is possible.
func makeUnreadable(t *testing.T, file string) func(args ...string) result {
	t.Helper()
	if err := os.Chmod(file, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(file, 0o666) })
	if os.Geteuid() != 0 {
		if f, err := os.Open(file); err == nil {
			f.Close()
			t.Skip("a file without permissions is still readable here")
		}
		return func(args ...string) result { return seglogCmd(t, args...) }
	}
	// Root: copy the test binary where nobody can run it.
	binDir, err := os.MkdirTemp("", "seglog-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(binDir) })
	os.Chmod(binDir, 0o755)
	bin := filepath.Join(binDir, "seglog.test")
	self, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, self); err != nil {
		t.Fatal(err)
	}
	out.Close()
	run := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(bin, "-test.run=^TestCLIChild$")
		argv, _ := json.Marshal(args)
		cmd.Env = append(os.Environ(), cliChildEnv+"="+string(argv))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Skipf("cannot run the command as the user nobody: %v", err)
		}
		return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}
	if r := run("version"); r.code != 0 {
		t.Skipf("cannot run the command as the user nobody: %s", r)
	}
	if f, err := os.Open(file); err == nil {
		f.Close() // root can: the child, as nobody, cannot
	}
	return run
}

// fileSnapshot returns the contents of every file in dir, and "dir" for each
// directory.
func fileSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		if e.Name() == seglog.LockFile {
			continue
		}
		if e.IsDir() {
			m[e.Name()] = "dir"
			continue
		}
		os.Chmod(filepath.Join(dir, e.Name()), 0o666)
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

func sameSnapshot(t *testing.T, before, after map[string]string) {
	t.Helper()
	for n, b := range before {
		if a, ok := after[n]; !ok {
			t.Errorf("%s was removed", n)
		} else if a != b {
			t.Errorf("%s was changed (%d bytes before, %d after)", n, len(b), len(a))
		}
	}
	for n := range after {
		if _, ok := before[n]; !ok && !strings.HasPrefix(n, "repair-") {
			t.Errorf("%s was created", n)
		}
	}
}

// TestSegmentReplacedByDirectory (R6): the active segment replaced by a
// directory of the same name is an error that verify, info and repair
// name, not a stray file passed over (nor is its index an orphan to
// remove); repair, even with --apply --cut-corrupt --reset-checkpoint,
// changes nothing.
func TestSegmentReplacedByDirectory(t *testing.T) {
	dir := buildHealthy(t, 400, seglog.CodecNone)
	segs := segmentFiles(t, dir)
	last := filepath.Base(segs[len(segs)-1])
	if err := os.Remove(filepath.Join(dir, last)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, last), 0o750); err != nil {
		t.Fatal(err)
	}
	before := fileSnapshot(t, dir)
	r := seglogCmd(t, "verify", dir)
	r.wantCode(t, exitProblems)
	if !strings.Contains(r.stdout, last+" is a directory") || strings.Contains(r.stdout, "orphan_index") {
		t.Errorf("verify does not name the directory as the segment's problem:\n%s", r)
	}
	r = seglogCmd(t, "info", dir)
	if !strings.Contains(r.stdout, "a directory, not a segment file") {
		t.Errorf("info does not name the directory:\n%s", r)
	}
	r = seglogCmd(t, "repair", "--apply", "--cut-corrupt", "--reset-checkpoint", dir)
	r.wantCode(t, exitProblems)
	if !strings.Contains(r.stdout, "cannot be read") || !strings.Contains(r.stdout, last) {
		t.Errorf("repair does not say it cannot read the segment:\n%s", r)
	}
	sameSnapshot(t, before, fileSnapshot(t, dir))
}

// TestUnreadableSegmentNotRewritten (R7): a sealed segment the command
// cannot read (no permissions) is an I/O problem: verify says so, and
// repair --apply does not rewrite its valid index (nor change anything
// else).
func TestUnreadableSegmentNotRewritten(t *testing.T) {
	dir := unreadableDir(t)
	segs := segmentFiles(t, dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want 3 or more", len(segs))
	}
	run := makeUnreadable(t, segs[1])
	before := fileSnapshot(t, dir)
	os.Chmod(segs[1], 0)
	r := run("verify", dir)
	r.wantCode(t, exitProblems)
	if !strings.Contains(r.stdout, "read_error") || !strings.Contains(r.stdout, "an I/O problem") {
		t.Errorf("verify does not report an I/O problem:\n%s", r)
	}
	r = run("repair", "--apply", "--cut-corrupt", dir)
	r.wantCode(t, exitProblems)
	sameSnapshot(t, before, fileSnapshot(t, dir))
}

// TestUnreadableCheckpointSlot (R7): a checkpoint slot the command cannot
// read is an I/O problem, not a lost state: verify does not advise
// --reset-checkpoint, and repair --apply --reset-checkpoint changes
// nothing.
func TestUnreadableCheckpointSlot(t *testing.T) {
	dir := unreadableDir(t)
	slot := filepath.Join(dir, "checkpoint.0")
	run := makeUnreadable(t, slot)
	before := fileSnapshot(t, dir)
	os.Chmod(slot, 0)
	r := run("verify", dir)
	r.wantCode(t, exitProblems)
	if strings.Contains(r.stdout, "reset-checkpoint") || !strings.Contains(r.stdout, "an I/O problem") {
		t.Errorf("verify advises a reset, or does not say it could not read the slot:\n%s", r)
	}
	r = run("repair", "--apply", "--reset-checkpoint", dir)
	r.wantCode(t, exitProblems)
	sameSnapshot(t, before, fileSnapshot(t, dir))
}
