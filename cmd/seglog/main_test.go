package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// result is what one run of the command printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// seglogCmd runs the command in-process.
func seglogCmd(t testing.TB, args ...string) result {
	t.Helper()
	return seglogCtx(t, context.Background(), args...)
}

func seglogCtx(t testing.TB, ctx context.Context, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := runContext(ctx, args, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// wantCode fails the test unless the run exited with code.
func (r result) wantCode(t testing.TB, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\n%s", r.code, code, r)
	}
}

// normalisers replace what changes from run to run with a fixed word.
var normalisers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`saved \S+ ago`), "saved AGE ago"},
	{regexp.MustCompile(`\b[0-9a-f]{32}\b`), "LOGID"},
	// A checkpoint's checksum covers its random log id.
	{regexp.MustCompile(`(checkpoint\.[01]:\d+\s+checkpoint_slot_invalid\s+slot invalid: bad checksum |checkpoint_slot_invalid","file":"checkpoint\.[01]","position":\d+,"message":"slot invalid: bad checksum )0x[0-9a-f]{16}, computed 0x[0-9a-f]{16}`), "${1}CHECKSUM, computed CHECKSUM"},
	{regexp.MustCompile(`"saved_at":"[^"]*"`), `"saved_at":"TIME"`},
	{regexp.MustCompile(`"(age_seconds|elapsed_seconds)":[0-9.e+-]+`), `"$1":0`},
	{regexp.MustCompile(` in [0-9.]+[µnm]?s \([^)]*/s\)`), " in DURATION (SPEED/s)"},
	{regexp.MustCompile(`repair-\d{8}T\d{6}Z(-\d+)?`), "repair-TIME"},
}

// normalise makes output deterministic: the log's directory becomes DIR,
// times and speeds become words.
func normalise(s, dir string) string {
	if dir != "" {
		s = strings.ReplaceAll(s, dir, "DIR")
	}
	for _, n := range normalisers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// goldenCommands are run against every scenario, in text and in JSON.
var goldenCommands = []struct {
	name string
	args []string
}{
	{"info", []string{"info"}},
	{"segments", []string{"segments"}},
	{"dump", []string{"dump", "--from", "68", "--to", "80"}}, // around the flipped byte
	{"dump_tail", []string{"dump", "--from", "310"}},
	{"dump_hex", []string{"dump", "--from", "40", "--count", "6", "--payload", "hex"}},
	{"get", []string{"get", "DIR", "3"}},
	{"verify", []string{"verify"}},
	{"stats", []string{"stats"}},
	{"repair", []string{"repair"}},
}

func TestGolden(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			dir := buildScenario(t, sc.name)
			for _, c := range goldenCommands {
				for _, js := range []bool{false, true} {
					args := append([]string(nil), c.args...)
					if len(args) == 1 || args[1] != "DIR" {
						args = append(args[:1], append([]string{dir}, args[1:]...)...)
					} else {
						args[1] = dir
					}
					name := c.name + ".txt"
					if js {
						args = append(args, "--json")
						name = c.name + ".json"
					}
					r := seglogCmd(t, args...)
					if r.code == exitUsage || r.code == exitOpen && sc.name == "healthy" {
						t.Fatalf("seglog %s:\n%s", strings.Join(args, " "), r)
					}
					got := "$ seglog " + strings.Join(args, " ") + "\n" + r.String()
					golden(t, filepath.Join(sc.name, name), normalise(got, dir))
				}
			}
		})
	}
}
