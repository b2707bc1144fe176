package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/wal"

	"github.com/seglog/seglog/internal/inspect"
	seglog "github.com/seglog/seglog/log"
)

// TestExitStatus checks usage errors (2) and logs that cannot be opened (3).
func TestExitStatus(t *testing.T) {
	dir := buildHealthy(t, 20, seglog.CodecNone)
	empty := t.TempDir()
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"info"}, exitUsage, "accepts 1 arg"},
		{[]string{"frobnicate", dir}, exitUsage, "unknown command"},
		{[]string{"verify", "--nope", dir}, exitUsage, "unknown flag"},
		{[]string{"dump", "--payload", "rot13", dir}, exitUsage, "--payload"},
		{[]string{"dump", "--from", "9", "--to", "3", dir}, exitUsage, "--to"},
		{[]string{"get", dir, "minus-one"}, exitUsage, "offset"},
		{[]string{"bench", "--sync", "sometimes"}, exitUsage, "--sync"},
		{[]string{"bench", "--segment-size", "1KiB", empty}, exitUsage, "--segment-size"},
		{[]string{"bench", "--count", "0", empty}, exitUsage, "--count"},
		{[]string{"bench", "--reads", "0", empty}, exitUsage, "--reads"},
		{[]string{"verify", "--workers", "-3", dir}, exitUsage, "--workers"},
		{[]string{"verify", filepath.Join(empty, "nothing")}, exitOpen, "no such file"},
		{[]string{"info", empty}, exitOpen, "not a seglog log"},
		{[]string{"dump", empty}, exitOpen, "not a seglog log"},
		{[]string{"repair", "--apply", empty}, exitOpen, "not a seglog log"},
		{[]string{"get", dir, "20"}, exitProblems, "out of range"},
		{[]string{"get", dir, "19", "--payload", "none"}, exitOK, ""},
		{[]string{"import", "tidwal", empty, dir}, exitUsage, "unknown command"},
		{[]string{"import"}, exitUsage, "name one of: tidwall"},
		{[]string{"completion", "fsh"}, exitUsage, "unknown command"},
		{[]string{"completion", "bash"}, exitOK, ""},
		{[]string{"demo", dir}, exitOpen, "is not empty"},
		{[]string{"demo", "--json"}, exitUsage, "text only"},
		{[]string{"help"}, exitOK, ""},
		{[]string{"verify", "--help"}, exitOK, ""},
	}
	for _, c := range cases {
		r := seglogCmd(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("seglog %s: want exit %d and %q on stderr, got\n%s", strings.Join(c.args, " "), c.code, c.msg, r)
		}
	}
}

// TestImportTidwall converts a log written by github.com/tidwall/wal
// itself, in both of its formats.
func TestImportTidwall(t *testing.T) {
	for _, format := range []wal.LogFormat{wal.Binary, wal.JSON} {
		t.Run(fmt.Sprint(format), func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "wal")
			w, err := wal.Open(src, &wal.Options{LogFormat: format, SegmentSize: 4096, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			var want [][]byte
			for i := uint64(1); i <= 300; i++ {
				data := []byte(fmt.Sprintf("entry %d %s", i, strings.Repeat("z", int(i%30))))
				if i%11 == 0 {
					data = []byte{0, 1, 2, byte(i), 0xff} // binary, not UTF-8
				}
				if err := w.Write(i, data); err != nil {
					t.Fatal(err)
				}
				want = append(want, data)
			}
			// The first 50 entries are gone: the range starts at 51.
			if err := w.TruncateFront(51); err != nil {
				t.Fatal(err)
			}
			want = want[50:]
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			dst := filepath.Join(t.TempDir(), "seglog")
			r := seglogCmd(t, "import", "tidwall", src, dst)
			r.wantCode(t, exitOK)
			if !strings.Contains(r.stdout, "imported 250 records") || !strings.Contains(r.stdout, "indexes 51 to 300") {
				t.Errorf("unexpected output:\n%s", r)
			}
			seglogCmd(t, "import", "tidwall", src, dst).wantCode(t, exitProblems) // not empty

			l, err := seglog.Open(dst, &seglog.Options{ReadOnly: true, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if first, ok := l.Meta(inspect.MetaTidwallFirst); !ok || string(first) != "51" {
				t.Errorf("first index meta %q", first)
			}
			if last, ok := l.Meta(inspect.MetaTidwallLast); !ok || string(last) != "300" {
				t.Errorf("last index meta %q", last)
			}
			i := 0
			for rec, err := range l.Records(0) {
				if err != nil {
					t.Fatal(err)
				}
				if rec.Offset != uint64(i) || string(rec.Data) != string(want[i]) {
					t.Fatalf("record %d: offset %d data %q, want %q", i, rec.Offset, rec.Data, want[i])
				}
				i++
			}
			if i != len(want) {
				t.Fatalf("%d records, want %d", i, len(want))
			}
			seglogCmd(t, "verify", dst).wantCode(t, exitOK)
		})
	}
}

// TestImportTidwallRefusesSeglog: a seglog log given as the source (the
// arguments swapped) is refused, and left exactly as it was.
func TestImportTidwallRefusesSeglog(t *testing.T) {
	dir := buildHealthy(t, 20, seglog.CodecNone)
	snap := snapshot(t, dir)
	r := seglogCmd(t, "import", "tidwall", dir, filepath.Join(t.TempDir(), "new"))
	r.wantCode(t, exitOpen)
	if !strings.Contains(r.stderr, "a seglog log, not a tidwall/wal directory") {
		t.Errorf("unclear refusal:\n%s", r)
	}
	if !snapEqual(snap, snapshot(t, dir)) {
		t.Fatal("import changed the seglog log it was wrongly given as its source")
	}
}

// TestExport: export writes every record losslessly as JSON Lines.
func TestExport(t *testing.T) {
	dir := buildHealthy(t, 100, seglog.CodecZstd)
	r := seglogCmd(t, "export", dir)
	r.wantCode(t, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 100 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, line := range lines {
		var rec jsonRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		data := []byte(rec.Payload)
		if rec.Encoding == payloadBase64 {
			data, _ = base64.StdEncoding.DecodeString(rec.Payload)
		}
		typ, want := payload(i)
		if rec.Offset != uint64(i) || rec.Type != typ || string(data) != string(want) || rec.Size != len(want) {
			t.Fatalf("line %d: %s", i, line)
		}
	}
	r = seglogCmd(t, "export", "--type", "blob", "--from", "50", dir)
	r.wantCode(t, exitOK)
	if n := strings.Count(r.stdout, "\n"); n != 7 {
		t.Errorf("%d blob records from 50, want 7:\n%s", n, r.stdout)
	}
}

// TestStatsCompression: stats reports the codec's compression ratio.
func TestStatsCompression(t *testing.T) {
	dir := buildHealthy(t, 320, seglog.CodecS2)
	r := seglogCmd(t, "stats", "--json", dir)
	r.wantCode(t, exitOK)
	var st jsonStats
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Records != 320 || st.CompressionRatio <= 1.2 || len(st.ByType) != 3 {
		t.Errorf("stats: %+v", st)
	}
	r = seglogCmd(t, "info", dir)
	if !strings.Contains(r.stdout, "s2 (") {
		t.Errorf("info does not show the s2 codec:\n%s", r)
	}
}

// TestBench runs a small benchmark in each output form.
func TestBench(t *testing.T) {
	parent := t.TempDir()
	r := seglogCmd(t, "bench", parent, "--count", "300", "--writers", "3", "--sync", "never", "--codec", "s2", "--record-size", "200", "--segment-size", "64KiB")
	r.wantCode(t, exitOK)
	for _, w := range []string{"append", "scan", "read", "latency p50", "sync never, codec s2"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("no %q in:\n%s", w, r)
		}
	}
	r = seglogCmd(t, "bench", parent, "--json", "--count", "100", "--sync", "interval")
	r.wantCode(t, exitOK)
	var res struct {
		Append struct {
			Ops       uint64            `json:"ops"`
			LatencyNs map[string]uint64 `json:"latency_ns"`
		} `json:"append"`
		Scan struct {
			Ops uint64 `json:"ops"`
		} `json:"scan"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Append.Ops != 100 || res.Scan.Ops != 100 || res.Append.LatencyNs["p99"] == 0 {
		t.Errorf("%v: %+v\n%s", err, res, r)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("bench left %d files behind", len(ents))
	}
}

// TestBenchAgainstTidwall runs the same small workload against
// tidwall/wal and checks that both rows, the ratio and the disk's sync
// price are reported, in each output form, and that nothing is left behind.
func TestBenchAgainstTidwall(t *testing.T) {
	parent := t.TempDir()
	r := seglogCmd(t, "bench", parent, "--count", "200", "--writers", "2", "--sync", "never", "--record-size", "300", "--against", "tidwall")
	r.wantCode(t, exitOK)
	for _, w := range []string{"seglog       append", "tidwall/wal  append", "tidwall/wal  read", "seglog over tidwall/wal: append ", "fdatasync", "tidwall/wal disk:"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("no %q in:\n%s", w, r)
		}
	}
	r = seglogCmd(t, "bench", parent, "--json", "--count", "50", "--sync", "always", "--against", "tidwall")
	r.wantCode(t, exitOK)
	var res struct {
		Append  struct{ Ops uint64 } `json:"append"`
		Tidwall struct {
			Append struct{ Ops uint64 } `json:"append"`
			Scan   struct{ Ops uint64 } `json:"scan"`
		} `json:"tidwall"`
		Ratio struct {
			Append float64 `json:"append"`
		} `json:"seglog_over_tidwall"`
		SyncPrice struct {
			Overwrite int64 `json:"overwrite_fdatasync_ns"`
			Extend    int64 `json:"extending_append_fsync_ns"`
		} `json:"sync_price"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Append.Ops != 50 || res.Tidwall.Append.Ops != 50 ||
		res.Tidwall.Scan.Ops != 50 || res.Ratio.Append <= 0 || res.SyncPrice.Overwrite <= 0 || res.SyncPrice.Extend <= 0 {
		t.Errorf("%v: %+v\n%s", err, res, r)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("bench left %d files behind", len(ents))
	}
	r = seglogCmd(t, "bench", parent, "--count", "10", "--against", "etcd")
	r.wantCode(t, exitUsage)
}

func TestVersionAndCompletion(t *testing.T) {
	r := seglogCmd(t, "version")
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "formats: segment v3, index v1, checkpoint v2") {
		t.Errorf("version:\n%s", r)
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := seglogCmd(t, "completion", shell)
		r.wantCode(t, exitOK)
		if !strings.Contains(r.stdout, "seglog") {
			t.Errorf("completion %s printed no script", shell)
		}
	}
}

// TestBinary builds the command and runs it as a process: the exit status
// and the streams reach the caller.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "seglog")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := buildScenario(t, "missing_index")
	cmd := exec.Command(bin, "verify", dir)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitProblems {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "index_missing") {
		t.Errorf("stdout: %s", out)
	}
	if out, err := exec.Command(bin, "repair", "--apply", dir).CombinedOutput(); err != nil {
		t.Fatalf("repair: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "verify", dir).CombinedOutput(); err != nil {
		t.Fatalf("verify after repair: %v\n%s", err, out)
	}
}

// TestDemo runs the protocol demo into a directory and checks the log it
// leaves with the other commands.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	r := seglogCmd(t, "demo", dir)
	r.wantCode(t, exitOK)
	if len(r.stdout) < 100 {
		t.Fatalf("demo printed little:\n%s", r)
	}
	seglogCmd(t, "verify", dir).wantCode(t, exitOK)
	seglogCmd(t, "info", dir).wantCode(t, exitOK)
	seglogCmd(t, "demo", dir).wantCode(t, exitOpen) // not empty
	seglogCmd(t, "demo").wantCode(t, exitOK)
}

// TestInfoNamesMissingOffsets: info points at offsets that no segment
// holds, whether the first segment or one in the middle is gone.
func TestInfoNamesMissingOffsets(t *testing.T) {
	for _, which := range []int{0, 1} {
		dir := buildHealthy(t, 320, seglog.CodecNone)
		segs := segmentFiles(t, dir)
		if len(segs) < 3 {
			t.Fatalf("%d segments", len(segs))
		}
		if err := os.Remove(segs[which]); err != nil {
			t.Fatal(err)
		}
		r := seglogCmd(t, "info", dir)
		r.wantCode(t, exitOK)
		want := "are missing: the segment files that held them are gone"
		if which == 1 {
			want = "are missing between"
		}
		if !strings.Contains(r.stdout, "attention") || !strings.Contains(r.stdout, want) {
			t.Errorf("segment %d removed: info says nothing of the missing offsets:\n%s", which, r)
		}
	}
}

// TestDumpFromReleased: --from below the first kept offset starts at it,
// and says so on stderr.
func TestDumpFromReleased(t *testing.T) {
	dir := t.TempDir()
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		typ, data := payload(i)
		if _, err := l.AppendRecords(seglog.Record{Type: typ, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	ackPending(t, l, 300)
	ackPending(t, l, 300) // releases what the first acknowledged
	first := l.FirstOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if first == 0 {
		t.Fatal("nothing released")
	}
	r := seglogCmd(t, "dump", "--json", "--payload", "none", "--from", "5", "--count", "1", dir)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stderr, fmt.Sprintf("records before %d were released", first)) || !strings.Contains(r.stdout, fmt.Sprintf(`"offset":%d,`, first)) {
		t.Errorf("dump --from 5 with records before %d released:\n%s", first, r)
	}
}

// TestInfoReleasedSegmentLeftOver: a released segment whose deletion did
// not happen (deletions run in the background and may finish out of
// order) is no gap in the log.
func TestInfoReleasedSegmentLeftOver(t *testing.T) {
	dir := buildHealthy(t, 320, seglog.CodecNone)
	first := segmentFiles(t, dir)[0]
	kept, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	l, err := seglog.Open(dir, &seglog.Options{SegmentSize: testSegmentSize, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		for j := range 320 {
			typ, data := payload(320*(i+1) + j)
			if _, err := l.AppendRecords(seglog.Record{Type: typ, Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		ackPending(t, l, 400)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first, kept, 0o640); err != nil { // its deletion "did not happen"
		t.Fatal(err)
	}
	r := seglogCmd(t, "info", dir)
	r.wantCode(t, exitOK)
	if strings.Contains(r.stdout, "missing") {
		t.Errorf("info takes a released segment left over for a gap:\n%s", r)
	}
	seglogCmd(t, "verify", dir).wantCode(t, exitOK)
}
