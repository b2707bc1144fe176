package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seglog/seglog/index"
	seglog "github.com/seglog/seglog/log"
	"github.com/seglog/seglog/segment"
)

// The offsets of a middle segment deleted, or cut short, never vanish from
// what the commands print: dump and export print a line for the hole, info
// lists it among the pending gaps, verify names the file.
func TestMissingMiddleSegmentCLI(t *testing.T) {
	for _, how := range []string{"deleted", "cut short"} {
		t.Run(how, func(t *testing.T) {
			dir := buildHealthy(t, 320, seglog.CodecNone)
			segs := segmentFiles(t, dir)
			if len(segs) < 3 {
				t.Fatalf("%d segments", len(segs))
			}
			mid := segs[1]
			base, _ := segment.ParseFileName(filepath.Base(mid))
			next, _ := segment.ParseFileName(filepath.Base(segs[2]))
			from := base
			switch how {
			case "deleted":
				for _, p := range []string{mid, strings.TrimSuffix(mid, segment.Suffix) + index.Suffix} {
					if err := os.Remove(p); err != nil {
						t.Fatal(err)
					}
				}
			default:
				e := indexEntries(t, mid)
				if err := os.Truncate(mid, int64(e[3].Pos)); err != nil { // three whole frames kept
					t.Fatal(err)
				}
				from = e[3].Offset
			}
			hole := fmt.Sprintf("[%d, %d)", from, next)

			r := seglogCmd(t, "dump", "--payload", "none", dir)
			r.wantCode(t, exitProblems)
			if !strings.Contains(r.stdout, "gap\t"+hole+"\tdamaged\t") {
				t.Errorf("dump prints no line for the hole %s:\n%s", hole, r)
			}
			if strings.Contains(r.stderr, "released") {
				t.Errorf("dump calls the hole released:\n%s", r)
			}

			r = seglogCmd(t, "export", "--payload", "none", dir)
			r.wantCode(t, exitProblems)
			found := false
			for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				var j jsonGap
				if err := json.Unmarshal([]byte(line), &j); err == nil && j.Gap.Count > 0 {
					if j.Gap.From != from || j.Gap.To != next || j.Gap.Reason != "damaged" {
						t.Errorf("export gap line %s, want %s", line, hole)
					}
					found = true
				}
			}
			if !found {
				t.Errorf("export prints no line for the hole:\n%s", r)
			}

			r = seglogCmd(t, "info", dir)
			r.wantCode(t, exitOK)
			if !strings.Contains(r.stdout, "gaps") || !strings.Contains(r.stdout, hole+" damaged") {
				t.Errorf("info lists no pending gap %s:\n%s", hole, r)
			}

			r = seglogCmd(t, "verify", dir)
			r.wantCode(t, exitProblems)
			if how == "deleted" && !strings.Contains(r.stdout, filepath.Base(mid)) {
				t.Errorf("verify does not name the missing file %s:\n%s", filepath.Base(mid), r)
			}
			if how == "cut short" && !strings.Contains(r.stdout, filepath.Base(mid)) {
				t.Errorf("verify does not name the shortened file %s:\n%s", filepath.Base(mid), r)
			}
		})
	}
}

// A damaged frame in the middle of the pending range: delivery hands out
// every good record and one gap, and dump and info show the same gap.
func TestPendingGapCLI(t *testing.T) {
	dir := buildHealthy(t, 320, seglog.CodecNone)
	segs := segmentFiles(t, dir)
	e := indexEntries(t, segs[1])[2]
	flipByte(t, segs[1], int64(e.Pos)+int64(e.Len)-3)
	l, err := seglog.Open(dir, &seglog.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Pending(1000)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	if len(b.Gaps) != 1 || b.Gaps[0].Offset != e.Offset || b.Next() != 320 {
		t.Fatalf("Pending: %d records, gaps %+v, next %d", len(b.Records), b.Gaps, b.Next())
	}
	g := b.Gaps[0]
	l.Close()
	hole := fmt.Sprintf("[%d, %d)", g.Offset, g.End())

	r := seglogCmd(t, "dump", "--payload", "none", dir)
	r.wantCode(t, exitProblems)
	if !strings.Contains(r.stdout, "gap\t"+hole+"\tdamaged\t") {
		t.Errorf("dump prints no line for the gap %s:\n%s", hole, r)
	}
	r = seglogCmd(t, "--json", "info", dir)
	r.wantCode(t, exitOK)
	var j jsonInfo
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatalf("info --json: %v\n%s", err, r)
	}
	if j.Delivery == nil || len(j.Delivery.Gaps) != 1 || j.Delivery.Gaps[0].From != g.Offset || j.Delivery.Gaps[0].To != g.End() {
		t.Errorf("info --json gaps: %+v, want %s", j.Delivery, hole)
	}
}
