package main

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/seglog/seglog/internal/inspect"
)

func (a *app) verifyCommand() *cobra.Command {
	var noProgress bool
	var workers int
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Check every checksum, index and the checkpoint, and that they agree",
		Long: `verify reads the whole log in DIR and checks every frame checksum and
record, every index against its segment, the checkpoint, and that they
agree: offsets contiguous across segments, no segment missing, the
checkpoint's first offset and cursor inside the log. It prints every
finding with its severity, file, byte position and the offsets affected,
then a summary (with --json: a JSON object per finding, "kind":"finding",
then one "kind":"summary").

Severities: error (records unreadable, or a delivery state that disagrees
with the log), warning (mended by the next writer open or by "seglog
repair", losing no readable record), info (nothing to do). With a live writer, a frame it is
writing at the end of the log is reported as info "write_in_progress".

Exit status 0 when there is nothing worse than info, 1 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if workers < 0 {
				return fmt.Errorf("--workers %d: want a positive number, or 0 for the default", workers)
			}
			return a.verify(args[0], workers, !noProgress)
		},
	}
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "draw no progress bar, even on a terminal")
	cmd.Flags().IntVar(&workers, "workers", 0, "segments read at once (default: CPUs, at most 4)")
	return cmd
}

type jsonFinding struct {
	Kind string `json:"kind"`
	inspect.Finding
}

type jsonVerifySummary struct {
	Kind           string  `json:"kind"`
	Healthy        bool    `json:"healthy"`
	Segments       int     `json:"segments"`
	Frames         int     `json:"frames"`
	Records        uint64  `json:"records"`
	Bytes          int64   `json:"bytes"`
	FirstOffset    uint64  `json:"first_offset"`
	NextOffset     uint64  `json:"next_offset"`
	Errors         int     `json:"errors"`
	Warnings       int     `json:"warnings"`
	Infos          int     `json:"infos"`
	WriterActive   bool    `json:"writer_active"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

func (a *app) verify(dir string, workers int, progress bool) error {
	var done atomic.Int64
	bar := a.startProgress("verify", dir, &done, progress)
	opts := inspect.Options{Workers: workers, Progress: &done, OnFinding: func(f inspect.Finding) {
		bar.above(func() { a.printFinding(a.stdout, f) })
	}}
	r, err := inspect.Verify(a.ctx, dir, opts)
	bar.stop()
	if err != nil {
		return openErr(dir, err)
	}
	if a.json {
		if err := writeJSON(a.stdout, jsonVerifySummary{
			Kind: "summary", Healthy: r.Healthy(), Segments: len(r.Segments), Frames: r.Frames, Records: r.Records,
			Bytes: r.TotalBytes, FirstOffset: r.First, NextOffset: r.Next,
			Errors: r.Counts.Errors, Warnings: r.Counts.Warnings, Infos: r.Counts.Infos,
			WriterActive: r.Live, ElapsedSeconds: r.Elapsed.Seconds(),
		}); err != nil {
			return err
		}
	} else {
		verdict := "healthy"
		if !r.Healthy() {
			verdict = "PROBLEMS FOUND"
		}
		writer := ""
		if r.Live {
			writer = " (a writer is live)"
		}
		fmt.Fprintf(a.stdout, "%s: %s, offsets [%d, %d), %s in %s (%s/s)%s: %s, %s, %s\n",
			verdict, plural(len(r.Segments), "segment", "segments"), r.First, r.Next,
			size(r.TotalBytes), dur(uint64(r.Elapsed)), size(int64(float64(r.TotalBytes)/max(r.Elapsed.Seconds(), 1e-9))), writer,
			plural(r.Counts.Errors, "error", "errors"), plural(r.Counts.Warnings, "warning", "warnings"), plural(r.Counts.Infos, "info", "infos"))
	}
	if !r.Healthy() {
		return quiet(exitProblems)
	}
	return nil
}

// printFinding prints one finding: a JSON line, or a text line
// "SEVERITY FILE:POSITION CODE MESSAGE".
func (a *app) printFinding(w io.Writer, f inspect.Finding) {
	if a.json {
		writeJSON(w, jsonFinding{Kind: "finding", Finding: f})
		return
	}
	where := f.File
	if where == "" {
		where = "-"
	}
	if f.Position != nil {
		where = fmt.Sprintf("%s:%d", where, *f.Position)
	}
	fmt.Fprintf(w, "%-7s  %s  %s  %s\n", f.Severity, where, f.Code, f.Message)
}
