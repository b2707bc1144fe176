package log_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"

	"github.com/seglog/seglog/internal/inspect"
	"github.com/seglog/seglog/log/vfs"
)

// Every log a test helper opens is checked when its test ends by the
// verifier behind `seglog verify` (package inspect), as bbolt checks its
// invariants after every test: a test that leaves behind a log the
// verifier rejects fails, whatever it checked itself. The check runs after
// the test's other cleanups (those registered after it, which close the
// log), on the filesystem the log was opened on.
//
// A test that damages a log on purpose says so with verifyExpectDamage,
// and the verifier must then find the damage: the log's tests and the
// verifier agree on what is damage both ways. A test that may leave damage,
// at random, says so with verifyMayFindDamage.

// verifyKey names one log directory of one test.
type verifyKey struct {
	t   testing.TB
	fs  vfs.FS
	dir string
}

// damageKey names a log directory a test damages on purpose.
type damageKey struct {
	t   testing.TB
	dir string
}

// damage is what a test says of the damage it leaves in a log.
type damage int

const (
	damageNone     damage = iota // the log must verify without errors
	damageExpected               // the verification must report errors
	damageMaybe                  // not checked
)

var verifyState struct {
	sync.Mutex
	registered map[verifyKey]bool
	damaged    map[damageKey]damage
}

// verifyAtEnd registers the end-of-test verification of the log in dir on
// fsys (nil: the operating system's filesystem), once per test and log.
// Register it before the cleanup that closes the log.
func verifyAtEnd(t testing.TB, fsys vfs.FS, dir string) {
	if fsys == nil {
		fsys = vfs.Default
	}
	k := verifyKey{t, fsys, filepath.Clean(dir)}
	verifyState.Lock()
	defer verifyState.Unlock()
	if verifyState.registered == nil {
		verifyState.registered = map[verifyKey]bool{}
	}
	if verifyState.registered[k] {
		return
	}
	verifyState.registered[k] = true
	t.Cleanup(func() {
		verifyState.Lock()
		dk := damageKey{t, k.dir}
		damaged := verifyState.damaged[dk]
		delete(verifyState.registered, k)
		verifyState.Unlock()
		if damaged == damageMaybe || t.Failed() || t.Skipped() {
			return
		}
		err := verifyLog(fsys, k.dir)
		switch {
		case damaged == damageExpected && err == nil:
			t.Errorf("end-of-test verification: %s: the test damaged the log, and verify finds nothing wrong", k.dir)
		case damaged == damageNone && err != nil:
			t.Errorf("end-of-test verification: %v", err)
		}
	})
}

// verifyExpectDamage says that the test damages the log in dir (on any
// filesystem) on purpose: the verification at its end must find it, as
// errors.
func verifyExpectDamage(t testing.TB, dir string) { verifyMark(t, dir, damageExpected) }

// verifyMayFindDamage says that the test may leave damage in the log in
// dir, at random: the verification at its end is skipped.
func verifyMayFindDamage(t testing.TB, dir string) { verifyMark(t, dir, damageMaybe) }

func verifyMark(t testing.TB, dir string, d damage) {
	verifyState.Lock()
	defer verifyState.Unlock()
	if verifyState.damaged == nil {
		verifyState.damaged = map[damageKey]damage{}
	}
	verifyState.damaged[damageKey{t, filepath.Clean(dir)}] = d
}

// verifyLog runs the verifier over the log in dir and returns an error
// listing its error findings, nil when it found none. A directory that is
// gone or holds no log is not checked.
func verifyLog(fsys vfs.FS, dir string) error {
	r, err := inspect.Verify(context.Background(), dir, inspect.Options{FS: fsys, Workers: 1})
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, inspect.ErrNotLog) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", dir, err)
	}
	var errs []error
	for _, f := range r.Findings {
		if f.Severity == inspect.Error {
			errs = append(errs, fmt.Errorf("%s: %s %s: %s", dir, f.Code, f.File, f.Message))
		}
	}
	return errors.Join(errs...)
}
