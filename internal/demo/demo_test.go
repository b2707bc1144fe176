package demo_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/seglog/seglog/internal/demo"
)

var update = flag.Bool("update", false, "rewrite testdata/demo.golden with the current output")

const golden = "testdata/demo.golden"

// TestRun compares the demo's output with testdata/demo.golden. After a
// deliberate change, regenerate it with
//
//	go test ./internal/demo -update
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := demo.Run(&out, filepath.Join(t.TempDir(), "log")); err != nil {
		t.Fatalf("Run: %v\noutput so far:\n%s", err, out.Bytes())
	}
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("output differs from %s (run with -update after a deliberate change):\n%s", golden, lineDiff(string(want), out.String()))
	}
}

// The output is the same on every run: nothing in it depends on the
// directory, the clock or the machine.
func TestRunDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := demo.Run(&a, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := demo.Run(&b, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two runs differ:\n%s", lineDiff(a.String(), b.String()))
	}
}

func TestRunRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := demo.Run(&bytes.Buffer{}, dir); err == nil {
		t.Fatal("Run in a non-empty directory succeeded")
	}
}

// lineDiff shows the first differing lines of two texts.
func lineDiff(want, got string) string {
	w, g := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl []byte
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if !bytes.Equal(wl, gl) {
			return "line " + itoa(i+1) + ":\n  want: " + string(wl) + "\n  got:  " + string(gl)
		}
	}
	return "(no difference)"
}

func itoa(i int) string {
	var b []byte
	for i > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}
